package mapping_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/amtsbote/amtsbote/mapping"
)

// writeMapping writes a mapping with the given rules (and optional partials) to a temp dir.
func writeMapping(t *testing.T, head, rules string, partials map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range partials {
		os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755)
		os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644)
	}
	if head == "" {
		head = "root: t:Msg\nnamespaces: {t: \"urn:test\"}\nmessage_type: Msg\nmessage_code: \"0401\"\n"
	}
	path := filepath.Join(dir, "m.yaml")
	os.WriteFile(path, []byte(head+"rules:\n"+rules), 0o644)
	return path
}

func TestLanguageFeatures(t *testing.T) {
	tests := []struct {
		name     string
		head     string
		rules    string
		partials map[string]string
		data     string
		want     []string // in the XML
		absent   []string // not in the XML
		xta      map[string]any
	}{
		{name: "constant and value", rules: `
  - element: t:A
    const: fest
  - element: t:B
    value: data.x`, data: `{"x": "aus dem Formular"}`, want: []string{"<t:A>fest</t:A>", "<t:B>aus dem Formular</t:B>"}},
		{name: "attributes and nesting", rules: `
  - element: t:Person
    children:
      - attribute: id
        value: data.id
      - element: t:Name
        value: data.name`, data: `{"id": 7, "name": "Anna"}`, want: []string{`<t:Person id="7">`, "<t:Name>Anna</t:Name>"}},
		{name: "optional elements are left out", rules: `
  - element: t:Wrapper
    children:
      - element: t:Missing
        value: data.nope
  - element: t:Empty
    value: data.blank`, data: `{"blank": "  "}`, absent: []string{"Wrapper", "Missing", "t:Empty"}},
		{name: "default", rules: `
  - element: t:A
    value: data.nope
    default: unbekannt`, data: `{}`, want: []string{"<t:A>unbekannt</t:A>"}},
		{name: "condition", rules: `
  - element: t:Yes
    if: data.n > 2
    const: "1"
  - element: t:No
    if: data.n > 5
    const: "1"`, data: `{"n": 3}`, want: []string{"<t:Yes>"}, absent: []string{"<t:No>"}},
		{name: "repeat with item and index", rules: `
  - element: t:P
    for_each: data.people
    as: p
    children:
      - attribute: nr
        value: index + 1
      - element: t:N
        value: p.name`, data: `{"people": [{"name": "A"}, {"name": "B"}]}`, want: []string{`<t:P nr="1">`, "<t:N>A</t:N>", `<t:P nr="2">`, "<t:N>B</t:N>"}},
		{name: "repeat over nothing", rules: `
  - element: t:P
    for_each: data.people
    const: x`, data: `{}`, absent: []string{"<t:P"}},
		{name: "repeat filtered by condition", rules: `
  - element: t:P
    for_each: data.n
    if: item > 1
    value: item`, data: `{"n": [1, 2, 3]}`, want: []string{"<t:P>2</t:P>", "<t:P>3</t:P>"}, absent: []string{"<t:P>1</t:P>"}},
		{name: "with binds one value", rules: `
  - element: t:Addr
    with: data.a
    as: a
    children:
      - element: t:Ort
        value: a.ort`, data: `{"a": {"ort": "Köln"}}`, want: []string{"<t:Ort>Köln</t:Ort>"}},
		{name: "nil-safe paths", rules: `
  - element: t:Ort
    value: data.a.b.c.ort`, data: `{}`, absent: []string{"t:Ort"}},
		{name: "value map", rules: `
  - element: t:G
    value: data.anrede
    map: {Frau: w, Herr: m}`, data: `{"anrede": "Frau"}`, want: []string{"<t:G>w</t:G>"}},
		{name: "value map with default", rules: `
  - element: t:G
    value: data.anrede
    map: {Frau: w, Herr: m}
    default: x`, data: `{"anrede": "Divers"}`, want: []string{"<t:G>x</t:G>"}},
		{name: "code by code and by name", rules: `
  - element: t:Typ
    value: data.typ
    code: {list: "urn:xoev-de:xdomea:codeliste:nachrichtentyp", version: "2.0", name: true}
  - element: t:Format
    value: data.format
    code: {list: "urn:xoev-de:xdomea:codeliste:dateiformat", version: "1.0"}`,
			data: `{"typ": "0401", "format": "pdf - Portable Document Format"}`,
			want: []string{`<t:Typ listURI="urn:xoev-de:xdomea:codeliste:nachrichtentyp" listVersionID="2.0">`, "<code>0401</code>", "<name>Abgabe.Abgabe</name>", "<code>018</code>"}},
		{name: "code of a list the set does not hold: written as given, with the rule's list and version", rules: `
  - element: t:Kanal
    value: data.kanal
    code: {list: "urn:de:xoev:codeliste:erreichbarkeit", version: "4.1"}`,
			data: `{"kanal": "01"}`, want: []string{`<t:Kanal listURI="urn:de:xoev:codeliste:erreichbarkeit" listVersionID="4.1">`, "<code>01</code>"}},
		{name: "a prefix declared with no namespace writes unqualified elements", head: "root: t:Msg\nnamespaces: {t: \"urn:test\", u: \"\"}\nmessage_type: Msg\n", rules: `
  - element: u:kopf
    children:
      - element: u:id
        value: header.id`, data: `{}`, want: []string{"<kopf>", "<id>00000000-0000-4000-8000-000000000001</id>"}, absent: []string{"u:", `xmlns:u`}},
		{name: "header of a Basisnachricht", head: "root: t:Msg\nnamespaces: {t: \"urn:test\"}\nmessage_type: Msg\nmessage_code: \"0200\"\nmessage_code_list: urn:test:nachrichten\nmessage_code_list_version: \"2\"\n", rules: `
  - attribute: produkt
    value: header.product
  - attribute: produkthersteller
    value: header.manufacturer
  - attribute: standard
    value: header.standard
  - attribute: version
    value: header.standard_version
  - attribute: test
    value: header.test
  - element: t:Typ
    value: joinNonEmpty("|", header.type_list, header.type_list_version, header.type_code)
  - element: t:Autor
    value: joinNonEmpty("|", header.sender.verzeichnisdienst, header.sender.verzeichnisdienst_list_version, header.sender.verzeichnis_kennung)`,
			data: `{}`, want: []string{`produkt="amtsbote"`, `produkthersteller="amtsbote"`, `standard="XTest"`, `version="1.2"`,
				"<t:Typ>urn:test:nachrichten|2|0200</t:Typ>", "<t:Autor>DVDV|3|009:09162000</t:Autor>"}, absent: []string{"test="}},
		{name: "functions", rules: `
  - element: t:D1
    value: date(data.d1)
  - element: t:D2
    value: date(data.d2)
  - element: t:DT
    value: datetime(data.dt)
  - element: t:Trim
    value: upper(trim(data.s))
  - element: t:Lower
    value: lower("ÄB")
  - element: t:Join
    value: join(data.list, ", ")
  - element: t:Concat
    value: concat(data.s, "-", 42)
  - element: t:NonEmpty
    value: joinNonEmpty("/", data.nope, "a", "", "b")
  - element: t:Sub
    value: substr("Straße", 3, 3)
  - element: t:Num
    value: number(data.betrag, 2)
  - element: t:NumDE
    value: numberDE(data.betrag, 2)
  - element: t:DateDE
    value: dateDE(data.d2)
  - element: t:MomentDE
    value: dateDE("2024-12-31T23:30:00Z")
  - element: t:Def
    value: default(data.nope, "leer")
  - element: t:Ext
    value: ext("Scan.PDF")
  - element: t:Code
    value: code("urn:xoev-de:xdomea:codeliste:dateiformat", "png - Portable Network Graphics")
  - element: t:CodeName
    value: codeName("urn:xoev-de:xdomea:codeliste:nachrichtentyp", "0402")
  - element: t:Uuid
    value: uuid()
  - element: t:Now
    value: now()
  - element: t:Size
    value: attachments[0].size
  - element: t:Hash
    value: attachments[0].sha256
  - element: t:Ref
    value: attachments[0].package_name`,
			data: `{"d1": "31.12.2024", "d2": "2024-12-31", "dt": "2024-12-31T23:00:00+01:00", "s": " abc ", "list": ["x", "y"], "betrag": "12,5"}`,
			want: []string{"<t:D1>2024-12-31</t:D1>", "<t:D2>2024-12-31</t:D2>", "<t:DT>2024-12-31T22:00:00Z</t:DT>", "<t:Trim>ABC</t:Trim>",
				"<t:Lower>äb</t:Lower>", "<t:Join>x, y</t:Join>", "<t:Concat> abc -42</t:Concat>", "<t:NonEmpty>a/b</t:NonEmpty>",
				"<t:Sub>aße</t:Sub>", "<t:Num>12.50</t:Num>", "<t:NumDE>12,50</t:NumDE>", "<t:DateDE>31.12.2024</t:DateDE>", "<t:MomentDE>01.01.2025</t:MomentDE>", "<t:Def>leer</t:Def>", "<t:Ext>pdf</t:Ext>", "<t:Code>019</t:Code>",
				"<t:CodeName>Abgabe.ImportBestaetigen</t:CodeName>", "<t:Uuid>00000000-0000-4000-8000-00000000000", "<t:Now>2026-11-29T09:31:00Z</t:Now>",
				"<t:Size>193</t:Size>", "<t:Hash>ab</t:Hash>", "<t:Ref>21623888-2db1-4734-9dc5-3d77af892494_Personalausweis.pdf</t:Ref>"}},
		{name: "variables in order", head: "root: t:Msg\nnamespaces: {t: \"urn:test\"}\nmessage_type: Msg\nvars:\n  name: trim(data.name)\n  gruss: concat(\"Hallo \", name)\n", rules: `
  - element: t:G
    value: gruss`, data: `{"name": " Anna "}`, want: []string{"<t:G>Hallo Anna</t:G>"}},
		{name: "includes", rules: `
  - element: t:Kopf
    children:
      - include: partials/kopf.yaml`, partials: map[string]string{"partials/kopf.yaml": "rules:\n  - element: t:ID\n    value: header.id\n  - include: more.yaml\n",
			"partials/more.yaml": "rules:\n  - element: t:Typ\n    value: header.type_code\n"},
			data: `{}`, want: []string{"<t:ID>00000000-0000-4000-8000-000000000001</t:ID>", "<t:Typ>0401</t:Typ>"}},
		{name: "what the XTA metadata says", rules: `
  - element: t:Von
    value: xta.author.identifier
  - element: t:Art
    value: xta.message_type
  - element: t:FIT
    if: fitconnect != nil
    const: "1"`, data: `{}`, xta: map[string]any{"message_id": "m-1", "message_type": "0401", "author": map[string]any{"identifier": "gad:010200200000"}},
			want: []string{"<t:Von>gad:010200200000</t:Von>", "<t:Art>0401</t:Art>"}, absent: []string{"<t:FIT>"}},
		{name: "no XTA metadata for other channels", rules: `
  - element: t:XTA
    if: xta != nil
    const: "1"`, data: `{}`, absent: []string{"<t:XTA>"}},
		{name: "xml escaping", rules: `
  - element: t:A
    value: data.s
  - attribute: note
    value: data.s`, data: `{"s": "<a & \"b\">"}`, want: []string{"<t:A>&lt;a &amp; &quot;b&quot;&gt;</t:A>", `note="&lt;a &amp; &quot;b&quot;&gt;"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := mapping.Load(writeMapping(t, tt.head, tt.rules, tt.partials), xdomea(t).CodeLists)
			if err != nil {
				t.Fatal(err)
			}
			in := fixedInput(t, tt.data, pdf)
			in.Standard, in.StandardVersion = "XTest", "1.2"
			in.XTA = tt.xta
			msg, err := m.Map(in)
			if err != nil {
				t.Fatal(err)
			}
			xml := string(msg.XML)
			for _, w := range tt.want {
				if !strings.Contains(xml, w) {
					t.Errorf("output lacks %s:\n%s", w, xml)
				}
			}
			for _, a := range tt.absent {
				if strings.Contains(xml, a) {
					t.Errorf("output has %s:\n%s", a, xml)
				}
			}
		})
	}
}

// Every problem a submission can have with a mapping names the rule's file:line, the element
// and what is wrong; all of them are reported at once.
func TestRunErrors(t *testing.T) {
	tests := []struct {
		name, rules, data string
		want              []string
	}{
		{"required missing", `
  - element: t:Name
    value: data.inhaber.name
    required: true`, `{}`, []string{"m.yaml:7: t:Name: required value data.inhaber.name is empty or missing"}},
		{"required container empty", `
  - element: t:Box
    required: true
    children:
      - element: t:X
        value: data.x`, `{}`, []string{"m.yaml:7: t:Box: required element is empty"}},
		{"bad date", `
  - element: t:D
    value: date(data.d)`, `{"d": "32.01.2024"}`, []string{`m.yaml:7: t:D: value date(data.d): "32.01.2024" is not a date`}},
		{"list where one value is needed", `
  - element: t:D
    value: data.list`, `{"list": [1, 2]}`, []string{"m.yaml:7: t:D: value data.list: the value is a list of 2 items"}},
		{"object where one value is needed", `
  - element: t:D
    value: data.obj`, `{"obj": {"a": 1}}`, []string{"m.yaml:7: t:D: value data.obj: the value is an object"}},
		{"for_each over a non-list", `
  - element: t:D
    for_each: data.obj
    const: x`, `{"obj": {"a": 1}}`, []string{"m.yaml:7: t:D: for_each data.obj: the value is not a list"}},
		{"unmapped value", `
  - element: t:G
    value: data.a
    map: {Frau: w}`, `{"a": "Herr"}`, []string{`m.yaml:7: t:G: value data.a is "Herr", which the rule's map does not list ("Frau")`}},
		{"unknown code", `
  - element: t:C
    value: data.c
    code: {list: "urn:xoev-de:xdomea:codeliste:dateiformat", version: "1.0"}`, `{"c": "gif"}`,
			[]string{`m.yaml:7: t:C: value data.c: "gif" is neither a code nor a name in code list urn:xoev-de:xdomea:codeliste:dateiformat version 1.0`}},
		{"several at once", `
  - element: t:A
    value: data.a
    required: true
  - element: t:B
    value: data.b
    required: true`, `{}`, []string{"m.yaml:7: t:A: required value data.a", "m.yaml:10: t:B: required value data.b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := mapping.Load(writeMapping(t, "", tt.rules, nil), xdomea(t).CodeLists)
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

// Mistakes in a mapping file are found when it loads, every one with file:line.
func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name, head, rules string
		partials          map[string]string
		want              []string
	}{
		{"unknown key", "", "\n  - element: t:A\n    vaule: data.a\n", nil, []string{`m.yaml:8: unknown key "vaule"`}},
		{"bad expression", "", "\n  - element: t:A\n    value: data.a +\n", nil, []string{`m.yaml:8: expression "data.a +"`}},
		{"misspelt submission field", "", "\n  - element: t:A\n    value: submission.referenz\n", nil, []string{`m.yaml:8: expression "submission.referenz": unknown field referenz`}},
		{"unknown variable", "", "\n  - element: t:A\n    value: betrieb.name\n", nil, []string{`m.yaml:8: expression "betrieb.name": unknown name betrieb`}},
		{"item outside its repeat", "", "\n  - element: t:A\n    value: item.name\n", nil, []string{`m.yaml:8: expression "item.name": unknown name item`}},
		{"undeclared prefix", "", "\n  - element: x:A\n    const: a\n", nil, []string{`m.yaml:7: prefix "x" of x:A is not declared`}},
		{"two sources", "", "\n  - element: t:A\n    const: a\n    value: data.a\n", nil, []string{"m.yaml:7: t:A: use only one of value, const and children"}},
		{"nothing to write", "", "\n  - element: t:A\n", nil, []string{"m.yaml:7: element t:A needs value, const or children"}},
		{"element and attribute", "", "\n  - element: t:A\n    attribute: b\n    const: x\n", nil, []string{"m.yaml:7: a rule needs exactly one of"}},
		{"list not loaded, no version", "", "\n  - element: t:A\n    value: data.a\n    code: {list: \"urn:nope\"}\n", nil, []string{`m.yaml:9: code: code list urn:nope is not loaded`, "give version"}},
		{"names of a list not loaded", "", "\n  - element: t:A\n    value: data.a\n    code: {list: \"urn:nope\", version: \"1\", name: true}\n", nil, []string{`m.yaml:9: code: name: true needs the code list urn:nope version 1`}},
		{"as without repeat", "", "\n  - element: t:A\n    as: x\n    const: a\n", nil, []string{"m.yaml:8: as names the item"}},
		{"missing partial", "", "\n  - include: nope.yaml\n", nil, []string{"m.yaml:7: include nope.yaml"}},
		{"include cycle", "", "\n  - include: a.yaml\n", map[string]string{"a.yaml": "rules:\n  - include: m.yaml\n"}, []string{"include m.yaml: includes itself"}},
		{"error in a partial", "", "\n  - include: p.yaml\n", map[string]string{"p.yaml": "rules:\n  - element: t:A\n    value: data.a)\n"}, []string{`p.yaml:3: expression "data.a)"`}},
		{"reserved variable", "root: t:Msg\nnamespaces: {t: \"urn:test\"}\nmessage_type: Msg\nvars:\n  data: data.x\n", "\n  - element: t:A\n    const: a\n", nil, []string{`m.yaml:5: variable name "data" is reserved`}},
		{"YAML syntax", "", "\n  - element: t:A\n     const: a\n", nil, []string{`m.yaml:8:11: mapping values are not allowed in this context`}},
		{"YAML syntax in a partial", "", "\n  - include: p.yaml\n", map[string]string{"p.yaml": "rules:\n  - element: t:A\n    const: 'a\n"},
			[]string{`p.yaml:4:1: found unexpected end of stream (while scanning a quoted scalar that starts at line 3, column 12) (included at `, `m.yaml:7)`}},
		{"missing root", "namespaces: {t: \"urn:test\"}\nmessage_type: Msg\n", "\n  - element: t:A\n    const: a\n", nil, []string{"root is required"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := mapping.Load(writeMapping(t, tt.head, tt.rules, tt.partials), xdomea(t).CodeLists)
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

// A validation problem on an element points back to the rule that produced it.
func TestValidationProblemsPointToTheRule(t *testing.T) {
	m := load(t, demoMappings+"gewerbeanmeldung-geschaeftsgang-0201.yaml")
	msg, err := m.Map(fixedInput(t, demoData(t), pdf))
	if err != nil {
		t.Fatal(err)
	}
	// Break the element one rule produced, as a wrong rule would.
	bad := strings.Replace(string(msg.XML), "<xdomea:Posteingangsdatum>", "<xdomea:Posteingangsdatum>x", 1)
	problems := validationProblems(t, xdomea(t).Validate([]byte(bad)))
	msg.Annotate(problems)
	found := false
	for _, p := range problems {
		if strings.HasSuffix(p.Path, "/xdomea:Posteingangsdatum") && strings.HasSuffix(p.Rule, "partials/xdomea-dokument.yaml:24") {
			found = true
		}
	}
	if !found {
		t.Fatalf("no problem points to partials/xdomea-dokument.yaml:24: %+v", problems)
	}
}
