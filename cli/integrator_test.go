package cli

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The demo's golden tests pass: every sample submission maps to its expected messages or errors.
func TestDemoGoldenTests(t *testing.T) {
	code, out, errOut := runCLI("test", "--config", demoConfig)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	last := lines[len(lines)-1]
	if !strings.HasSuffix(last, " passed, 0 failed") || len(lines) < 21 {
		t.Fatalf("want at least 20 passing tests, got %q", last)
	}
}

// The examples' golden tests pass too: the Gewerbeanmeldung as 0101, 0401 and 0605.
func TestExampleGoldenTests(t *testing.T) {
	code, out, errOut := runCLI("test", "--config", "../fixtures/examples/amtsbote.yaml")
	if code != 0 || !strings.Contains(out, "3 passed, 0 failed") {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
}

// Every XÖV message the demo and the examples make from their golden tests' submissions passes
// amtsbote validate --check-codes: the XSD and every code that names its list, the DVDV prefix,
// the AGS and the contact roles included.
func TestEveryDemoMessagePassesTheCodeCheck(t *testing.T) {
	out := t.TempDir()
	var files []string
	for _, c := range []struct{ config, tests string }{
		{demoConfig, "../fixtures/demo/tests"},
		{"../fixtures/examples/amtsbote.yaml", "../fixtures/examples/tests"},
	} {
		inputs, _ := filepath.Glob(filepath.Join(c.tests, "*", "input.json"))
		for _, in := range inputs {
			name := filepath.Base(filepath.Dir(in))
			if _, err := os.Stat(filepath.Join(filepath.Dir(in), "expected-errors.txt")); err == nil {
				continue // the mapping must fail for this one
			}
			for _, dest := range []string{"eakte", "dms", "behoerde", "dms-ablage"} {
				file := filepath.Join(out, name+"-"+dest+".xml")
				code, _, errOut := runCLI("map", "--config", c.config, "--input", in, "--destination", dest, "--out", file)
				if code != 0 {
					t.Fatalf("%s: map: exit %d\n%s", in, code, errOut)
				}
				raw, _ := os.ReadFile(file)
				if len(raw) == 0 {
					os.Remove(file) // the route has no such destination
					continue
				}
				// map writes a comment line naming the route before the message
				_, xml, _ := strings.Cut(string(raw), "\n")
				os.WriteFile(file, []byte(xml), 0o644)
				files = append(files, file)
			}
		}
	}
	if len(files) < 20 {
		t.Fatalf("only %d messages", len(files))
	}
	args := append([]string{"validate", "--config", demoConfig, "--check-codes"}, files...)
	if code, stdout, errOut := runCLI(args...); code != 0 {
		t.Fatalf("validate --check-codes: exit %d\n%s%s", code, stdout, errOut)
	}
}

// A golden test whose expectation no longer holds fails with a diff, and --update fixes it.
func TestGoldenTestFailsAndUpdates(t *testing.T) {
	dir := t.TempDir()
	caseDir := filepath.Join(dir, "demo")
	os.MkdirAll(caseDir, 0o755)
	input, _ := os.ReadFile("../fixtures/demo/tests/demo/input.json")
	os.WriteFile(filepath.Join(caseDir, "input.json"), input, 0o644)
	expected, _ := os.ReadFile("../fixtures/demo/tests/demo/expected.eakte.xml")
	os.WriteFile(filepath.Join(caseDir, "expected.eakte.xml"), []byte(strings.Replace(string(expected), "Bäckerei", "Metzgerei", 1)), 0o644)
	fv, _ := os.ReadFile("../fixtures/demo/tests/demo/expected.gewerbe-fachverfahren.json")
	os.WriteFile(filepath.Join(caseDir, "expected.gewerbe-fachverfahren.json"), fv, 0o644)

	code, out, _ := runCLI("test", "--config", demoConfig, dir)
	if code != 1 || !strings.Contains(out, "FAIL demo") || !strings.Contains(out, "- ") || !strings.Contains(out, "Metzgerei") ||
		!strings.HasSuffix(strings.TrimSpace(out), "0 passed, 1 failed") {
		t.Fatalf("exit %d\n%s", code, out)
	}
	if code, out, _ := runCLI("test", "--config", demoConfig, "--update", dir); code != 0 {
		t.Fatalf("update: exit %d\n%s", code, out)
	}
	if code, out, _ := runCLI("test", "--config", demoConfig, dir); code != 0 || !strings.Contains(out, "1 passed, 0 failed") {
		t.Fatalf("after update: exit %d\n%s", code, out)
	}
}

func TestConfigCheck(t *testing.T) {
	if code, out, _ := runCLI("config", "check", "--config", demoConfig); code != 0 || !strings.Contains(out, ": ok (3 routes, 4 mappings") {
		t.Fatalf("demo: exit %d %s", code, out)
	}
	// A broken copy of the demo: problems in the routes file and in two mapping files are all
	// reported, each with file:line.
	dir := copyDemo(t)
	edit(t, filepath.Join(dir, "routes.yaml"), "destination: gewerbe-fachverfahren", "destination: gewerbe-fv")
	edit(t, filepath.Join(dir, "mappings/gewerbeanmeldung-geschaeftsgang-0201.yaml"), `value: object_id("geschaeftsgang")`, "value: submission.referenz")
	edit(t, filepath.Join(dir, "mappings/partials/xdomea-anschrift.yaml"), "- element: xdomea:Ort", "- elemnt: xdomea:Ort")
	edit(t, filepath.Join(dir, "mappings/vhs-kursbuchung.yaml"), `delimiter: ";"`, `delimiter: ";;"`)
	edit(t, filepath.Join(dir, "mappings/bewohnerparkausweis-antrag.yaml"), "type: integer", "type: int")
	code, out, _ := runCLI("config", "check", "--config", filepath.Join(dir, "amtsbote.yaml"))
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, out)
	}
	for _, want := range []string{
		`routes.yaml:30: route "gewerbeanmeldung": destination "gewerbe-fv" is not in the configuration's destinations`,
		`gewerbeanmeldung-geschaeftsgang-0201.yaml:51: expression "submission.referenz"`,
		`xdomea-anschrift.yaml:9: unknown key "elemnt"`,
		`vhs-kursbuchung.yaml:7: csv.delimiter ";;": expected one character`,
		`bewohnerparkausweis-antrag.yaml:99: type "int": expected string, number, integer or boolean`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// An Abgabe.Abgabe 0401 transfers records and responsibility to another authority: config check
// warns (and still succeeds) when a route sends one from the sender to itself.
func TestConfigCheckWarnsOfATransferToItself(t *testing.T) {
	dir := copyDemo(t)
	edit(t, filepath.Join(dir, "routes.yaml"), "mappings/gewerbeanmeldung-geschaeftsgang-0201.yaml", "mappings/gewerbeanmeldung-abgabe-0401.yaml")
	code, out, _ := runCLI("config", "check", "--config", filepath.Join(dir, "amtsbote.yaml"))
	if code != 0 || !strings.Contains(out, "warning: ") || !strings.Contains(out, "sender and recipient are the same authority (ags 09162000)") ||
		!strings.Contains(out, "Geschaeftsgang.Geschaeftsgang.0201") {
		t.Fatalf("exit %d\n%s", code, out)
	}
	if code, out, _ := runCLI("config", "check", "--config", demoConfig); code != 0 || strings.Contains(out, "warning") {
		t.Fatalf("the demo warns: exit %d\n%s", code, out)
	}
}

func TestMapDryRun(t *testing.T) {
	// Several messages: a directory, one file each, exactly as delivered.
	out := filepath.Join(t.TempDir(), "out")
	code, stdout, stderr := runCLI("map", "--config", demoConfig, "--input", "../fixtures/demo/submission.json", "--out", out)
	if code != 0 || !strings.Contains(stderr, "valid: route gewerbeanmeldung, 2 message(s)") {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	eakte, _ := os.ReadFile(filepath.Join(out, "eakte.xml"))
	fv, _ := os.ReadFile(filepath.Join(out, "gewerbe-fachverfahren.json"))
	if !bytes.HasPrefix(eakte, []byte("<?xml")) || !strings.Contains(string(eakte), "<xdomea:Geschaeftsgang.Geschaeftsgang.0201") ||
		!json.Valid(fv) || !strings.Contains(string(fv), `"message_type": "Gewerbeanmeldung"`) {
		t.Fatalf("out files:\n%s\n%s", eakte, fv)
	}
	// One message: the file is the message, well-formed XML that xmllint-style parsing accepts.
	one := filepath.Join(t.TempDir(), "eakte.xml")
	if code, _, stderr := runCLI("map", "--config", demoConfig, "--input", "../fixtures/demo/submission.json", "--destination", "eakte", "--out", one); code != 0 {
		t.Fatalf("exit %d %s", code, stderr)
	}
	raw, _ := os.ReadFile(one)
	if !bytes.HasPrefix(raw, []byte("<?xml")) || xml.Unmarshal(raw, new(struct{})) != nil {
		t.Fatalf("not a well-formed XML file:\n%.300s", raw)
	}
	if code, _, stderr := runCLI("validate", "--config", demoConfig, one); code != 0 {
		t.Fatalf("validate the written file: exit %d %s", code, stderr)
	}
	// JSON and CSV: the file as delivered, a Windows-1252 CSV included; the terminal shows it as UTF-8.
	dir := t.TempDir()
	for _, c := range []struct{ input, file, want string }{
		{"bewohnerparkausweis.json", "antrag.json", `"kennzeichen": "M-JW 1234"`},
		{"vhs-kursbuchung.json", "buchung.csv", "Lukas;Br\xfcckner;02.05.2010;"},
	} {
		file := filepath.Join(dir, c.file)
		if code, _, stderr := runCLI("map", "--config", demoConfig, "--input", "../fixtures/demo/"+c.input, "--out", file); code != 0 {
			t.Fatalf("%s: exit %d %s", c.input, code, stderr)
		}
		raw, _ := os.ReadFile(file)
		if !strings.Contains(string(raw), c.want) {
			t.Errorf("%s lacks %q:\n%s", c.file, c.want, raw)
		}
	}
	if code, stdout, _ := runCLI("map", "--config", demoConfig, "--input", "../fixtures/demo/vhs-kursbuchung.json"); code != 0 ||
		!strings.Contains(stdout, "Lukas;Brückner;02.05.2010;") {
		t.Errorf("printed CSV: exit %d\n%s", code, stdout)
	}
	code, _, stderr = runCLI("map", "--config", demoConfig, "--input", "../fixtures/demo/tests/invalid-start-date/input.json", "--destination", "eakte")
	if code != 1 || !strings.Contains(stderr, `gewerbeanmeldung-geschaeftsgang-0201.yaml:20: variable beginn`) {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
}

// copyDemo copies the demo configuration (with absolute schema paths) into a temp dir.
func copyDemo(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	src := "../fixtures/demo"
	err := filepath.Walk(src, func(path string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if strings.HasPrefix(rel, "tests") {
			return nil
		}
		if info.IsDir() {
			return os.MkdirAll(filepath.Join(dir, rel), 0o755)
		}
		b, _ := os.ReadFile(path)
		return os.WriteFile(filepath.Join(dir, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs("../fixtures/xoev")
	edit(t, filepath.Join(dir, "amtsbote.yaml"), "../xoev/", abs+"/")
	// The demo's inbox and print service live beside the copy, not in the working directory;
	// replies have no print service here (tests that want one set it).
	edit(t, filepath.Join(dir, "amtsbote.yaml"), "directory: var/demo/inbox", "directory: "+filepath.Join(dir, "inbox"))
	edit(t, filepath.Join(dir, "amtsbote.yaml"), "path: var/demo/out/druckdienst", "path: "+filepath.Join(dir, "out/druckdienst"))
	edit(t, filepath.Join(dir, "amtsbote.yaml"), "print_destination: druckdienst", `print_destination: ""`)
	return dir
}

func edit(t *testing.T, path, old, new string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		t.Fatalf("%s does not contain %q", path, old)
	}
	os.WriteFile(path, []byte(strings.ReplaceAll(string(b), old, new)), 0o644)
}
