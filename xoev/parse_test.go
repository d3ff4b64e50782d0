package xoev_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/amtsbote/amtsbote/xoev"
)

// Every classic XML attack is refused before libxml2 sees an entity, and nothing of what the
// attack aimed at appears in the error.
func TestXMLAttacksAreRefused(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "secret.txt")
	os.WriteFile(secret, []byte("TOP-SECRET-CONTENT"), 0o600)
	laughs := `<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<lolz>&lol9;</lolz>`
	tests := []struct {
		name string
		doc  string
		want string
	}{
		{"file XXE", `<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file://` + secret + `">]><r>&x;</r>`, "DOCTYPE"},
		{"http XXE", `<!DOCTYPE r [<!ENTITY x SYSTEM "http://127.0.0.1:1/x">]><r>&x;</r>`, "DOCTYPE"},
		{"parameter entities", `<!DOCTYPE r [<!ENTITY % p SYSTEM "file://` + secret + `"> %p;]><r/>`, "DOCTYPE"},
		{"billion laughs", laughs, "DOCTYPE"},
		{"external DTD", `<?xml version="1.0"?><!DOCTYPE r SYSTEM "http://127.0.0.1:1/evil.dtd"><r/>`, "DOCTYPE"},
		{"DOCTYPE after comment and PI", "\ufeff<?xml version=\"1.0\"?>\n<!-- c -->\n<?pi x?>\n<!DOCTYPE r><r/>", "line 4"},
		{"UTF-16", "\xff\xfe<\x00r\x00/\x00>\x00", "UTF-16"},
		{"not well-formed", "<r>\n<a></b>\n</r>", "line 2"},
		{"empty", "", "not well-formed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, err := xoev.Parse([]byte(tt.doc), xoev.DefaultMaxBytes)
			if err == nil {
				doc.Free()
				t.Fatal("accepted")
			}
			var pe *xoev.ParseError
			if !errors.As(err, &pe) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("want a ParseError mentioning %q, got %v", tt.want, err)
			}
			if strings.Contains(err.Error(), "TOP-SECRET") {
				t.Fatal("the error leaks the file's content")
			}
		})
	}
}

func TestSizeLimit(t *testing.T) {
	_, err := xoev.Parse([]byte("<r>"+strings.Repeat("x", 2000)+"</r>"), 1024)
	if err == nil || !strings.Contains(err.Error(), "limit is 1024") {
		t.Fatalf("got %v", err)
	}
}

// A harmless document with comments and processing instructions before the root parses.
func TestPrologWithoutDoctypeIsFine(t *testing.T) {
	doc, err := xoev.Parse([]byte("\ufeff<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- <!DOCTYPE in a comment> -->\n<r>&amp;</r>"), xoev.DefaultMaxBytes)
	if err != nil {
		t.Fatal(err)
	}
	doc.Free()
}

// Parsing and freeing in a loop keeps libxml2's memory flat: every document is freed.
func BenchmarkParseFree(b *testing.B) {
	data := read(b, corpus+"/valid/Abgabe.Abgabe.0401-gewerbeanmeldung.xml")
	for i := 0; i < b.N; i++ {
		doc, err := xoev.Parse(data, xoev.DefaultMaxBytes)
		if err != nil {
			b.Fatal(err)
		}
		doc.Free()
	}
}

// FuzzParse: any bytes are parsed or refused — never a crash, never a document with a DTD.
func FuzzParse(f *testing.F) {
	for _, s := range []string{`<r/>`, `<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x "y">]><r>&x;</r>`, "\xef\xbb\xbf<r a='1'>t</r>",
		`<!-- c --><r>`, `<r xmlns:x="u"><x:a/></r>`, "\xff\xfe<\x00r\x00/\x00>\x00"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := xoev.Parse(data, 1<<16)
		if err == nil {
			doc.Free()
		}
	})
}
