package formdoc

import (
	"bytes"
	"compress/zlib"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"sync"

	"github.com/go-pdf/fpdf"
	"golang.org/x/image/font"
	"golang.org/x/image/font/sfnt"
	"golang.org/x/image/math/fixed"
)

// Font subsets are the expensive part of a PDF: cutting one (fpdf's
// subsetter parses the whole TrueType file) and compressing it costs
// 15–60 ms, a hundred times as much as laying out and writing the rest of a
// document. So a document does not get a subset of exactly the characters
// it shows, but one of a fixed base set (the characters nearly every German
// document shows: printable ASCII, the umlauts and ß, € and typographic
// punctuation, U+FFFD) plus whole units (Latin-1, Latin Extended-A, Greek,
// Cyrillic, …; see units) for its other characters. Each subset is cut and
// compressed on first use and then embedded, as ready bytes, into every
// document that needs the same units: a document in German needs none, a
// name with é adds the Latin-1 letters, Łódź the second half of Latin
// Extended-A as well. Few units keep the number of subsets small: cached by
// the exact set of characters (or of small blocks), the variety of names
// would keep cutting new ones.
// The files stay small: one subset of every drawable character would add
// some 70 KB to each document, the base set adds about 6 KB over a subset of
// exactly the characters shown.
//
// fpdf's subsets keep the font's "name" table and the hinting; stripFont
// (sfnt.go) drops the name table and the instructions inside the glyphs,
// which PDF readers do not need to draw the outlines, and keeps the global
// hinting tables ISO 32000-1 (9.9) asks for. That takes a compressed base
// subset from 16.4 to 9.3 KB and the demo application from 44.6 to 30.1 KB;
// poppler and MuPDF render the documents pixel for pixel as before, and
// only a reader that applies the hints itself (Ghostscript) now draws the
// glyphs unhinted.
//
// A subset depends only on the face and the characters shown, so the bytes
// of a document stay a pure function of the Document.

// baseRunes are always in the subset, beside printable ASCII.
const baseRunes = "ÄÖÜäöüß€–—„“”‚‘’…•§°\uFFFD"

// baseSet marks the base characters, for a quick test per character.
var baseSet = func() (s [0x10000 / 64]uint64) {
	for r := rune(0x20); r < 0x7F; r++ {
		s[r/64] |= 1 << (r % 64)
	}
	for _, r := range baseRunes {
		s[r/64] |= 1 << (r % 64)
	}
	return s
}()

func inBase(r rune) bool { return r >= 0 && r < 0x10000 && baseSet[r/64]&(1<<(r%64)) != 0 }

// units are the ranges whose characters beyond the base set go into a
// subset together; every other character (48 more, such as ș, ǎ, ẃ, ﬁ) is in
// the unit unitOther. The counts are the characters beyond the base set
// that both Go fonts have.
var units = [...]struct{ lo, hi rune }{
	{0x0080, 0x00BF}, // Latin-1 Supplement: signs and symbols (30)
	{0x00C0, 0x00FF}, // Latin-1 Supplement: letters (57)
	{0x0100, 0x013F}, // Latin Extended-A, first half: Ā–Ŀ (64)
	{0x0140, 0x017F}, // Latin Extended-A, second half: ŀ–ſ (64)
	{0x0370, 0x03FF}, // Greek (73)
	{0x0400, 0x052F}, // Cyrillic (98)
	{0x2000, 0x20CF}, // general punctuation, currency symbols (45)
	{0x20D0, 0x2BFF}, // letterlike symbols, arrows, mathematical operators, box drawing, shapes (113)
}

const (
	unitOther = len(units)
	numUnits  = len(units) + 1
)

// unitSet is a set of units, bit i for units[i].
type unitSet uint16

// unitOf16 holds the unit of every 16 code points of the BMP (all units
// start and end on such a boundary).
var unitOf16 = func() (t [0x10000 / 16]uint8) {
	for i := range t {
		t[i] = uint8(unitOther)
	}
	for u, r := range units {
		for c := r.lo / 16; c <= r.hi/16; c++ {
			t[c] = uint8(u)
		}
	}
	return t
}()

