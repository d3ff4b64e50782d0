package formdoc

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"html"
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/model"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"
	"golang.org/x/image/font"
	"golang.org/x/image/font/sfnt"
	"golang.org/x/image/math/fixed"
)

// pdfaSamples are documents whose finished files must pass every check.
func pdfaSamples(t *testing.T) map[string]Document {
	demo := demoDocument(t)
	minimal := Document{Title: "Antrag", Data: []byte(`{"a": "b"}`)}
	foreign := demo
	foreign.Title = "Anmeldung für Łódź (Dvořák & Őry) <Test>"
	foreign.Producer = "amtsbote (Prüfung)"
	foreign.Data = []byte(`{"name": "Zoë Øster 中文 😀", "ort": "Łódź"}`)
	scripts := demo
	scripts.Data = []byte(`{"griechisch": "Ψυχή", "kyrillisch": "Москва", "escape": "Ĩĩŝčċ (a\\b)"}`)
	return map[string]Document{"demo": demo, "minimal": minimal, "non-ASCII metadata": foreign, "scripts": scripts}
}

func TestPDFA(t *testing.T) {
	for name, d := range pdfaSamples(t) {
		t.Run(name, func(t *testing.T) {
			pdf := mustRender(t, d)
			ctx := validate(t, pdf)
			checks := []struct {
				name  string
				check func(*testing.T, []byte, *model.Context)
			}{
				{"header", checkHeader},
				{"xref and trailer", checkXref},
				{"stream lengths", checkStreams},
				{"catalog", checkCatalog},
				{"output intent", checkOutputIntent},
				{"xmp", checkXMP},
				{"info matches xmp", func(t *testing.T, pdf []byte, ctx *model.Context) { checkInfoMatchesXMP(t, ctx, d) }},
				{"fonts embedded", checkFonts},
				{"widths match font programs", checkWidths},
				{"no notdef", checkNoNotdef},
				{"forbidden features", checkForbidden},
			}
			for _, c := range checks {
				t.Run(c.name, func(t *testing.T) { c.check(t, pdf, ctx) })
			}
		})
	}
}

func checkHeader(t *testing.T, pdf []byte, _ *model.Context) {
	want := "%PDF-" + PDFVersion + "\n%"
	if !bytes.HasPrefix(pdf, []byte(want)) {
		t.Fatalf("file starts with %q", pdf[:min(len(pdf), 16)])
	}
	line := pdf[len(want)-1 : bytes.IndexByte(pdf[len(want):], '\n')+len(want)]
	high := 0
	for _, c := range line[1:] {
		if c > 127 {
			high++
		}
	}
	if high < 4 {
		t.Errorf("comment after the header %q has %d bytes above 127, want 4", line, high)
	}
}

var (
	finalStartxref = regexp.MustCompile(`startxref\n(\d+)\n%%EOF\n$`)
	trailerID      = regexp.MustCompile(`trailer\n<<\n/Size (\d+)\n/Root \d+ 0 R\n/Info \d+ 0 R\n/ID \[<([0-9a-f]{32})> <([0-9a-f]{32})>\]\n>>\n`)
)

// checkXref parses the one xref section and checks that every entry
// points at its object, and that the trailer carries the /ID.
func checkXref(t *testing.T, pdf []byte, ctx *model.Context) {
	m := finalStartxref.FindSubmatch(pdf)
	if m == nil {
		t.Fatalf("file does not end with startxref and %%%%EOF: %q", pdf[max(0, len(pdf)-40):])
	}
	if bytes.Count(pdf, []byte("\nxref\n")) != 1 || bytes.Count(pdf, []byte("trailer\n")) != 1 {
		t.Error("file has more than one xref section or trailer")
	}
	xref, _ := strconv.Atoi(string(m[1]))
	if !bytes.HasPrefix(pdf[xref:], []byte("xref\n0 ")) {
		t.Fatalf("startxref %d does not point at the xref", xref)
	}
	head := pdf[xref+len("xref\n0 "):]
	nl := bytes.IndexByte(head, '\n')
	size, err := strconv.Atoi(string(head[:nl]))
	if err != nil {
		t.Fatal(err)
	}
	entries := head[nl+1:]
	for n := 1; n < size; n++ {
		e := entries[20*n : 20*n+20]
		off, err := strconv.Atoi(string(e[:10]))
		if err != nil || string(e[10:]) != " 00000 n \n" {
			t.Fatalf("entry %d malformed: %q", n, e)
		}
		if !bytes.HasPrefix(pdf[off:], []byte(fmt.Sprintf("%d 0 obj\n", n))) {
			t.Errorf("entry %d points at %q", n, pdf[off:min(len(pdf), off+12)])
		}
	}
	tm := trailerID.FindSubmatch(entries[20*size:])
	if tm == nil {
		t.Fatalf("trailer is not as expected: %q", entries[20*size:])
	}
	if s, _ := strconv.Atoi(string(tm[1])); s != size {
		t.Errorf("trailer /Size %d, xref has %d entries", s, size)
	}
	if !bytes.Equal(tm[2], tm[3]) {
		t.Errorf("the two /ID parts differ for a new file: %s %s", tm[2], tm[3])
	}
	if len(ctx.XRefTable.ID) != 2 {
		t.Errorf("pdfcpu sees no /ID: %v", ctx.XRefTable.ID)
	}
	if ctx.XRefTable.Encrypt != nil {
		t.Error("file is encrypted")
	}
}

