package adapters

import (
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// SFTPInbox fetches files from a directory on an SFTP server into a local directory — how
// receipts of a receiving system that only offers SFTP reach the receipts inbox. It takes the
// same options as the sftp adapter; directory is the remote directory to empty.
type SFTPInbox struct {
	a *sftpAdapter
}

// NewSFTPInbox connects lazily with the sftp adapter's options.
func NewSFTPInbox(options map[string]any) (*SFTPInbox, error) {
	a, err := newSFTP(options)
	if err != nil {
		return nil, err
	}
	return &SFTPInbox{a: a.(*sftpAdapter)}, nil
}

// Fetch moves every regular file of the remote directory into localDir: each is written to a
// temporary local file, synced, renamed into place (never over an existing file), and only then
// removed on the server. A crash in between fetches a file twice, never loses one.
func (in *SFTPInbox) Fetch(ctx context.Context, localDir string) (int, error) {
	c, _, err := in.a.connect(ctx)
	if err != nil {
		return 0, err
	}
	entries, err := c.sftp.ReadDir(in.a.dir)
	if err != nil {
		if c.broken(err) {
			in.a.drop(c)
		}
		return 0, Transient(fmt.Errorf("sftp inbox: list %s on %s: %w", in.a.dir, in.a.addr, err), 0)
	}
	fetched := 0
	for _, e := range entries {
		if !e.Mode().IsRegular() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		if err := ctx.Err(); err != nil {
			return fetched, err
		}
		remote := path.Join(in.a.dir, e.Name())
		if err := in.fetchOne(c, remote, localDir); err != nil {
			if c.broken(err) {
				in.a.drop(c)
			}
			return fetched, err
		}
		fetched++
	}
	return fetched, nil
}

func (in *SFTPInbox) fetchOne(c *sftpConn, remote, localDir string) error {
	src, err := c.sftp.Open(remote)
	if err != nil {
		return fmt.Errorf("sftp inbox: open %s: %w", remote, err)
	}
	defer src.Close()
	tmp, err := os.CreateTemp(localDir, ".fetch-*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, src); err != nil {
		tmp.Close()
		return fmt.Errorf("sftp inbox: download %s: %w", remote, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	target := filepath.Join(localDir, SafeName(path.Base(remote)))
	for i := 2; ; i++ {
		if err := os.Link(tmp.Name(), target); err == nil {
			break
		} else if !os.IsExist(err) {
			return err
		}
		target = filepath.Join(localDir, fmt.Sprintf("%s.%d", SafeName(path.Base(remote)), i))
	}
	if err := syncDir(localDir); err != nil {
		return err
	}
	if err := c.sftp.Remove(remote); err != nil {
		return fmt.Errorf("sftp inbox: remove %s after fetching it: %w", remote, err)
	}
	return nil
}

// Close closes the connection.
func (in *SFTPInbox) Close() error { return in.a.Close() }
