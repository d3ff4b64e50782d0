package replies_test

import (
	"archive/zip"
	"bytes"
	"encoding/base64"
	"errors"
	"hash/crc32"
	"io"
	"strings"
	"testing"

	"github.com/amtsbote/amtsbote/replies"
)

const pdf = "%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"

type entry struct {
	name    string
	content string
	method  uint16
	flags   uint16
	// declared, when set, is the uncompressed size the header claims.
	declared uint64
}

// zipOf builds a zip archive of entries.
func zipOf(t testing.TB, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		if e.declared > 0 {
			h := &zip.FileHeader{Name: e.name, Method: zip.Store, CRC32: crc32.ChecksumIEEE([]byte(e.content)),
				CompressedSize64: uint64(len(e.content)), UncompressedSize64: e.declared}
			w, err := zw.CreateRaw(h)
			if err != nil {
				t.Fatal(err)
			}
			w.Write([]byte(e.content))
			continue
		}
		h := &zip.FileHeader{Name: e.name, Method: e.method, Flags: e.flags}
		if h.Method == 0 {
			h.Method = zip.Deflate
		}
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(e.content))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

const bescheidManifest = `{"submission_id": "s1", "id": "B-1", "kind": "bescheid", "subject": "Ihr Bescheid",
	"documents": [{"filename": "bescheid.pdf", "media_type": "application/pdf"}], "message": {"filename": "nachricht.xml"}}`

// A package is reply.json and exactly the files it names, read safely: flat names only, no
// duplicates, nothing encrypted or compressed beyond reason, nothing over its limit whatever the
// header claims.
func TestReadPackage(t *testing.T) {
	big := strings.Repeat("\x00", 2<<20)
	tests := []struct {
		name    string
		entries []entry
		raw     []byte
		reason  replies.Reason
		want    string // in the refusal
	}{
		{name: "good", entries: []entry{{name: "reply.json", content: bescheidManifest}, {name: "bescheid.pdf", content: pdf},
			{name: "nachricht.xml", content: "<a/>", method: zip.Store}}},
		{name: "not a zip", raw: []byte("PK but not really"), reason: replies.ReasonBadRequest, want: "not a zip"},
		{name: "no manifest", entries: []entry{{name: "bescheid.pdf", content: pdf}}, reason: replies.ReasonInvalid, want: "no reply.json"},
		{name: "a file the manifest names is missing", entries: []entry{{name: "reply.json", content: bescheidManifest}, {name: "bescheid.pdf", content: pdf}},
			reason: replies.ReasonInvalid, want: `no file "nachricht.xml"`},
		{name: "a file the manifest does not name", entries: []entry{{name: "reply.json", content: bescheidManifest}, {name: "bescheid.pdf", content: pdf},
			{name: "nachricht.xml", content: "<a/>"}, {name: "virus.exe", content: "MZ"}}, reason: replies.ReasonInvalid, want: "virus.exe"},
		{name: "path traversal", entries: []entry{{name: "reply.json", content: bescheidManifest}, {name: "../bescheid.pdf", content: pdf}},
			reason: replies.ReasonInvalid, want: "plain file name"},
		{name: "a directory", entries: []entry{{name: "docs/", content: ""}, {name: "reply.json", content: bescheidManifest}},
			reason: replies.ReasonInvalid, want: "plain file name"},
		{name: "an absolute name", entries: []entry{{name: "/etc/reply.json", content: bescheidManifest}}, reason: replies.ReasonInvalid, want: "plain file name"},
		{name: "a hidden file", entries: []entry{{name: "reply.json", content: bescheidManifest}, {name: ".DS_Store", content: "x"}},
			reason: replies.ReasonInvalid, want: "dot"},
		{name: "twice the same entry", entries: []entry{{name: "reply.json", content: bescheidManifest}, {name: "reply.json", content: "{}"}},
			reason: replies.ReasonInvalid, want: "twice"},
		{name: "encrypted", entries: []entry{{name: "reply.json", content: bescheidManifest, flags: 1}}, reason: replies.ReasonInvalid, want: "encrypted"},
		{name: "an entry over the limit", entries: []entry{{name: "reply.json", content: `{"submission_id": "s1", "kind": "bescheid", "documents": [{"filename": "b.pdf"}]}`},
			{name: "b.pdf", content: big}}, reason: replies.ReasonTooLarge, want: "limit"},
		{name: "too many entries", entries: []entry{{name: "reply.json", content: bescheidManifest}, {name: "1.pdf", content: pdf}, {name: "2.pdf", content: pdf},
			{name: "3.pdf", content: pdf}, {name: "4.pdf", content: pdf}, {name: "5.pdf", content: pdf}}, reason: replies.ReasonInvalid, want: "entries"},
		{name: "an invalid manifest", entries: []entry{{name: "reply.json", content: `{"kind": "bescheid"}`}}, reason: replies.ReasonInvalid, want: "exactly one"},
		{name: "a manifest too large", entries: []entry{{name: "reply.json", content: strings.Repeat(" ", replies.MaxManifestBytes+1)}},
			reason: replies.ReasonTooLarge, want: "limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := tt.raw
			if raw == nil {
				raw = zipOf(t, tt.entries...)
			}
			inc, r := replies.ReadPackage(bytes.NewReader(raw), int64(len(raw)), lim)
			if tt.reason == "" {
				if r != nil {
					t.Fatalf("refused: %v", r)
				}
				if inc.Manifest.ID != "B-1" || len(inc.Files) != 2 {
					t.Fatalf("read %+v", inc)
				}
				rc, err := inc.Files["bescheid.pdf"].Open()
				if err != nil {
					t.Fatal(err)
				}
				got, err := io.ReadAll(rc)
				rc.Close()
				if err != nil || string(got) != pdf {
					t.Fatalf("bescheid.pdf read back %q, %v", got, err)
				}
				return
			}
			if r == nil {
				t.Fatalf("accepted, want %s", tt.reason)
			}
			if r.Reason != tt.reason || !strings.Contains(r.Error(), tt.want) {
				t.Fatalf("refused %s %q, want %s containing %q", r.Reason, r.Error(), tt.reason, tt.want)
			}
		})
	}
}

