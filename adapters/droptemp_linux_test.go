package adapters

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

// A drop writes through an unnamed file where the file system has them and through a named
// temporary file where not; either way a redelivery is recognised, a different file is never
// overwritten, the mode is applied and no temporary file is left behind.
func TestFiledropWithAndWithoutUnnamedFiles(t *testing.T) {
	for _, tt := range []struct {
		name    string
		unnamed bool
	}{
		{"unnamed (O_TMPFILE)", true},
		{"named temporary file", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			noUnnamed.Store(!tt.unnamed)
			t.Cleanup(func() { noUnnamed.Store(false) })
			dir := t.TempDir()
			if tt.unnamed {
				if f, err := openUnnamed(dir); err != nil {
					t.Skipf("the file system of %s has no unnamed files: %v", dir, err)
				} else {
					f.Close()
				}
			}
			a, err := New("filedrop", map[string]any{"path": dir, "file_mode": "0604"})
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			pkg := func(xml string) *Package {
				return &Package{SubmissionID: "s", MessageID: "0b7e2f5c-5f0e-4a51-9d0e-8f3a8f0c2b11", MessageType: "Abgabe.Abgabe.0401",
					CreatedAt: time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC), XML: []byte(xml)}
			}
			ctx := context.Background()
			first, err := a.Deliver(ctx, pkg("<x/>"))
			if err != nil {
				t.Fatal(err)
			}
			before, _ := os.ReadFile(first)
			if again, err := a.Deliver(ctx, pkg("<x/>")); err != nil || again != first {
				t.Fatalf("redelivery: %v, %s", err, again)
			}
			if _, err := a.Deliver(ctx, pkg("<y/>")); !IsPermanent(err) || !strings.Contains(err.Error(), "refusing to overwrite") {
				t.Fatalf("a different package under the same name: %v", err)
			}
			if after, _ := os.ReadFile(first); !bytes.Equal(before, after) {
				t.Fatal("the existing file was changed")
			}
			if info, _ := os.Stat(first); info.Mode().Perm() != 0o604 {
				t.Errorf("mode %v, want 0604", info.Mode().Perm())
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 1 {
				t.Errorf("the drop directory holds %d entries, want only the zip", len(entries))
			}
		})
	}
}
