package formdoc

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"

	"golang.org/x/image/font/gofont/goregular"
)

func TestAppendNum(t *testing.T) {
	tests := []struct {
		v      float64
		places int
		want   string
	}{
		{0, 2, "0"},
		{18, 2, "18"},
		{9.5, 2, "9.5"},
		{56.692913, 2, "56.69"},
		{841.889764, 2, "841.89"},
		{0.005, 2, "0.01"},
		{0.004, 2, "0"},
		{-0.004, 2, "0"},
		{-1.25, 2, "-1.25"},
		{1.999, 2, "2"},
		{90.0 / 255, 3, "0.353"},
		{0.1, 3, "0.1"},
		{1, 3, "1"},
		{0.0504, 3, "0.05"},
	}
	for _, tt := range tests {
		if got := string(appendNum(nil, tt.v, tt.places)); got != tt.want {
			t.Errorf("appendNum(%v, %d) = %q, want %q", tt.v, tt.places, got, tt.want)
		}
	}
}

func TestAppendText(t *testing.T) {
	regular, _, err := loadFaces()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"ASCII", "Ab", "(\x00A\x00b)"},
		{"umlaut and euro", "ä€", "(\x00\xe4\x20\xac)"},
		{"parentheses and backslash", `(\)`, `(` + "\x00\\(\x00\\\\\x00\\)" + `)`},
		{"code bytes that need escaping", "\u0128\u0129\u015c\u010d\u010a", "(\x01\\(\x01\\)\x01\\\\\x01\\r\x01\\n)"},
		{"a character the font lacks", "中", "(\xff\xfd)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var shown unitSet
			got := string(appendText(nil, regular, tt.in, &shown))
			if got != tt.want {
				t.Errorf("appendText(%q) = %q, want %q", tt.in, got, tt.want)
			}
			// Decoding gives the text back (with the substitute for what the font lacks).
			dec, _ := literalString([]byte(got))
			var rs []rune
			for i := 0; i+1 < len(dec); i += 2 {
				r := rune(dec[i])<<8 | rune(dec[i+1])
				rs = append(rs, r)
				if !inBase(r) && shown&(1<<unitOf16[r/16]) == 0 {
					t.Errorf("%U is neither a base character nor in the units shown", r)
				}
			}
			if want := strings.ReplaceAll(tt.in, "中", "\uFFFD"); string(rs) != want {
				t.Errorf("decodes to %q, want %q", string(rs), want)
			}
		})
	}
}

func TestUnitSet(t *testing.T) {
	regular, _, err := loadFaces()
	if err != nil {
		t.Fatal(err)
	}
	var s unitSet
	for _, r := range "Straße 1 – ä € \uFFFD" {
		s.add(r)
	}
	if s != 0 {
		t.Errorf("base characters add units: %b", s)
	}
	base := s.runes(regular)
	s.add('é')
	s.add('Ж')
	rs := s.runes(regular)
	seen := map[rune]bool{}
	for i, r := range rs {
		if i > 0 && rs[i-1] >= r {
			t.Fatalf("runes not ascending at %d: %U %U", i, rs[i-1], r)
		}
		if !regular.has(r) {
			t.Errorf("%U is in the set but not in the font", r)
		}
		seen[r] = true
	}
	if len(rs) <= len(base) {
		t.Errorf("units add no characters: %d, base %d", len(rs), len(base))
	}
	// The base set, the Latin-1 letters and Cyrillic, and nothing else.
	for _, r := range "azAZ09 ~ÄÖÜäöüß€–„“…\uFFFDéÀÿЖЀё" {
		if !seen[r] {
			t.Errorf("%U is missing", r)
		}
	}
	for _, r := range "¡«ŁőΨ→ẞﬀ" {
		if seen[r] {
			t.Errorf("%U of an unused unit is in the set", r)
		}
	}
	var other unitSet
	other.add('ẞ')
	other.add(0x1F600) // beyond the BMP: clean never lets it through, but it has a unit
	if other != 1<<unitOther {
		t.Errorf("unitSet %b, want only the other unit", other)
	}
}

func TestUnitsDoNotOverlap(t *testing.T) {
	for i, u := range units {
		if u.lo%16 != 0 || u.hi%16 != 15 || u.lo > u.hi {
			t.Errorf("unit %d (%U–%U) does not start and end on a 16-character boundary", i, u.lo, u.hi)
		}
		if i > 0 && units[i-1].hi >= u.lo {
			t.Errorf("unit %d (%U–%U) overlaps the one before", i, u.lo, u.hi)
		}
	}
	if numUnits > 16 {
		t.Errorf("%d units do not fit a unitSet", numUnits)
	}
}

