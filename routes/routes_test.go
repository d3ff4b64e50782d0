package routes_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/amtsbote/amtsbote/mapping"
	"github.com/amtsbote/amtsbote/routes"
	"github.com/amtsbote/amtsbote/xoev"
)

func checks(t *testing.T) routes.Checks {
	t.Helper()
	set, err := xoev.Compile("tiny", "", "testdata/tiny.xsd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(set.Close)
	return routes.Checks{
		Schemas:     map[string]*xoev.SchemaSet{"tiny": set},
		Destination: func(id string) bool { return id == "a" || id == "b" || id == "c" },
	}
}

// write puts a routes file next to a copy of the tiny mapping.
func write(t *testing.T, content string) string {
	t.Helper()
	dir := t.TempDir()
	mapping, _ := os.ReadFile("testdata/tiny.yaml")
	os.WriteFile(filepath.Join(dir, "tiny.yaml"), mapping, 0o600)
	path := filepath.Join(dir, "routes.yaml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

const table = `routes:
  - id: bavaria-prefix
    match: {leistung: ["99050012104000"], ags: ["09*"]}
    targets: [{destination: b, mapping: tiny.yaml, schema: tiny}]
  - id: munich-exact
    priority: 10
    match: {leistung: ["99050012104000"], ags: ["09162000"]}
    targets: [{destination: a, mapping: tiny.yaml, schema: tiny}, {destination: b, mapping: tiny.yaml, schema: tiny}]
  - id: big-businesses
    match: {leistung: ["99001001000000"], when: "data.betrieb.beschaeftigte >= 50"}
    targets: [{destination: a, mapping: tiny.yaml, schema: tiny}]
  - id: portal-and-ars
    match: {portal: [landesportal], ars: ["0916200000*"]}
    targets: [{destination: c, mapping: tiny.yaml, schema: tiny}]
  - id: any-ags
    match: {leistung: ["99001001000000"]}
    targets: [{destination: c, mapping: tiny.yaml, schema: tiny}]
`

func TestRoutesMatchByPriorityThenFileOrder(t *testing.T) {
	tbl, err := routes.Load(write(t, table), checks(t))
	if err != nil {
		t.Fatal(err)
	}
	big := map[string]any{"betrieb": map[string]any{"beschaeftigte": 120.0}}
	small := map[string]any{"betrieb": map[string]any{"beschaeftigte": 3.0}}
	tests := []struct {
		name string
		sub  routes.Submission
		want string
	}{
		{"higher priority wins over earlier route", routes.Submission{Leistung: "99050012104000", AGS: "09162000"}, "munich-exact"},
		{"prefix", routes.Submission{Leistung: "99050012104000", AGS: "09564000"}, "bavaria-prefix"},
		{"expression true", routes.Submission{Leistung: "99001001000000", AGS: "05315000", Data: big}, "big-businesses"},
		{"expression false falls through", routes.Submission{Leistung: "99001001000000", AGS: "05315000", Data: small}, "any-ags"},
		{"expression on missing data falls through", routes.Submission{Leistung: "99001001000000", AGS: "05315000"}, "any-ags"},
		{"portal and ARS prefix", routes.Submission{Leistung: "11111111111111", Portal: "landesportal", ARS: "091620000000"}, "portal-and-ars"},
		{"other portal", routes.Submission{Leistung: "11111111111111", Portal: "other", ARS: "091620000000"}, ""},
		{"no match", routes.Submission{Leistung: "99050012104000", AGS: "05315000"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, ok := tbl.Match(tt.sub)
			got := ""
			if ok {
				got = r.ID
			}
			if got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
	r, _ := tbl.Route("munich-exact")
	if len(r.Targets) != 2 || r.Targets[0].Mapper == nil || r.Targets[0].Mapper != r.Targets[1].Mapper {
		t.Fatalf("targets not compiled once per mapping file: %+v", r.Targets)
	}
}

// Every problem of a routes file is reported at once, each with file:line.
func TestRouteErrorsCarryFileAndLine(t *testing.T) {
	path := write(t, `routes:
  - id: ok
    targets: [{destination: a, mapping: tiny.yaml, schema: tiny}]
  - id: Bad Id
    match: {leistung: ["123"], ags: ["0916200"], ars: ["1*2"], when: "data.x >"}
    targets: []
  - id: ok
    targets:
      - {destination: nope, mapping: tiny.yaml, schema: tiny}
      - {destination: a, mapping: missing.yaml, schema: tiny}
      - {destination: b, mapping: tiny.yaml, schema: xbau}
`)
	_, err := routes.Load(path, checks(t))
	if err == nil {
		t.Fatal("want errors")
	}
	for _, want := range []string{
		path + ":4: route \"Bad Id\": id must match",
		path + ":4: route \"Bad Id\": match.leistung \"123\"",
		path + ":4: route \"Bad Id\": match.ags \"0916200\"",
		path + ":4: route \"Bad Id\": match.ars \"1*2\"",
		path + ":4: route \"Bad Id\": match.when \"data.x >\"",
		path + ":4: route \"Bad Id\": targets must list",
		path + ":7: route id \"ok\" is already used at " + path + ":2",
		path + ":9: route \"ok\": destination \"nope\" is not in the configuration's destinations",
		path + ":10: route \"ok\": mapping missing.yaml: ",
		path + ":11: route \"ok\": schema set \"xbau\" is not in the configuration's schemas",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("errors lack %q:\n%v", want, err)
		}
	}
}

func TestUnknownRouteKeyIsAnError(t *testing.T) {
	_, err := routes.Load(write(t, "routes:\n  - id: a\n    target: []\n"), checks(t))
	if err == nil || !strings.HasSuffix(err.Error(), "routes.yaml:3: field target not found in type routes.Route") {
		t.Fatalf("want an error naming the unknown key with file:line, got %v", err)
	}
}

// A YAML syntax error reads FILE:LINE:COLUMN: message like every other problem.
func TestRoutesYAMLSyntaxError(t *testing.T) {
	path := write(t, "routes:\n  - id: a\n    targets: [{destination: a, mapping: tiny.yaml\n  - id: b\n")
	_, err := routes.Load(path, checks(t))
	want := path + ":4:7: did not find expected ',' or '}' (while parsing a flow mapping that starts at line 3, column 15)"
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v\nwant %s", err, want)
	}
}

// Form-data targets and the application document are checked like mappings: every problem at
// once, with file:line.
func TestFormDataAndApplicationDocumentErrors(t *testing.T) {
	path := write(t, `routes:
  - id: fv
    application_document: {title: Antrag, labels: missing-labels.yaml}
    json_schema: route-missing.schema.json
    check_at_intake: true
    targets:
      - {destination: a, form_data: {message_type: Antrag, json_schema: missing.schema.json}}
      - {destination: b, form_data: {json_schema: x.json}}
      - {destination: c, form_data: {message_type: Antrag}, mapping: tiny.yaml}
`)
	_, err := routes.Load(path, checks(t))
	if err == nil {
		t.Fatal("want errors")
	}
	for _, want := range []string{
		path + ":2: route \"fv\": application_document.labels:",
		"missing-labels.yaml",
		path + ":7: route \"fv\": form_data.json_schema: json schema: ",
		path + ":2: route \"fv\": json_schema: json schema: ",
		"route-missing.schema.json",
		path + ":2: route \"fv\": targets[1]: form_data needs message_type",
		path + ":2: route \"fv\": targets[2]: form_data sends the form data as JSON: leave out mapping and schema",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("errors lack %q:\n%v", want, err)
		}
	}

	ok := write(t, "routes:\n  - id: fv\n    targets: [{destination: a, form_data: {message_type: Antrag}}]\n")
	tbl, err := routes.Load(ok, checks(t))
	if err != nil || tbl.Routes[0].Targets[0].Mapper == nil {
		t.Fatalf("a form-data target without a schema: %v", err)
	}
}

// A target's messages name the standard of its schema set, unless the target's header says
// otherwise, and carry its test mark; Input addresses them to the target's recipient.
func TestTargetHeader(t *testing.T) {
	c := checks(t)
	c.Schemas["tiny"].Standard, c.Schemas["tiny"].Version = "XTiny", "1.0"
	tbl, err := routes.Load(write(t, `routes:
  - id: r
    targets:
      - {destination: a, mapping: tiny.yaml, schema: tiny, recipient: {kennung: "1", praefix: psw, name: Amt A}}
      - destination: b
        mapping: tiny.yaml
        schema: tiny
        recipient: {kennung: "2", praefix: psw, verzeichnisdienst: DVDV, verzeichnisdienst_list_version: "2"}
        header: {version: "1.1", test: "ja"}
`), c)
	if err != nil {
		t.Fatal(err)
	}
	r, _ := tbl.Route("r")
	tests := []struct {
		dest, standard, version, test, recipient string
	}{
		{"a", "XTiny", "1.0", "", "psw:1"},
		{"b", "XTiny", "1.1", "ja", "psw:2"},
	}
	for i, tt := range tests {
		in := r.Targets[i].Input(mapping.Input{SubmissionID: "s"})
		if r.Targets[i].Destination != tt.dest || in.Standard != tt.standard || in.StandardVersion != tt.version ||
			in.Test != tt.test || in.Recipient.DirectoryKennung() != tt.recipient || in.SubmissionID != "s" {
			t.Errorf("%s: %+v", tt.dest, in)
		}
	}
	if code, version := r.Targets[1].Recipient.Directory(); code != "DVDV" || version != "2" {
		t.Errorf("directory of b: %s %s", code, version)
	}
}

// A mapping that makes JSON or CSV needs no schema set (a JSON mapping brings its JSON Schema);
// one that makes an XÖV message does, and its target says so with file:line. The files a JSON
// target depends on include its JSON Schema, so a change to it reloads.
func TestJSONAndCSVTargets(t *testing.T) {
	path := write(t, `routes:
  - id: outputs
    targets:
      - {destination: a, mapping: antrag-json.yaml}
      - {destination: b, mapping: buchung-csv.yaml}
      - {destination: c, mapping: antrag-json.yaml, schema: tiny}
`)
	dir := filepath.Dir(path)
	os.WriteFile(filepath.Join(dir, "antrag.schema.json"), []byte(`{"type": "object", "required": ["id"]}`), 0o600)
	os.WriteFile(filepath.Join(dir, "antrag-json.yaml"), []byte("output: json\nmessage_type: Antrag\njson_schema: antrag.schema.json\nrules:\n  - field: id\n    value: header.id\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "buchung-csv.yaml"), []byte("output: csv\nmessage_type: Buchung\ncolumns:\n  - name: Nr\n    value: submission.reference\n"), 0o600)
	tbl, err := routes.Load(path, checks(t))
	if err != nil {
		t.Fatal(err)
	}
	ts := tbl.Routes[0].Targets
	if ts[0].Mapper == nil || ts[1].Mapper == nil || ts[2].Mapper == nil || len(ts[0].Files) != 2 ||
		filepath.Base(ts[0].Files[1]) != "antrag.schema.json" || ts[0].Source != filepath.Join(dir, "antrag-json.yaml") {
		t.Fatalf("targets: %+v", ts)
	}

	bad := write(t, `routes:
  - id: outputs
    targets:
      - {destination: a, mapping: tiny.yaml}
      - {destination: b, mapping: broken-json.yaml}
`)
	os.WriteFile(filepath.Join(filepath.Dir(bad), "broken-json.yaml"), []byte("output: json\nmessage_type: X\nrules:\n  - field: a\n    value: data.a +\n"), 0o600)
	_, err = routes.Load(bad, checks(t))
	for _, want := range []string{
		bad + `:4: route "outputs": mapping tiny.yaml makes an XÖV message: add schema`,
		`broken-json.yaml:5: expression "data.a +"`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("errors lack %q:\n%v", want, err)
		}
	}
}

// Absolute paths in the routes file are used as they are; relative ones are resolved against
// the routes file's directory.
func TestAbsolutePathsAreUsedAsTheyAre(t *testing.T) {
	elsewhere := t.TempDir()
	mappingFile, _ := os.ReadFile("testdata/tiny.yaml")
	labels, err := os.ReadFile("../fixtures/demo/labels/gewerbeanmeldung.yaml")
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{
		"tiny.yaml":         mappingFile,
		"labels.yaml":       labels,
		"route.schema.json": []byte(`{"type": "object"}`),
		"fd.schema.json":    []byte(`{"type": "object"}`),
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(elsewhere, name), content, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	abs := func(name string) string { return filepath.ToSlash(filepath.Join(elsewhere, name)) }
	path := write(t, `routes:
  - id: abs
    application_document: {title: Antrag, labels: "`+abs("labels.yaml")+`"}
    json_schema: "`+abs("route.schema.json")+`"
    targets:
      - {destination: a, mapping: "`+abs("tiny.yaml")+`", schema: tiny}
      - {destination: b, form_data: {message_type: Antrag, json_schema: "`+abs("fd.schema.json")+`"}}
  - id: rel
    targets: [{destination: c, mapping: tiny.yaml, schema: tiny}]
`)
	tbl, err := routes.Load(path, checks(t))
	if err != nil {
		t.Fatal(err)
	}
	r := tbl.Routes[0]
	tests := []struct{ what, got, want string }{
		{"labels", r.ApplicationDocument.File, filepath.Join(elsewhere, "labels.yaml")},
		{"mapping", r.Targets[0].Source, filepath.Join(elsewhere, "tiny.yaml")},
		{"relative mapping", tbl.Routes[1].Targets[0].Source, filepath.Join(filepath.Dir(path), "tiny.yaml")},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("%s: %q, want %q", tc.what, tc.got, tc.want)
		}
	}
	if r.Schema == nil || r.Targets[1].Mapper == nil {
		t.Fatalf("schemas not loaded: %+v", r)
	}
}
