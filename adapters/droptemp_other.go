//go:build !linux

package adapters

import (
	"errors"
	"os"
)

var errNoUnnamed = errors.New("no unnamed files on this system")

func openUnnamed(string) (*os.File, error) { return nil, errNoUnnamed }

func linkUnnamed(*os.File, string) error { return errNoUnnamed }
