package formdata

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/amtsbote/amtsbote/mapping"
	"github.com/amtsbote/amtsbote/xoev"
)

const demoSchema = "../fixtures/demo/schemas/gewerbeanmeldung.schema.json"

func demoData(t *testing.T) []byte {
	t.Helper()
	raw, err := os.ReadFile("../fixtures/demo/submission.json")
	if err != nil {
		t.Fatal(err)
	}
	var sub struct{ Data json.RawMessage }
	json.Unmarshal(raw, &sub)
	return sub.Data
}

// The form data is checked against the form's JSON Schema, and every problem names its field
// the way amtsbote names fields elsewhere.
func TestValidateNamesEveryField(t *testing.T) {
	s, err := LoadSchema(demoSchema)
	if err != nil {
		t.Fatal(err)
	}
	if s.ID != "urn:amtsbote:demo:schema:gewerbeanmeldung:1.0" {
		t.Errorf("$id %q", s.ID)
	}
	tests := []struct {
		name string
		data string
		want []string // problem fields; nil: valid
	}{
		{"demo", string(demoData(t)), nil},
		{"missing business name and a wrong postcode", `{"inhaber": {"vorname": "A", "nachname": "B", "anschrift": {"plz": "8033"}},
			"betrieb": {"taetigkeit": "x", "beginn": "2027-01-15"}}`, []string{"betrieb", "inhaber.anschrift.plz"}},
		{"partner without a name", `{"inhaber": {"vorname": "A", "nachname": "B"}, "gesellschafter": [{"vorname": "C", "nachname": "D"}, {"vorname": "E"}],
			"betrieb": {"name": "n", "taetigkeit": "x", "beginn": "15.01.2027"}}`, []string{"gesellschafter[1]"}},
		{"not an object", `[1, 2]`, []string{""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.Validate([]byte(tt.data))
			if tt.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("want a *ValidationError, got %v", err)
			}
			var got []string
			for _, p := range ve.Problems {
				got = append(got, p.Path)
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Fatalf("problems at %q, want %q: %v", got, tt.want, ve)
			}
		})
	}
	if err := s.Validate([]byte(`{"a":`)); err == nil || errors.As(err, new(*ValidationError)) {
		t.Errorf("data that is not JSON: %v", err)
	}
}

// A schema is read from local files only: one that refers to the network does not load.
func TestLoadSchemaIsOffline(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"remote.json":  `{"$ref": "https://example.org/schema.json"}`,
		"broken.json":  `{"type": `,
		"invalid.json": `{"type": "objekt"}`,
	} {
		path := filepath.Join(dir, name)
		os.WriteFile(path, []byte(content), 0o644)
		if _, err := LoadSchema(path); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: %v, want an error naming the file", name, err)
		}
	}
}

// The message carries the data as sent, the submission and the package's files.
func TestMapperWritesTheMessage(t *testing.T) {
	s, err := LoadSchema(demoSchema)
	if err != nil {
		t.Fatal(err)
	}
	m := &Mapper{MessageType: "Gewerbeanmeldung", Schema: s}
	in := mapping.Input{SubmissionID: "sub-1", Portal: "p", Reference: "R-1", Leistung: "99050012104000", AGS: "09162000",
		ReceivedAt: time.Date(2026, 1, 15, 9, 30, 0, 0, time.UTC), Data: demoData(t),
		Sender: xoev.Authority{Kennung: "09162000", Praefix: "ags", Name: "Bürgerservice", PraefixList: "urn:x"},
		Attachments: []mapping.Attachment{{Filename: "a.pdf", PackageName: "u_a.pdf", MediaType: "application/pdf", Size: 3, SHA256: "ab", Format: "pdf"},
			{Filename: "Antrag.json", PackageName: "v_Antrag.json", MediaType: "application/json", Size: 9, Generated: true}},
		Now: func() time.Time { return time.Date(2026, 1, 15, 9, 31, 0, 0, time.UTC) }, NewID: func() string { return "msg-1" }}
	msg, err := m.Map(in)
	if err != nil {
		t.Fatal(err)
	}
	var got Message
	if err := json.Unmarshal(msg.XML, &got); err != nil {
		t.Fatal(err)
	}
	var sent, back any
	json.Unmarshal(in.Data, &sent)
	json.Unmarshal(got.Data, &back)
	if msg.MediaType != MediaType || msg.ID != "msg-1" || got.MessageType != "Gewerbeanmeldung" || got.Submission.Reference != "R-1" ||
		got.Sender.Praefix != "ags" || got.Schema != s.ID || len(got.Files) != 2 || got.Files[1].Origin != "generated" ||
		!jsonEqual(sent, back) {
		t.Fatalf("message:\n%s", msg.XML)
	}
	in.Data = json.RawMessage(`{"inhaber": {}}`)
	if _, err := m.Map(in); !errors.As(err, new(*ValidationError)) {
		t.Fatalf("invalid data: %v", err)
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}
