package bridge

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// lockFile is the lock's name inside the data dir.
const lockFile = "mailbridge.lock"

// Lock is an exclusive, advisory lock on a data dir (flock on Unix,
// LockFileEx on Windows). The operating system releases it when the
// process ends, however it ends, so a crash never leaves a stale lock.
type Lock struct {
	f *os.File
}

// LockedError reports a data dir locked by another process.
type LockedError struct {
	Dir  string
	PID  int    // 0 if the holder did not record it
	Note string // what the holder is doing, e.g. "serve"
}

func (e *LockedError) Error() string {
	who := "another mailbridge"
	if e.PID > 0 {
		who += " (PID " + strconv.Itoa(e.PID)
		if e.Note != "" {
			who += ", mailbridge " + e.Note
		}
		who += ")"
	}
	return fmt.Sprintf("%s is already using %s; stop it first, or use another --data-dir", who, e.Dir)
}

// AcquireLock locks dir for this process, recording its PID and note, or
// fails with a *LockedError naming the process that holds it.
func AcquireLock(dir, note string) (*Lock, error) {
	path := filepath.Join(dir, lockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("bridge: lock file: %w", err)
	}
	if err := lockFileHandle(f); err != nil {
		f.Close()
		if errors.Is(err, errWouldBlock) {
			pid, holderNote := readLockHolder(path)
			return nil, &LockedError{Dir: dir, PID: pid, Note: holderNote}
		}
		return nil, fmt.Errorf("bridge: lock %s: %w", path, err)
	}
	// Only the holder writes, so readers see a whole line or an empty file.
	line := strconv.Itoa(os.Getpid()) + " " + strings.ReplaceAll(note, "\n", " ") + "\n"
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(line), 0)
	}
	return &Lock{f: f}, nil
}

// Release unlocks; it is safe to call more than once and on nil.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	_ = l.f.Truncate(0)
	err := l.f.Close() // closing the handle drops the lock
	l.f = nil
	return err
}

// readLockHolder reads the PID and note written by the lock's holder.
func readLockHolder(path string) (int, string) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, ""
	}
	pid, note, _ := strings.Cut(strings.TrimSpace(string(data)), " ")
	n, err := strconv.Atoi(pid)
	if err != nil {
		return 0, ""
	}
	return n, note
}