var lengthRe = regexp.MustCompile(`/Length (\d+)\b`)

// checkStreams checks every stream of every object: /Length must count the
// bytes between the EOL after "stream" and the EOL before "endstream"
// (ISO 19005-2, 6.1.7), and no stream may refer to external data.
func checkStreams(t *testing.T, pdf []byte, _ *model.Context) {
	m := finalStartxref.FindSubmatch(pdf)
	xref, _ := strconv.Atoi(string(m[1]))
	streams := 0
	for _, loc := range regexp.MustCompile(`(?m)^\d+ 0 obj\n`).FindAllIndex(pdf[:xref], -1) {
		obj := pdf[loc[1]:]
		end := bytes.Index(obj, []byte("\nendobj\n"))
		st := bytes.Index(obj, []byte("\nstream\n"))
		if st < 0 || (end >= 0 && end < st) {
			continue // no stream, or the match was inside binary data
		}
		dict := obj[:st]
		for _, key := range []string{"/F ", "/FFilter", "/FDecodeParms"} {
			if bytes.Contains(dict, []byte(key)) {
				t.Errorf("stream at %d has %s", loc[0], key)
			}
		}
		lm := lengthRe.FindSubmatch(dict)
		if lm == nil {
			t.Errorf("stream at %d has no direct /Length: %q", loc[0], dict)
			continue
		}
		n, _ := strconv.Atoi(string(lm[1]))
		data := obj[st+len("\nstream\n"):]
		if !bytes.HasPrefix(data[n:], []byte("\nendstream\nendobj\n")) {
			t.Errorf("stream at %d: /Length %d does not end at endstream: %q", loc[0], n, data[n:min(len(data), n+20)])
		}
		streams++
	}
	if streams < 5 {
		t.Errorf("found only %d streams", streams)
	}
}

func stream(t *testing.T, ctx *model.Context, o types.Object) *types.StreamDict {
	t.Helper()
	sd, _, err := ctx.XRefTable.DereferenceStreamDict(o)
	if err != nil || sd == nil {
		t.Fatalf("no stream at %v: %v", o, err)
	}
	if sd.Content == nil {
		if err := sd.Decode(); err != nil {
			t.Fatalf("decode stream %v: %v", o, err)
		}
	}
	return sd
}

func dict(t *testing.T, ctx *model.Context, o types.Object) types.Dict {
	t.Helper()
	d, err := ctx.XRefTable.DereferenceDict(o)
	if err != nil || d == nil {
		t.Fatalf("no dictionary at %v: %v", o, err)
	}
	return d
}

func checkCatalog(t *testing.T, _ []byte, ctx *model.Context) {
	root, err := ctx.XRefTable.Catalog()
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"Pages", "Metadata", "OutputIntents"} {
		if _, ok := root.Find(key); !ok {
			t.Errorf("catalog lacks /%s", key)
		}
	}
	if lang, _ := root.Find("Lang"); fmt.Sprint(lang) != "(de-DE)" {
		t.Errorf("catalog /Lang = %v, want (de-DE)", lang)
	}
	// fpdf always writes an EmbeddedFiles tree; it must stay empty.
	if names := root.DictEntry("Names"); names != nil {
		if ef := names.DictEntry("EmbeddedFiles"); ef != nil && len(ef.ArrayEntry("Names")) > 0 {
			t.Error("catalog has embedded files")
		}
	}
}

