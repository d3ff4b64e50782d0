package formdoc

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestClean(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		multiline bool
		want      string
	}{
		{"German", "Müller, Lindwurmstraße", false, "Müller, Lindwurmstraße"},
		{"Latin Extended-A", "Łódź, Dvořák, Őry", false, "Łódź, Dvořák, Őry"},
		{"Greek and Cyrillic", "Αθήνα Москва", false, "Αθήνα Москва"},
		{"decomposed accent", "Dvor\u030cák", false, "Dvořák"},
		{"Chinese", "北京", false, "\uFFFD\uFFFD"},
		{"emoji", "ok 😀", false, "ok \uFFFD"},
		{"ligature", "Sta\uFB00el", false, "Staffel"},
		{"full-width", "\uFF21\uFF22", false, "AB"},
		{"capital sharp s", "STRA\u1E9EE", false, "STRAßE"},
		{"invisible characters", "a\u200bb\u00adc\ufeffd\u200ee\x00f\x07g", false, "abcdefg"},
		{"tab", "a\tb", false, "a b"},
		{"line breaks kept", "a\r\nb\rc\nd\u2028e", true, "a\nb\nc\nd\ne"},
		{"line breaks flattened", "a\r\nb\nc", false, "a b c"},
		{"invalid UTF-8", "a\xffb", false, "a\uFFFDb"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := clean(tt.in, tt.multiline); got != tt.want {
				t.Errorf("clean(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestCleanOutputIsDrawable(t *testing.T) {
	// Every rune clean lets through must have a glyph in both fonts.
	var all strings.Builder
	for r := rune(0); r < 0x11000; r += 7 {
		all.WriteRune(r)
	}
	for _, r := range clean(all.String(), true) {
		if r != '\n' && !supported(r) {
			t.Fatalf("clean let %U through, which the fonts lack", r)
		}
	}
}

func TestWrap(t *testing.T) {
	regular, _, err := loadFaces()
	if err != nil {
		t.Fatal(err)
	}
	const size, width = 9.5, 50.0
	tests := []struct {
		name      string
		in        string
		wantLines int // 0: more than one
	}{
		{"short", "Anna Müller", 1},
		{"blank", "   ", -1},
		{"sentence", strings.Repeat("Wort ", 60), 0},
		{"long word", strings.Repeat("x", 200), 0},
		{"url", "https://example.org/" + strings.Repeat("pfad/", 30), 0},
		{"paragraphs", "eins\n\n\n\nzwei", 3},
		{"wide rune alone", "\uFFFD", 1},
		{"no-break spaces hold", strings.Repeat("§\u00a012\u00a0Abs.\u00a03 ", 12), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lines := wrap(regular, tt.in, size, width)
			switch {
			case tt.wantLines == -1 && len(lines) != 0:
				t.Errorf("%d lines for blank text", len(lines))
			case tt.wantLines > 0 && len(lines) != tt.wantLines:
				t.Errorf("%d lines, want %d: %q", len(lines), tt.wantLines, lines)
			case tt.wantLines == 0 && len(lines) < 2:
				t.Errorf("not wrapped: %q", lines)
			}
			for _, l := range lines {
				if w := regular.width(l, size); w > width+1e-9 && utf8.RuneCountInString(l) > 1 {
					t.Errorf("line %q is %.1f mm wide, more than %.0f", l, w, width)
				}
			}
			if got, want := strings.ReplaceAll(strings.Join(lines, ""), " ", ""), strings.ReplaceAll(tt.in, " ", ""); got != strings.ReplaceAll(want, "\n", "") {
				t.Errorf("wrapping lost text: %q", got)
			}
			for _, l := range lines {
				if strings.HasPrefix(l, "\u00a0") || strings.HasSuffix(l, "\u00a0") {
					t.Errorf("line broken at a no-break space: %q", l)
				}
			}
		})
	}
}

func TestSplitWord(t *testing.T) {
	regular, _, _ := loadFaces()
	const size = 9.5
	url := "https://example.org/antrag/" + strings.Repeat("a", 100)
	tests := []struct {
		name  string
		word  string
		width float64
		first string // the first piece
	}{
		{"break after a separator", url, regular.width("https://example.org/antrag/aaaa", size), "https://example.org/antrag/"},
		{"separator too early", "a/" + strings.Repeat("b", 50), regular.width("a/bbbbbbbbbb", size), "a/bbbbbbbbbb"},
		{"no separator", strings.Repeat("x", 50), regular.width("xxxxx", size), "xxxxx"},
		{"narrower than one rune", "ÄÖÜ", 0.1, "Ä"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pieces := splitWord(regular, tt.word, size, tt.width)
			if pieces[0] != tt.first {
				t.Errorf("first piece %q, want %q", pieces[0], tt.first)
			}
			if strings.Join(pieces, "") != tt.word {
				t.Errorf("pieces %q do not make up the word", pieces)
			}
			for _, p := range pieces {
				if p == "" {
					t.Errorf("empty piece in %q", pieces)
				}
				if utf8.RuneCountInString(p) > 1 && regular.width(p, size) > tt.width+1e-9 {
					t.Errorf("piece %q is wider than %.1f mm", p, tt.width)
				}
			}
		})
	}
}

func TestWrapHugeWordIsLinear(t *testing.T) {
	regular, _, _ := loadFaces()
	start := time.Now()
	lines := wrap(regular, strings.Repeat("x", 1<<20), 9.5, 100)
	if len(lines) < 1000 {
		t.Fatalf("%d lines", len(lines))
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("wrapping one megabyte took %v", d)
	}
}

func TestTruncate(t *testing.T) {
	regular, _, _ := loadFaces()
	s := strings.Repeat("Vorgangsnummer ", 40)
	got := truncate(regular, s, 7.5, 60)
	if !strings.HasSuffix(got, "…") || regular.width(got, 7.5) > 60 {
		t.Errorf("truncate gave %q (%.1f mm)", got, regular.width(got, 7.5))
	}
	if got := truncate(regular, "kurz", 7.5, 60); got != "kurz" {
		t.Errorf("short text changed to %q", got)
	}
}
