package adapters_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/amtsbote/amtsbote/adapters"
)

// Receipts waiting on an SFTP server are fetched into the local inbox and removed remotely;
// a local file of the same name is never overwritten.
func TestSFTPInboxFetchesAndRemoves(t *testing.T) {
	d := startSSHD(t, nil)
	remote := t.TempDir()
	local := t.TempDir()
	for name, content := range map[string]string{"a.xml": "<a/>", "b.xml": "<b/>", ".partial": "x"} {
		os.WriteFile(filepath.Join(remote, name), []byte(content), 0o644)
	}
	os.WriteFile(filepath.Join(local, "a.xml"), []byte("an earlier receipt"), 0o644)
	in, err := adapters.NewSFTPInbox(d.options(remote, nil))
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	n, err := in.Fetch(context.Background(), local)
	if err != nil || n != 2 {
		t.Fatalf("fetched %d, %v", n, err)
	}
	for name, want := range map[string]string{"a.xml": "an earlier receipt", "a.xml.2": "<a/>", "b.xml": "<b/>"} {
		if got, _ := os.ReadFile(filepath.Join(local, name)); string(got) != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	left, _ := os.ReadDir(remote)
	if len(left) != 1 || left[0].Name() != ".partial" {
		t.Fatalf("remote still holds %v; want only the hidden file being written", left)
	}
}
