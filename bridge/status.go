package bridge

import (
	"os"
	"time"
)

// Status is what `mailbridge status` shows: the daemon's health at a glance.
type Status struct {
	Running bool   `json:"running"`
	PID     int    `json:"pid,omitempty"`
	DataDir string `json:"data_dir"`
	// Uptime is in whole seconds.
	Uptime int64 `json:"uptime_seconds,omitempty"`
	// Upstream names the backend, e.g. "mock".
	Upstream string `json:"upstream,omitempty"`
	// VaultKey says where the vault key is: "keychain", "file" or
	// "passphrase".
	VaultKey    string           `json:"vault_key"`
	Listeners   []ListenerStatus `json:"listeners"`
	Certificate CertStatus       `json:"certificate"`
	Accounts    []AccountStatus  `json:"accounts"`
}

// ListenerStatus is one configured listener.
type ListenerStatus struct {
	Name     string `json:"name"` // imap, imaps, smtp, smtps: the settings it comes from
	Protocol string `json:"protocol"`
	Address  string `json:"address"`
	Security string `json:"security"` // starttls, tls or off
	// Listening is false for a listener that is off or not bound.
	Listening bool `json:"listening"`
}

// CertStatus describes the TLS certificate.
type CertStatus struct {
	Path     string    `json:"path"`
	NotAfter time.Time `json:"not_after"`
	Hosts    []string  `json:"hosts"`
}

// AccountStatus is one account's state and sync progress.
type AccountStatus struct {
	ID        string   `json:"id"`
	Username  string   `json:"username"`
	Addresses []string `json:"addresses"`
	// State is "connecting", "online", "error", or "stopped" when the
	// daemon does not run.
	State string `json:"state"`
	// Phase is the syncer's: "starting", "initial sync", "resync", "live".
	Phase string `json:"phase,omitempty"`
	// Synced is true once the cache has held the whole mailbox.
	Synced bool  `json:"synced"`
	Done   int64 `json:"done"`
	Total  int64 `json:"total"`
	Failed int64 `json:"failed"`
	// ETA is the estimated time left for the (re)sync, in whole seconds.
	ETA int64 `json:"eta_seconds,omitempty"`
	// Outbox is how many local changes wait to be pushed upstream.
	Outbox    int    `json:"outbox"`
	LastError string `json:"last_error,omitempty"`
}

// Status reports the daemon's state. On a Bridge that is not running it
// lists the accounts as "stopped".
func (b *Bridge) Status() Status {
	b.mu.Lock()
	ls, start, running := b.listeners, b.start, b.running != nil
	b.mu.Unlock()
	st := Status{
		Running:     running,
		DataDir:     b.opts.DataDir,
		Upstream:    b.opts.BackendName,
		VaultKey:    string(b.vault.KeySource()),
		Certificate: b.certStatus(),
		Listeners:   []ListenerStatus{},
		Accounts:    []AccountStatus{},
	}
	if running {
		st.PID = os.Getpid()
		st.Uptime = int64(time.Since(start).Seconds())
	}
	var bound map[string]listenerSpec
	if ls != nil {
		bound = ls.addrs()
	}
	for _, spec := range specs(b.vault.Settings().WithDefaults()) {
		l := ListenerStatus{Name: spec.name, Protocol: protocolOf(spec.name), Address: spec.addr(), Security: spec.security}
		if r, ok := bound[spec.name]; ok {
			l.Address, l.Listening = r.addr(), true
		}
		st.Listeners = append(st.Listeners, l)
	}
	live := make(map[string]*account)
	for _, a := range b.accountList() {
		live[a.id] = a
	}
	for _, cfg := range b.vault.Accounts() {
		as := AccountStatus{ID: cfg.ID, Username: cfg.Username, Addresses: cfg.Addresses, State: "stopped"}
		if a := live[cfg.ID]; a != nil {
			a.fillStatus(&as)
		}
		st.Accounts = append(st.Accounts, as)
	}
	return st
}

func protocolOf(name string) string {
	if name == "imap" || name == "imaps" {
		return "IMAP"
	}
	return "SMTP"
}

func (b *Bridge) certStatus() CertStatus {
	c := b.Cert()
	return CertStatus{Path: c.Path(), NotAfter: c.NotAfter(), Hosts: c.Hosts()}
}

func (a *account) fillStatus(as *AccountStatus) {
	a.mu.Lock()
	as.State = a.state
	s := a.syncer
	if a.lastErr != nil {
		as.LastError = a.lastErr.Error()
	}
	a.mu.Unlock()
	if n, err := a.store.OutboxLen(); err == nil {
		as.Outbox = n
	}
	if s == nil {
		return
	}
	p := s.Progress()
	as.Phase, as.Done, as.Total, as.Failed = p.Phase, p.Done, p.Total, p.Failed
	as.ETA = int64(p.ETA.Seconds())
	if as.LastError == "" {
		as.LastError = p.LastError
	}
	select {
	case <-s.Synced():
		as.Synced = true
	default:
	}
}
