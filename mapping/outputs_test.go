package mapping_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/text/encoding/charmap"

	"github.com/amtsbote/amtsbote/mapping"
	"github.com/amtsbote/amtsbote/xoev"
)

// writeOutputMapping writes a mapping file (head and body as given) and extra files into a temp dir.
func writeOutputMapping(t *testing.T, content string, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, c := range files {
		os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755)
		os.WriteFile(filepath.Join(dir, name), []byte(c), 0o644)
	}
	path := filepath.Join(dir, "m.yaml")
	os.WriteFile(path, []byte(content), 0o644)
	return path
}

const jsonHead = "output: json\nmessage_type: Antrag\n"

// A JSON mapping builds the document from its rules: members in rule order, typed values,
// objects, lists, null and empty values as asked.
func TestJSONOutput(t *testing.T) {
	tests := []struct {
		name, rules, data string
		want              string // the document, compared as JSON values
		partials          map[string]string
	}{
		{"values keep their JSON type", `
  - field: text
    value: data.s
  - field: zahl
    value: data.n
  - field: bruch
    value: data.f
  - field: ja
    value: data.b
  - field: objekt
    value: data.o
  - field: liste
    value: data.l`, `{"s": "Anna", "n": 3, "f": 2.5, "b": false, "o": {"x": 1}, "l": [1, "a"]}`,
			`{"text": "Anna", "zahl": 3, "bruch": 2.5, "ja": false, "objekt": {"x": 1}, "liste": [1, "a"]}`, nil},
		{"const keeps the YAML type", `
  - field: eins
    const: 1
  - field: text
    const: "1"
  - field: wahr
    const: true
  - field: nichts
    const: null
  - field: liste
    const: [a, 2]`, `{}`, `{"eins": 1, "text": "1", "wahr": true, "nichts": null, "liste": ["a", 2]}`, nil},
		{"type converts what forms send as text", `
  - field: betrag
    value: data.betrag
    type: number
  - field: anzahl
    value: data.anzahl
    type: integer
  - field: zustimmung
    value: data.zustimmung
    type: boolean
  - field: nein
    value: data.nein
    type: boolean
  - field: plz
    value: data.plz
    type: string`, `{"betrag": "12,50", "anzahl": "3", "zustimmung": "ja", "nein": "0", "plz": 80331}`,
			`{"betrag": 12.5, "anzahl": 3, "zustimmung": true, "nein": false, "plz": "80331"}`, nil},
		{"empty values are left out, or null, or kept", `
  - field: fehlt
    value: data.nope
  - field: leer
    value: data.blank
  - field: als_null
    value: data.nope
    empty: null
  - field: behalten
    value: data.blank
    empty: keep
  - field: liste
    for_each: data.none
    value: item
    empty: keep
  - field: objekt
    children:
      - field: x
        value: data.nope
  - field: objekt_behalten
    empty: keep
    children:
      - field: x
        value: data.nope`, `{"blank": "  "}`,
			`{"als_null": null, "behalten": "  ", "liste": [], "objekt_behalten": {}}`, nil},
		{"default, map and if", `
  - field: anrede
    value: data.anrede
    map: {Frau: w, Herr: m}
    default: x
  - field: land
    value: data.land
    default: DE
  - field: zahl_default
    value: data.nope
    default: 0
  - field: nur_wenn
    if: data.n > 5
    const: ja`, `{"anrede": "Divers", "n": 3}`, `{"anrede": "x", "land": "DE", "zahl_default": 0}`, nil},
		{"objects and lists of objects", `
  - field: person
    with: data.p
    as: p
    children:
      - field: name
        value: p.name
      - field: anschrift
        children:
          - field: ort
            value: p.ort
  - field: kinder
    for_each: data.kinder
    as: k
    if: k.name != nil
    children:
      - field: nr
        value: index + 1
      - field: name
        value: k.name
  - field: namen
    for_each: data.kinder
    value: item.name`, `{"p": {"name": "Anna", "ort": "Köln"}, "kinder": [{"name": "Ben"}, {}, {"name": "Cem"}]}`,
			`{"person": {"name": "Anna", "anschrift": {"ort": "Köln"}}, "kinder": [{"nr": 1, "name": "Ben"}, {"nr": 3, "name": "Cem"}], "namen": ["Ben", "Cem"]}`, nil},
		{"two for_each rules add to one list", `
  - field: personen
    for_each: '[data.antragsteller]'
    value: item
  - field: personen
    for_each: data.weitere
    value: item`, `{"antragsteller": "A", "weitere": ["B", "C"]}`, `{"personen": ["A", "B", "C"]}`, nil},
		{"fields that take turns", `
  - field: art
    if: data.neu
    const: Erstantrag
  - field: art
    if: not data.neu
    const: Verlaengerung`, `{"neu": false}`, `{"art": "Verlaengerung"}`, nil},
		{"partials", `
  - field: kopf
    children:
      - include: partials/kopf.yaml`, `{}`, `{"kopf": {"id": "00000000-0000-4000-8000-000000000001", "typ": "Antrag"}}`,
			map[string]string{"partials/kopf.yaml": "rules:\n  - field: id\n    value: header.id\n  - field: typ\n    const: Antrag\n"}},
		{"characters JSON must escape, and none it need not", `
  - field: s
    value: data.s`, `{"s": "<a & \"b\">\n\\ ä"}`, `{"s": "<a & \"b\">\n\\ ä"}`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := mapping.Load(writeOutputMapping(t, jsonHead+"rules:"+tt.rules, tt.partials), nil)
			if err != nil {
				t.Fatal(err)
			}
			msg, err := m.Map(fixedInput(t, tt.data))
			if err != nil {
				t.Fatal(err)
			}
			if msg.MediaType != "application/json" || msg.Type != "Antrag" {
				t.Errorf("media type %q, type %q", msg.MediaType, msg.Type)
			}
			var got, want any
			if err := json.Unmarshal(msg.XML, &got); err != nil {
				t.Fatalf("not JSON: %v\n%s", err, msg.XML)
			}
			json.Unmarshal([]byte(tt.want), &want)
			g, _ := json.Marshal(got)
			w, _ := json.Marshal(want)
			if string(g) != string(w) {
				t.Fatalf("got  %s\nwant %s\n%s", g, w, msg.XML)
			}
			if strings.Contains(string(msg.XML), `\u003c`) {
				t.Errorf("HTML-escaped: %s", msg.XML)
			}
		})
	}
}