// add records that r is shown.
func (s *unitSet) add(r rune) {
	switch {
	case inBase(r):
	case r >= 0x10000:
		*s |= 1 << unitOther
	default:
		*s |= 1 << unitOf16[r/16]
	}
}

// runes returns the base characters and the characters of the units in s
// that fc can draw, ascending.
func (s unitSet) runes(fc *face) []rune {
	var rs []rune
	for r := rune(0); r < 0x10000; r++ {
		if fc.has(r) && (inBase(r) || s&(1<<unitOf16[r/16]) != 0) {
			rs = append(rs, r)
		}
	}
	return rs
}

// subset is one face cut down to the base characters and some units, with
// everything the font's PDF objects need, compressed where it is a stream.
// Character codes are Unicode code points (CIDs under Identity-H), so that
// the content streams do not depend on the subset.
type subset struct {
	name       string // BaseFont and FontName: a tag derived from the program, "+", the PostScript name
	descriptor string // the FontDescriptor metrics, as fpdf computes them
	dw         string // /DW: the MissingWidth
	widths     string // the /W array
	program    []byte // FontFile2, compressed
	length1    int    // the uncompressed size of program
	cidToGID   []byte // CIDToGIDMap, compressed
	toUnicode  []byte // ToUnicode CMap, compressed
}

// maxCached bounds the subsets a face keeps: a subset takes 20–80 KB, and
// real documents use a few dozen combinations of units at most. A document
// needing one more gets a subset cut for it alone, which costs time (as
// much as fpdf took for every document), never correctness.
var maxCached = 64

// subsetCache holds a face's subsets by the units they cover.
type subsetCache struct {
	mu sync.Mutex
	m  map[unitSet]*subsetEntry
}

type subsetEntry struct {
	once sync.Once
	s    *subset
	err  error
}

// subset returns fc's subset for the units us, cutting it on first use.
// Callers running at the same time for the same units wait for one cut.
func (fc *face) subset(us unitSet) (*subset, error) {
	c := fc.subsets
	c.mu.Lock()
	e := c.m[us]
	if e == nil && len(c.m) < maxCached {
		if c.m == nil {
			c.m = map[unitSet]*subsetEntry{}
		}
		e = &subsetEntry{}
		c.m[us] = e
	}
	c.mu.Unlock()
	if e == nil {
		return cutSubset(fc, us.runes(fc))
	}
	e.once.Do(func() { e.s, e.err = cutSubset(fc, us.runes(fc)) })
	return e.s, e.err
}

var (
	fontFile2Re   = regexp.MustCompile(`/FontFile2 (\d+) 0 R`)
	cidToGIDRe    = regexp.MustCompile(`/CIDToGIDMap (\d+) 0 R`)
	descriptorRe  = regexp.MustCompile(`/Ascent (-?\d+) /Descent (-?\d+) /CapHeight (-?\d+) /Flags (\d+)/FontBBox \[(-?\d+) (-?\d+) (-?\d+) (-?\d+)\]  /ItalicAngle (-?\d+) /StemV (\d+) /MissingWidth (\d+)/FontFile2`)
	streamLenRe   = regexp.MustCompile(`^<</Length (\d+)`)
	fpdfStreamEnd = []byte("\nendstream\nendobj\n")
)

