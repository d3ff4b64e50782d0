package mapping_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/amtsbote/amtsbote/mapping"
)

// FuzzMap feeds arbitrary form data through both demo mappings: the engine must never panic
// and must either produce a message or say what is wrong.
func FuzzMap(f *testing.F) {
	files, _ := filepath.Glob("../fixtures/demo/tests/*/input.json")
	for _, file := range files {
		raw, _ := os.ReadFile(file)
		var in struct{ Data json.RawMessage }
		json.Unmarshal(raw, &in)
		f.Add([]byte(in.Data))
	}
	f.Add([]byte(`{"inhaber": [], "betrieb": {"beginn": 12, "name": {"x": 1}}, "gesellschafter": "text"}`))
	f.Add([]byte(`{"betrieb": {"beginn": "9999-99-99", "beschaeftigte": 1e308}, "gesellschafter": [null, 1, "x", {}]}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`[1,2,3]`))
	var compiled []*mapping.Mapping
	for _, m := range demoMappingFiles {
		compiled = append(compiled, load(f, demoMappings+m))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if !json.Valid(data) {
			return
		}
		for _, m := range compiled {
			msg, err := m.Map(fixedInput(t, string(data), pdf))
			if err == nil && len(msg.XML) == 0 {
				t.Fatal("no error and no message")
			}
		}
	})
}

// FuzzLoadOutputMapping loads arbitrary JSON and CSV mapping files: the loader must never panic
// and must either compile the mapping or name a problem with its file:line; a mapping that
// loads maps a submission or says what is wrong.
func FuzzLoadOutputMapping(f *testing.F) {
	for _, file := range []string{"bewohnerparkausweis-antrag.yaml", "vhs-kursbuchung.yaml"} {
		raw, _ := os.ReadFile(demoMappings + file)
		f.Add(string(raw))
	}
	f.Add("output: json\nmessage_type: X\nrules:\n  - field: a\n    const: [1, {b: null}]\n    empty: keep\n  - field: a\n    for_each: data.l\n    value: item\n    type: integer\n")
	f.Add("output: csv\nmessage_type: X\ncsv: {delimiter: \"\\t\", encoding: cp1252, bom: true, header: false, formula_guard: true}\nrows: {for_each: data.l, as: p, if: p != nil, required: true}\ncolumns:\n  - name: \"ä\"\n    value: p\n    map: {a: b}\n    default: c\n")
	f.Add("output: json\nmessage_type: X\njson_schema: ../../nope.json\nrules: {}\n")
	f.Add("output: csv\ncolumns: [1, {name: 2}, {include: x.yaml}]\nrows: [1]\ncsv: 3\n")
	data := `{"l": [1, "2", null, {"x": [true]}], "a": "ä€ř"}`
	f.Fuzz(func(t *testing.T, content string) {
		dir := t.TempDir()
		file := filepath.Join(dir, "m.yaml")
		if err := os.WriteFile(file, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		m, err := mapping.Load(file, nil)
		if err != nil {
			var le *mapping.LoadError
			if !errors.As(err, &le) && !strings.Contains(err.Error(), file) {
				t.Fatalf("a problem without its file: %v", err)
			}
			return
		}
		msg, err := m.Map(fixedInput(t, data))
		if err == nil {
			if len(msg.XML) == 0 && m.Output != mapping.OutputCSV {
				t.Fatal("no error and no message")
			}
			_ = m.Check(msg)
		}
	})
}
