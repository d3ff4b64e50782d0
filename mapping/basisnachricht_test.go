package mapping_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/amtsbote/amtsbote/mapping"
	"github.com/amtsbote/amtsbote/xoev"
)

const basisnachricht = "testdata/basisnachricht/"

// The shared partial g2g-nachricht.yaml makes a valid Basisnachricht G2G message — attributes
// and nachrichtenkopf.g2g — for the qualified and the unqualified variant alike: the mapping
// only declares the prefixes (with the empty namespace for the unqualified one).
func TestBasisnachrichtPartial(t *testing.T) {
	tests := []struct {
		name, xsd, mapping string
		test               string
		want, absent       []string
	}{
		{"qualified", "antrag.xsd", "antrag.yaml", "",
			[]string{`produkt="amtsbote"`, `produkthersteller="Demo-Stadt"`, `produktversion="2.1"`, `standard="XAntrag"`, `version="1.0"`,
				"<bn-g2g:nachrichtenkopf.g2g>", `<bn-g2g:nachrichtentyp listURI="urn:amtsbote:test:codeliste:nachrichtentyp" listVersionID="1">`,
				"<code>0100</code>", "<bn-g2g:erstellungszeitpunkt>2026-11-29T09:31:00Z</bn-g2g:erstellungszeitpunkt>",
				`<bn-beh:verzeichnisdienst listURI="urn:xoev-de:kosit:codeliste:verzeichnisdienst" listVersionID="3">`,
				"<bn-beh:kennung>psw:11007007</bn-beh:kennung>", "<bn-beh:kennung>ags:09162000</bn-beh:kennung>"},
			[]string{"test="}},
		{"unqualified, a test message", "antrag-uq.xsd", "antrag-uq.yaml", "1",
			[]string{`test="1"`, "<nachrichtenkopf.g2g>", "<leser>", "<kennung>psw:11007007</kennung>", "<autor>", "<betreff>"},
			[]string{"bn-g2g", "bn-beh"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set, err := xoev.LoadSchemaSet(xoev.SchemaSetConfig{ID: tt.name, Root: basisnachricht + tt.xsd, Catalog: basisnachricht + "catalog.xml"})
			if err != nil {
				t.Fatal(err)
			}
			defer set.Close()
			m, err := mapping.Load(basisnachricht+tt.mapping, set.CodeLists)
			if err != nil {
				t.Fatal(err)
			}
			in := fixedInput(t, `{"betreff": "Antrag"}`)
			in.Sender = xoev.Authority{Kennung: "09162000", Praefix: "ags", Name: "Demo-Stadt"}
			in.Recipient = xoev.Authority{Kennung: "11007007", Praefix: "psw", Name: "Standesamt"}
			in.Product = xoev.Product{Manufacturer: "Demo-Stadt", Version: "2.1"}
			in.Standard, in.StandardVersion, in.Test = "XAntrag", "1.0", tt.test
			msg, err := m.Map(in)
			if err != nil {
				t.Fatal(err)
			}
			if err := set.Validate(msg.XML); err != nil {
				t.Fatalf("%v\n%s", err, msg.XML)
			}
			xml := string(msg.XML)
			for _, w := range tt.want {
				if !strings.Contains(xml, w) {
					t.Errorf("lacks %s:\n%s", w, xml)
				}
			}
			for _, a := range tt.absent {
				if strings.Contains(xml, a) {
					t.Errorf("has %s:\n%s", a, xml)
				}
			}
		})
	}
}

// What the Basisnachricht requires and the configuration did not give is a mapping error that
// names the rule and the header field: a schema set without standard, a recipient without key.
func TestBasisnachrichtPartialNamesWhatIsMissing(t *testing.T) {
	m, err := mapping.Load(basisnachricht+"antrag.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	in := fixedInput(t, `{"betreff": "Antrag"}`)
	in.Recipient = xoev.Authority{Name: "Standesamt"}
	_, err = m.Map(in)
	for _, want := range []string{
		"g2g-nachricht.yaml:29: standard: required value header.standard is empty or missing",
		"g2g-nachricht.yaml:32: version: required value header.standard_version is empty or missing",
		"g2g-behoerde.yaml:15: bn-beh:kennung: required value header.recipient.verzeichnis_kennung (in behoerde.verzeichnis_kennung) is empty or missing",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

// A partial can be included by its absolute path as well, e.g. the shared ones from a
// configuration kept elsewhere.
func TestIncludeByAbsolutePath(t *testing.T) {
	partial, _ := filepath.Abs("../fixtures/xoev/partials/g2g-behoerde.yaml")
	file := writeMapping(t, "root: t:Msg\nnamespaces: {t: \"urn:test\", bn-beh: \"urn:beh\"}\nmessage_type: Msg\n",
		"\n  - element: t:Autor\n    with: header.sender\n    as: behoerde\n    children:\n      - include: "+partial+"\n", nil)
	m, err := mapping.Load(file, nil)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := m.Map(fixedInput(t, `{}`))
	if err != nil || !strings.Contains(string(msg.XML), "<bn-beh:kennung>009:09162000</bn-beh:kennung>") {
		t.Fatalf("%v\n%s", err, msg.XML)
	}
}