// A package is refused as a zip bomb when an entry expands far beyond what it takes, even
// within the size limit; and an entry longer than its header says is never read beyond the
// limit.
func TestPackageBombsAndLyingHeaders(t *testing.T) {
	large := replies.Limits{MaxDocumentBytes: 64 << 20, MaxDocuments: 3}
	manifest := `{"submission_id": "s1", "kind": "bescheid", "documents": [{"filename": "b.pdf"}]}`
	raw := zipOf(t, entry{name: "reply.json", content: manifest}, entry{name: "b.pdf", content: strings.Repeat("\x00", 8<<20)})
	if _, r := replies.ReadPackage(bytes.NewReader(raw), int64(len(raw)), large); r == nil || !strings.Contains(r.Error(), "zip bomb") {
		t.Fatalf("8 MiB of zeros in %d bytes: %v, want refused as a zip bomb", len(raw), r)
	}
	// The header says 10 bytes; the entry holds 5000: reading stops with an error, never a
	// document longer than the limit.
	raw = zipOf(t, entry{name: "reply.json", content: manifest}, entry{name: "b.pdf", content: strings.Repeat("x", 5000), declared: 10})
	inc, r := replies.ReadPackage(bytes.NewReader(raw), int64(len(raw)), lim)
	if r != nil {
		t.Fatalf("refused before reading: %v", r)
	}
	rc, err := inc.Files["b.pdf"].Open()
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err == nil || len(got) > int(lim.MaxDocumentBytes)+32<<10 {
		t.Fatalf("read %d bytes of a lying entry, error %v", len(got), err)
	}
}

