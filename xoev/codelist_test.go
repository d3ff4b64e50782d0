package xoev_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"

	"github.com/amtsbote/amtsbote/xoev"
)

func TestCodeListLookups(t *testing.T) {
	lists := xdomea(t).CodeLists
	tests := []struct {
		name, uri, version, in, want string
		byName                       bool
	}{
		{"code to name", "urn:xoev-de:xdomea:codeliste:nachrichtentyp", "2.0", "0401", "Abgabe.Abgabe", false},
		{"newest version when none given", "urn:xoev-de:xdomea:codeliste:nachrichtentyp", "", "0402", "Abgabe.ImportBestaetigen", false},
		{"name to code", "urn:xoev-de:xdomea:codeliste:dateiformat", "1.0", "pdf - Portable Document Format", "018", true},
		{"name to code ignores case", "urn:xoev-de:xdomea:codeliste:dateiformat", "1.0", "PNG - Portable Network Graphics", "019", true},
		{"a code is its own alias", "urn:xoev-de:xdomea:codeliste:dateiformat", "1.0", "044", "044", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got string
			var ok bool
			if tt.byName {
				got, ok = lists.CodeFor(tt.uri, tt.version, tt.in)
			} else {
				got, ok = lists.Lookup(tt.uri, tt.version, tt.in)
			}
			if !ok || got != tt.want {
				t.Fatalf("got %q (%v), want %q", got, ok, tt.want)
			}
		})
	}
	if _, ok := lists.Lookup("urn:xoev-de:xdomea:codeliste:nachrichtentyp", "2.0", "9999"); ok {
		t.Error("unknown code found")
	}
	if _, ok := lists.List("urn:nope", ""); ok {
		t.Error("unknown list found")
	}
	if n := len(lists.URIs()); n < 18 {
		t.Errorf("%d code lists loaded, want all of the xdomea set", n)
	}
}

// Codes the XSD cannot check (typed as tokens) are checked against their list and reported
// like validation errors, with line and path.
func TestCodeCheckBeyondTheXSD(t *testing.T) {
	data := read(t, corpus+"/codelist-invalid/Abgabe.Abgabe.0401-unknown-dateiformat.xml")
	doc, err := xoev.Parse(data, xoev.DefaultMaxBytes)
	if err != nil {
		t.Fatal(err)
	}
	xsdProblems, _ := xdomea(t).ValidateDocument(doc)
	doc.Free()
	if len(xsdProblems) != 0 {
		t.Fatalf("the XSD alone should accept it: %v", xsdProblems)
	}
	err = xdomea(t).Validate(data)
	var ve *xoev.ValidationError
	if !errors.As(err, &ve) || len(ve.Problems) != 1 {
		t.Fatalf("want one code problem, got %v", err)
	}
	p := ve.Problems[0]
	if p.Line != 68 || !strings.HasSuffix(p.Path, "/xdomea:Dokument/xdomea:Version/xdomea:Format/xdomea:Name") ||
		!strings.Contains(p.Message, `code "999" is not in code list urn:xoev-de:xdomea:codeliste:dateiformat version 1.0`) {
		t.Fatalf("problem = %+v", p)
	}
}

func TestHeaderWritesValidXdomeaKopf(t *testing.T) {
	n := 0
	h := xoev.NewHeader("0401",
		xoev.Authority{Kennung: "09162000", Praefix: "009", Name: "Stadt"},
		xoev.Authority{Kennung: "09162001", Praefix: "009"},
		func() time.Time { return time.Date(2026, 11, 29, 10, 11, 12, 999, time.FixedZone("CET", 3600)) },
		func() string { n++; return "00000000-0000-4000-8000-00000000000" + string(rune('0'+n)) })
	if h.MessageID != "00000000-0000-4000-8000-000000000001" || xoev.DateTime(h.Created) != "2026-11-29T09:11:12Z" {
		t.Fatalf("header = %+v", h)
	}
	doc := etree.NewDocument()
	root := doc.CreateElement("xdomea:Abgabe.ImportBestaetigen.0402")
	root.CreateAttr("xmlns:xdomea", xdomeaNS)
	h.MessageType = "0402"
	kopf := root.CreateElement("xdomea:Kopf")
	h.WriteXdomeaKopf(kopf, "xdomea")
	// 0402 needs one imported object to be complete.
	obj := root.CreateElement("xdomea:AbgegebenesObjekt")
	obj.CreateElement("xdomea:IDSGO").SetText("00000000-0000-4000-8000-000000000009")
	obj.CreateElement("xdomea:Erfolgreich").SetText("true")
	xml, _ := doc.WriteToBytes()
	if err := xdomea(t).Validate(xml); err != nil {
		t.Fatalf("%v\n%s", err, xml)
	}
}
