package adapters_test

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/amtsbote/amtsbote/adapters"
	"github.com/amtsbote/amtsbote/adapters/adaptertest"
)

// zipOf writes the package's zip the way another compressor (an earlier version of amtsbote or
// of Go) might: the same entries, other bytes. change may alter an entry's content.
func zipOf(t *testing.T, p *adapters.Package, level int, change func(name string, content []byte) []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	zw.RegisterCompressor(zip.Deflate, func(w io.Writer) (io.WriteCloser, error) { return flate.NewWriter(w, level) })
	add := func(name string, content []byte) {
		if change != nil {
			content = change(name, content)
		}
		if content == nil {
			return
		}
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate, Modified: p.CreatedAt.UTC()})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(content)
	}
	add(p.MessageID+"_"+p.MessageType+".xml", p.XML)
	for _, f := range p.Files {
		rc, _ := f.Open()
		content, _ := io.ReadAll(rc)
		rc.Close()
		add(adapters.SafeName(f.Name), content)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// damage changes one byte of content inside a zip that stores it verbatim, leaving the zip's
// directory as it is.
func damage(t *testing.T, zipped, content []byte) []byte {
	t.Helper()
	i := bytes.Index(zipped, content)
	if i < 0 {
		t.Fatal("content not found verbatim in the zip")
	}
	out := bytes.Clone(zipped)
	out[i+len(content)/2] ^= 0x20
	return out
}

// existingZips are files found under a package's name when it is delivered (again).
func existingZips(t *testing.T, p *adapters.Package) []struct {
	name    string
	content []byte
	same    bool
} {
	firstFile := adapters.SafeName(p.Files[0].Name)
	return []struct {
		name    string
		content []byte
		same    bool
	}{
		{"the same package zipped at another level", zipOf(t, p, flate.BestCompression, nil), true},
		{"the same package stored uncompressed", zipOf(t, p, flate.NoCompression, nil), true},
		{"a file with other content", zipOf(t, p, flate.DefaultCompression, func(name string, c []byte) []byte {
			if name == firstFile {
				return append([]byte("x"), c[1:]...)
			}
			return c
		}), false},
		{"a file missing", zipOf(t, p, flate.DefaultCompression, func(name string, c []byte) []byte {
			if name == firstFile {
				return nil
			}
			return c
		}), false},
		{"the same entries with damaged data", damage(t, zipOf(t, p, flate.NoCompression, nil), p.XML), false},
		{"not a zip", []byte("PK but not a zip"), false},
		{"empty", nil, false},
	}
}

// A redelivery recognises the package delivered before by the files it holds, not by the bytes
// of the zip; anything else under the name is refused and left as it is.
func TestRedeliveryRecognisesTheSamePackage(t *testing.T) {
	adapterKinds := []struct {
		name string
		// deliver delivers p with an existing file under its name and returns the local path of
		// that name.
		deliver func(t *testing.T, p *adapters.Package, existing []byte) (string, error)
	}{
		{"filedrop", func(t *testing.T, p *adapters.Package, existing []byte) (string, error) {
			dir := t.TempDir()
			path := filepath.Join(dir, p.MessageID+"_"+p.MessageType+".zip")
			os.WriteFile(path, existing, 0o640)
			_, err := newFiledrop(t, dir).Deliver(context.Background(), p)
			return path, err
		}},
		{"sftp", func(t *testing.T, p *adapters.Package, existing []byte) (string, error) {
			d := startSSHD(t, nil) // skips without AMTSBOTE_TEST_SSHD
			dir := t.TempDir()
			path := filepath.Join(dir, p.MessageID+"_"+p.MessageType+".zip")
			os.WriteFile(path, existing, 0o640)
			_, err := newSFTP(t, d.options(dir, nil)).Deliver(context.Background(), p)
			return path, err
		}},
	}
	for _, kind := range adapterKinds {
		t.Run(kind.name, func(t *testing.T) {
			p := adaptertest.Package()
			for _, tt := range existingZips(t, p) {
				t.Run(tt.name, func(t *testing.T) {
					path, err := kind.deliver(t, p, tt.content)
					switch {
					case tt.same && err != nil:
						t.Fatalf("the same package delivered before: %v", err)
					case !tt.same && (!adapters.IsPermanent(err) || !strings.Contains(err.Error(), "refusing to overwrite")):
						t.Fatalf("another file under the name must fail permanently, got %v", err)
					}
					if after, _ := os.ReadFile(path); !bytes.Equal(after, tt.content) {
						t.Fatal("the existing file was changed")
					}
					if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
						t.Fatalf("directory holds %v, want only the existing file (no temporary files)", entries)
					}
				})
			}
		})
	}
}
