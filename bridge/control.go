package bridge

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"
)

// The control protocol: one connection per command, JSON messages one per
// line. The client sends a request; the daemon may send prompts, each
// answered by the client, and ends with a response.
//
//	client: {"method":"account.add","params":{...}}
//	daemon: {"prompt":"second-factor","text":"Second-factor code: "}
//	client: {"answer":"123456"}
//	daemon: {"result":{...}}   or   {"error":"..."}
//
// Only the daemon's user can connect: the socket is created with mode 0600
// inside the data dir, which is 0700.

// socketFile is the control socket's name inside the data dir.
const socketFile = "mailbridge.sock"

// SocketPath is where the daemon of dataDir listens for commands.
func SocketPath(dataDir string) string { return filepath.Join(dataDir, socketFile) }

type request struct {
	Method string          `json:"method"`
	Params json.RawMessage `json:"params,omitempty"`
}

type message struct {
	Prompt string          `json:"prompt,omitempty"`
	Text   string          `json:"text,omitempty"`
	Result json.RawMessage `json:"result,omitempty"`
	Error  string          `json:"error,omitempty"`
}

type answer struct {
	Answer string `json:"answer"`
	Cancel bool   `json:"cancel,omitempty"`
}

// maxLine bounds one control message.
const maxLine = 1 << 20

// controlServer serves the control socket.
type controlServer struct {
	b    *Bridge
	l    net.Listener
	wg   sync.WaitGroup
	once sync.Once
}

// listenControl creates the socket. A socket file left by a daemon that
// died is removed first: holding the lock proves nobody else serves it.
func (b *Bridge) listenControl() (*controlServer, error) {
	path := SocketPath(b.opts.DataDir)
	if len(path) > maxSocketPath {
		return nil, fmt.Errorf("the control socket path %s is longer than %d bytes, the system's limit; use a shorter --data-dir", path, maxSocketPath)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("remove stale control socket: %w", err)
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if runtime.GOOS != "windows" {
		if err := os.Chmod(path, 0o600); err != nil {
			l.Close()
			return nil, fmt.Errorf("control socket: %w", err)
		}
	}
	return &controlServer{b: b, l: l}, nil
}

// maxSocketPath is the shortest limit of the Unix socket path among the
// supported systems (104 bytes on macOS, 108 on Linux, both with the NUL).
const maxSocketPath = 103

func (c *controlServer) serve(ctx context.Context) {
	for {
		conn, err := c.l.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				c.b.log.Error("control socket stopped", "err", err)
			}
			break
		}
		c.wg.Go(func() { c.handle(ctx, conn) })
	}
	c.wg.Wait()
}

// close stops accepting; commands in progress finish with their context.
func (c *controlServer) close() {
	c.once.Do(func() {
		c.l.Close()
		// The listener removes the file on close; make sure of it.
		_ = os.Remove(SocketPath(c.b.opts.DataDir))
	})
}

func (c *controlServer) handle(ctx context.Context, conn net.Conn) {
	defer conn.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()

	r := bufio.NewReaderSize(conn, 4096)
	var req request
	if err := readMessage(r, &req); err != nil {
		return
	}
	enc := json.NewEncoder(conn)
	prompt := func(ctx context.Context, name, text string) (string, error) {
		if err := enc.Encode(message{Prompt: name, Text: text}); err != nil {
			return "", err
		}
		var a answer
		if err := readMessage(r, &a); err != nil {
			return "", fmt.Errorf("no answer from the command: %w", err)
		}
		if a.Cancel {
			return "", errors.New("cancelled")
		}
		return a.Answer, nil
	}
	c.b.log.Debug("control command", "method", req.Method)
	res, err := c.b.Call(ctx, req.Method, req.Params, prompt)
	var out message
	if err != nil {
		out.Error = err.Error()
	} else if out.Result, err = json.Marshal(res); err != nil {
		out = message{Error: "encode result: " + err.Error()}
	}
	_ = enc.Encode(out)
}

// readMessage reads one JSON line into v.
func readMessage(r *bufio.Reader, v any) error {
	var line []byte
	for {
		chunk, isPrefix, err := r.ReadLine()
		if err != nil {
			return err
		}
		line = append(line, chunk...)
		if len(line) > maxLine {
			return errors.New("control message too long")
		}
		if !isPrefix {
			break
		}
	}
	return json.Unmarshal(line, v)
}