// A reply.json in the inbox carries no files, or carries them inline.
func TestReadManifestOnly(t *testing.T) {
	inline := `{"submission_id": "s1", "kind": "bescheid", "documents": [{"filename": "b.pdf", "content_base64": "` +
		base64.StdEncoding.EncodeToString([]byte(pdf)) + `"}]}`
	inc, r := replies.ReadManifestOnly([]byte(inline), lim)
	if r != nil {
		t.Fatalf("a manifest with its document inline: %v", r)
	}
	rc, err := inc.Files["b.pdf"].Open()
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := io.ReadAll(rc); string(got) != pdf {
		t.Fatalf("inline document read back as %q", got)
	}
	if _, r := replies.ReadManifestOnly([]byte(`{"submission_id": "s1", "kind": "status", "status": "in_progress"}`), lim); r != nil {
		t.Fatal(r)
	}
	if _, r := replies.ReadManifestOnly([]byte(bescheidManifest), lim); r == nil || r.Reason != replies.ReasonInvalid {
		t.Fatalf("a manifest naming files it does not carry: %v, want refused", r)
	}
	if _, r := replies.ReadManifestOnly(bytes.Repeat([]byte(" "), replies.MaxManifestBytes+1), lim); r == nil || r.Reason != replies.ReasonTooLarge {
		t.Fatalf("a huge manifest: %v", r)
	}
}

// FuzzReadPackage: any bytes are a package that keeps every rule, or a refusal — never a
// panic, never a file outside the manifest, never a file read beyond its limit.
func FuzzReadPackage(f *testing.F) {
	f.Add(zipOf(f, entry{name: "reply.json", content: bescheidManifest}, entry{name: "bescheid.pdf", content: pdf},
		entry{name: "nachricht.xml", content: "<a/>", method: zip.Store}))
	f.Add(zipOf(f, entry{name: "reply.json", content: `{"case_id": "c", "kind": "abschluss"}`}))
	f.Add(zipOf(f, entry{name: "reply.json", content: `{"submission_id": "s1", "kind": "bescheid", "documents": [{"filename": "b.pdf"}]}`},
		entry{name: "b.pdf", content: strings.Repeat("y", 3000), declared: 10}))
	f.Add(zipOf(f, entry{name: "../reply.json", content: "{}"}))
	f.Add([]byte("PK\x05\x06" + strings.Repeat("\x00", 18)))
	f.Fuzz(func(t *testing.T, raw []byte) {
		inc, r := replies.ReadPackage(bytes.NewReader(raw), int64(len(raw)), lim)
		if r != nil {
			if r.Error() == "" || r.Outcome() == "" {
				t.Fatalf("a refusal without a reason: %+v", r)
			}
			return
		}
		m := inc.Manifest
		if _, err := replies.StatusFor(m.Kind, m.Status); err != nil {
			t.Fatalf("accepted a manifest with %v", err)
		}
		if len(m.Documents) > lim.MaxDocuments {
			t.Fatalf("accepted %d documents", len(m.Documents))
		}
		for name, file := range inc.Files {
			if err := replies.CheckFilename(name); err != nil || !namedIn(m, name) {
				t.Fatalf("file %q accepted: %v", name, err)
			}
			rc, err := file.Open()
			if err != nil {
				continue
			}
			n, err := io.Copy(io.Discard, rc)
			rc.Close()
			if n > lim.MaxDocumentBytes+32<<10 || (n > lim.MaxDocumentBytes && !errors.Is(err, replies.ErrTooLarge)) {
				t.Fatalf("read %d bytes of %q (limit %d): %v", n, name, lim.MaxDocumentBytes, err)
			}
		}
	})
}

func namedIn(m replies.Manifest, name string) bool {
	for _, d := range m.Documents {
		if d.Filename == name {
			return true
		}
	}
	return m.Message != nil && m.Message.Filename == name
}