func checkOutputIntent(t *testing.T, _ []byte, ctx *model.Context) {
	root, _ := ctx.XRefTable.Catalog()
	intents, err := ctx.XRefTable.DereferenceArray(root["OutputIntents"])
	if err != nil || len(intents) != 1 {
		t.Fatalf("OutputIntents %v: %v", intents, err)
	}
	oi := dict(t, ctx, intents[0])
	if s := oi.NameEntry("S"); s == nil || *s != "GTS_PDFA1" {
		t.Errorf("OutputIntent /S = %v", s)
	}
	if ty := oi.Type(); ty == nil || *ty != "OutputIntent" {
		t.Errorf("OutputIntent /Type = %v", ty)
	}
	id, err := types.StringOrHexLiteral(oi["OutputConditionIdentifier"])
	if err != nil || id == nil || *id != srgbDescription {
		t.Errorf("OutputConditionIdentifier = %v (%v)", id, err)
	}
	sd := stream(t, ctx, oi["DestOutputProfile"])
	if n := sd.IntEntry("N"); n == nil || *n != 3 {
		t.Errorf("profile /N = %v, want 3", n)
	}
	if !bytes.Equal(sd.Content, srgbProfile()) {
		t.Error("embedded profile differs from the generated one")
	}
	if _, err := parseICC(sd.Content); err != nil {
		t.Errorf("embedded profile: %v", err)
	}
}

func xmpOf(t *testing.T, ctx *model.Context) (string, *types.StreamDict) {
	t.Helper()
	root, _ := ctx.XRefTable.Catalog()
	sd := stream(t, ctx, root["Metadata"])
	return string(sd.Content), sd
}

func checkXMP(t *testing.T, _ []byte, ctx *model.Context) {
	x, sd := xmpOf(t, ctx)
	if ty := sd.Type(); ty == nil || *ty != "Metadata" {
		t.Errorf("metadata /Type = %v", ty)
	}
	if st := sd.Subtype(); st == nil || *st != "XML" {
		t.Errorf("metadata /Subtype = %v", st)
	}
	if _, ok := sd.Find("Filter"); ok {
		t.Error("metadata stream is filtered")
	}
	wantParts := []string{
		"<?xpacket begin=\"\ufeff\" id=\"W5M0MpCehiHzreSzNTczkc9d\"?>",
		"<pdfaid:part>2</pdfaid:part>",
		"<pdfaid:conformance>B</pdfaid:conformance>",
		"<dc:format>application/pdf</dc:format>",
		`xmlns:pdfaid="http://www.aiim.org/pdfa/ns/id/"`,
	}
	for _, w := range wantParts {
		if !strings.Contains(x, w) {
			t.Errorf("XMP lacks %q", w)
		}
	}
	if !strings.HasSuffix(x, `<?xpacket end="w"?>`) {
		t.Error("XMP does not end with the xpacket trailer")
	}
	if strings.Contains(x, "bytes=") || strings.Contains(x, "encoding=") {
		t.Error("xpacket header has bytes or encoding attributes")
	}
}

// xmpValue returns the text of the XMP property name (the x-default entry
// of an rdf:Alt), unescaped; ok is false if it is absent.
func xmpValue(x, name string) (string, bool) {
	re := regexp.MustCompile(`<` + name + `>(?:<rdf:Alt><rdf:li xml:lang="x-default">)?([^<]*)(?:</rdf:li></rdf:Alt>)?</` + name + `>`)
	m := re.FindStringSubmatch(x)
	if m == nil {
		return "", false
	}
	return html.UnescapeString(m[1]), true
}

// infoValue returns an entry of the trailer's Info dictionary as text.
func infoValue(t *testing.T, ctx *model.Context, key string) (string, bool) {
	t.Helper()
	if ctx.XRefTable.Info == nil {
		t.Fatal("trailer has no /Info")
	}
	info := dict(t, ctx, *ctx.XRefTable.Info)
	o, ok := info.Find(key)
	if !ok {
		return "", false
	}
	s, err := types.StringOrHexLiteral(o)
	if err != nil || s == nil {
		t.Fatalf("Info /%s: %v", key, err)
	}
	return *s, true
}

