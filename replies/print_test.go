package replies_test

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/amtsbote/amtsbote/adapters"
	"github.com/amtsbote/amtsbote/replies"
)

func doc(seq int, name string, content []byte) replies.Document {
	return replies.Document{Seq: seq, Name: name, MediaType: "application/pdf", Size: int64(len(content)), SHA256: "sha-" + name,
		Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(content)), nil }}
}

func printReply(docs ...replies.Document) *replies.Outgoing {
	return &replies.Outgoing{ReplyID: "0b5c7a9e-2f41-4c1e-9d7a-5e8f1b2c3d4e", SubmissionID: "7e6f0a1b-0000-4000-8000-000000000001",
		Kind: replies.KindBescheid, Status: replies.StatusDecided, Subject: "Ihre Gewerbeanmeldung", Text: "Anbei der Bescheid.",
		Source: "gewerbe-fachverfahren", Reference: "DEMO-2026-000001", Leistung: "99050012104000", AGS: "09162000",
		Route: "gewerbeanmeldung", Portal: "demo-portal", RepliedAt: time.Date(2026, 12, 2, 9, 30, 0, 0, time.UTC),
		Address:   replies.Address{Email: "erika@example.org", Postal: []string{"Erika Mustermann", "Heidestraße 17", "51147 Köln"}},
		Documents: docs, Attempt: 1}
}

// A printed reply lands in a real filedrop directory as one zip: the PDFs byte for byte and the
// cover sheet with what the print service needs; sending it again (a retry after a crash) finds
// the same package and succeeds without a second file.
func TestPrintIntoFiledrop(t *testing.T) {
	bescheid := append([]byte("%PDF-1.7\n"), bytes.Repeat([]byte("Bescheid "), 5000)...)
	anlage := []byte("%PDF-1.7\nAnlage\n%%EOF\n")
	tests := []struct {
		name    string
		format  string
		docs    []replies.Document
		files   map[string][]byte // expected documents by name in the drop
		postal  bool
		pattern string
	}{
		{"zip with two documents", "", []replies.Document{doc(0, "bescheid.pdf", bescheid), doc(1, "anlage.pdf", anlage)},
			map[string][]byte{"bescheid.pdf": bescheid, "anlage.pdf": anlage}, true, "*.zip"},
		{"same names made unique", "", []replies.Document{doc(0, "a.pdf", bescheid), doc(1, "a.pdf", anlage)},
			map[string][]byte{"a.pdf": bescheid, "1_a.pdf": anlage}, true, "*.zip"},
		{"files format, no documents, no postal address", "files", nil, map[string][]byte{}, false, "*.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			opts := map[string]any{"path": dir}
			if tt.format != "" {
				opts["format"] = tt.format
			}
			a, err := adapters.New("filedrop", opts)
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			s := &replies.PrintSender{Destination: "druck", Adapter: a}
			o := printReply(tt.docs...)
			if !tt.postal {
				o.Address.Postal = nil
			}
			artefact, err := s.Send(context.Background(), o)
			if err != nil {
				t.Fatal(err)
			}
			again, err := s.Send(context.Background(), o)
			if err != nil || again != artefact {
				t.Fatalf("second send: %q %v, want %q", again, err, artefact)
			}
			matches, _ := filepath.Glob(filepath.Join(dir, tt.pattern))
			if len(matches) != 1 || filepath.Base(matches[0]) != o.ReplyID+"_reply_bescheid"+filepath.Ext(tt.pattern) {
				t.Fatalf("drop holds %v", matches)
			}
			contents := map[string][]byte{}
			if tt.format == "" {
				zr, err := zip.OpenReader(matches[0])
				if err != nil {
					t.Fatal(err)
				}
				for _, f := range zr.File {
					rc, _ := f.Open()
					contents[f.Name], _ = io.ReadAll(rc)
					rc.Close()
				}
				zr.Close()
			} else {
				entries, _ := os.ReadDir(dir)
				for _, e := range entries {
					contents[e.Name()], _ = os.ReadFile(filepath.Join(dir, e.Name()))
				}
			}
			coverName := o.ReplyID + "_reply_bescheid.json"
			var cover replies.CoverSheet
			if err := json.Unmarshal(contents[coverName], &cover); err != nil {
				t.Fatalf("cover sheet %s: %v (files %v)", coverName, err, keys(contents))
			}
			delete(contents, coverName)
			if len(contents) != len(tt.files) {
				t.Fatalf("files %v, want %v", keys(contents), keys(tt.files))
			}
			for name, want := range tt.files {
				if !bytes.Equal(contents[name], want) {
					t.Fatalf("%s: %d bytes, want the document's %d", name, len(contents[name]), len(want))
				}
			}
			if cover.Schema != replies.CoverSheetSchema || cover.ReplyID != o.ReplyID || cover.SubmissionID != o.SubmissionID ||
				cover.Reference != "DEMO-2026-000001" || cover.Kind != "bescheid" || cover.Status != "decided" ||
				cover.Subject != "Ihre Gewerbeanmeldung" || !cover.Date.Equal(o.RepliedAt) || cover.Leistung != "99050012104000" ||
				cover.AGS != "09162000" || cover.Source != "gewerbe-fachverfahren" || cover.Text != "Anbei der Bescheid." {
				t.Fatalf("cover sheet: %+v", cover)
			}
			if tt.postal != (strings.Join(cover.PostalAddress, "|") == "Erika Mustermann|Heidestraße 17|51147 Köln") {
				t.Fatalf("postal address %v", cover.PostalAddress)
			}
			if strings.Contains(string(mustJSON(cover)), "erika@example.org") {
				t.Fatal("the cover sheet names the e-mail address")
			}
			if len(cover.Documents) != len(tt.docs) {
				t.Fatalf("cover lists %d documents, want %d", len(cover.Documents), len(tt.docs))
			}
			for i, d := range cover.Documents {
				if _, ok := tt.files[d.File]; !ok || d.SHA256 != tt.docs[i].SHA256 || d.Size != tt.docs[i].Size || d.MediaType != "application/pdf" {
					t.Fatalf("cover document %d: %+v", i, d)
				}
			}
			// Another reply under the same id is not the same package: refused, never overwritten.
			changed := *o
			changed.Subject = "anders"
			if _, err := s.Send(context.Background(), &changed); !adapters.IsPermanent(err) {
				t.Fatalf("a different package under the same reply id: %v, want a permanent error", err)
			}
		})
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}
