package adapters

import (
	"fmt"
	"os"
)

// dropTemp is a file of a package being written into a drop directory: on Linux an unnamed file
// (O_TMPFILE) that gets its only name when it is complete and synced, elsewhere — or where the
// file system has no unnamed files — a temporary file named tempPattern, renamed by a link.
//
// An unnamed file saves creating and removing a directory entry per file, which is the most
// expensive part of a small delivery on ext4 (BenchmarkFiledropDeliver), and a crash leaves no
// temporary file behind.
type dropTemp struct {
	*os.File
	// path opens the file again for reading: its temporary name, or /proc/self/fd/N.
	path    string
	unnamed bool
}

// createDropTemp starts a file in dir.
func createDropTemp(dir string) (*dropTemp, error) {
	if f, err := openUnnamed(dir); err == nil {
		return &dropTemp{File: f, path: fmt.Sprintf("/proc/self/fd/%d", f.Fd()), unnamed: true}, nil
	}
	f, err := os.CreateTemp(dir, tempPattern)
	if err != nil {
		return nil, err
	}
	return &dropTemp{File: f, path: f.Name()}, nil
}

// link gives the file its name, failing with fs.ErrExist rather than replacing a file there.
func (t *dropTemp) link(target string) error {
	if t.unnamed {
		return linkUnnamed(t.File, target)
	}
	return os.Link(t.path, target)
}

// discard closes the file and removes its temporary name; a linked file keeps its name.
func (t *dropTemp) discard() {
	t.File.Close()
	if !t.unnamed {
		os.Remove(t.path)
	}
}
