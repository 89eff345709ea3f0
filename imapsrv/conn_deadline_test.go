package imapsrv

import (
	"net"
	"strings"
	"testing"
	"time"
)

// deadlineConn records the write deadlines that reach the socket.
type deadlineConn struct {
	countingConn
	deadlines []time.Time
}

func (c *deadlineConn) SetWriteDeadline(t time.Time) error {
	c.deadlines = append(c.deadlines, t)
	return nil
}

// The deadline go-imap sets around a response applies to the flush that
// sends it; a cleared one gives the flush a bounded deadline of its own.
func TestBufferedConnDeadline(t *testing.T) {
	raw := &deadlineConn{countingConn: countingConn{in: strings.NewReader("")}}
	c := &bufferedConn{Conn: raw}
	var _ net.Conn = c
	want := time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC)
	c.SetWriteDeadline(want)
	c.Write([]byte("* OK\r\n"))
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	if len(raw.deadlines) != 2 || !raw.deadlines[0].Equal(want) || !raw.deadlines[1].IsZero() {
		t.Fatalf("deadlines = %v, want %v then none", raw.deadlines, want)
	}
	raw.deadlines = nil
	c.SetWriteDeadline(time.Time{})
	before := time.Now()
	c.Write([]byte("* OK\r\n"))
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	if len(raw.deadlines) != 2 || raw.deadlines[0].Before(before.Add(flushTimeout)) {
		t.Fatalf("deadlines = %v, want about now+%v", raw.deadlines, flushTimeout)
	}
}
