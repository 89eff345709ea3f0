package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"

	"github.com/mailbridge/mailbridge/bridge"
	"github.com/mailbridge/mailbridge/upstream"
	"github.com/mailbridge/mailbridge/vault"
)

// dirs returns the data dir (settings, secrets, lock, socket) and the
// cache dir. --data-dir puts both in one folder; by default they follow
// the platform's conventions (~/.config/mailbridge and
// ~/.cache/mailbridge on Linux).
func (g *globals) dirs() (data, cache string, err error) {
	if g.dataDir != "" {
		d, err := filepath.Abs(g.dataDir)
		if err != nil {
			return "", "", err
		}
		return d, filepath.Join(d, "cache"), nil
	}
	cfg, err := os.UserConfigDir()
	if err != nil {
		return "", "", fmt.Errorf("no user config folder (%w); pass --data-dir", err)
	}
	c, err := os.UserCacheDir()
	if err != nil {
		return "", "", fmt.Errorf("no user cache folder (%w); pass --data-dir", err)
	}
	return filepath.Join(cfg, "mailbridge"), filepath.Join(c, "mailbridge"), nil
}

// dataDirOnly is dirs without the cache folder.
func (g *globals) dataDirOnly() (string, error) {
	d, _, err := g.dirs()
	return d, err
}

// passphrase reads --vault-passphrase-file: its first line, so an editor's
// trailing newline does not count.
func (g *globals) passphrase() ([]byte, error) {
	if g.passphraseFile == "" {
		return nil, nil
	}
	data, err := os.ReadFile(g.passphraseFile)
	if err != nil {
		return nil, fmt.Errorf("--vault-passphrase-file: %w", err)
	}
	if fi, err := os.Stat(g.passphraseFile); err == nil && runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
		fmt.Fprintf(os.Stderr, "warning: %s is readable by other users; run: chmod 600 %s\n", g.passphraseFile, g.passphraseFile)
	}
	line, _, _ := bytes.Cut(data, []byte("\n"))
	line = bytes.TrimRight(line, "\r")
	if len(line) == 0 {
		return nil, fmt.Errorf("--vault-passphrase-file: %s is empty", g.passphraseFile)
	}
	return line, nil
}

// backend is an opened upstream.
type backend struct {
	upstream.Backend
	name    string
	methods map[string]bridge.Method
	close   func() error
}

// openBackend opens the --upstream backend, or returns nil when none was
// chosen and need is false.
func (g *globals) openBackend(dataDir string, log *slog.Logger, need bool) (*backend, error) {
	switch g.upstream {
	case "":
		if need {
			return nil, errors.New("no mail service chosen: pass --upstream mock (the development backend; " +
				"real providers come later) or set " + envUpstream + "=mock")
		}
		return nil, nil
	case "mock", "mock:":
		return openMock(dataDir, log)
	}
	return nil, fmt.Errorf("--upstream %q: unknown mail service; the only one today is \"mock\", the development backend", g.upstream)
}

// levelVar is the level the bridge may change: not when --log-level
// was given, which then wins over the saved setting.
func (g *globals) levelVar() *slog.LevelVar {
	if g.logLevel != "" {
		return nil
	}
	return g.level
}

// bridgeOptions builds the options every command opens the bridge with.
func (g *globals) bridgeOptions(log *slog.Logger, be *backend, note string) (bridge.Options, error) {
	data, cache, err := g.dirs()
	if err != nil {
		return bridge.Options{}, err
	}
	pass, err := g.passphrase()
	if err != nil {
		return bridge.Options{}, err
	}
	opts := bridge.Options{
		DataDir:         data,
		CacheDir:        cache,
		Keyring:         vault.SystemKeyring(),
		VaultPassphrase: pass,
		Logger:          log,
		LogLevel:        g.levelVar(),
		LockNote:        note,
	}
	if be != nil {
		opts.Backend, opts.BackendName, opts.Methods = be, be.name, be.methods
	}
	return opts, nil
}

// openBridge locks the data dir and opens it, for commands run while no
// daemon is. The vault's key troubles get a clear explanation.
func openBridge(opts bridge.Options) (*bridge.Bridge, error) {
	b, err := bridge.New(opts)
	if err != nil {
		return nil, explainVaultError(err, opts.DataDir)
	}
	return b, nil
}

// explainVaultError turns a vault key problem into advice. Nothing was
// changed on disk in either case.
func explainVaultError(err error, dataDir string) error {
	switch {
	case errors.Is(err, vault.ErrKeyUnavailable):
		return withAdvice{err, "The vault in " + dataDir + " is intact, but its key cannot be read. Nothing was changed or deleted.\n" +
			"Unlock or repair the OS keychain and try again, or pass the same --vault-passphrase-file the vault was made with."}
	case errors.Is(err, vault.ErrDecrypt):
		return withAdvice{err, "Nothing was changed or deleted. If the vault is protected by a passphrase, check --vault-passphrase-file."}
	}
	return err
}

// withAdvice is an error followed by a paragraph on what to do about it.
type withAdvice struct {
	err    error
	advice string
}

func (e withAdvice) Error() string { return e.err.Error() + "\n\n" + e.advice }
func (e withAdvice) Unwrap() error { return e.err }

// call runs a control method: on the running daemon if there is one,
// otherwise on a bridge opened just for this command (needBackend opens
// --upstream for it). result receives the method's JSON result.
func (g *globals) call(ctx context.Context, method string, params, result any, prompt bridge.Prompt, needBackend bool) error {
	data, err := g.dataDirOnly()
	if err != nil {
		return err
	}
	if c, err := bridge.Dial(data); err == nil {
		return c.Call(ctx, method, params, result, prompt)
	}
	log, err := g.quietLogger()
	if err != nil {
		return err
	}
	lock, err := lockDataDir(data, "command")
	if err != nil {
		return err
	}
	defer lock.Release()
	be, err := g.openBackend(data, log, needBackend)
	if err != nil {
		return err
	}
	if be != nil {
		defer be.close()
	}
	opts, err := g.bridgeOptions(log, be, "command")
	if err != nil {
		return err
	}
	opts.Lock = lock
	b, err := openBridge(opts)
	if err != nil {
		return err
	}
	defer b.Close()
	raw, err := json.Marshal(params)
	if err != nil {
		return err
	}
	res, err := b.Call(ctx, method, raw, prompt)
	if err != nil {
		return err
	}
	if result == nil {
		return nil
	}
	out, err := json.Marshal(res)
	if err != nil {
		return err
	}
	return json.Unmarshal(out, result)
}

// quietLogger is the logger of a one-off command: warnings and errors
// only, unless --log-level says otherwise. (The saved log-level setting is
// the daemon's.)
func (g *globals) quietLogger() (*slog.Logger, error) {
	if g.logLevel != "" {
		return g.logger()
	}
	opts := &slog.HandlerOptions{Level: slog.LevelWarn}
	if g.logJSON {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
}

// writeJSON prints v indented.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// lockDataDir creates the data dir and locks it, before anything opens
// files in it (the mock backend keeps its state there).
func lockDataDir(data, note string) (*bridge.Lock, error) {
	if err := os.MkdirAll(data, 0o700); err != nil {
		return nil, err
	}
	return bridge.AcquireLock(data, note)
}