// checkInfoMatchesXMP checks that every Info entry has an equivalent XMP
// property, as PDF/A requires, and that the values are those of the Document.
func checkInfoMatchesXMP(t *testing.T, ctx *model.Context, d Document) {
	x, _ := xmpOf(t, ctx)
	pairs := []struct{ info, xmp, want string }{
		{"Title", "dc:title", clean(d.Title, false)},
		{"Subject", "dc:description", "Antrag"},
		{"Creator", "xmp:CreatorTool", d.Producer},
		{"Producer", "pdf:Producer", d.Producer},
	}
	for _, p := range pairs {
		iv, iok := infoValue(t, ctx, p.info)
		xv, xok := xmpValue(x, p.xmp)
		if iok != xok || iv != xv {
			t.Errorf("Info /%s = %q (%v), XMP %s = %q (%v)", p.info, iv, iok, p.xmp, xv, xok)
		}
		if iv != p.want {
			t.Errorf("Info /%s = %q, want %q", p.info, iv, p.want)
		}
	}
	dates := []struct{ info, xmp string }{{"CreationDate", "xmp:CreateDate"}, {"ModDate", "xmp:ModifyDate"}}
	for _, p := range dates {
		iv, iok := infoValue(t, ctx, p.info)
		xv, xok := xmpValue(x, p.xmp)
		if iok != xok || iok != !d.ReceivedAt.IsZero() {
			t.Errorf("Info /%s present %v, XMP %s present %v, ReceivedAt zero %v", p.info, iok, p.xmp, xok, d.ReceivedAt.IsZero())
			continue
		}
		if !iok {
			continue
		}
		it, ok := types.DateTime(iv, false)
		if !ok {
			t.Errorf("Info /%s %q is not a strict PDF date", p.info, iv)
		}
		xt, err := time.Parse(time.RFC3339, xv)
		if err != nil {
			t.Errorf("XMP %s: %v", p.xmp, err)
		}
		if !it.Equal(xt) || !it.Equal(d.ReceivedAt) {
			t.Errorf("Info /%s %q, XMP %s %q, ReceivedAt %v: not the same instant", p.info, iv, p.xmp, xv, d.ReceivedAt)
		}
		if !regexp.MustCompile(`^D:\d{14}[+-]\d\d'\d\d'$`).MatchString(iv) {
			t.Errorf("Info /%s %q has no explicit time zone", p.info, iv)
		}
	}
	if md, ok := xmpValue(x, "xmp:MetadataDate"); ok != !d.ReceivedAt.IsZero() {
		t.Errorf("xmp:MetadataDate %q present %v", md, ok)
	}
}

// fontDicts returns every font dictionary in the file.
func fontDicts(ctx *model.Context) []types.Dict {
	var out []types.Dict
	for _, e := range ctx.XRefTable.Table {
		if e == nil || e.Free {
			continue
		}
		if d, ok := e.Object.(types.Dict); ok {
			if ty := d.Type(); ty != nil && *ty == "Font" {
				out = append(out, d)
			}
		}
	}
	return out
}

func checkFonts(t *testing.T, _ []byte, ctx *model.Context) {
	fonts := fontDicts(ctx)
	if len(fonts) == 0 {
		t.Fatal("no fonts")
	}
	for _, f := range fonts {
		st := f.Subtype()
		if st == nil || (*st != "Type0" && *st != "CIDFontType2") {
			t.Errorf("font %v has subtype %v; only embedded TrueType CID fonts are expected", f["BaseFont"], st)
			continue
		}
		if *st != "CIDFontType2" {
			continue
		}
		fd := dict(t, ctx, f["FontDescriptor"])
		if _, ok := fd.Find("FontFile2"); !ok {
			t.Errorf("font %v is not embedded (no FontFile2)", f["BaseFont"])
		}
		stream(t, ctx, fd["FontFile2"]) // must decode
	}
}

// cidFont is a descendant font with what checkWidths and checkNoNotdef need.
type cidFont struct {
	name   string
	gids   []byte // CIDToGIDMap: two bytes per CID
	widths map[int]int
	prog   []byte // the embedded TrueType program
}

func (f cidFont) gid(cid int) int {
	if 2*cid+1 >= len(f.gids) {
		return 0
	}
	return int(binary.BigEndian.Uint16(f.gids[2*cid:]))
}

