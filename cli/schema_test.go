package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const (
	beispielXSD  = "../xoev/testdata/absolute/beispiel.xsd"
	xoevMirror   = "../fixtures/xoev/xdomea-3.0.0/xoev"
	codeURL      = "http://xoev.de/schemata/code/1_0/xoev-code.xsd"
	latincharURL = "https://xoev.de/latinchars/1_1/datatypes/latinchars.xsd"
)

func TestSchemaScan(t *testing.T) {
	dir := t.TempDir()
	catalog := filepath.Join(dir, "catalog.xml")
	other := filepath.Join(dir, "other.xml")
	if err := os.WriteFile(other, []byte("<catalog/>\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		args     []string
		wantCode int
		want     []string
	}{
		{"xdomea resolves by relative paths", []string{xdomeaXSD}, 0, []string{
			"xdomea-Baukasten.xsd:37 import http://xoev.de/schemata/code/1_0 ../xoev/code/1_0/xoev-code.xsd relative ../fixtures/xoev/xdomea-3.0.0/xoev/code/1_0/xoev-code.xsd",
			"references: all resolve"}},
		{"URLs without cache", []string{beispielXSD}, 1, []string{
			beispielXSD + ":11: import of " + codeURL + " (namespace http://xoev.de/schemata/code/1_0) does not resolve: no catalog maps it and no cache directory was given",
			beispielXSD + ":13: import of " + latincharURL,
			"2 schemas read, 3 references: 2 do not resolve"}},
		{"found in the cache, catalog written", []string{beispielXSD, "--cache", xoevMirror, "--write-catalog", catalog}, 0, []string{
			"cache (URL path) " + xoevMirror + "/code/1_0/xoev-code.xsd",
			"4 schemas read, 3 references: all resolve",
			"wrote " + catalog + ": 2 URLs"}},
		{"unchanged catalog", []string{beispielXSD, "--cache", xoevMirror, "--write-catalog", catalog}, 0, []string{catalog + " is up to date: 2 URLs"}},
		{"the written catalog resolves", []string{beispielXSD, "--catalog", catalog}, 0, []string{"latinchars.xsd catalog ", "all resolve"}},
		{"a different file is not replaced", []string{beispielXSD, "--cache", xoevMirror, "--write-catalog", other}, 2, []string{other + ": a different file is already there (pass --force to replace it)"}},
		{"unless forced", []string{beispielXSD, "--cache", xoevMirror, "--write-catalog", other, "--force"}, 0, []string{"wrote " + other}},
		{"missing root", []string{"nope.xsd"}, 2, []string{"nope.xsd"}},
		{"missing cache", []string{beispielXSD, "--cache", "nope"}, 2, []string{"cache: stat nope"}},
		{"bad catalog", []string{beispielXSD, "--catalog", xdomeaXSD}, 2, []string{"the root element must be <catalog"}},
		{"bad format", []string{"--format", "yaml", beispielXSD}, 2, []string{"--format"}},
		{"no root", []string{}, 2, []string{"accepts 1 arg"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runCLI(append([]string{"schema", "scan"}, tt.args...)...)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d\n%s%s", code, tt.wantCode, out, errOut)
			}
			// The table's columns are padded: compare with runs of spaces as one.
			collapsed := regexp.MustCompile(` +`).ReplaceAllString(out+errOut, " ")
			for _, w := range tt.want {
				if !strings.Contains(collapsed, w) {
					t.Errorf("output lacks %q:\n%s%s", w, out, errOut)
				}
			}
		})
	}
	if b, _ := os.ReadFile(other); string(b) == "<catalog/>\n" {
		t.Error("--force did not replace the file")
	}
	// The written catalog is what the schema set needs: validate works offline with it.
	abs := func(p string) string { a, _ := filepath.Abs(p); return a }
	cfg := filepath.Join(dir, "amtsbote.yaml")
	os.WriteFile(cfg, []byte(`portals: [{id: p, token_sha256: eb1e8e79a793c44e863a8b636df80f36f80fd4539587320cb36e1ba84032a354}]
schemas:
  - id: beispiel-1.0
    root: `+abs(beispielXSD)+`
    namespaces: [urn:amtsbote:test:beispiel:1.0]
    catalog: catalog.xml
`), 0o600)
	if code, out, errOut := runCLI("validate", "--config", cfg, "../xoev/testdata/absolute/valid.xml"); code != 0 || !strings.Contains(out, "valid.xml: valid") {
		t.Fatalf("validate with the written catalog: exit %d: %s%s", code, out, errOut)
	}
}

func TestSchemaScanJSON(t *testing.T) {
	code, out, errOut := runCLI("schema", "scan", "--format", "json", beispielXSD, "--cache", xoevMirror)
	if code != 0 {
		t.Fatalf("exit %d: %s%s", code, out, errOut)
	}
	var got struct {
		Root       string
		Schemas    []string
		Resolved   bool
		References []struct {
			File, Kind, Namespace, Status, Local, Via string
			Line                                      int
			Location                                  string `json:"schema_location"`
		}
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if !got.Resolved || got.Root != beispielXSD || len(got.Schemas) != 4 || len(got.References) != 3 {
		t.Fatalf("unexpected: %+v", got)
	}
	r := got.References[1]
	if r.File != beispielXSD || r.Line != 13 || r.Kind != "import" || r.Location != latincharURL || r.Status != "resolved" ||
		r.Via != "cache (URL path)" || r.Local != xoevMirror+"/latinchars/1_1/datatypes/latinchars.xsd" {
		t.Fatalf("reference = %+v", r)
	}
}
