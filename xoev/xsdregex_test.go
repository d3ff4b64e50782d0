package xoev

import (
	"errors"
	"regexp"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestXSDPatternSemantics(t *testing.T) {
	tests := []struct {
		pattern string
		match   []string
		nomatch []string
	}{
		{`a.c`, []string{"abc", "a\tc", "aǅc"}, []string{"a\nc", "a\rc", "ac", "xabc"}},
		{`^a$`, []string{"^a$"}, []string{"a"}},
		{`\d{3}`, []string{"123", "١٢٣"}, []string{"12", "1234", "12a"}},
		{`\p{IsBasicLatin}+`, []string{"abc~"}, []string{"ä", ""}},
		{`\P{IsBasicLatin}`, []string{"ä"}, []string{"a"}},
		{`[a-z-]+`, []string{"a-b"}, []string{"A"}},
		{`[-a]`, []string{"-", "a"}, []string{"b"}},
		{`\s*\S+`, []string{" \tx", "x"}, []string{" "}},
		{`[^\s]+`, []string{"ab"}, []string{"a b"}},
		{`\p{Lu}\p{Ll}*`, []string{"Groß", "Ärger"}, []string{"groß"}},
		{"[\t-\n\r -~]*", []string{"a\tb\nc"}, []string{"ä", "\u0001"}},
		{`(ab|cd)*`, []string{"", "abcdab"}, []string{"abc"}},
		{`\i\c*`, []string{"_a-1", "ä.b"}, []string{"1a", "-a"}},
		{`[\i]\C`, []string{"a "}, []string{"ab"}},
		{`[\-\.\\\|\^\?\*\+\{\}\(\)\[\]]+`, []string{`-.\|^?*+{}()[]`}, []string{"a"}},
		{`\w+\W`, []string{"aä1+!"}, []string{"a b"}},
		{`[\d-[5]]`, nil, nil}, // subtraction: untranslatable
		{`\p{Cn}`, nil, nil},
		{`\p{IsKlingon}`, nil, nil},
		{`(?i)a`, nil, nil},
		{`[a`, nil, nil},
		{`\`, nil, nil},
		{`a{2,1001}`, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.pattern, func(t *testing.T) {
			x, err := compileXSDPattern(tt.pattern)
			if tt.match == nil && tt.nomatch == nil {
				if err == nil {
					t.Fatalf("translated, want an error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range tt.match {
				if i, complete := x.firstMismatch(v); i >= 0 || !complete {
					t.Errorf("%q: mismatch at %d (complete %v), want a match", v, i, complete)
				}
			}
			for _, v := range tt.nomatch {
				if i, complete := x.firstMismatch(v); i < 0 && complete {
					t.Errorf("%q matches", v)
				}
			}
		})
	}
}

func TestFirstMismatch(t *testing.T) {
	const uuid = `[0-9|A-F|a-f]{8}-[0-9|A-F|a-f]{4}-[0-9|A-F|a-f]{4}-[0-9|A-F|a-f]{4}-[0-9|A-F|a-f]{12}`
	tests := []struct {
		pattern, value string
		index          int
		complete       bool
		why            string
	}{
		{uuid, "00000000-0000-4000-8000-000000000001", -1, true, ""},
		{uuid, "0000000g-0000-4000-8000-000000000001", 7, false, "'g' U+0067 at character 8 is not allowed."},
		{uuid, "000-", 3, false, "'-' U+002D at character 4 is not allowed at that point."},
		{uuid, "00000000-0000", -1, false, "the value ends too early (after 13 characters)."},
		{`[a-z]*`, "abc\tdef", 3, false, "U+0009 (tab) at character 4 is not allowed."},
		{`[a-z]*`, "ab\u200bc", 2, false, "U+200B at character 3 is not allowed."},
		{`[a-z]*`, "ab c", 2, false, "U+0020 (space) at character 3 is not allowed."},
		{`[\d-[5]]`, "5", -1, true, ""}, // untranslatable: nothing to say
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			if x, err := compileXSDPattern(tt.pattern); err == nil {
				i, complete := x.firstMismatch(tt.value)
				if i != tt.index || complete != tt.complete {
					t.Errorf("firstMismatch = %d, %v; want %d, %v", i, complete, tt.index, tt.complete)
				}
			}
			if got := explainPattern(tt.value, tt.pattern); got != tt.why {
				t.Errorf("explain = %q, want %q", got, tt.why)
			}
		})
	}
}

func TestCleanMessage(t *testing.T) {
	long := strings.Repeat("[a-z]", 30)
	tests := []struct{ in, want string }{
		{"Element 'x': 'a\tb' is not a valid value.\n", `Element 'x': 'a\tb' is not a valid value.`},
		{"Element 'x': \u0001\r\n", `Element 'x': \u0001`},
		{"Element 'x': [facet 'pattern'] The value 'ab' is not accepted by the pattern '" + long + "'.\n",
			"Element 'x': [facet 'pattern'] The value 'ab' is not accepted by the pattern '" + long[:60] + "…': the value ends too early (after 2 characters)."},
		{"Element 'x': [facet 'pattern'] The value 'a1' is not accepted by the pattern '[a-z]*'.",
			"Element 'x': [facet 'pattern'] The value 'a1' is not accepted by the pattern '[a-z]*': '1' U+0031 at character 2 is not allowed."},
		{"Element 'x': [facet 'pattern'] The value '" + strings.Repeat("a", 100) + "\n' is not accepted by the pattern '[a-z]*'.",
			"Element 'x': [facet 'pattern'] The value '" + strings.Repeat("a", 80) + "…' is not accepted by the pattern '[a-z]*': U+000A (line feed) at character 101 is not allowed."},
		// libxml2 cuts messages at 64000 bytes: the pattern is not whole, nothing is explained.
		{"Element 'x': [facet 'pattern'] The value 'a1' is not accepted by the pattern '[a-z]*",
			"Element 'x': [facet 'pattern'] The value 'a1' is not accepted by the pattern '[a-z]*'."},
		// A pattern that cannot be translated is still shortened and escaped.
		{"Attribute 'y': [facet 'pattern'] The value 'a\t' is not accepted by the pattern '[\\i-[:]]'.",
			`Attribute 'y': [facet 'pattern'] The value 'a\t' is not accepted by the pattern '[\i-[:]]'.`},
	}
	for _, tt := range tests {
		if got := cleanMessage(tt.in); got != tt.want {
			t.Errorf("cleanMessage(%q)\n got %q\nwant %q", tt.in, got, tt.want)
		}
	}
}

// Where a pattern translates, the automaton that names the offending character agrees with Go's
// own regexp engine on whether the value matches, and a message is always one line.
func FuzzPatternMessage(f *testing.F) {
	f.Add(`[0-9|A-F|a-f]{8}-[0-9|A-F|a-f]{4}`, "0000000g-0000")
	f.Add("(([\t-\n\r -~¡-¬®-ć])|(M̂|N̂))*", "Jürgen\tǅ")
	f.Add(`\i\c*`, "_a:b")
	f.Add(`[\d-[5]]`, "5")
	f.Add(`.*\p{Lu}+\P{IsBasicLatin}?(a|b){2,3}`, "xÄäab")
	f.Add(`[^\s\S]`, "a")
	f.Fuzz(func(t *testing.T, pattern, value string) {
		if !utf8.ValidString(pattern) || !utf8.ValidString(value) {
			return
		}
		msg := cleanMessage("Element 'x': [facet 'pattern'] The value '" + value + "' is not accepted by the pattern '" + pattern + "'.\n")
		if strings.IndexFunc(msg, unicode.IsControl) >= 0 {
			t.Fatalf("control character in %q", msg)
		}
		x, err := compileXSDPattern(pattern)
		if err != nil {
			if !errors.Is(err, errUntranslatable) && !strings.Contains(err.Error(), "error parsing regexp") {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		src, _ := translateXSD(pattern)
		re, err := regexp.Compile(`^(?:` + src + `)$`)
		if err != nil {
			t.Fatalf("compiled by syntax, not by regexp: %v", err)
		}
		i, complete := x.firstMismatch(value)
		if matched := i < 0 && complete; matched != re.MatchString(value) {
			t.Fatalf("pattern %q (%s) value %q: automaton %v, regexp %v", pattern, src, value, matched, !matched)
		}
		if i >= 0 {
			// Every prefix before the offending character can still be completed: checked
			// by the automaton itself; the character is within the value.
			if i >= utf8.RuneCountInString(value) {
				t.Fatalf("index %d beyond the value %q", i, value)
			}
		}
	})
}