func loadCIDFont(t *testing.T, ctx *model.Context, d types.Dict) cidFont {
	t.Helper()
	f := cidFont{name: fmt.Sprint(d["BaseFont"]), widths: map[int]int{}}
	f.gids = stream(t, ctx, d["CIDToGIDMap"]).Content
	fd := dict(t, ctx, d["FontDescriptor"])
	f.prog = stream(t, ctx, fd["FontFile2"]).Content
	w, err := ctx.XRefTable.DereferenceArray(d["W"])
	if err != nil {
		t.Fatalf("%s /W: %v", f.name, err)
	}
	num := func(o types.Object) int {
		switch v := o.(type) {
		case types.Integer:
			return v.Value()
		case types.Float:
			return int(math.Round(v.Value()))
		}
		t.Fatalf("%s /W: unexpected %T", f.name, o)
		return 0
	}
	// /W holds "c [w1 w2 …]" and "cfirst clast w" groups.
	for i := 0; i < len(w); {
		first := num(w[i])
		if arr, ok := w[i+1].(types.Array); ok {
			for j, o := range arr {
				f.widths[first+j] = num(o)
			}
			i += 2
			continue
		}
		last, width := num(w[i+1]), num(w[i+2])
		for c := first; c <= last; c++ {
			f.widths[c] = width
		}
		i += 3
	}
	return f
}

func cidFonts(t *testing.T, ctx *model.Context) map[string]cidFont {
	out := map[string]cidFont{}
	for _, d := range fontDicts(ctx) {
		if st := d.Subtype(); st != nil && *st == "CIDFontType2" {
			f := loadCIDFont(t, ctx, d)
			out[f.name] = f
		}
	}
	return out
}

// checkWidths compares every /W width of a glyph in the subset with the
// advance in the embedded font program (ISO 19005-2, 6.2.11.5).
func checkWidths(t *testing.T, _ []byte, ctx *model.Context) {
	for _, f := range cidFonts(t, ctx) {
		prog, err := sfnt.Parse(f.prog)
		if err != nil {
			t.Fatalf("%s: embedded program does not parse: %v", f.name, err)
		}
		upem := float64(prog.UnitsPerEm())
		var buf sfnt.Buffer
		checked := 0
		for cid, w := range f.widths {
			gid := f.gid(cid)
			if gid == 0 {
				continue // not in the subset, never shown
			}
			adv, err := prog.GlyphAdvance(&buf, sfnt.GlyphIndex(gid), fixed.I(int(upem)), font.HintingNone)
			if err != nil {
				t.Errorf("%s: CID %d → glyph %d: %v", f.name, cid, gid, err)
				continue
			}
			want := float64(adv) / 64 * 1000 / upem
			if math.Abs(float64(w)-want) > 1 {
				t.Errorf("%s: CID %U width %d, font program %.1f", f.name, cid, w, want)
			}
			checked++
		}
		if checked == 0 {
			t.Errorf("%s: no widths checked", f.name)
		}
	}
}

var (
	tfRe = regexp.MustCompile(`^/(\S+) [\d.]+ Tf`)
)

// checkNoNotdef decodes every string shown on every page and checks that
// each character maps to a real glyph of the embedded subset (ISO 19005-2,
// 6.2.11.8 forbids references to .notdef).
func checkNoNotdef(t *testing.T, pdf []byte, ctx *model.Context) {
	fonts := cidFonts(t, ctx)
	shown := 0
	for p := 1; p <= ctx.PageCount; p++ {
		page, _, _, err := ctx.XRefTable.PageDict(p, false)
		if err != nil {
			t.Fatal(err)
		}
		res := dict(t, ctx, page["Resources"])
		fontRes := dict(t, ctx, res["Font"])
		resFont := map[string]cidFont{}
		for name, ref := range fontRes {
			type0 := dict(t, ctx, ref)
			desc, _ := ctx.XRefTable.DereferenceArray(type0["DescendantFonts"])
			resFont[name] = fonts[fmt.Sprint(dict(t, ctx, desc[0])["BaseFont"])]
		}
		content := stream(t, ctx, page["Contents"]).Content
		var cur *cidFont
		for i := 0; i < len(content); i++ {
			switch content[i] {
			case '/':
				if m := tfRe.FindSubmatch(content[i:]); m != nil {
					f, ok := resFont[string(m[1])]
					if !ok {
						t.Fatalf("page %d selects unknown font %s", p, m[1])
					}
					cur = &f
				}
			case '(':
				s, n := literalString(content[i:])
				i += n - 1
				if cur == nil {
					t.Fatalf("page %d shows text without a font", p)
				}
				for j := 0; j+1 < len(s); j += 2 {
					cid := int(s[j])<<8 | int(s[j+1])
					if cur.gid(cid) == 0 {
						t.Errorf("page %d shows %U, which maps to .notdef in %s", p, cid, cur.name)
					}
					shown++
				}
			}
		}
	}
	if shown == 0 {
		t.Error("no text found")
	}
}

