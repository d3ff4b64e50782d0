package console

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestParseProblem(t *testing.T) {
	files := map[string]bool{"mappings/a.yaml": true}
	for _, tt := range []struct {
		in   string
		want problem
	}{
		{"mappings/a.yaml:5: xdomea:Datum: not a date\n | date(x)\n | ^",
			problem{Rule: "mappings/a.yaml:5", RuleLink: "/konfiguration/dateien?pfad=mappings%2Fa.yaml#L5", Message: "xdomea:Datum: not a date\n | date(x)\n | ^"}},
		{"other.yaml:7: x: y", problem{Rule: "other.yaml:7", Message: "x: y"}},
		{"line 12, column 4: /a/b: element not expected (mapping rule mappings/a.yaml:30)",
			problem{Rule: "mappings/a.yaml:30", RuleLink: "/konfiguration/dateien?pfad=mappings%2Fa.yaml#L30", Line: 12, Column: 4, Message: "/a/b: element not expected"}},
		{"line 3: broken", problem{Line: 3, Message: "broken"}},
		{"$.plz: '8080' does not match (mapping rule mappings/a.yaml:61)",
			problem{Rule: "mappings/a.yaml:61", RuleLink: "/konfiguration/dateien?pfad=mappings%2Fa.yaml#L61", Message: "$.plz: '8080' does not match"}},
		{"gewerbeanmeldung.schema.json: missing property 'inhaber'", problem{Message: "gewerbeanmeldung.schema.json: missing property 'inhaber'"}},
	} {
		if got := parseProblem(tt.in, files); got != tt.want {
			t.Errorf("parseProblem(%q)\n got %+v\nwant %+v", tt.in, got, tt.want)
		}
	}
}

func TestParseSince(t *testing.T) {
	berlin, _ := time.LoadLocation("Europe/Berlin")
	c := &Console{opts: Options{Location: berlin}}
	want := time.Date(2026, 12, 2, 14, 5, 0, 0, berlin)
	for _, in := range []string{"2026-12-02T14:05", "02.12.2026 14:05", "02.12.2026, 14:05", " 2026-12-02T14:05:00 "} {
		if got, err := c.parseSince(in); err != nil || !got.Equal(want) {
			t.Errorf("parseSince(%q) = %v, %v", in, got, err)
		}
	}
	if got, err := c.parseSince(""); err != nil || !got.IsZero() {
		t.Errorf("empty: %v %v", got, err)
	}
	if _, err := c.parseSince("morgen"); err == nil || err.Field != "seit" {
		t.Errorf("morgen: %v", err)
	}
}

// FuzzMappingTestInput: the mapping test's JSON check and the since filter take any input
// without panicking; a JSON error names a line and column within the input.
func FuzzMappingTestInput(f *testing.F) {
	for _, s := range []string{"", "{}", `{"a": 1}`, "{\n\"a\": x}", `{"a": [1, 2`, "[1]", "{} {}", "ä{", "\xff{", "01.01.2026", "2026-12-02T14:05"} {
		f.Add(s)
	}
	c := &Console{opts: Options{Location: time.UTC}}
	f.Fuzz(func(t *testing.T, s string) {
		msg := checkJSON(s)
		if msg != "" && !utf8.ValidString(msg) && utf8.ValidString(s) {
			t.Fatalf("message not UTF-8: %q", msg)
		}
		if strings.Contains(msg, "Zeile") {
			line, _ := jsonPosition(s, int64(len(s)))
			if line < 1 {
				t.Fatalf("line %d", line)
			}
		}
		_, _ = c.parseSince(s)
		_ = parseProblem(s, map[string]bool{})
	})
}
