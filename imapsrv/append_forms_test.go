package imapsrv

import (
	"fmt"
	"testing"
)

// A mailbox name may be a literal (mailbox = astring): the line after
// that literal holds the rest of APPEND, flags, date and the message's
// literal, and is no "trailing junk".
func TestAppendMailboxLiteral(t *testing.T) {
	f := newFixture(t)
	c := f.login()
	c.C("a CREATE Tail")
	c.OK("a")
	const msg = "Subject: t\r\n\r\nbody\r\n"
	// LITERAL+ for both: no round trips.
	c.write("p APPEND {4+}\r\nTail (\\Seen) " + literalPlus(msg) + "\r\n")
	c.OK("p")
	// Synchronizing literal for the name, as a client without LITERAL+.
	c.C("s APPEND {4}")
	c.Sx(`^\+`)
	c.write(fmt.Sprintf("Tail {%d}\r\n", len(msg)))
	c.Sx(`^\+`)
	c.write(msg + "\r\n")
	c.OK("s")
	c.C("z STATUS Tail (MESSAGES)")
	has(t, c.OK("z"), `* STATUS "Tail" (MESSAGES 2)`)
}

// The other APPEND forms, and refusals before the message is read, keep
// the connection in step.
func TestAppendForms(t *testing.T) {
	f := newFixtureWith(t, func(o *Options) { o.AppendLimit = 1000 })
	c := f.login()
	c.C("a CREATE Tail")
	c.OK("a")
	const msg = "Subject: t\r\n\r\nbody\r\n"
	n := len(msg)
	ok := []string{
		fmt.Sprintf("APPEND Tail (\\Seen) \"01-Jan-2024 10:00:00 +0000\" {%d+}\r\n%s", n, msg),
		fmt.Sprintf("APPEND Tail \"01-Jan-2024 10:00:00 +0000\" {%d+}\r\n%s", n, msg),
		fmt.Sprintf("APPEND Tail () {%d+}\r\n%s", n, msg),
		fmt.Sprintf("APPEND Tail ~{%d+}\r\n%s", n, msg),
		fmt.Sprintf("APPEND Tail UTF8 (~{%d+}\r\n%s)", n, msg),
		fmt.Sprintf("APPEND Tail (\\Seen) UTF8 (~{%d+}\r\n%s)", n, msg),
	}
	for i, cmd := range ok {
		tag := fmt.Sprintf("o%d", i)
		c.write(tag + " " + cmd + "\r\n")
		c.OK(tag)
	}
	// Refused before the message is read.
	c.C(fmt.Sprintf("n1 APPEND Nosuch {%d}", n))
	if l := c.line(); l[0] == '+' {
		c.write(msg + "\r\n")
	}
	c.NO("n1")
	c.C("n2 APPEND Tail {5000}")
	c.NO("n2")
	c.write("n3 APPEND Tail {5000+}\r\n" + string(make([]byte, 5000)) + "\r\n")
	c.NO("n3")
	c.write(fmt.Sprintf("n4 APPEND Tail {%d+}\r\n%s {99999+}\r\n", n, msg) + string(make([]byte, 99999)) + "\r\n")
	c.BAD("n4")
	c.C("z STATUS Tail (MESSAGES)")
	has(t, c.OK("z"), fmt.Sprintf(`* STATUS "Tail" (MESSAGES %d)`, len(ok)))
}
