package formdoc

import (
	"bytes"
	"encoding/binary"
	"maps"
	"slices"
	"strings"
	"testing"

	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/gofont/goregular"
	"golang.org/x/image/font/sfnt"
	"golang.org/x/image/math/fixed"
)

// fpdfProgram is the font program fpdf cuts of fc for rs, before stripFont.
func fpdfProgram(t testing.TB, fc *face, rs []rune) []byte {
	t.Helper()
	raw, err := fpdfSample(fc, rs)
	if err != nil {
		t.Fatal(err)
	}
	f, err := parseFpdf(raw)
	if err != nil {
		t.Fatal(err)
	}
	p, err := f.stream(fontFile2Re)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// sfntTable is a table of a font program as its directory gives it.
type sfntTable struct {
	tag                      string
	checksum, offset, length uint32
	data                     []byte
}

func sfntTables(t testing.TB, p []byte) []sfntTable {
	t.Helper()
	var out []sfntTable
	for i := range int(binary.BigEndian.Uint16(p[4:])) {
		r := p[12+16*i:]
		tb := sfntTable{tag: string(r[:4]), checksum: binary.BigEndian.Uint32(r[4:]),
			offset: binary.BigEndian.Uint32(r[8:]), length: binary.BigEndian.Uint32(r[12:])}
		tb.data = p[tb.offset : tb.offset+tb.length]
		out = append(out, tb)
	}
	return out
}

// glyphs splits the glyf table of p by its loca table.
func glyphs(t *testing.T, p []byte) [][]byte {
	t.Helper()
	tables := map[string][]byte{}
	for _, tb := range sfntTables(t, p) {
		tables[tb.tag] = tb.data
	}
	n := int(binary.BigEndian.Uint16(tables["maxp"][4:]))
	loca := func(i int) int { return 2 * int(binary.BigEndian.Uint16(tables["loca"][2*i:])) }
	if binary.BigEndian.Uint16(tables["head"][50:]) == 1 {
		loca = func(i int) int { return int(binary.BigEndian.Uint32(tables["loca"][4*i:])) }
	}
	var out [][]byte
	for g := range n {
		if loca(g)%4 != 0 {
			t.Errorf("glyph %d starts at %d, not 4-byte aligned", g, loca(g))
		}
		out = append(out, tables["glyf"][loca(g):loca(g+1)])
	}
	return out
}

// instructions is the length of glyph g's instructions, and for a
// composite glyph whether a component has WE_HAVE_INSTRUCTIONS.
func instructions(g []byte) (n int, flagged bool) {
	if len(g) == 0 {
		return 0, false
	}
	contours := int(int16(binary.BigEndian.Uint16(g)))
	if contours >= 0 {
		return int(binary.BigEndian.Uint16(g[10+2*contours:])), false
	}
	for pos := 10; ; {
		flags := binary.BigEndian.Uint16(g[pos:])
		flagged = flagged || flags&weHaveInstruction != 0
		pos += componentSize(flags)
		if flags&moreComponents == 0 {
			if pos+2 <= len(g) {
				n = int(binary.BigEndian.Uint16(g[pos:]))
			}
			return n, flagged
		}
	}
}

// withComposite returns p with a composite glyph appended that shows
// glyph src three times, through components of each transform kind and
// with instructions; the Go fonts have no composite glyphs. p must have
// short loca offsets.
func withComposite(t testing.TB, p []byte, src int) []byte {
	t.Helper()
	tables := map[string][]byte{}
	for _, tb := range sfntTables(t, p) {
		tables[tb.tag] = slices.Clone(tb.data)
	}
	be := binary.BigEndian
	n := int(be.Uint16(tables["maxp"][4:]))
	loca := tables["loca"]
	g := be.AppendUint16(nil, 0xFFFF)                                       // numberOfContours -1
	g = append(g, tables["glyf"][2*int(be.Uint16(loca[2*src:]))+2:][:8]...) // the bounding box of src
	g = be.AppendUint16(g, 0x0001|0x0002|moreComponents)                    // word arguments, x/y offsets
	g = be.AppendUint16(g, uint16(src))
	g = be.AppendUint16(g, 0xFF00)
	g = be.AppendUint16(g, 20)
	g = be.AppendUint16(g, 0x0002|weHaveAScale|moreComponents) // byte arguments
	g = be.AppendUint16(g, uint16(src))
	g = append(g, 10, 0)
	g = be.AppendUint16(g, 0x2000) // scale 0.5
	g = be.AppendUint16(g, 0x0002|weHaveXAndYScale|moreComponents)
	g = be.AppendUint16(g, uint16(src))
	g = append(g, 0, 0xF0)
	g = be.AppendUint16(g, 0x4000)
	g = be.AppendUint16(g, 0x1000)
	g = be.AppendUint16(g, 0x0002|weHaveTwoByTwo|weHaveInstruction)
	g = be.AppendUint16(g, uint16(src))
	g = append(g, 5, 5)
	g = be.AppendUint16(g, 0x3000)
	g = be.AppendUint16(g, 0x0800)
	g = be.AppendUint16(g, 0)
	g = be.AppendUint16(g, 0x3000)
	g = be.AppendUint16(g, 4) // instructionLength
	g = append(g, 0xB0, 0x01, 0x1D, 0x00, 0)
	tables["glyf"] = append(tables["glyf"], g...)
	tables["loca"] = be.AppendUint16(loca[:2*(n+1)], uint16(len(tables["glyf"])/2))
	be.PutUint16(tables["maxp"][4:], uint16(n+1))
	tables["hmtx"] = be.AppendUint16(tables["hmtx"], 0) // left side bearing

	tags := slices.Sorted(maps.Keys(tables))
	out := be.AppendUint32(nil, 0x00010000)
	out = be.AppendUint16(out, uint16(len(tags)))
	out = append(out, make([]byte, 6)...) // the binary search fields, unused
	off := 12 + 16*len(tags)
	for _, tag := range tags {
		out = append(out, tag...)
		out = be.AppendUint32(out, 0)
		out = be.AppendUint32(out, uint32(off))
		out = be.AppendUint32(out, uint32(len(tables[tag])))
		off += (len(tables[tag]) + 3) &^ 3
	}
	for _, tag := range tags {
		out = append(out, tables[tag]...)
		out = append(out, make([]byte, (4-len(out)%4)%4)...)
	}
	return out
}

func TestStripFont(t *testing.T) {
	regular, bold, err := loadFaces()
	if err != nil {
		t.Fatal(err)
	}
	all := unitSet(1<<numUnits - 1)
	small := fpdfProgram(t, regular, []rune("Aé")) // glyphs .notdef, an empty one, A, é
	tests := []struct {
		name       string
		in         []byte
		composites int
	}{
		{"Go Regular", goregular.TTF, 0},
		{"Go Bold", gobold.TTF, 0},
		{"regular subset of the base set", fpdfProgram(t, regular, unitSet(0).runes(regular)), 0},
		{"bold subset of every unit", fpdfProgram(t, bold, all.runes(bold)), 0},
		{"subset of A and é", small, 0},
		{"a composite glyph", withComposite(t, small, 2), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := stripFont(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if len(out) >= len(tt.in) {
				t.Errorf("%d bytes stripped, %d before", len(out), len(tt.in))
			}
			again, err := stripFont(out)
			if err != nil || !bytes.Equal(again, out) {
				t.Errorf("stripping again changes the program (%v)", err)
			}

			// The directory: the kept tables, sorted, aligned, with their checksums.
			var tags []string
			for _, tb := range sfntTables(t, out) {
				tags = append(tags, tb.tag)
				data := tb.data
				if tb.tag == "head" {
					data = slices.Clone(data)
					binary.BigEndian.PutUint32(data[8:], 0)
				}
				if got := sfntChecksum(data); got != tb.checksum {
					t.Errorf("table %q: checksum %#08x in the directory, %#08x computed", tb.tag, tb.checksum, got)
				}
				if tb.offset%4 != 0 {
					t.Errorf("table %q at offset %d, not 4-byte aligned", tb.tag, tb.offset)
				}
			}
			if !slices.Equal(tags, keptTables) {
				t.Errorf("tables %q, want %q", tags, keptTables)
			}
			if len(out)%4 != 0 || sfntChecksum(out) != 0xB1B0AFBA {
				t.Errorf("file checksum %#08x, want 0xB1B0AFBA (head.checkSumAdjustment)", sfntChecksum(out))
			}
			n := binary.BigEndian.Uint16(out[4:])
			sel := binary.BigEndian.Uint16(out[8:])
			if sr := binary.BigEndian.Uint16(out[6:]); sr != 16<<sel || 1<<sel > n || 2<<sel <= n ||
				binary.BigEndian.Uint16(out[10:]) != 16*n-sr {
				t.Errorf("searchRange %d, entrySelector %d, rangeShift %d for %d tables", sr, sel, binary.BigEndian.Uint16(out[10:]), n)
			}
			for _, tb := range sfntTables(t, out) {
				switch tb.tag {
				case "maxp":
					if m := binary.BigEndian.Uint16(tb.data[26:]); m != 0 {
						t.Errorf("maxp.maxSizeOfInstructions %d, want 0", m)
					}
				case "post":
					if v := binary.BigEndian.Uint32(tb.data); v != 0x00030000 || len(tb.data) != 32 {
						t.Errorf("post table version %#08x of %d bytes, want format 3 of 32", v, len(tb.data))
					}
				}
			}

			// No glyph keeps instructions; the original's had some.
			composites, hinted := 0, 0
			for _, g := range glyphs(t, tt.in) {
				if n, flagged := instructions(g); n > 0 || flagged {
					hinted++
				}
			}
			for i, g := range glyphs(t, out) {
				if n, flagged := instructions(g); n > 0 || flagged {
					t.Errorf("glyph %d keeps %d bytes of instructions (flagged: %v)", i, n, flagged)
				}
				if len(g) > 0 && int16(binary.BigEndian.Uint16(g)) < 0 {
					composites++
				}
			}
			if hinted == 0 {
				t.Error("no glyph of the input has instructions")
			}
			if composites != tt.composites {
				t.Errorf("%d composite glyphs, want %d", composites, tt.composites)
			}

			// Every glyph has the same outline and advance.
			before, err := sfnt.Parse(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			after, err := sfnt.Parse(out)
			if err != nil {
				t.Fatalf("the stripped program does not parse: %v", err)
			}
			if before.NumGlyphs() != after.NumGlyphs() || before.UnitsPerEm() != after.UnitsPerEm() {
				t.Fatalf("%d glyphs, %d units per em; before %d, %d", after.NumGlyphs(), after.UnitsPerEm(), before.NumGlyphs(), before.UnitsPerEm())
			}
			ppem := fixed.I(int(before.UnitsPerEm()))
			var bb, ab sfnt.Buffer
			for g := range sfnt.GlyphIndex(before.NumGlyphs()) {
				bs, err := before.LoadGlyph(&bb, g, ppem, nil)
				if err != nil {
					t.Fatalf("glyph %d of the input: %v", g, err)
				}
				as, err := after.LoadGlyph(&ab, g, ppem, nil)
				if err != nil {
					t.Fatalf("glyph %d: %v", g, err)
				}
				if !slices.Equal(bs, as) {
					t.Errorf("glyph %d: outline differs", g)
				}
				badv, _ := before.GlyphAdvance(&bb, g, ppem, font.HintingNone)
				aadv, err := after.GlyphAdvance(&ab, g, ppem, font.HintingNone)
				if err != nil || aadv != badv {
					t.Errorf("glyph %d: advance %v, before %v (%v)", g, aadv, badv, err)
				}
			}
		})
	}
}

// setTable returns a copy of p with f applied to table tag's bytes.
func setTable(t *testing.T, p []byte, tag string, f func([]byte)) []byte {
	t.Helper()
	p = slices.Clone(p)
	for _, tb := range sfntTables(t, p) {
		if tb.tag == tag {
			f(p[tb.offset : tb.offset+tb.length])
			return p
		}
	}
	t.Fatalf("no table %q", tag)
	return nil
}

// setEntry returns a copy of p with f applied to the directory entry of
// table tag.
func setEntry(t *testing.T, p []byte, tag string, f func(entry []byte)) []byte {
	t.Helper()
	p = slices.Clone(p)
	for i, tb := range sfntTables(t, p) {
		if tb.tag == tag {
			f(p[12+16*i : 28+16*i])
			return p
		}
	}
	t.Fatalf("no table %q", tag)
	return nil
}

func TestStripFontRejectsMalformedPrograms(t *testing.T) {
	regular, _, err := loadFaces()
	if err != nil {
		t.Fatal(err)
	}
	// Glyph 2 is simple (A), glyph 4 composite.
	p := withComposite(t, fpdfProgram(t, regular, []rune("Aé")), 2)
	gs := glyphs(t, p)
	if int16(binary.BigEndian.Uint16(gs[2])) <= 0 || int16(binary.BigEndian.Uint16(gs[4])) >= 0 {
		t.Fatal("glyph 2 of the subset is not simple or glyph 4 not composite")
	}
	loca := func(p []byte, g int) int { // the short format, which fpdf writes here
		for _, tb := range sfntTables(t, p) {
			if tb.tag == "loca" {
				return 2 * int(binary.BigEndian.Uint16(tb.data[2*g:]))
			}
		}
		return -1
	}
	a, c := loca(p, 2), loca(p, 4)
	put16 := func(b []byte, v uint16) { binary.BigEndian.PutUint16(b, v) }
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{"empty", nil, "has no table directory"},
		{"CFF", append([]byte("OTTO"), p[4:]...), "is not TrueType"},
		{"directory cut short", p[:40], "exceeds the 40 bytes"},
		{"table beyond the file", setEntry(t, p, "glyf", func(e []byte) { put16(e[12:], 0xFFFF) }), `table "glyf" (offset`},
		{"table twice", setEntry(t, p, "post", func(e []byte) { copy(e, "prep") }), `table "prep" appears twice`},
		{"no loca", setEntry(t, p, "loca", func(e []byte) { copy(e, "xxxx") }), `no "loca" table`},
		{"short head", setEntry(t, p, "head", func(e []byte) { binary.BigEndian.PutUint32(e[12:], 50) }), "head table of 50 bytes"},
		{"index format", setTable(t, p, "head", func(b []byte) { put16(b[50:], 2) }), "indexToLocFormat 2"},
		{"loca too short", setTable(t, p, "maxp", func(b []byte) { put16(b[4:], 0xFFFF) }), "loca table of"},
		{"glyph beyond glyf", setTable(t, p, "loca", func(b []byte) { put16(b[2:], 0xFFFF) }), "glyph 0: loca gives bytes 0 to 131070"},
		{"glyphs out of order", setTable(t, p, "loca", func(b []byte) { put16(b[2:], uint16(c/2+2)) }), "glyph 1: loca gives bytes"},
		{"instructions beyond the glyph", setTable(t, p, "glyf", func(b []byte) {
			put16(b[a+10+2*int(binary.BigEndian.Uint16(b[a:])):], 0xFFFF)
		}), "glyph 2: instructions end at byte"},
		{"too many points", setTable(t, p, "glyf", func(b []byte) {
			nc := int(binary.BigEndian.Uint16(b[a:]))
			put16(b[a+10+2*nc-2:], 0xFFF0)
		}), "glyph 2: flags of point"},
		{"header cut short", setTable(t, p, "loca", func(b []byte) { put16(b[6:], uint16(a/2+4)) }), "glyph 2: 8 bytes, shorter than a glyph header"},
		{"component cut short", setTable(t, p, "loca", func(b []byte) { put16(b[10:], uint16(c/2+6)) }), "glyph 4: component cut short"},
		{"arguments cut short", setTable(t, p, "loca", func(b []byte) { put16(b[10:], uint16(c/2+7)) }), "glyph 4: component cut short"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := stripFont(tt.in)
			if err == nil {
				t.Fatalf("no error, %d bytes", len(out))
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

// FuzzStripFont feeds damaged font programs: stripFont may reject them,
// but must not panic, and what it returns must be a finished program that
// a second pass leaves as it is.
func FuzzStripFont(f *testing.F) {
	regular, _, err := loadFaces()
	if err != nil {
		f.Fatal(err)
	}
	p := fpdfProgram(f, regular, []rune("Aé"))
	f.Add(p)
	f.Add(withComposite(f, p, 2))
	if s, err := stripFont(p); err == nil {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		out, err := stripFont(in)
		if err != nil {
			return
		}
		if sum := sfntChecksum(out); sum != 0xB1B0AFBA {
			t.Fatalf("file checksum %#08x", sum)
		}
		again, err := stripFont(out)
		if err != nil {
			t.Fatalf("the stripped program does not strip again: %v", err)
		}
		if !bytes.Equal(again, out) {
			t.Fatal("stripping again changes the program")
		}
	})
}