func TestWidthsArray(t *testing.T) {
	regular, _, err := loadFaces()
	if err != nil {
		t.Fatal(err)
	}
	w := func(r rune) int { return int(regular.widths[r]) }
	got := widthsArray(regular, []rune{'A', 'B', 'C', 'a', '€'})
	want := fmt.Sprintf("65 [%d %d %d]\n97 [%d]\n8364 [%d]", w('A'), w('B'), w('C'), w('a'), w('€'))
	if got != want {
		t.Errorf("widthsArray = %q, want %q", got, want)
	}
}

func TestToUnicodeCMap(t *testing.T) {
	got := string(toUnicodeCMap([]rune{'A', 'B', 'C', 'ä', 0xFF, 0x100, 0x101, '€'}))
	// A range never crosses a 256-code row: U+00FF and U+0100 are consecutive but in two ranges.
	want := "5 beginbfrange\n<0041> <0043> <0041>\n<00E4> <00E4> <00E4>\n<00FF> <00FF> <00FF>\n<0100> <0101> <0100>\n<20AC> <20AC> <20AC>\nendbfrange\n"
	if !strings.Contains(got, want) {
		t.Errorf("CMap lacks the ranges\n%s\nwant\n%s", got, want)
	}
	var many []rune
	for r := rune(0x20); r < 0x20+250; r += 2 {
		many = append(many, r)
	}
	cm := string(toUnicodeCMap(many))
	if !strings.Contains(cm, "100 beginbfrange\n") || !strings.Contains(cm, "25 beginbfrange\n") {
		t.Errorf("125 ranges are not split into sections of at most 100:\n%s", cm)
	}
}

func TestSubsetCoversItsUnits(t *testing.T) {
	regular, bold, err := loadFaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, fc := range []*face{regular, bold} {
		var shown unitSet
		for _, r := range "Straße € Łódź Ψ Ж" {
			shown.add(r)
		}
		s, err := fc.subset(shown)
		if err != nil {
			t.Fatal(err)
		}
		program, err := inflate(s.program)
		if err != nil || len(program) != s.length1 {
			t.Fatalf("program: %d bytes, /Length1 %d: %v", len(program), s.length1, err)
		}
		cidToGID, err := inflate(s.cidToGID)
		if err != nil {
			t.Fatal(err)
		}
		// checkSubset is what cutSubset relies on; run it for every rune of the units.
		if err := checkSubset(fc, shown.runes(fc), program, cidToGID); err != nil {
			t.Error(err)
		}
		if !strings.HasSuffix(s.name, "+"+fc.name) || len(s.name) != 7+len(fc.name) || strings.Trim(s.name[:6], "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "" {
			t.Errorf("BaseFont %q is not TAG+%s", s.name, fc.name)
		}
		again, err := fc.subset(shown)
		if err != nil || again != s {
			t.Errorf("the subset is not reused: %p %p %v", s, again, err)
		}
	}
}

func TestRenderSharesNoState(t *testing.T) {
	// Documents of different block sets rendered at the same time each get
	// the bytes they get alone.
	d := demoDocument(t)
	docs := []Document{d, d, d}
	docs[1].Data = []byte(`{"name": "Ψυχή Москва Łódź"}`)
	docs[2].Data = []byte(`{"name": "Ĩĩŝčċ (\\)"}`)
	want := make([][]byte, len(docs))
	for i, doc := range docs {
		want[i] = mustRender(t, doc)
	}
	var wg sync.WaitGroup
	for round := 0; round < 4; round++ {
		for i, doc := range docs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				got, err := Render(doc)
				if err != nil {
					t.Error(err)
					return
				}
				if !bytes.Equal(got, want[i]) {
					t.Errorf("document %d differs when rendered concurrently", i)
				}
			}()
		}
	}
	wg.Wait()
}

func TestSubsetCacheIsBounded(t *testing.T) {
	fc, err := newFace(goregular.TTF) // a face of its own, with an empty cache
	if err != nil {
		t.Fatal(err)
	}
	bound := maxCached
	maxCached = 2
	t.Cleanup(func() { maxCached = bound })
	for _, text := range []string{"a", "é", "Ł", "Ψ", "é"} {
		var us unitSet
		for _, r := range text {
			us.add(r)
		}
		s, err := fc.subset(us)
		if err != nil {
			t.Fatal(err)
		}
		program, err := inflate(s.program)
		if err != nil {
			t.Fatal(err)
		}
		cidToGID, err := inflate(s.cidToGID)
		if err != nil {
			t.Fatal(err)
		}
		if err := checkSubset(&fc, us.runes(&fc), program, cidToGID); err != nil {
			t.Errorf("%s: %v", text, err)
		}
	}
	if n := len(fc.subsets.m); n != 2 {
		t.Errorf("the face keeps %d subsets, bound 2", n)
	}
}
