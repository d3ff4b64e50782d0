package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const (
	demoConfig = "../fixtures/demo/amtsbote.yaml"
	corpus     = "../fixtures/xoev/corpus/xdomea-3.0.0"
	xdomeaXSD  = "../fixtures/xoev/xdomea-3.0.0/schema/xdomea.xsd"
)

func runCLI(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func corpusFiles(t *testing.T) []string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(corpus, "*", "*.xml"))
	if len(files) < 20 {
		t.Fatalf("corpus has %d files, want at least 20", len(files))
	}
	return files
}

// amtsbote validate reaches the same verdict as xmllint --noout --nonet --schema on every
// corpus file. CI installs xmllint; elsewhere the test is skipped without it.
func TestValidateAgreesWithXmllint(t *testing.T) {
	xmllint, err := exec.LookPath("xmllint")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("xmllint is not installed; .ci/run installs libxml2-utils")
		}
		t.Skip("xmllint not installed (apt-get install libxml2-utils)")
	}
	for _, f := range corpusFiles(t) {
		t.Run(filepath.Base(filepath.Dir(f))+"/"+filepath.Base(f), func(t *testing.T) {
			lint := exec.Command(xmllint, "--noout", "--nonet", "--schema", xdomeaXSD, f)
			lintValid := lint.Run() == nil
			code, out, errOut := runCLI("validate", "--config", demoConfig, "--schema", "xdomea-3.0.0", f)
			if code != 0 && code != 1 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			if ours := code == 0; ours != lintValid {
				t.Fatalf("amtsbote valid=%v, xmllint valid=%v\n%s", ours, lintValid, out)
			}
		})
	}
}

// validateCase is one run of amtsbote validate against the demo configuration: its arguments,
// the exit code and what the output must contain.
type validateCase struct {
	name     string
	args     []string
	wantCode int
	want     []string
}

func runValidateCases(t *testing.T, tests []validateCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runCLI(append([]string{"validate", "--config", demoConfig}, tt.args...)...)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d\n%s%s", code, tt.wantCode, out, errOut)
			}
			for _, w := range tt.want {
				if !strings.Contains(out+errOut, w) {
					t.Errorf("output lacks %q:\n%s%s", w, out, errOut)
				}
			}
		})
	}
}

func TestValidateOutputAndExitCodes(t *testing.T) {
	valid := corpus + "/valid/Abgabe.Abgabe.0401-gewerbeanmeldung.xml"
	invalid := corpus + "/invalid/Abgabe.Abgabe.0401-missing-prozessid.xml"
	codes := corpus + "/codelist-invalid/Abgabe.Abgabe.0401-unknown-dateiformat.xml"
	tests := []validateCase{
		{"all valid", []string{valid}, 0, []string{valid + ": valid"}},
		{"one invalid", []string{valid, invalid}, 1, []string{valid + ": valid", invalid + ": invalid", invalid + ":4: /xdomea:Abgabe.Abgabe.0401/xdomea:Kopf/xdomea:Nachrichtentyp: "}},
		{"explicit schema", []string{"--schema", "xdomea-3.0.0", valid}, 0, []string{": valid"}},
		{"codes unchecked by default", []string{codes}, 0, []string{": valid"}},
		{"codes checked on request", []string{"--check-codes", codes}, 1, []string{`code "999" is not in code list`}},
		{"unknown schema id", []string{"--schema", "xbau-2.3", valid}, 2, []string{`--schema "xbau-2.3": no such schema set`}},
		{"missing file", []string{"nope.xml"}, 2, []string{"nope.xml"}},
		{"bad format", []string{"--format", "yaml", valid}, 2, []string{"--format"}},
		{"no files", []string{}, 2, []string{"requires at least 1 arg"}},
	}
	runValidateCases(t, tests)
}

