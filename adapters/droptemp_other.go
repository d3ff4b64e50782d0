//go:build !linux

package adapters

import (
	"errors"
	"os"
)

var errNoUnnamed = errors.New("no unnamed files on this system")

func openUnnamed(string) (*os.File, error) { return nil, errNoUnnamed }

func linkUnnamed(*os.File, string) error { return errNoUnnamed }

// syncDir syncs a directory, so that the names made in it last.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
