package inbound

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// Spool is where large uploads wait while a request is read (readMultipart). It is amtsbote's
// own directory, not the shared temporary one: an upload holds personal data, and one spooled
// when the process died would stay there.
//
// Several processes may share the directory (PostgreSQL instances on one host): each spools into
// a subdirectory of its own, which it holds locked while it runs. Opening the spool removes the
// subdirectories no running process holds — what crashed processes left behind.
type Spool struct {
	Dir  string // this process's subdirectory
	lock *os.File
}

// spoolPrefix names spooled files; spoolNew names a subdirectory before its lock is held, so
// that no other process removes it meanwhile.
const (
	spoolPrefix = "amtsbote-upload-"
	spoolNew    = ".new-"
	lockName    = ".lock"
)

// OpenSpool creates dir if needed, removes what stopped processes left in it and makes this
// process's subdirectory. It reports how many spooled files it removed.
func OpenSpool(dir string) (*Spool, int, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, 0, fmt.Errorf("create spool directory: %w", err)
	}
	removed, err := cleanSpool(dir)
	if err != nil {
		return nil, removed, err
	}
	tmp, err := os.MkdirTemp(dir, spoolNew)
	if err != nil {
		return nil, removed, fmt.Errorf("spool directory %s: %w", dir, err)
	}
	lock, err := lockFile(filepath.Join(tmp, lockName))
	if err != nil {
		os.RemoveAll(tmp)
		return nil, removed, fmt.Errorf("spool directory %s: %w", dir, err)
	}
	own := filepath.Join(dir, "p"+strings.TrimPrefix(filepath.Base(tmp), spoolNew))
	if err := os.Rename(tmp, own); err != nil {
		lock.Close()
		os.RemoveAll(tmp)
		return nil, removed, fmt.Errorf("spool directory %s: %w", dir, err)
	}
	return &Spool{Dir: own, lock: lock}, removed, nil
}

// cleanSpool removes the subdirectories of dir whose lock no process holds.
func cleanSpool(dir string) (int, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, fmt.Errorf("spool directory %s: %w", dir, err)
	}
	removed := 0
	var errs []error
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue // not a process's subdirectory, or one being set up
		}
		sub := filepath.Join(dir, e.Name())
		lock, err := lockFile(filepath.Join(sub, lockName))
		if err != nil {
			continue // held: its process runs
		}
		files, _ := filepath.Glob(filepath.Join(sub, spoolPrefix+"*"))
		if err := os.RemoveAll(sub); err != nil {
			errs = append(errs, err)
		} else {
			removed += len(files)
		}
		lock.Close()
	}
	if len(errs) > 0 {
		return removed, fmt.Errorf("clean spool directory %s: %w", dir, errors.Join(errs...))
	}
	return removed, nil
}

// lockFile opens path (creating it) and locks it, without waiting.
func lockFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// Close removes this process's subdirectory (uploads in it belong to requests that have ended)
// and releases it.
func (s *Spool) Close() error {
	if s == nil || s.lock == nil {
		return nil
	}
	err := os.RemoveAll(s.Dir)
	s.lock.Close()
	return err
}
