package adapters

import (
	"fmt"
	"os"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// noUnnamed is set once linking an unnamed file failed for want of /proc: named temporary files
// are used from then on.
var noUnnamed atomic.Bool

// openUnnamed creates an unnamed file in dir (O_TMPFILE), readable so that an existing file of
// the same name can be compared with it.
func openUnnamed(dir string) (*os.File, error) {
	if noUnnamed.Load() {
		return nil, unix.EOPNOTSUPP
	}
	fd, err := unix.Open(dir, unix.O_TMPFILE|unix.O_RDWR|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, err // e.g. EOPNOTSUPP: the file system has no unnamed files
	}
	return os.NewFile(uintptr(fd), dir), nil
}

// linkUnnamed names an unnamed file through /proc/self/fd, as open(2) describes for O_TMPFILE
// without CAP_DAC_READ_SEARCH.
func linkUnnamed(f *os.File, target string) error {
	err := unix.Linkat(unix.AT_FDCWD, fmt.Sprintf("/proc/self/fd/%d", f.Fd()), unix.AT_FDCWD, target, unix.AT_SYMLINK_FOLLOW)
	if err == unix.ENOENT {
		if _, serr := os.Stat("/proc/self/fd"); serr != nil {
			noUnnamed.Store(true)
		}
	}
	if err != nil {
		return &os.LinkError{Op: "link", Old: f.Name() + " (unnamed)", New: target, Err: err}
	}
	return nil
}

// syncDir syncs a directory, so that the names made in it last. Opened with open(2) rather
// than os.Open, which would try to register the directory with the poller and set its mode
// back and forth: five system calls more for each file dropped.
func syncDir(dir string) error {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: dir, Err: err}
	}
	defer unix.Close(fd)
	if err := unix.Fsync(fd); err != nil {
		return &os.PathError{Op: "sync", Path: dir, Err: err}
	}
	return nil
}
