package bridge

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"

	"github.com/mailbridge/mailbridge/upstream"
)

// guardedSession turns a panic in an upstream call into a Permanent error.
// Upstream calls run on the syncer's and the SMTP server's goroutines,
// where no recover of ours reaches: without this, one account's broken
// backend response would take down the whole daemon.
type guardedSession struct {
	s   upstream.Session
	log *slog.Logger
}

var _ upstream.Session = guardedSession{}

func guard(s upstream.Session, log *slog.Logger) upstream.Session {
	return guardedSession{s: s, log: log}
}

// call runs f, converting a panic into an error.
func call[T any](g guardedSession, name string, f func() (T, error)) (v T, err error) {
	defer func() {
		if r := recover(); r != nil {
			g.log.Error("upstream call crashed", "call", name, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			var zero T
			v, err = zero, upstream.Errorf(upstream.Permanent, "internal error in %s: %v", name, r)
		}
	}()
	return f()
}

func call0(g guardedSession, name string, f func() error) error {
	_, err := call(g, name, func() (struct{}, error) { return struct{}{}, f() })
	return err
}

func (g guardedSession) Auth() upstream.Auth { return g.s.Auth() }
func (g guardedSession) Close() error        { return call0(g, "Close", g.s.Close) }

func (g guardedSession) SubmitSecondFactor(ctx context.Context, code string) error {
	return call0(g, "SubmitSecondFactor", func() error { return g.s.SubmitSecondFactor(ctx, code) })
}

func (g guardedSession) Addresses(ctx context.Context) ([]upstream.Address, error) {
	return call(g, "Addresses", func() ([]upstream.Address, error) { return g.s.Addresses(ctx) })
}

func (g guardedSession) PrivateKeys(ctx context.Context) ([]byte, error) {
	return call(g, "PrivateKeys", func() ([]byte, error) { return g.s.PrivateKeys(ctx) })
}

func (g guardedSession) PublicKeys(ctx context.Context, email string) ([]byte, error) {
	return call(g, "PublicKeys", func() ([]byte, error) { return g.s.PublicKeys(ctx, email) })
}

func (g guardedSession) Mailboxes(ctx context.Context) ([]upstream.Mailbox, error) {
	return call(g, "Mailboxes", func() ([]upstream.Mailbox, error) { return g.s.Mailboxes(ctx) })
}

func (g guardedSession) CreateMailbox(ctx context.Context, name, opID string) (upstream.Mailbox, error) {
	return call(g, "CreateMailbox", func() (upstream.Mailbox, error) { return g.s.CreateMailbox(ctx, name, opID) })
}

func (g guardedSession) RenameMailbox(ctx context.Context, id, name, opID string) error {
	return call0(g, "RenameMailbox", func() error { return g.s.RenameMailbox(ctx, id, name, opID) })
}

func (g guardedSession) DeleteMailbox(ctx context.Context, id string) error {
	return call0(g, "DeleteMailbox", func() error { return g.s.DeleteMailbox(ctx, id) })
}

func (g guardedSession) ListMessages(ctx context.Context, after string, limit int) ([]upstream.MessageMeta, error) {
	return call(g, "ListMessages", func() ([]upstream.MessageMeta, error) { return g.s.ListMessages(ctx, after, limit) })
}

func (g guardedSession) GetMessage(ctx context.Context, id string) (*upstream.Message, error) {
	return call(g, "GetMessage", func() (*upstream.Message, error) { return g.s.GetMessage(ctx, id) })
}

func (g guardedSession) Import(ctx context.Context, req upstream.ImportRequest) (upstream.MessageMeta, error) {
	return call(g, "Import", func() (upstream.MessageMeta, error) { return g.s.Import(ctx, req) })
}

func (g guardedSession) UpdateMessages(ctx context.Context, ids []string, u upstream.Update) error {
	return call0(g, "UpdateMessages", func() error { return g.s.UpdateMessages(ctx, ids, u) })
}

func (g guardedSession) DeleteMessages(ctx context.Context, ids []string) error {
	return call0(g, "DeleteMessages", func() error { return g.s.DeleteMessages(ctx, ids) })
}

func (g guardedSession) Send(ctx context.Context, req upstream.SendRequest) (upstream.MessageMeta, error) {
	return call(g, "Send", func() (upstream.MessageMeta, error) { return g.s.Send(ctx, req) })
}

func (g guardedSession) LatestEventID(ctx context.Context) (string, error) {
	return call(g, "LatestEventID", func() (string, error) { return g.s.LatestEventID(ctx) })
}

func (g guardedSession) Events(ctx context.Context, since string) (upstream.EventBatch, error) {
	return call(g, "Events", func() (upstream.EventBatch, error) { return g.s.Events(ctx, since) })
}

func (g guardedSession) Quota(ctx context.Context) (upstream.Quota, error) {
	return call(g, "Quota", func() (upstream.Quota, error) { return g.s.Quota(ctx) })
}