// literalString decodes the PDF literal string at the start of b and
// returns it with the number of bytes it took.
func literalString(b []byte) ([]byte, int) {
	var out []byte
	depth := 0
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case c == '\\' && i+1 < len(b):
			i++
			switch e := b[i]; e {
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			case '\n':
			default:
				if e >= '0' && e <= '7' {
					v, k := 0, 0
					for k < 3 && i+k < len(b) && b[i+k] >= '0' && b[i+k] <= '7' {
						v = v*8 + int(b[i+k]-'0')
						k++
					}
					out = append(out, byte(v))
					i += k - 1
				} else {
					out = append(out, e)
				}
			}
		case c == '(':
			if depth > 0 {
				out = append(out, c)
			}
			depth++
		case c == ')':
			depth--
			if depth == 0 {
				return out, i + 1
			}
			out = append(out, c)
		default:
			out = append(out, c)
		}
	}
	return out, len(b)
}

// checkForbidden looks for features PDF/A-2b forbids or that formdoc
// promises not to use. Dictionaries are not compressed, so a byte search
// finds their keys.
func checkForbidden(t *testing.T, pdf []byte, _ *model.Context) {
	for _, key := range []string{"/Encrypt", "/JavaScript", "/JS ", "/Launch", "/AA ", "/Annots", "/OpenAction",
		"/Transparency", "/ExtGState", "/SMask", "/EmbeddedFile ", "/Type1", "/TrueType", "/LZWDecode"} {
		if bytes.Contains(pdf, []byte(key)) {
			t.Errorf("file contains %s", key)
		}
	}
}

func TestPDFAWithoutOptionalFields(t *testing.T) {
	// Only the title and the data: no dates and no producer. Info and XMP
	// must then both leave the entries out.
	d := Document{Title: "Antrag", Data: []byte(`{"a": "b"}`)}
	ctx := validate(t, mustRender(t, d))
	x, _ := xmpOf(t, ctx)
	for _, key := range []string{"CreationDate", "ModDate", "Creator", "Producer"} {
		if v, ok := infoValue(t, ctx, key); ok {
			t.Errorf("Info has /%s %q without a value for it", key, v)
		}
	}
	for _, key := range []string{"xmp:CreateDate", "xmp:ModifyDate", "xmp:CreatorTool", "pdf:Producer"} {
		if v, ok := xmpValue(x, key); ok {
			t.Errorf("XMP has %s %q without a value for it", key, v)
		}
	}
}

func TestParseFpdfRejectsUnexpectedOutput(t *testing.T) {
	regular, _, err := loadFaces()
	if err != nil {
		t.Fatal(err)
	}
	good, err := fpdfSample(regular, []rune("x"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := parseFpdf(good); err != nil {
		t.Fatalf("fpdf's own output is rejected: %v", err)
	}
	replace := func(old, new string) []byte {
		if !bytes.Contains(good, []byte(old)) {
			t.Fatalf("fpdf output has no %q", old)
		}
		return bytes.Replace(good, []byte(old), []byte(new), 1)
	}
	tests := []struct {
		name string
		raw  []byte
	}{
		{"empty", nil},
		{"no header", good[9:]},
		{"no startxref", good[:bytes.LastIndex(good, []byte("startxref"))]},
		{"encrypted", replace("/Info", "/Encrypt 9 0 R\n/Info")},
		{"object moved", replace("3 0 obj", "3  0 obj")},
		{"catalog has metadata", replace("/Type /Catalog", "/Type /Catalog\n/Metadata 1 0 R")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := parseFpdf(tt.raw); err == nil {
				t.Error("accepted")
			}
		})
	}
}

func TestPDFText(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Antrag", "(Antrag)"},
		{`a (b) \c`, `(a \(b\) \\c)`},
		{"Müller", "<FEFF004D00FC006C006C00650072>"},
		{"Łódź", "<FEFF014100F30064017A>"},
	}
	for _, tt := range tests {
		if got := pdfText(tt.in); got != tt.want {
			t.Errorf("pdfText(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
	if got := pdfDate(time.Date(2026, 1, 15, 10, 30, 0, 0, time.FixedZone("CET", 3600))); got != "(D:20260115093000+00'00')" {
		t.Errorf("pdfDate = %s", got)
	}
}
