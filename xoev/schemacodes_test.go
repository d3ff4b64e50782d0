package xoev_test

import (
	"os"
	"strings"
	"testing"

	"github.com/amtsbote/amtsbote/xoev"
)

// Code types with their codes in the XSD become code lists: by the fixed listURI and
// listVersionID or the appinfo, from a named or an inline simple type, with the names of the
// appinfo or the documentation; a code type without an enumeration gives none.
func TestSchemaCodeLists(t *testing.T) {
	lists, err := xoev.SchemaCodeLists([]string{"testdata/codetypes/codes.xsd"})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]*xoev.CodeList{}
	for _, l := range lists {
		got[l.URI+" "+l.Version] = l
		if !l.FromSchema || l.File != "testdata/codetypes/codes.xsd" {
			t.Errorf("%s: FromSchema %v, File %q", l.URI, l.FromSchema, l.File)
		}
	}
	if len(got) != 2 {
		t.Fatalf("lists = %v, want farbe 2 and groesse 1.0", got)
	}
	tests := []struct {
		list, in, code, name string
	}{
		{"urn:amtsbote:test:codeliste:farbe 2", "r", "r", "Rot"},
		{"urn:amtsbote:test:codeliste:farbe 2", "rot", "r", "Rot"},
		{"urn:amtsbote:test:codeliste:farbe 2", "RT", "r", "Rot"},
		{"urn:amtsbote:test:codeliste:farbe 2", "Grün", "g", "Grün"},
		{"urn:amtsbote:test:codeliste:groesse 1.0", "M", "M", ""},
	}
	for _, tt := range tests {
		l := got[tt.list]
		if l == nil {
			t.Fatalf("no list %s", tt.list)
		}
		code, ok := l.Code(tt.in)
		name, _ := l.Name(code)
		if !ok || code != tt.code || name != tt.name {
			t.Errorf("%s %q: code %q (%v) name %q, want %q %q", tt.list, tt.in, code, ok, name, tt.code, tt.name)
		}
	}
	if _, ok := got["urn:amtsbote:test:codeliste:farbe 2"].Code("blau"); ok {
		t.Error("a value the enumeration lacks was found")
	}
}

// A schema set holds the lists of its XSD beside the genericode files, which win where both
// define a list; only genericode lists count as configured.
func TestSchemaSetHoldsTheListsOfItsXSD(t *testing.T) {
	set, err := xoev.LoadSchemaSet(xoev.SchemaSetConfig{ID: "codes", Root: "testdata/codetypes/codes.xsd"})
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	if _, ok := set.CodeLists.List("urn:amtsbote:test:codeliste:farbe", "2"); !ok || set.CodeLists.Genericode() != 0 {
		t.Fatalf("lists %v, genericode %d", set.CodeLists.URIs(), set.CodeLists.Genericode())
	}
	bad := []byte(`<t:auto xmlns:t="urn:amtsbote:test:codes"><t:farbe listURI="urn:amtsbote:test:codeliste:farbe" listVersionID="2"><code>x</code></t:farbe></t:auto>`)
	if p := set.CodeLists.Check(bad); len(p) != 1 || !strings.Contains(p[0].Message, `code "x" is not in code list urn:amtsbote:test:codeliste:farbe version 2`) {
		t.Fatalf("check = %+v", p)
	}

	// xdomea's genericode lists and its schema's enumerations name the same lists: the
	// genericode file's list is the one used.
	lists := xdomea(t).CodeLists
	l, ok := lists.List("urn:xoev-de:xdomea:codeliste:nachrichtentyp", "2.0")
	if !ok || l.FromSchema || !strings.HasSuffix(l.File, ".xml") {
		t.Fatalf("nachrichtentyp 2.0 from %s (schema %v)", l.File, l.FromSchema)
	}
	if n := lists.Genericode(); n < 18 {
		t.Errorf("%d genericode lists", n)
	}
}

func TestSchemaCodeListsErrors(t *testing.T) {
	dir := t.TempDir()
	notSchema := dir + "/not-schema.xsd"
	os.WriteFile(notSchema, []byte(`<root/>`), 0o644)
	broken := dir + "/broken.xsd"
	os.WriteFile(broken, []byte("<xs:schema xmlns:xs=\"http://www.w3.org/2001/XMLSchema\">\n<xs:complexType>"), 0o644)
	for _, tt := range []struct{ file, want string }{
		{notSchema, "not-schema.xsd: not an XML schema (root element root)"},
		{broken, "broken.xsd: line 2: not a readable schema"},
		{dir + "/missing.xsd", "missing.xsd"},
	} {
		_, err := xoev.SchemaCodeLists([]string{tt.file})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want %q", tt.file, err, tt.want)
		}
	}
}

func FuzzSchemaCodeLists(f *testing.F) {
	seed, _ := os.ReadFile("testdata/codetypes/codes.xsd")
	f.Add(seed)
	f.Add([]byte(`<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"><xs:complexType><xs:element name="code" type="p:x"/></xs:complexType></xs:schema>`))
	f.Add([]byte(`<!DOCTYPE x [<!ENTITY a 'b'>]><xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">&a;</xs:schema>`))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		file := dir + "/f.xsd"
		if err := os.WriteFile(file, data, 0o644); err != nil {
			t.Skip()
		}
		lists, err := xoev.SchemaCodeLists([]string{file})
		if err != nil && lists != nil {
			t.Fatal("lists and an error")
		}
		for _, l := range lists {
			if l.URI == "" || l.Version == "" || l.Len() == 0 {
				t.Fatalf("incomplete list %+v", l)
			}
		}
	})
}
