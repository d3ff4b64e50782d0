package formdoc

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestLoadLabels(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		want    Labels
		wantErr string // substring; "FILE" stands for the file's path
	}{
		{
			name: "complete",
			yaml: `title: Gewerbeanmeldung
fields:
  inhaber: Inhaberin oder Inhaber
  inhaber.vorname: Vorname
  inhaber.anschrift: Anschrift
  inhaber.anschrift.plz: Postleitzahl
  gesellschafter: Gesellschafterinnen und Gesellschafter
  gesellschafter[]: Gesellschafter/in
hide: [intern]
`,
			want: Labels{
				Title: "Gewerbeanmeldung",
				Fields: map[string]string{
					"inhaber":               "Inhaberin oder Inhaber",
					"inhaber.vorname":       "Vorname",
					"inhaber.anschrift":     "Anschrift",
					"inhaber.anschrift.plz": "Postleitzahl",
					"gesellschafter":        "Gesellschafterinnen und Gesellschafter",
					"gesellschafter[]":      "Gesellschafter/in",
				},
				Hide: []string{"intern"},
			},
		},
		{
			name: "block list and anchors",
			yaml: "fields:\n  a: &l Straße\n  b: *l\nhide:\n  - x\n  - y.z\n",
			want: Labels{Fields: map[string]string{"a": "Straße", "b": "Straße"}, Hide: []string{"x", "y.z"}},
		},
		{name: "empty file", yaml: "", want: Labels{}},
		{name: "only a comment", yaml: "# nichts\n", want: Labels{}},
		{name: "unknown key", yaml: "title: X\nfileds:\n  a: b\n", wantErr: "FILE:2: unknown key \"fileds\""},
		{name: "bad YAML", yaml: "title: X\nfields:\n  a: b\n c\n", wantErr: "FILE:4:2: did not find expected key (while parsing a block mapping that starts at line 1, column 1)"},
		{name: "unclosed flow", yaml: "hide: [a,\n", wantErr: "FILE:2:1: did not find expected node content"},
		{name: "not a mapping", yaml: "- a\n- b\n", wantErr: "FILE:1: a mapping"},
		{name: "fields not a mapping", yaml: "fields: [a]\n", wantErr: "FILE:1: fields must map"},
		{name: "label not text", yaml: "fields:\n  a:\n    b: c\n", wantErr: "FILE:3: the label of \"a\" must be a text"},
		{name: "empty label", yaml: "fields:\n  a: ''\n", wantErr: "FILE:2: the label of \"a\" is empty"},
		{name: "duplicate field", yaml: "fields:\n  a: x\n  a: y\n", wantErr: "FILE:3: "},
		{name: "duplicate key", yaml: "title: a\ntitle: b\n", wantErr: "FILE:2: "},
		{name: "hide not a list", yaml: "hide: intern\n", wantErr: "FILE:1: hide must be a list"},
		{name: "title not text", yaml: "title: [a]\n", wantErr: "FILE:1: title must be a text"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "labels.yaml")
			if err := os.WriteFile(path, []byte(tt.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := LoadLabels(path)
			if tt.wantErr != "" {
				want := strings.ReplaceAll(tt.wantErr, "FILE", path)
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Fatalf("error %v, want one containing %q", err, want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v\nwant %#v", got, tt.want)
			}
		})
	}
}

func TestLoadLabelsMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fehlt.yaml")
	if _, err := LoadLabels(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("error %v does not name %s", err, path)
	}
}
