package mapping

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestXMLData(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"nested and repeated", `<?xml version="1.0"?>
<antrag xmlns="urn:x" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="urn:x x.xsd">
  <inhaber><vorname>Anna</vorname><nachname>Müller</nachname></inhaber>
  <taetigkeit>Backen</taetigkeit>
  <taetigkeit>Verkauf</taetigkeit>
  <betrieb art="haupt"><name> Bäckerei </name></betrieb>
  <leer/>
</antrag>`, `{"betrieb":{"@art":"haupt","name":"Bäckerei"},"inhaber":{"nachname":"Müller","vorname":"Anna"},"leer":"","taetigkeit":["Backen","Verkauf"]}`},
		{"prefixed names", `<x:a xmlns:x="urn:x"><x:b>1</x:b></x:a>`, `{"b":"1"}`},
		{"text only root", `<a>text</a>`, `{"#text":"text"}`},
		{"mixed", `<a><b>1</b>tail</a>`, `{"#text":"tail","b":"1"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := XMLData([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			var a, b any
			json.Unmarshal(got, &a)
			json.Unmarshal([]byte(tt.want), &b)
			ga, _ := json.Marshal(a)
			gb, _ := json.Marshal(b)
			if string(ga) != string(gb) {
				t.Fatalf("got %s\nwant %s", got, tt.want)
			}
		})
	}
	for _, bad := range []string{"", "<a>", "not xml", "<a></b>"} {
		if _, err := XMLData([]byte(bad)); err == nil || !strings.Contains(err.Error(), "XML") && !strings.Contains(err.Error(), "root") {
			t.Errorf("XMLData(%q) = %v", bad, err)
		}
	}
}

func FuzzXMLData(f *testing.F) {
	f.Add([]byte(`<a><b c="1">x</b><b/></a>`))
	f.Fuzz(func(t *testing.T, in []byte) {
		out, err := XMLData(in)
		if err == nil && !json.Valid(out) {
			t.Fatalf("not JSON: %s", out)
		}
	})
}
