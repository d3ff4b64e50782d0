package xoev_test

import (
	"errors"
	"strings"
	"testing"
	"unicode"

	"github.com/amtsbote/amtsbote/xoev"
)

// A value refused by a pattern facet is one line: the pattern shortened, control characters
// escaped, and the character the pattern does not accept named with its code point.
func TestPatternProblemsNameTheCharacter(t *testing.T) {
	beispiel, err := xoev.LoadSchemaSet(xoev.SchemaSetConfig{
		ID: "beispiel-1.0", Root: "testdata/absolute/beispiel.xsd", Catalog: "testdata/absolute/catalog.xml",
	})
	if err != nil {
		t.Fatal(err)
	}
	defer beispiel.Close()
	xdomeaMsg := string(read(t, corpus+"/valid/Abgabe.Abgabe.0401-gewerbeanmeldung.xml"))
	beispielMsg := string(read(t, "testdata/absolute/valid.xml"))
	tests := []struct {
		name string
		set  *xoev.SchemaSet
		doc  string
		path string
		want []string
	}{
		{"latinchars String.Latin: a letter outside the set, after a tab it allows", beispiel,
			strings.Replace(beispielMsg, "Jürgen Groß", "Jürgen\tǅ Groß", 1), "/bsp:Antrag.Einreichen.0100/bsp:Name",
			[]string{`The value 'Jürgen\tǅ Groß' is not accepted by the pattern '(([\t-\n\r -~¡-¬®-ćĊ-ěĞ-ģĦ-ıĴ-śŞ-ūŮ-žƏƠ-ơƯ-ưƷǍ-ǔǞ-ǟǤ-ǰǴ-ǵǺ-ǿȘ-ț…': 'ǅ' U+01C5 at character 8 is not allowed.`}},
		{"latinchars: a control character", beispiel,
			strings.Replace(beispielMsg, "Jürgen Groß", "Groß\u0085", 1), "/bsp:Antrag.Einreichen.0100/bsp:Name",
			[]string{`The value 'Groß\u0085' is not accepted`, `…': U+0085 at character 5 is not allowed.`}},
		{"latinchars: a combining mark only after M, N, D, J, L", beispiel,
			strings.Replace(beispielMsg, "Jürgen Groß", "M\u0302X\u0302", 1), "/bsp:Antrag.Einreichen.0100/bsp:Name",
			[]string{`…': U+0302 at character 4 is not allowed at that point.`}},
		{"xdomea ProzessID (UUID pattern): a letter outside the set", xdomea(t),
			strings.Replace(xdomeaMsg, "<xdomea:ProzessID>", "<xdomea:ProzessID>ǅ", 1), "/xdomea:Abgabe.Abgabe.0401/xdomea:Kopf/xdomea:ProzessID",
			[]string{`by the pattern '[0-9|A-F|a-f]{8}-[0-9|A-F|a-f]{4}-[0-9|A-F|a-f]{4}-[0-9|A-F|…': 'ǅ' U+01C5 at character 1 is not allowed.`}},
		{"xdomea ProzessID: a tab where a digit belongs", xdomea(t),
			strings.Replace(xdomeaMsg, "<xdomea:ProzessID>", "<xdomea:ProzessID>1234\t", 1), "/xdomea:Abgabe.Abgabe.0401/xdomea:Kopf/xdomea:ProzessID",
			[]string{`The value '1234\t`, `U+0009 (tab) at character 5 is not allowed.`}},
		{"xdomea ProzessID: a hyphen too early", xdomea(t),
			strings.Replace(xdomeaMsg, "<xdomea:ProzessID>", "<xdomea:ProzessID>1-", 1), "/xdomea:Abgabe.Abgabe.0401/xdomea:Kopf/xdomea:ProzessID",
			[]string{`'-' U+002D at character 2 is not allowed at that point.`}},
		{"xdomea Dateiname: a line break", xdomea(t),
			strings.Replace(xdomeaMsg, "_Personalausweis.pdf</", "_Personal\nausweis.pdf</", 1), "",
			[]string{`The value '21623888-2db1-4734-9dc5-3d77af892494_Personal\nausweis.pdf' is not accepted`, `U+000A (line feed) at character 46 is not allowed.`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.doc == xdomeaMsg || tt.doc == beispielMsg {
				t.Fatal("the test document was not changed")
			}
			err := tt.set.Validate([]byte(tt.doc))
			var ve *xoev.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("want a validation error, got %v", err)
			}
			var pattern *xoev.Problem
			for i, p := range ve.Problems {
				if strings.IndexFunc(p.Message, unicode.IsControl) >= 0 {
					t.Errorf("problem %d has a control character: %q", i, p.Message)
				}
				if strings.Contains(p.Message, "[facet 'pattern']") {
					pattern = &ve.Problems[i]
				}
			}
			if pattern == nil {
				t.Fatalf("no pattern problem in %v", ve.Problems)
			}
			if len([]rune(pattern.Message)) > 400 {
				t.Errorf("message has %d characters", len([]rune(pattern.Message)))
			}
			if tt.path != "" && pattern.Path != tt.path {
				t.Errorf("path = %q", pattern.Path)
			}
			for _, w := range tt.want {
				if !strings.Contains(pattern.Message, w) {
					t.Errorf("message lacks %q:\n%s", w, pattern.Message)
				}
			}
		})
	}
}