func TestValidateJSON(t *testing.T) {
	invalid := corpus + "/invalid/Abgabe.Abgabe.0401-wrong-type-erstellungszeitpunkt.xml"
	code, out, _ := runCLI("validate", "--config", demoConfig, "--format", "json", invalid)
	if code != 1 {
		t.Fatalf("exit %d", code)
	}
	var got struct {
		Files []struct {
			File     string
			Schema   string
			Valid    bool
			Problems []struct {
				Line    int
				Path    string
				Message string
			}
		}
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	f := got.Files[0]
	if f.Valid || f.Schema != "xdomea-3.0.0" || len(f.Problems) != 1 || f.Problems[0].Line != 8 ||
		f.Problems[0].Path != "/xdomea:Abgabe.Abgabe.0401/xdomea:Kopf/xdomea:Erstellungszeitpunkt" {
		t.Fatalf("unexpected result: %+v", got)
	}
}

// A standard whose schemas import by absolute URL is added with a few config lines and a
// catalog, and validates offline.
func TestValidateStandardAddedByConfigOnly(t *testing.T) {
	dir := t.TempDir()
	abs := func(p string) string { a, _ := filepath.Abs(p); return a }
	cfg := `portals: [{id: p, token_sha256: eb1e8e79a793c44e863a8b636df80f36f80fd4539587320cb36e1ba84032a354}]
schemas:
  - id: beispiel-1.0
    root: ` + abs("../xoev/testdata/absolute/beispiel.xsd") + `
    namespaces: [urn:amtsbote:test:beispiel:1.0]
    catalog: ` + abs("../xoev/testdata/absolute/catalog.xml") + `
`
	os.WriteFile(filepath.Join(dir, "amtsbote.yaml"), []byte(cfg), 0o600)
	code, out, errOut := runCLI("validate", "--config", filepath.Join(dir, "amtsbote.yaml"), "../xoev/testdata/absolute/valid.xml")
	if code != 0 || !strings.Contains(out, "valid.xml: valid") {
		t.Fatalf("exit %d: %s%s", code, out, errOut)
	}
}

// The set is picked by the parser that validates, so a file gets the same verdict with and
// without --schema, a file that cannot be read says why, and one file whose namespace no set
// claims does not take the verdicts of the others with it.
func TestValidateOneParserOneVerdict(t *testing.T) {
	dir := t.TempDir()
	valid, err := os.ReadFile(corpus + "/valid/Abgabe.Abgabe.0401-gewerbeanmeldung.xml")
	if err != nil {
		t.Fatal(err)
	}
	// The same message in ISO-8859-1 with an umlaut in it: declared, so valid either way.
	latin := strings.Replace(string(valid), `encoding="UTF-8"`, `encoding="ISO-8859-1"`, 1)
	latin = strings.Replace(latin, "<xdomea:Kopf>", "<!-- M\xfcnchen --><xdomea:Kopf>", 1)
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	latinFile := write("latin1.xml", latin)
	utf16File := write("utf16.xml", "\xff\xfe<\x00r\x00/\x00>\x00")
	foreign := write("foreign.xml", `<?xml version="1.0"?><x:a xmlns:x="urn:example:nobody"/>`)
	tests := []validateCase{
		{"latin-1 by namespace", []string{latinFile}, 0, []string{"latin1.xml: valid"}},
		{"latin-1 with --schema", []string{"--schema", "xdomea-3.0.0", latinFile}, 0, []string{"latin1.xml: valid"}},
		{"utf-16 says why", []string{utf16File}, 1, []string{"utf16.xml:1:1: UTF-16 and UTF-32 documents are not accepted; send UTF-8"}},
		{"unknown namespace among others", []string{foreign, latinFile}, 1, []string{
			`foreign.xml: invalid`, `no schema set is configured for the root element's namespace "urn:example:nobody"`, "latin1.xml: valid"}},
	}
	runValidateCases(t, tests)
	// JSON output has a verdict for every file.
	code, out, _ := runCLI("validate", "--config", demoConfig, "--format", "json", foreign, latinFile)
	var got struct{ Files []struct{ Valid bool } }
	if code != 1 || json.Unmarshal([]byte(out), &got) != nil || len(got.Files) != 2 || got.Files[0].Valid || !got.Files[1].Valid {
		t.Fatalf("exit %d, want two verdicts (invalid, valid):\n%s", code, out)
	}
}

// --check-codes against a schema set without genericode lists checks nothing beyond the XSD,
// and says so instead of passing silently; a set with lists gets no warning.
func TestCheckCodesWarnsWithoutCodeLists(t *testing.T) {
	valid := corpus + "/valid/Abgabe.Abgabe.0401-gewerbeanmeldung.xml"
	bare := copyDemo(t)
	xoevDir, _ := filepath.Abs("../fixtures/xoev")
	edit(t, filepath.Join(bare, "amtsbote.yaml"), "    code_lists: ["+xoevDir+"/xdomea-3.0.0/schema/code_lists, code_lists]\n", "")
	const warning = "warning: schema set xdomea-3.0.0 has no code lists configured (code_lists): --check-codes checked nothing beyond the XSD"
	tests := []struct {
		name, config string
		args         []string
		warn         bool
	}{
		{"no lists, check requested", filepath.Join(bare, "amtsbote.yaml"), []string{"--check-codes"}, true},
		{"no lists, no check", filepath.Join(bare, "amtsbote.yaml"), nil, false},
		{"lists configured", demoConfig, []string{"--check-codes"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runCLI(append(append([]string{"validate", "--config", tt.config}, tt.args...), valid)...)
			if code != 0 || !strings.Contains(out, ": valid") || strings.Contains(errOut, warning) != tt.warn {
				t.Fatalf("exit %d, warning expected %v\n%s%s", code, tt.warn, out, errOut)
			}
		})
	}
	code, out, _ := runCLI("validate", "--config", filepath.Join(bare, "amtsbote.yaml"), "--check-codes", "--format", "json", valid)
	var got struct{ Warnings []string }
	if err := json.Unmarshal([]byte(out), &got); code != 0 || err != nil || len(got.Warnings) != 1 || "warning: "+got.Warnings[0] != warning {
		t.Fatalf("exit %d, json warnings %q (%v)", code, got.Warnings, err)
	}
}
