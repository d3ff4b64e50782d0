package xoev

import (
	"bytes"
	"strings"
	"testing"
)

// The reference reader gets schema files from anywhere (a downloaded mirror): whatever they
// hold, it returns references with their lines, or an error that starts with a line.
func FuzzSchemaRefs(f *testing.F) {
	f.Add([]byte(`<?xml version="1.0"?>
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:a">
  <xs:import namespace="urn:b"
             schemaLocation="https://example.org/b.xsd"/>
  <xs:include schemaLocation="teil.xsd"/>
  <xs:redefine schemaLocation="r.xsd"/><xs:override schemaLocation="o.xsd"/>
  <xs:import namespace="http://www.w3.org/XML/1998/namespace"/>
</xs:schema>`))
	f.Add([]byte(`<?xml version="1.0" encoding="ISO-8859-1"?><schema xmlns="http://www.w3.org/2001/XMLSchema"><include schemaLocation="M` + "\xfc" + `ller.xsd"/></schema>`))
	f.Add([]byte(`<!DOCTYPE schema [<!ENTITY % p ''>]><xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"/>`))
	f.Add([]byte(`<html/>`))
	f.Add([]byte(``))
	f.Add([]byte(`<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"><xs:include`))
	f.Fuzz(func(t *testing.T, data []byte) {
		info, err := readSchema(bytes.NewReader(data))
		if err != nil {
			msg := err.Error()
			if i := strings.IndexByte(msg, ':'); i <= 0 || strings.Trim(msg[:i], "0123456789") != "" {
				t.Fatalf("error without a line: %q", msg)
			}
			return
		}
		last := 0
		for _, r := range info.refs {
			if r.line < 1 || r.line < last {
				t.Fatalf("line %d after %d", r.line, last)
			}
			last = r.line
			switch r.kind {
			case "include", "import", "redefine", "override":
			default:
				t.Fatalf("kind %q", r.kind)
			}
			if r.location != strings.TrimSpace(r.location) {
				t.Fatalf("location %q not trimmed", r.location)
			}
		}
	})
}

func TestReadSchema(t *testing.T) {
	tests := []struct {
		name, doc string
		want      []schemaRef
		ns        string
		err       string
	}{
		{"refs and lines", "<?xml version=\"1.0\"?>\n<xs:schema xmlns:xs=\"http://www.w3.org/2001/XMLSchema\" targetNamespace=\" urn:a \">\n<xs:import namespace=\"urn:b\"\n schemaLocation=\" b.xsd \"/>\n<xs:include schemaLocation=\"c.xsd\"/>\n</xs:schema>",
			[]schemaRef{{"import", "b.xsd", "urn:b", 4}, {"include", "c.xsd", "", 5}}, "urn:a", ""},
		{"latin-1", "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n<schema xmlns=\"http://www.w3.org/2001/XMLSchema\"><include schemaLocation=\"M\xfcller.xsd\"/></schema>",
			[]schemaRef{{"include", "Müller.xsd", "", 2}}, "", ""},
		{"elements of other namespaces are not references", `<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"><x:include xmlns:x="urn:x" schemaLocation="no.xsd"/></xs:schema>`, nil, "", ""},
		{"not a schema", "\n<html/>", nil, "", "2: not a schema: the root element is {}html"},
		{"empty", "", nil, "", "1: not a schema: the document is empty"},
		{"broken", "<xs:schema xmlns:xs=\"http://www.w3.org/2001/XMLSchema\">\n\n<xs:include", nil, "", "3: not a readable schema: unexpected EOF"},
		{"unknown encoding", `<?xml version="1.0" encoding="x-nope"?><a/>`, nil, "", `1: not a readable schema: xml: opening charset "x-nope": encoding "x-nope" is not supported`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info, err := readSchema(strings.NewReader(tt.doc))
			if tt.err != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if info.targetNamespace != tt.ns || len(info.refs) != len(tt.want) {
				t.Fatalf("got %q %+v", info.targetNamespace, info.refs)
			}
			for i := range tt.want {
				if info.refs[i] != tt.want[i] {
					t.Errorf("ref %d = %+v, want %+v", i, info.refs[i], tt.want[i])
				}
			}
		})
	}
}
