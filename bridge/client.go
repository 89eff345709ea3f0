package bridge

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"time"
)

// ErrNotRunning is returned by Dial when no daemon serves the data dir.
var ErrNotRunning = errors.New("mailbridge is not running")

// Client talks to a running daemon over its control socket.
type Client struct {
	path string
}

// Dial checks that a daemon serves dataDir and returns a client for it,
// or an error matching ErrNotRunning.
func Dial(dataDir string) (*Client, error) {
	c := &Client{path: SocketPath(dataDir)}
	conn, err := net.DialTimeout("unix", c.path, 2*time.Second)
	if err != nil {
		return nil, fmt.Errorf("%w on %s", ErrNotRunning, dataDir)
	}
	conn.Close()
	return c, nil
}

// Call runs a control method on the daemon, answering its prompts with
// prompt, and decodes the result into result (which may be nil).
func (c *Client) Call(ctx context.Context, method string, params, result any, prompt Prompt) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", c.path)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrNotRunning, err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()

	raw, err := json.Marshal(params)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(conn)
	if err := enc.Encode(request{Method: method, Params: raw}); err != nil {
		return fmt.Errorf("send command to the daemon: %w", err)
	}
	r := bufio.NewReaderSize(conn, 4096)
	for {
		var m message
		if err := readMessage(r, &m); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("the daemon closed the connection: %w", err)
		}
		switch {
		case m.Prompt != "":
			a := answer{Cancel: true}
			if prompt != nil {
				if s, perr := prompt(ctx, m.Prompt, m.Text); perr == nil {
					a = answer{Answer: s}
				}
			}
			if err := enc.Encode(a); err != nil {
				return err
			}
		case m.Error != "":
			return &RemoteError{Msg: m.Error}
		default:
			if result == nil || len(m.Result) == 0 {
				return nil
			}
			return json.Unmarshal(m.Result, result)
		}
	}
}

// RemoteError is an error the daemon reported for a command.
type RemoteError struct{ Msg string }

func (e *RemoteError) Error() string { return e.Msg }