// Members come in the order of the rules, indented, the file ends with a line end.
func TestJSONOutputKeepsRuleOrder(t *testing.T) {
	m, err := mapping.Load(writeOutputMapping(t, jsonHead+"rules:\n  - field: zeta\n    const: 1\n  - field: alpha\n    children:\n      - field: b\n        const: x\n      - field: a\n        const: [1]\n", nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := m.Map(fixedInput(t, `{}`))
	if err != nil {
		t.Fatal(err)
	}
	want := "{\n  \"zeta\": 1,\n  \"alpha\": {\n    \"b\": \"x\",\n    \"a\": [\n      1\n    ]\n  }\n}\n"
	if string(msg.XML) != want {
		t.Fatalf("got\n%s\nwant\n%s", msg.XML, want)
	}
}

// Problems with a submission name the rule's file:line, the field and what is wrong.
func TestJSONRunErrors(t *testing.T) {
	tests := []struct {
		name, rules, data string
		want              []string
	}{
		{"required missing", "\n  - field: name\n    value: data.p.name\n    required: true", `{}`,
			[]string{"m.yaml:4: name: required value data.p.name is empty or missing"}},
		{"not a number", "\n  - field: n\n    value: data.n\n    type: number", `{"n": "zwölf"}`,
			[]string{`m.yaml:4: n: value data.n: "zwölf" is not a number`}},
		{"not a whole number", "\n  - field: n\n    value: data.n\n    type: integer", `{"n": 2.5}`,
			[]string{`m.yaml:4: n: value data.n: 2.5 is not a whole number`}},
		{"not yes or no", "\n  - field: b\n    value: data.b\n    type: boolean", `{"b": "vielleicht"}`,
			[]string{`m.yaml:4: b: value data.b: "vielleicht" is not a yes/no value`}},
		{"set twice", "\n  - field: a\n    if: data.x\n    const: 1\n  - field: a\n    if: data.x\n    const: 2", `{"x": true}`,
			[]string{"m.yaml:7: a: the field is set twice: the rule at ", "m.yaml:4 set it already"}},
		{"required object empty", "\n  - field: o\n    required: true\n    children:\n      - field: x\n        value: data.x", `{}`,
			[]string{"m.yaml:4: o: required field is empty"}},
		{"required list empty", "\n  - field: l\n    for_each: data.fahrzeuge\n    required: true\n    children:\n      - field: k\n        value: item.k", `{"fahrzeuge": [{}]}`,
			[]string{"m.yaml:4: l: required list is empty: for_each data.fahrzeuge gives no entries"}},
		{"type of a list", "\n  - field: s\n    value: data.l\n    type: string", `{"l": [1]}`,
			[]string{"m.yaml:4: s: value data.l: the value is a list of 1 items"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := mapping.Load(writeOutputMapping(t, jsonHead+"rules:"+tt.rules, nil), nil)
			if err != nil {
				t.Fatal(err)
			}
			_, err = m.Map(fixedInput(t, tt.data))
			if !mapping.IsMappingError(err) {
				t.Fatalf("want a mapping error, got %v", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

const testSchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "required": ["antragsteller", "fahrzeuge"],
  "properties": {
    "antragsteller": {
      "type": "object",
      "required": ["name", "email"],
      "properties": {"name": {"type": "string", "minLength": 2}, "email": {"type": "string", "format": "email"}}
    },
    "fahrzeuge": {"type": "array", "minItems": 1, "items": {"type": "object", "properties": {"kennzeichen": {"type": "string", "pattern": "^[A-ZÄÖÜ]{1,3}-[A-Z]{1,2} [1-9][0-9]{0,3}[EH]?$"}}}},
    "gebuehr": {"type": "number", "minimum": 0}
  }
}`

// A JSON mapping's message is checked against its JSON Schema; each problem names the JSON path,
// the schema's message and the rule that produced the value (or the nearest enclosing one).
func TestJSONSchemaProblemsPointToTheRule(t *testing.T) {
	file := writeOutputMapping(t, jsonHead+`json_schema: schemas/antrag.schema.json
rules:
  - field: antragsteller
    children:
      - field: name
        value: data.name
      - field: email
        value: data.email
  - field: fahrzeuge
    for_each: data.kennzeichen
    children:
      - field: kennzeichen
        value: item
  - field: gebuehr
    value: data.gebuehr
    type: number
`, map[string]string{"schemas/antrag.schema.json": testSchema})
	m, err := mapping.Load(file, nil)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(m.JSONSchemaFile) != "antrag.schema.json" || len(m.Files) != 2 {
		t.Fatalf("schema file %q, files %v", m.JSONSchemaFile, m.Files)
	}
	tests := []struct {
		name, data string
		want       []xoev.Problem // nil: valid
	}{
		{"valid", `{"name": "Anna", "email": "anna@example.org", "kennzeichen": ["M-AB 123"], "gebuehr": "30,00"}`, nil},
		{"wrong values", `{"name": "A", "email": "keine-adresse", "kennzeichen": ["M-AB 123", "m ab 1"], "gebuehr": -1}`, []xoev.Problem{
			{Path: "$.antragsteller.email", Rule: "m.yaml:9"},
			{Path: "$.antragsteller.name", Rule: "m.yaml:7"},
			{Path: "$.fahrzeuge[1].kennzeichen", Rule: "m.yaml:14"},
			{Path: "$.gebuehr", Rule: "m.yaml:16"},
		}},
		{"missing values", `{"email": "anna@example.org"}`, []xoev.Problem{
			{Path: "$", Rule: "m.yaml"},
			{Path: "$.antragsteller", Rule: "m.yaml:5"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg, err := m.Map(fixedInput(t, tt.data))
			if err != nil {
				t.Fatal(err)
			}
			err = m.Check(msg)
			if tt.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var ve *xoev.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("want a validation error, got %v", err)
			}
			if ve.SchemaSet != "antrag.schema.json" || len(ve.Problems) != len(tt.want) {
				t.Fatalf("problems: %v", err)
			}
			for i, w := range tt.want {
				p := ve.Problems[i]
				if p.Path != w.Path || !strings.HasSuffix(p.Rule, w.Rule) || p.Message == "" {
					t.Errorf("problem %d = %+v, want path %s and rule …%s", i, p, w.Path, w.Rule)
				}
			}
			if !strings.Contains(err.Error(), "(mapping rule ") {
				t.Errorf("the error does not name the rule: %v", err)
			}
		})
	}
}

// csvMapping is a CSV mapping with the given csv block, rows and columns.
func csvMapping(t *testing.T, format, rows, columns string) *mapping.Mapping {
	t.Helper()
	content := "output: csv\nmessage_type: Kursbuchung\n"
	if format != "" {
		content += "csv: " + format + "\n"
	}
	if rows != "" {
		content += "rows: " + rows + "\n"
	}
	m, err := mapping.Load(writeOutputMapping(t, content+"columns:"+columns, nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// A CSV mapping writes RFC 4180: a header, CRLF line ends, quoting where needed, the delimiter
// and encoding the receiver imports.
func TestCSVOutput(t *testing.T) {
	cols := `
  - name: Name
    value: item.name
  - name: Anmerkung
    value: item.text
  - name: Betrag
    value: item.betrag`
	rows := "{for_each: data.personen}"
	tests := []struct {
		name, format, rows, columns, data string
		want                              string // the file's bytes, as UTF-8 (decoded for windows-1252)
		mediaType                         string
	}{
		{"comma, quoting", "", rows, cols,
			`{"personen": [{"name": "Anna", "text": "sagt \"ja\", gern", "betrag": 12.5}, {"name": "Ben", "text": "zwei\nZeilen", "betrag": 3}]}`,
			"Name,Anmerkung,Betrag\r\nAnna,\"sagt \"\"ja\"\", gern\",12.5\r\nBen,\"zwei\nZeilen\",3\r\n", "text/csv; charset=utf-8; header=present"},
		{"semicolon for German Excel", `{delimiter: ";"}`, rows, cols,
			`{"personen": [{"name": "Müller; Anna", "text": "a,b", "betrag": "12,50"}]}`,
			"Name;Anmerkung;Betrag\r\n\"Müller; Anna\";a,b;12,50\r\n", "text/csv; charset=utf-8; header=present"},
		{"tab", `{delimiter: "\t"}`, rows, cols, `{"personen": [{"name": "A\tB", "text": "x"}]}`,
			"Name\tAnmerkung\tBetrag\r\n\"A\tB\"\tx\t\r\n", "text/csv; charset=utf-8; header=present"},
		{"empty optional values are empty fields", "", rows, cols, `{"personen": [{"name": "Anna"}, {}]}`,
			"Name,Anmerkung,Betrag\r\nAnna,,\r\n,,\r\n", "text/csv; charset=utf-8; header=present"},
		{"without header", `{header: false}`, rows, cols, `{"personen": [{"name": "Anna"}]}`,
			"Anna,,\r\n", "text/csv; charset=utf-8; header=absent"},
		{"no rows", "", rows, cols, `{"personen": []}`, "Name,Anmerkung,Betrag\r\n", "text/csv; charset=utf-8; header=present"},
		{"one row per submission", "", "", `
  - name: Vorgang
    value: submission.reference
  - name: Kurs
    value: data.kurs
  - name: Bemerkung
    if: data.kurs == "X"
    const: nie`, `{"kurs": "26F-101"}`, "Vorgang,Kurs,Bemerkung\r\nDEMO-1,26F-101,\r\n", "text/csv; charset=utf-8; header=present"},
		{"rows filtered, index, default, map, with", "", "{for_each: data.personen, as: p, if: p.name != nil}", `
  - name: Nr
    value: index + 1
  - name: Name
    value: p.name
  - name: Anrede
    value: p.anrede
    map: {Frau: Frau, Herr: Herr}
    default: Guten Tag
  - name: Ort
    with: p.anschrift
    as: a
    value: a.ort`, `{"personen": [{"name": "Anna", "anrede": "Frau", "anschrift": {"ort": "Köln"}}, {}, {"name": "Ben", "anrede": "divers"}]}`,
			"Nr,Name,Anrede,Ort\r\n1,Anna,Frau,Köln\r\n3,Ben,Guten Tag,\r\n", "text/csv; charset=utf-8; header=present"},
		{"booleans and numbers as text", "", "", `
  - name: B
    value: data.b
  - name: N
    value: data.n
  - name: Z
    value: replace(number(data.z, 2), ".", ",")`, `{"b": true, "n": 3, "z": 4.5}`, "B,N,Z\r\ntrue,3,\"4,50\"\r\n", "text/csv; charset=utf-8; header=present"},
		{"formula guard", `{formula_guard: true}`, rows, cols,
			`{"personen": [{"name": "=HYPERLINK(\"http://x\")", "text": "+49 89 123", "betrag": -5}, {"name": "@SUM(A1)", "text": "-", "betrag": "-1,5"}]}`,
			"Name,Anmerkung,Betrag\r\n\"'=HYPERLINK(\"\"http://x\"\")\",'+49 89 123,-5\r\n'@SUM(A1),'-,\"-1,5\"\r\n", "text/csv; charset=utf-8; header=present"},
		{"UTF-8 with BOM", `{bom: true}`, rows, cols, `{"personen": [{"name": "Jürgen"}]}`,
			"\uFEFFName,Anmerkung,Betrag\r\nJürgen,,\r\n", "text/csv; charset=utf-8; header=present"},
		{"Windows-1252", `{encoding: windows-1252, delimiter: ";"}`, rows, cols, `{"personen": [{"name": "Jürgen Weiß", "text": "5 € – „Zitat“"}]}`,
			"Name;Anmerkung;Betrag\r\nJürgen Weiß;5 € – „Zitat“;\r\n", "text/csv; charset=windows-1252; header=present"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := csvMapping(t, tt.format, tt.rows, tt.columns)
			msg, err := m.Map(fixedInput(t, tt.data))
			if err != nil {
				t.Fatal(err)
			}
			got := msg.XML
			if strings.Contains(tt.mediaType, "windows-1252") {
				want, _ := charmap.Windows1252.NewEncoder().Bytes([]byte(tt.want))
				if string(got) != string(want) {
					t.Errorf("bytes % x\nwant  % x", got, want)
				}
				got, _ = charmap.Windows1252.NewDecoder().Bytes(got)
			}
			if string(got) != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
			if msg.MediaType != tt.mediaType || msg.Type != "Kursbuchung" {
				t.Errorf("media type %q, type %q", msg.MediaType, msg.Type)
			}
		})
	}
}

// A value with a character Windows-1252 cannot write fails the submission with the column, the
// row, the field and the character named; so does a missing required value.
func TestCSVRunErrors(t *testing.T) {
	tests := []struct {
		name, format, rows, columns, data string
		want                              []string
	}{
		{"unrepresentable character", `{encoding: windows-1252}`, "{for_each: data.personen, as: p}", `
  - name: Nachname
    value: p.nachname`, `{"personen": [{"nachname": "Weiß"}, {"nachname": "Dvořák"}]}`,
			[]string{`m.yaml:6: Nachname: row 2: value data.personen[1].nachname (in p.nachname) is "Dvořák", which has "ř" (U+0159) at character 4 that windows-1252 cannot represent`}},
		{"unrepresentable character, one row", `{encoding: windows-1252}`, "", `
  - name: Ort
    value: data.ort`, `{"ort": "Łódź"}`,
			[]string{`m.yaml:5: Ort: value data.ort is "Łódź", which has "Ł" (U+0141) at character 1`}},
		{"required", "", "{for_each: data.personen, as: p}", `
  - name: Nachname
    value: p.nachname
    required: true`, `{"personen": [{"nachname": "A"}, {}]}`,
			[]string{"m.yaml:5: Nachname: required value data.personen[1].nachname (in p.nachname) is empty or missing"}},
		{"rows required", "", "{for_each: data.personen, required: true}", `
  - name: N
    value: item`, `{"personen": []}`, []string{"m.yaml:3: rows: for_each data.personen gives no rows"}},
		{"a list in a cell", "", "", `
  - name: N
    value: data.l`, `{"l": [1, 2]}`, []string{"m.yaml:4: N: value data.l: the value is a list of 2 items"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := csvMapping(t, tt.format, tt.rows, tt.columns)
			_, err := m.Map(fixedInput(t, tt.data))
			if !mapping.IsMappingError(err) {
				t.Fatalf("want a mapping error, got %v", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

// Mistakes in JSON and CSV mappings are found when they load, each with file:line.
func TestOutputLoadErrors(t *testing.T) {
	tests := []struct {
		name, content string
		files         map[string]string
		want          []string
	}{
		{"unknown output", "output: pdf\nmessage_type: X\nrules: []\n", nil, []string{`m.yaml:1: output "pdf": expected xml (an XÖV message), json or csv`}},
		{"XML key in a JSON mapping", "output: json\nroot: t:A\nmessage_type: X\nrules:\n  - field: a\n    const: 1\n", nil,
			[]string{"m.yaml:2: root belongs to mappings with output: xml; this one makes json"}},
		{"element in a JSON mapping", "output: json\nmessage_type: X\nrules:\n  - element: t:A\n    const: 1\n", nil,
			[]string{`m.yaml:4: unknown key "element"`, "m.yaml:4: a rule needs field"}},
		{"field in an XML mapping", "root: t:A\nnamespaces: {t: \"urn:t\"}\nmessage_type: X\nrules:\n  - field: a\n    const: 1\n", nil,
			[]string{`m.yaml:5: unknown key "field"`}},
		{"field without value", "output: json\nmessage_type: X\nrules:\n  - field: a\n", nil, []string{"m.yaml:4: field a needs value, const or children"}},
		{"bad type and empty", "output: json\nmessage_type: X\nrules:\n  - field: a\n    value: data.a\n    type: zahl\n    empty: leer\n", nil,
			[]string{`m.yaml:6: type "zahl": expected string, number, integer or boolean`, `m.yaml:7: empty "leer": expected omit`}},
		{"type on an object", "output: json\nmessage_type: X\nrules:\n  - field: a\n    type: string\n    children:\n      - field: b\n        const: 1\n", nil,
			[]string{"m.yaml:4: field a: type and default apply to a value"}},
		{"field set twice", "output: json\nmessage_type: X\nrules:\n  - field: a\n    const: 1\n  - field: a\n    value: data.a\n", nil,
			[]string{`m.yaml:6: field "a" is already set by the rule at `}},
		{"missing schema", "output: json\nmessage_type: X\njson_schema: nope.json\nrules:\n  - field: a\n    const: 1\n", nil,
			[]string{"m.yaml:3: json_schema: json schema: open"}},
		{"broken schema", "output: json\nmessage_type: X\njson_schema: s.json\nrules:\n  - field: a\n    const: 1\n", map[string]string{"s.json": `{"type": "objekt"}`},
			[]string{"m.yaml:3: json_schema: json schema"}},
		{"bad expression in a field", "output: json\nmessage_type: X\nrules:\n  - field: a\n    value: data.a +\n", nil, []string{`m.yaml:5: expression "data.a +"`}},
		{"no columns", "output: csv\nmessage_type: X\n", nil, []string{"m.yaml:1: columns is required"}},
		{"column without name", "output: csv\nmessage_type: X\ncolumns:\n  - value: data.a\n", nil, []string{"m.yaml:4: a column needs name"}},
		{"column without value", "output: csv\nmessage_type: X\ncolumns:\n  - name: A\n", nil, []string{"m.yaml:4: column A needs value or const"}},
		{"for_each in a column", "output: csv\nmessage_type: X\ncolumns:\n  - name: A\n    for_each: data.l\n    value: item\n", nil,
			[]string{`m.yaml:5: unknown key "for_each"`}},
		{"column twice", "output: csv\nmessage_type: X\ncolumns:\n  - name: A\n    const: 1\n  - name: A\n    const: 2\n", nil,
			[]string{`m.yaml:6: column "A" is listed twice`}},
		{"bad csv format", "output: csv\nmessage_type: X\ncsv: {delimiter: \";;\", encoding: latin9, bom: ja, quote: \"'\"}\ncolumns:\n  - name: A\n    const: 1\n", nil,
			[]string{`m.yaml:3: csv.delimiter ";;"`, `m.yaml:3: csv.encoding "latin9": expected utf-8 or windows-1252`, "m.yaml:3: csv.bom must be true or false", `m.yaml:3: unknown key "quote"`}},
		{"BOM in Windows-1252", "output: csv\nmessage_type: X\ncsv:\n  encoding: windows-1252\n  bom: true\ncolumns:\n  - name: A\n    const: 1\n", nil,
			[]string{"m.yaml:5: csv.bom: a byte order mark is for UTF-8"}},
		{"column name Windows-1252 cannot write", "output: csv\nmessage_type: X\ncsv: {encoding: windows-1252}\ncolumns:\n  - name: Straße №\n    const: 1\n", nil,
			[]string{`m.yaml:5: column name "Straße №" has "№" (U+2116)`}},
		{"rows without for_each", "output: csv\nmessage_type: X\nrows: {as: p}\ncolumns:\n  - name: A\n    value: p\n", nil,
			[]string{"m.yaml:3: rows needs for_each"}},
		{"item outside rows", "output: csv\nmessage_type: X\ncolumns:\n  - name: A\n    value: item.name\n", nil,
			[]string{`m.yaml:5: expression "item.name": unknown name item`}},
		{"column partial", "output: csv\nmessage_type: X\ncolumns:\n  - include: p.yaml\n", map[string]string{"p.yaml": "rules:\n  - name: A\n    const: 1\n"},
			[]string{`p.yaml:1: unknown key "rules"`, "p.yaml:1: a partial needs columns"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := mapping.Load(writeOutputMapping(t, tt.content, tt.files), nil)
			if err == nil {
				t.Fatal("want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

// Column partials are included like rule partials.
func TestCSVColumnPartials(t *testing.T) {
	file := writeOutputMapping(t, "output: csv\nmessage_type: X\ncolumns:\n  - name: A\n    const: a\n  - include: partials/person.yaml\n",
		map[string]string{"partials/person.yaml": "columns:\n  - name: Vorname\n    value: data.vorname\n  - name: Nachname\n    value: data.nachname\n"})
	m, err := mapping.Load(file, nil)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := m.Map(fixedInput(t, `{"vorname": "Anna", "nachname": "Weiß"}`))
	if err != nil {
		t.Fatal(err)
	}
	if string(msg.XML) != "A,Vorname,Nachname\r\na,Anna,Weiß\r\n" || len(m.Files) != 2 {
		t.Fatalf("%q %v", msg.XML, m.Files)
	}
}

// An absolute json_schema path is used as it is.
func TestJSONSchemaAbsolutePath(t *testing.T) {
	schema := filepath.Join(t.TempDir(), "antrag.schema.json")
	if err := os.WriteFile(schema, []byte(testSchema), 0o644); err != nil {
		t.Fatal(err)
	}
	file := writeOutputMapping(t, jsonHead+"json_schema: "+filepath.ToSlash(schema)+"\nrules:\n  - field: gebuehr\n    const: 1\n", nil)
	m, err := mapping.Load(file, nil)
	if err != nil {
		t.Fatal(err)
	}
	if m.JSONSchemaFile != schema {
		t.Fatalf("schema file %q, want %q", m.JSONSchemaFile, schema)
	}
}
