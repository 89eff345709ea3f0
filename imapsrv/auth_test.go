package imapsrv

import (
	"encoding/base64"
	"fmt"
	"os"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	code := m.Run()
	closeBenchEnv()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

func TestLoginRequiresSTARTTLS(t *testing.T) {
	f := newFixture(t)
	c := f.dialPlain()
	greeting := c.Sx(`^\* OK \[CAPABILITY IMAP4rev2 IMAP4rev1 .*\]`)
	for _, want := range []string{"STARTTLS", "LOGINDISABLED"} {
		if !strings.Contains(greeting, want) {
			t.Errorf("greeting lacks %s: %q", want, greeting)
		}
	}
	if strings.Contains(greeting, "AUTH=PLAIN") {
		t.Errorf("AUTH=PLAIN offered before TLS: %q", greeting)
	}

	c.C("a1 LOGIN " + testUser + " " + testPass)
	c.NO("a1")
	if !strings.Contains(c.lastTagged, "[PRIVACYREQUIRED]") {
		t.Errorf("LOGIN before TLS: %q", c.lastTagged)
	}
	c.C("a2 AUTHENTICATE PLAIN " + plain(testUser, testPass))
	c.NO("a2")

	c.C("a3 STARTTLS")
	c.OK("a3")
	c.startTLS(f.roots)
	c.C("a4 CAPABILITY")
	caps := c.OK("a4")
	if len(caps) != 1 || !strings.Contains(caps[0], "AUTH=PLAIN") || strings.Contains(caps[0], "STARTTLS") {
		t.Errorf("capabilities after STARTTLS: %q", caps)
	}

	c.C("a5 LOGIN " + testUser + " wrong")
	c.NO("a5")
	if !strings.Contains(c.lastTagged, "[AUTHENTICATIONFAILED]") {
		t.Errorf("wrong password: %q", c.lastTagged)
	}
	// The connection survives a failed login.
	c.C("a6 LOGIN " + testUser + " " + testPass)
	c.OK("a6")
	c.C("a7 CAPABILITY")
	caps = c.OK("a7")
	for _, want := range []string{"IDLE", "UIDPLUS", "MOVE", "LITERAL+", "NAMESPACE", "SPECIAL-USE", "CHILDREN", "UNSELECT", "APPENDLIMIT="} {
		if !strings.Contains(caps[0], want) {
			t.Errorf("capabilities lack %s: %q", want, caps[0])
		}
	}
	c.C("a8 LOGOUT")
	c.S("* BYE Logging out")
	c.OK("a8")
}

func TestAuthenticatePlain(t *testing.T) {
	f := newFixture(t)

	c := f.dialTLS()
	c.C("a1 AUTHENTICATE PLAIN " + plain(testUser, "nope"))
	c.NO("a1")
	if !strings.Contains(c.lastTagged, "[AUTHENTICATIONFAILED]") {
		t.Errorf("wrong password: %q", c.lastTagged)
	}
	// Without SASL-IR: the server asks with "+".
	c.C("a2 AUTHENTICATE PLAIN")
	c.S("+ =") // go-imap sends an empty challenge as "="
	c.C(plain(testUser, testPass))
	c.OK("a2")
	c.C("a3 SELECT INBOX")
	c.OK("a3")

	d := f.dialTLS()
	d.C("b1 AUTHENTICATE PLAIN " + plain(testUser, testPass))
	d.OK("b1")
}

func TestNamespace(t *testing.T) {
	f := newFixture(t)
	c := f.login()
	c.C("a NAMESPACE")
	has(t, c.OK("a"), `* NAMESPACE (("" "/")) NIL NIL`)
}

func plain(user, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + pass))
}
