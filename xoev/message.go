package xoev

import (
	"fmt"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// A problem is one line: libxml2's messages quote values and patterns as they are, with tabs
// and line breaks, and a pattern facet's message repeats the whole pattern — hundreds of
// characters for the DIN 91379 / latinchars types of XÖV standards. cleanMessage escapes
// control characters, shortens what is quoted, and says which character the pattern refused.

const (
	maxPatternShown = 60
	maxValueShown   = 80
	maxMessage      = 2000
)

const (
	patternFacet    = "[facet 'pattern'] The value '"
	patternAccepted = "' is not accepted by the pattern '"
)

func cleanMessage(msg string) string {
	msg = strings.TrimSpace(msg)
	if i := strings.Index(msg, patternFacet); i >= 0 {
		rest := msg[i+len(patternFacet):]
		if j := strings.LastIndex(rest, patternAccepted); j >= 0 {
			value, pattern := rest[:j], rest[j+len(patternAccepted):]
			complete := strings.HasSuffix(pattern, "'.")
			pattern = strings.TrimSuffix(pattern, "'.")
			out := escapeControls(msg[:i]) + "[facet 'pattern'] The value '" + shorten(value, maxValueShown) +
				"' is not accepted by the pattern '" + shorten(pattern, maxPatternShown) + "'"
			if complete { // libxml2 cuts messages beyond 64000 bytes: then the pattern is not whole
				if why := explainPattern(value, pattern); why != "" {
					return out + ": " + why
				}
			}
			return out + "."
		}
	}
	return shorten(msg, maxMessage)
}

// shorten escapes control characters and cuts s after max characters with "…".
func shorten(s string, max int) string {
	if utf8.RuneCountInString(s) > max {
		s = string([]rune(s)[:max]) + "…"
	}
	return escapeControls(s)
}

// escapeControls writes tab, line feed and carriage return as \t, \n and \r and the other
// control characters as \u00XX.
func escapeControls(s string) string {
	if strings.IndexFunc(s, unicode.IsControl) < 0 {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case unicode.IsControl(r):
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// explainPattern names the first character of value after which the pattern cannot match any
// more, or says that the value ends too early; "" when the pattern cannot be translated (or the
// translation accepts the value, where it only approximates libxml2).
func explainPattern(value, pattern string) string {
	x := patternFor(pattern)
	if x == nil {
		return ""
	}
	i, complete := x.firstMismatch(value)
	switch {
	case i >= 0:
		r := []rune(value)[i]
		where := "is not allowed"
		if x.allows(r) {
			where = "is not allowed at that point"
		}
		return fmt.Sprintf("%s at character %d %s.", describeRune(r), i+1, where)
	case !complete:
		return fmt.Sprintf("the value ends too early (after %d characters).", utf8.RuneCountInString(value))
	}
	return ""
}

// describeRune shows a character and its code point, e.g. 'ǅ' U+01C5, or U+0009 (tab) for
// what cannot be shown.
func describeRune(r rune) string {
	names := map[rune]string{'\t': " (tab)", '\n': " (line feed)", '\r': " (carriage return)", ' ': " (space)", 0xA0: " (no-break space)"}
	if name, ok := names[r]; ok {
		return fmt.Sprintf("U+%04X%s", r, name)
	}
	if !unicode.IsGraphic(r) || unicode.Is(unicode.Mn, r) || unicode.IsSpace(r) {
		return fmt.Sprintf("U+%04X", r)
	}
	return fmt.Sprintf("'%c' U+%04X", r, r)
}

// Compiled patterns by their text; nil for a pattern that cannot be translated. Patterns come
// from the configured schema sets, so there are few; the bound guards against surprises.
var patterns = struct {
	sync.Mutex
	m map[string]*xsdPattern
}{m: map[string]*xsdPattern{}}

const maxPatterns = 512

func patternFor(p string) *xsdPattern {
	patterns.Lock()
	defer patterns.Unlock()
	if x, ok := patterns.m[p]; ok {
		return x
	}
	x, err := compileXSDPattern(p)
	if err != nil {
		x = nil
	}
	if len(patterns.m) >= maxPatterns {
		clear(patterns.m)
	}
	patterns.m[p] = x
	return x
}
