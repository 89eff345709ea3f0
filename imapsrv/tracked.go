package imapsrv

import (
	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
)

var _ imapserver.SessionIMAP4rev2 = (*trackedSession)(nil)
var _ imapserver.SessionUnauthenticate = (*trackedSession)(nil)
var _ imapserver.SessionAppendLimit = (*trackedSession)(nil)

// trackedSession is the session go-imap sees: every command runs between
// begin and end on its connection, so a shutdown knows which ones are
// running (see shutdown.go). Methods that are not commands, and any the
// session gains later, pass through the embedded session untracked; a
// test checks that every command is wrapped.
type trackedSession struct {
	*session
	lc *liveConn
}

func (t *trackedSession) Close() error {
	err := t.session.Close()
	t.srv.forget(t.lc)
	return err
}

// Idle is not a running command: a shutdown ends it with a BYE.
func (t *trackedSession) Idle(w *imapserver.UpdateWriter, stop <-chan struct{}) error {
	t.lc.setIdling(true)
	defer t.lc.setIdling(false)
	return t.session.Idle(w, stop)
}

func (t *trackedSession) Login(username, password string) error {
	return t.lc.run(func() error { return t.session.Login(username, password) })
}

func (t *trackedSession) Unauthenticate() error {
	return t.lc.run(t.session.Unauthenticate)
}

func (t *trackedSession) Namespace() (*imap.NamespaceData, error) {
	return track(t.lc, t.session.Namespace)
}

func (t *trackedSession) Select(name string, options *imap.SelectOptions) (*imap.SelectData, error) {
	return track(t.lc, func() (*imap.SelectData, error) { return t.session.Select(name, options) })
}

func (t *trackedSession) Unselect() error {
	return t.lc.run(t.session.Unselect)
}

func (t *trackedSession) Create(name string, options *imap.CreateOptions) error {
	return t.lc.run(func() error { return t.session.Create(name, options) })
}

func (t *trackedSession) Delete(name string) error {
	return t.lc.run(func() error { return t.session.Delete(name) })
}

func (t *trackedSession) Rename(name, newName string, options *imap.RenameOptions) error {
	return t.lc.run(func() error { return t.session.Rename(name, newName, options) })
}

func (t *trackedSession) Subscribe(name string) error {
	return t.lc.run(func() error { return t.session.Subscribe(name) })
}

func (t *trackedSession) Unsubscribe(name string) error {
	return t.lc.run(func() error { return t.session.Unsubscribe(name) })
}

func (t *trackedSession) List(w *imapserver.ListWriter, ref string, patterns []string, options *imap.ListOptions) error {
	return t.lc.run(func() error { return t.session.List(w, ref, patterns, options) })
}

func (t *trackedSession) Status(name string, options *imap.StatusOptions) (*imap.StatusData, error) {
	return track(t.lc, func() (*imap.StatusData, error) { return t.session.Status(name, options) })
}

func (t *trackedSession) Append(name string, r imap.LiteralReader, options *imap.AppendOptions) (*imap.AppendData, error) {
	return track(t.lc, func() (*imap.AppendData, error) { return t.session.Append(name, r, options) })
}

func (t *trackedSession) Expunge(w *imapserver.ExpungeWriter, uids *imap.UIDSet) error {
	return t.lc.run(func() error { return t.session.Expunge(w, uids) })
}

func (t *trackedSession) Search(kind imapserver.NumKind, criteria *imap.SearchCriteria, options *imap.SearchOptions) (*imap.SearchData, error) {
	return track(t.lc, func() (*imap.SearchData, error) { return t.session.Search(kind, criteria, options) })
}

func (t *trackedSession) Fetch(w *imapserver.FetchWriter, numSet imap.NumSet, options *imap.FetchOptions) error {
	return t.lc.run(func() error { return t.session.Fetch(w, numSet, options) })
}

func (t *trackedSession) Store(w *imapserver.FetchWriter, numSet imap.NumSet, flags *imap.StoreFlags, options *imap.StoreOptions) error {
	return t.lc.run(func() error { return t.session.Store(w, numSet, flags, options) })
}

func (t *trackedSession) Copy(numSet imap.NumSet, dest string) (*imap.CopyData, error) {
	return track(t.lc, func() (*imap.CopyData, error) { return t.session.Copy(numSet, dest) })
}

func (t *trackedSession) Move(w *imapserver.MoveWriter, numSet imap.NumSet, dest string) error {
	return t.lc.run(func() error { return t.session.Move(w, numSet, dest) })
}