// cutSubset has fpdf cut the subset of fc for rs: it renders a page showing
// every character of rs and takes the font program, CIDToGIDMap and font
// metrics out of the file (parseFpdf checks its structure). The result is
// checked against the widths the layout measures with and recompressed with
// the best compression, which pays off as it is embedded many times.
func cutSubset(fc *face, rs []rune) (*subset, error) {
	if len(rs) == 0 {
		return nil, errors.New("formdoc: font subset without characters")
	}
	raw, err := fpdfSample(fc, rs)
	if err != nil {
		return nil, err
	}
	f, err := parseFpdf(raw)
	if err != nil {
		return nil, fmt.Errorf("formdoc: unexpected fpdf output: %w", err)
	}
	program, err := f.stream(fontFile2Re)
	if err != nil {
		return nil, fmt.Errorf("formdoc: font subset: %w", err)
	}
	if program, err = stripFont(program); err != nil {
		return nil, fmt.Errorf("formdoc: font subset: %w", err)
	}
	cidToGID, err := f.stream(cidToGIDRe)
	if err != nil {
		return nil, fmt.Errorf("formdoc: font subset: %w", err)
	}
	dm := descriptorRe.FindSubmatch(raw)
	if dm == nil {
		return nil, errors.New("formdoc: font subset: no font descriptor")
	}
	if err := checkSubset(fc, rs, program, cidToGID); err != nil {
		return nil, fmt.Errorf("formdoc: font subset: %w", err)
	}

	sum := sha256.Sum256(program)
	tag := make([]byte, 6) // ISO 32000-1, 9.6.4: six upper-case letters
	for i := range tag {
		tag[i] = 'A' + sum[i]%26
	}
	s := &subset{
		name: string(tag) + "+" + fc.name,
		descriptor: fmt.Sprintf("/Ascent %s /Descent %s /CapHeight %s /Flags %s /FontBBox [%s %s %s %s] /ItalicAngle %s /StemV %s /MissingWidth %s",
			dm[1], dm[2], dm[3], dm[4], dm[5], dm[6], dm[7], dm[8], dm[9], dm[10], dm[11]),
		dw:      string(dm[11]),
		widths:  widthsArray(fc, rs),
		length1: len(program),
	}
	for _, z := range []struct {
		dst  *[]byte
		data []byte
	}{{&s.program, program}, {&s.cidToGID, cidToGID}, {&s.toUnicode, toUnicodeCMap(rs)}} {
		if *z.dst, err = deflate(z.data); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// stream returns the decompressed data of the stream object that re's
// first submatch names by its number.
func (f *fpdfFile) stream(re *regexp.Regexp) ([]byte, error) {
	m := re.FindSubmatch(f.raw)
	if m == nil {
		return nil, fmt.Errorf("no %s", re)
	}
	n, _ := strconv.Atoi(string(m[1]))
	if n <= 0 || n >= len(f.offsets) {
		return nil, fmt.Errorf("%s out of range", m[0])
	}
	obj := f.raw[f.offsets[n]+len(strconv.Itoa(n)+" 0 obj\n"):]
	lm := streamLenRe.FindSubmatch(obj)
	st := bytes.Index(obj, []byte(">>\nstream\n"))
	if lm == nil || st < 0 {
		return nil, fmt.Errorf("object %d is not a stream", n)
	}
	l, _ := strconv.Atoi(string(lm[1]))
	data := obj[st+len(">>\nstream\n"):]
	if l > len(data) || !bytes.HasPrefix(data[l:], fpdfStreamEnd) {
		return nil, fmt.Errorf("stream %d: /Length %d does not end at endstream", n, l)
	}
	return inflate(data[:l])
}

// fpdfSample is a one-page file from fpdf showing rs in fc.
func fpdfSample(fc *face, rs []rune) ([]byte, error) {
	pdf := fpdf.New("P", "pt", "A4", "")
	pdf.SetCompression(false)
	pdf.AddUTF8FontFromBytes("s", "", fc.ttf)
	pdf.AddPage()
	pdf.SetFont("s", "", 10)
	pdf.Text(0, 10, string(rs))
	var buf bytes.Buffer
	if err := pdf.Output(&buf); err != nil {
		return nil, fmt.Errorf("formdoc: fpdf: %w", err)
	}
	return buf.Bytes(), nil
}

// checkSubset makes sure that every character of rs maps to a glyph of the
// subset program whose advance is the width the layout measured with: the
// /W array is written from those widths (ISO 19005-2, 6.2.11.5), and a
// character without a glyph would show .notdef (6.2.11.8).
func checkSubset(fc *face, rs []rune, program, cidToGID []byte) error {
	prog, err := sfnt.Parse(program)
	if err != nil {
		return fmt.Errorf("program does not parse: %w", err)
	}
	upem := float64(prog.UnitsPerEm())
	var buf sfnt.Buffer
	for _, r := range rs {
		if 2*int(r)+1 >= len(cidToGID) {
			return fmt.Errorf("CIDToGIDMap has no entry for %U", r)
		}
		gid := int(cidToGID[2*r])<<8 | int(cidToGID[2*r+1])
		if gid == 0 {
			return fmt.Errorf("%U maps to .notdef", r)
		}
		adv, err := prog.GlyphAdvance(&buf, sfnt.GlyphIndex(gid), fixed.I(int(upem)), font.HintingNone)
		if err != nil {
			return fmt.Errorf("%U: glyph %d: %w", r, gid, err)
		}
		if w := float64(adv) / 64 * 1000 / upem; math.Abs(w-float64(fc.widths[r])) > 1 {
			return fmt.Errorf("%U: width %d, program %.1f", r, fc.widths[r], w)
		}
	}
	return nil
}

// widthsArray writes the /W entries of rs (ascending): each run of
// consecutive codes as "first [w1 w2 …]".
func widthsArray(fc *face, rs []rune) string {
	var b []byte
	for i := 0; i < len(rs); {
		j := i + 1
		for j < len(rs) && rs[j] == rs[j-1]+1 {
			j++
		}
		if len(b) > 0 {
			b = append(b, '\n')
		}
		b = strconv.AppendInt(b, int64(rs[i]), 10)
		b = append(b, " ["...)
		for k := i; k < j; k++ {
			if k > i {
				b = append(b, ' ')
			}
			b = strconv.AppendInt(b, int64(fc.widths[rs[k]]), 10)
		}
		b = append(b, ']')
		i = j
	}
	return string(b)
}

// toUnicodeCMap maps the codes of rs back to text, for extraction and
// search. Codes are the code points, so each run of consecutive characters
// within one 256-code row is one identity range.
func toUnicodeCMap(rs []rune) []byte {
	type rng struct{ lo, hi rune }
	var ranges []rng
	for _, r := range rs {
		if n := len(ranges); n > 0 && ranges[n-1].hi == r-1 && r&0xFF != 0 {
			ranges[n-1].hi = r
			continue
		}
		ranges = append(ranges, rng{r, r})
	}
	var b bytes.Buffer
	b.WriteString("/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n" +
		"/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n" +
		"/CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n" +
		"1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n")
	for len(ranges) > 0 {
		n := min(len(ranges), 100) // at most 100 entries per section
		fmt.Fprintf(&b, "%d beginbfrange\n", n)
		for _, r := range ranges[:n] {
			fmt.Fprintf(&b, "<%04X> <%04X> <%04X>\n", r.lo, r.hi, r.lo)
		}
		b.WriteString("endbfrange\n")
		ranges = ranges[n:]
	}
	b.WriteString("endcmap\nCMapName currentdict /CMap defineresource pop\nend\nend\n")
	return b.Bytes()
}

func inflate(b []byte) ([]byte, error) {
	zr, err := zlib.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	return io.ReadAll(zr)
}

// fpdfFile is what cutSubset needs to know of fpdf's output.
type fpdfFile struct {
	raw     []byte
	offsets []int // offsets[n] of object n; offsets[0] unused
	xref    int   // offset of the "xref" keyword, where fpdf's tail starts
	root    int   // object number of fpdf's catalog
	catalog []byte
}

var (
	startxrefRe = regexp.MustCompile(`\nstartxref\n(\d+)\n%%EOF\n?$`)
	xrefHeadRe  = regexp.MustCompile(`^xref\n0 (\d+)\n`)
	trailerRe   = regexp.MustCompile(`^trailer\n<<\n/Size (\d+)\n/Root (\d+) 0 R\n/Info (\d+) 0 R\n>>\n`)
)

// parseFpdf reads the structure fpdf v0.9.0 writes in enddoc: the header
// line "%PDF-1.n", the objects, one classic xref section "0 N" with 20-byte
// entries, a trailer with /Size, /Root and /Info only (fpdf adds /Encrypt
// and /ID only when encrypting, which formdoc never does), startxref and
// %%EOF. The catalog is fpdf's last object, directly before the xref. Any
// deviation is reported rather than guessed at, so an fpdf upgrade that
// changes its output fails loudly in the tests instead of producing a
// damaged file.
func parseFpdf(raw []byte) (*fpdfFile, error) {
	if len(raw) < 9 || !bytes.HasPrefix(raw, []byte("%PDF-1.")) || raw[8] != '\n' {
		return nil, errors.New("no %PDF-1.n header line")
	}
	m := startxrefRe.FindSubmatch(raw)
	if m == nil {
		return nil, errors.New("no startxref at the end")
	}
	xref, err := strconv.Atoi(string(m[1]))
	if err != nil || xref <= 9 || xref >= len(raw) {
		return nil, fmt.Errorf("startxref %q out of range", m[1])
	}
	rest := raw[xref:]
	hm := xrefHeadRe.FindSubmatch(rest)
	if hm == nil {
		return nil, errors.New("no xref section at startxref")
	}
	size, _ := strconv.Atoi(string(hm[1]))
	if size < 3 {
		return nil, fmt.Errorf("xref has only %d entries", size)
	}
	rest = rest[len(hm[0]):]
	if len(rest) < 20*size {
		return nil, errors.New("xref section cut short")
	}
	if string(rest[:20]) != "0000000000 65535 f \n" {
		return nil, errors.New("xref entry 0 is not the free list head")
	}
	f := &fpdfFile{raw: raw, xref: xref, offsets: make([]int, size)}
	for n := 1; n < size; n++ {
		e := rest[20*n : 20*n+20]
		if string(e[10:]) != " 00000 n \n" {
			return nil, fmt.Errorf("xref entry %d is not an object in use", n)
		}
		off, err := strconv.Atoi(string(e[:10]))
		if err != nil || off < 9 || off >= xref {
			return nil, fmt.Errorf("xref entry %d: bad offset %q", n, e[:10])
		}
		if !bytes.HasPrefix(raw[off:], []byte(strconv.Itoa(n)+" 0 obj\n")) {
			return nil, fmt.Errorf("xref entry %d does not point at object %d", n, n)
		}
		f.offsets[n] = off
	}
	rest = rest[20*size:]
	tm := trailerRe.FindSubmatch(rest)
	if tm == nil {
		return nil, errors.New("trailer is not the plain /Size /Root /Info form")
	}
	if s, _ := strconv.Atoi(string(tm[1])); s != size {
		return nil, fmt.Errorf("trailer /Size %d differs from the xref's %d", s, size)
	}
	f.root, _ = strconv.Atoi(string(tm[2]))
	if f.root <= 0 || f.root >= size {
		return nil, fmt.Errorf("trailer /Root %d out of range", f.root)
	}
	cat := raw[f.offsets[f.root]:xref]
	head := []byte(strconv.Itoa(f.root) + " 0 obj\n<<\n")
	const tail = "\n>>\nendobj\n"
	if !bytes.HasPrefix(cat, head) || !bytes.HasSuffix(cat, []byte(tail)) {
		return nil, errors.New("catalog is not the last object before the xref")
	}
	f.catalog = bytes.TrimRight(cat[len(head):len(cat)-len(tail)], "\n")
	if !bytes.Contains(f.catalog, []byte("/Type /Catalog")) {
		return nil, errors.New("trailer /Root is not a catalog")
	}
	if bytes.Contains(f.catalog, []byte("/Metadata")) || bytes.Contains(f.catalog, []byte("/OutputIntents")) {
		return nil, errors.New("catalog already has /Metadata or /OutputIntents")
	}
	return f, nil
}
