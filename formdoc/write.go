package formdoc

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"math"
	"strconv"
	"sync"

	"github.com/klauspost/compress/zlib"
)

// The file is written here directly rather than by a PDF library: a
// document is a few pages of text and hairlines in two fonts, which takes a
// dozen kinds of objects, and a general library spends far more on each
// document than the document itself costs — fpdf parsed both TrueType fonts
// anew, hashed their metrics as JSON, cut and compressed the subsets and
// allocated a compressor for every stream, ten times the cost of everything
// else. What stays real work, cutting the font subsets, is still done by
// fpdf, once per process (see subset.go).
//
// The objects, in this order:
//
//	1  catalog (Pages, Lang, Metadata, OutputIntents)
//	2  page tree (Kids, Count, MediaBox A4)
//	3  resources shared by every page: /F1 regular, /F2 bold
//	4  Info dictionary
//	5  XMP metadata, unfiltered
//	6  OutputIntent GTS_PDFA1
//	7  sRGB ICC profile
//	then for each font used: Type0 font, CIDFontType2, FontDescriptor,
//	FontFile2, CIDToGIDMap, ToUnicode
//	then for each page: the page and its content stream
//
// then one classic xref section and a trailer whose /ID is a digest of the
// file.

const ptPerMM = 72 / 25.4

const (
	objCatalog = 1 + iota
	objPages
	objResources
	objInfo
	objMetadata
	objIntent
	objProfile
	objFonts // the first font object
)

// objsPerFont is the number of objects of one font, starting at Type0.
const objsPerFont = 6

// fontNames are the resource names of the faces: regular, bold.
var fontNames = [2]string{"/F1", "/F2"}

// compressedProfile is the sRGB profile, compressed once.
var compressedProfile = sync.OnceValues(func() ([]byte, error) { return deflate(srgbProfile()) })

// zlibWriters are reused across streams and documents: a new compressor
// allocates and clears about a megabyte, much more than the page it
// compresses. A fixed free list rather than a sync.Pool, which the garbage
// collector empties: in the daemon, where a submission allocates far more
// than its document, a pool would hardly ever hand a compressor back. The
// list keeps at most zlibSpare compressors, a few megabytes. The fastest
// level: on text content it gives files within 1 % of the default level's
// at two thirds of the time. The compressor is klauspost/compress's, which
// at that level takes less CPU than compress/zlib's for the same size.
const zlibSpare = 4

var zlibWriters = make(chan *zlib.Writer, zlibSpare)

// compress appends the zlib stream of data to dst.
func compress(dst *bytes.Buffer, data []byte) error {
	var zw *zlib.Writer
	select {
	case zw = <-zlibWriters:
		zw.Reset(dst)
	default:
		zw, _ = zlib.NewWriterLevel(dst, zlib.BestSpeed) // the level is valid
	}
	if _, err := zw.Write(data); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	select {
	case zlibWriters <- zw:
	default:
	}
	return nil
}

// scratch holds the buffers of one write, reused by the next.
type scratch struct {
	raw     []byte       // a page's content stream
	content bytes.Buffer // the compressed content streams
}

var scratches = sync.Pool{New: func() any { return new(scratch) }}

// write turns the laid-out pages into a PDF/A-2b file.
func write(pages [][]op, regular, bold *face, m pdfaMeta) ([]byte, error) {
	faces := [2]*face{regular, bold}

	// Content streams first: they tell which characters each face shows.
	var shown [2]unitSet
	var used [2]bool
	sc := scratches.Get().(*scratch)
	defer scratches.Put(sc)
	sc.content.Reset()
	content := &sc.content // the compressed streams, one after the other
	ends := make([]int, len(pages))
	for i, ops := range pages {
		sc.raw = pageContent(sc.raw[:0], ops, faces, &shown, &used)
		if err := compress(content, sc.raw); err != nil {
			return nil, err
		}
		ends[i] = content.Len()
	}

	var subs [2]*subset
	fontObj := [2]int{}
	next := objFonts
	size := 0
	for i, fc := range faces {
		if !used[i] {
			continue
		}
		s, err := fc.subset(shown[i])
		if err != nil {
			return nil, err
		}
		subs[i], fontObj[i] = s, next
		next += objsPerFont
		size += len(s.program) + len(s.cidToGID) + len(s.toUnicode) + len(s.widths) + 1024
	}
	firstPage := next
	profile, err := compressedProfile()
	if err != nil {
		return nil, err
	}
	xmp := xmpPacket(m)

	w := &pdfFile{id: sha256.New()}
	w.b = make([]byte, 0, size+content.Len()+len(profile)+len(xmp)+400*len(pages)+4096)
	w.offsets = make([]int, 1, firstPage+2*len(pages))
	w.str("%PDF-" + PDFVersion + "\n" + binaryComment)

	w.begin(objCatalog)
	w.str("<< /Type /Catalog /Pages 2 0 R")
	if m.lang != "" {
		w.str(" /Lang " + pdfText(m.lang))
	}
	w.str(" /Metadata 5 0 R /OutputIntents [6 0 R] >>\n")
	w.end()

	w.begin(objPages)
	w.str("<< /Type /Pages /Kids [")
	for i := range pages {
		if i > 0 {
			w.str(" ")
		}
		w.ref(firstPage + 2*i)
	}
	w.str("] /Count ")
	w.int(len(pages))
	w.str(" /MediaBox [0 0 ")
	w.b = appendNum(w.b, pageW*ptPerMM, 2)
	w.str(" ")
	w.b = appendNum(w.b, pageH*ptPerMM, 2)
	w.str("] >>\n")
	w.end()

	w.begin(objResources)
	w.str("<< /Font <<")
	for i := range faces {
		if subs[i] != nil {
			w.str(" " + fontNames[i] + " ")
			w.ref(fontObj[i])
		}
	}
	w.str(" >> >>\n")
	w.end()

	w.begin(objInfo)
	w.str("<<")
	if m.title != "" {
		w.str("\n/Title " + pdfText(m.title))
	}
	if m.subject != "" {
		w.str("\n/Subject " + pdfText(m.subject))
	}
	if m.producer != "" {
		w.str("\n/Creator " + pdfText(m.producer))
		w.str("\n/Producer " + pdfText(m.producer))
	}
	if !m.date.IsZero() {
		d := pdfDate(m.date)
		w.str("\n/CreationDate " + d + "\n/ModDate " + d)
	}
	w.str("\n>>\n")
	w.end()

	// The XMP stays unfiltered, so that archive tools find it without
	// decoding (PDF/A-1 even requires this).
	w.begin(objMetadata)
	w.stream("/Type /Metadata /Subtype /XML", xmp)

	w.begin(objIntent)
	w.str("<< /Type /OutputIntent /S /GTS_PDFA1 /OutputConditionIdentifier (" + srgbDescription +
		") /RegistryName (http://www.color.org) /Info (" + srgbDescription + ") /DestOutputProfile 7 0 R >>\n")
	w.end()

	w.begin(objProfile)
	w.fixedStream("/N 3 /Filter /FlateDecode", profile)

	for i, s := range subs {
		if s != nil {
			w.font(fontObj[i], s)
		}
	}

	start := 0
	for i := range pages {
		n := firstPage + 2*i
		w.begin(n)
		w.str("<< /Type /Page /Parent 2 0 R /Resources 3 0 R /Contents ")
		w.ref(n + 1)
		w.str(" >>\n")
		w.end()
		w.begin(n + 1)
		w.stream("/Filter /FlateDecode", content.Bytes()[start:ends[i]])
		start = ends[i]
	}
	return w.finish(objCatalog, objInfo), nil
}

// font writes the objects of one embedded font, starting at object n.
func (w *pdfFile) font(n int, s *subset) {
	w.begin(n)
	w.str("<< /Type /Font /Subtype /Type0 /BaseFont /" + s.name + " /Encoding /Identity-H /DescendantFonts [")
	w.ref(n + 1)
	w.str("] /ToUnicode ")
	w.ref(n + 5)
	w.str(" >>\n")
	w.end()

	w.begin(n + 1)
	w.str("<< /Type /Font /Subtype /CIDFontType2 /BaseFont /" + s.name +
		" /CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> /FontDescriptor ")
	w.ref(n + 2)
	w.str(" /CIDToGIDMap ")
	w.ref(n + 4)
	w.str(" /DW " + s.dw + "\n/W [" + s.widths + "]\n>>\n")
	w.end()

	w.begin(n + 2)
	w.str("<< /Type /FontDescriptor /FontName /" + s.name + " " + s.descriptor + " /FontFile2 ")
	w.ref(n + 3)
	w.str(" >>\n")
	w.end()

	w.begin(n + 3)
	w.fixedStream("/Filter /FlateDecode /Length1 "+strconv.Itoa(s.length1), s.program)
	w.begin(n + 4)
	w.fixedStream("/Filter /FlateDecode", s.cidToGID)
	w.begin(n + 5)
	w.fixedStream("/Filter /FlateDecode", s.toUnicode)
}

// pdfFile is a PDF being written: the bytes and the offset of each object.
type pdfFile struct {
	b       []byte
	offsets []int // offsets[n] of object n; offsets[0] unused
	id      hash.Hash
	hashed  int // w.b[:hashed] has gone into id
}

func (w *pdfFile) str(s string) { w.b = append(w.b, s...) }
func (w *pdfFile) int(n int)    { w.b = strconv.AppendInt(w.b, int64(n), 10) }
func (w *pdfFile) ref(n int)    { w.int(n); w.str(" 0 R") }

// begin starts object n, which must be the next number.
func (w *pdfFile) begin(n int) {
	if n != len(w.offsets) {
		panic("formdoc: object " + strconv.Itoa(n) + " written out of order")
	}
	w.offsets = append(w.offsets, len(w.b))
	w.int(n)
	w.str(" 0 obj\n")
}

func (w *pdfFile) end() { w.str("endobj\n") }

// stream writes a stream object's dictionary (with /Length) and data and
// ends the object.
func (w *pdfFile) stream(dict string, data []byte) {
	w.str("<< " + dict + " /Length ")
	w.int(len(data))
	w.str(" >>\nstream\n")
	w.b = append(w.b, data...)
	w.str("\nendstream\n")
	w.end()
}

// fixedStream writes a stream whose data is the same in every document that
// names it the same way (a font subset, whose name carries a digest of its
// program, or the sRGB profile); the data is left out of the /ID digest,
// which then costs a fifth of hashing the whole file.
func (w *pdfFile) fixedStream(dict string, data []byte) {
	w.str("<< " + dict + " /Length ")
	w.int(len(data))
	w.str(" >>\nstream\n")
	w.id.Write(w.b[w.hashed:])
	w.b = append(w.b, data...)
	w.hashed = len(w.b)
	w.str("\nendstream\n")
	w.end()
}

// finish appends the xref section and the trailer. The /ID is a digest of
// everything before the trailer but the fixed streams: identical documents
// get identical IDs, as a byte-for-byte redelivery check needs, and
// different documents practically never share one.
func (w *pdfFile) finish(root, info int) []byte {
	xref := len(w.b)
	w.str("xref\n0 ")
	w.int(len(w.offsets))
	w.str("\n0000000000 65535 f \n")
	for _, off := range w.offsets[1:] {
		var e [20]byte
		copy(e[10:], " 00000 n \n")
		for i := 9; i >= 0; i-- {
			e[i] = byte('0' + off%10)
			off /= 10
		}
		w.b = append(w.b, e[:]...)
	}
	w.id.Write(w.b[w.hashed:])
	id := hex.EncodeToString(w.id.Sum(nil)[:16])
	w.str("trailer\n<<\n/Size ")
	w.int(len(w.offsets))
	w.str("\n/Root ")
	w.ref(root)
	w.str("\n/Info ")
	w.ref(info)
	w.str("\n/ID [<" + id + "> <" + id + ">]\n>>\nstartxref\n")
	w.int(xref)
	w.str("\n%%EOF\n")
	return w.b
}

// drawState is the part of the graphics state the content sets, so that an
// operator is written only when its value changes.
type drawState struct {
	font         int // index into faces; -1: none yet
	size         float64
	fill, stroke rgb
	lineWidth    float64
}

// pageContent appends the content stream of one page to b and records which
// faces it uses and the characters each shows. Coordinates are converted
// from the layout's millimetres, origin top left, to points, origin bottom
// left.
func pageContent(b []byte, ops []op, faces [2]*face, shown *[2]unitSet, used *[2]bool) []byte {
	st := drawState{font: -1, fill: black, stroke: black, lineWidth: -1} // black is the initial colour
	for i := range ops {
		o := &ops[i]
		switch o.kind {
		case opText:
			f := 0
			if o.style.bold {
				f = 1
			}
			used[f] = true
			if f != st.font || o.style.size != st.size {
				st.font, st.size = f, o.style.size
				b = append(b, fontNames[f]...)
				b = append(b, ' ')
				b = appendNum(b, o.style.size, 2)
				b = append(b, " Tf\n"...)
			}
			if o.style.color != st.fill {
				st.fill = o.style.color
				b = appendColor(b, st.fill, "g\n", "rg\n")
			}
			b = append(b, "BT "...)
			b = appendNum(b, o.x*ptPerMM, 2)
			b = append(b, ' ')
			b = appendNum(b, (pageH-o.y)*ptPerMM, 2)
			b = append(b, " Td "...)
			b = appendText(b, faces[f], o.text, &shown[f])
			b = append(b, " Tj ET\n"...)
		case opLine:
			if o.color != st.stroke {
				st.stroke = o.color
				b = appendColor(b, st.stroke, "G\n", "RG\n")
			}
			if o.width != st.lineWidth {
				st.lineWidth = o.width
				b = appendNum(b, o.width*ptPerMM, 2)
				b = append(b, " w\n"...)
			}
			b = appendNum(b, o.x*ptPerMM, 2)
			b = append(b, ' ')
			b = appendNum(b, (pageH-o.y)*ptPerMM, 2)
			b = append(b, " m "...)
			b = appendNum(b, o.x2*ptPerMM, 2)
			b = append(b, ' ')
			b = appendNum(b, (pageH-o.y2)*ptPerMM, 2)
			b = append(b, " l S\n"...)
		}
	}
	return b
}

// appendText appends s as a literal string of two-byte codes, each the
// character's code point (Identity-H with CIDs equal to Unicode, which the
// subsets' CIDToGIDMap maps to glyphs). A character fc lacks — clean lets
// none through — is shown as the substitute, whose width the layout used.
func appendText(b []byte, fc *face, s string, shown *unitSet) []byte {
	b = append(b, '(')
	for _, r := range s {
		if !fc.has(r) {
			r = substitute
		}
		shown.add(r)
		for _, c := range [2]byte{byte(r >> 8), byte(r)} {
			switch c {
			case '(', ')', '\\':
				b = append(b, '\\', c)
			case '\r':
				b = append(b, '\\', 'r')
			case '\n':
				b = append(b, '\\', 'n')
			default:
				b = append(b, c)
			}
		}
	}
	return append(b, ')')
}

// appendColor appends a colour operator: gray when the components are
// equal, RGB otherwise (both allowed with the sRGB OutputIntent).
func appendColor(b []byte, c rgb, gray, rgbOp string) []byte {
	if c.r == c.g && c.g == c.b {
		b = appendNum(b, float64(c.r)/255, 3)
		b = append(b, ' ')
		return append(b, gray...)
	}
	for _, v := range [3]uint8{c.r, c.g, c.b} {
		b = appendNum(b, float64(v)/255, 3)
		b = append(b, ' ')
	}
	return append(b, rgbOp...)
}

// appendNum appends v rounded to places (at most 3) decimals, without
// trailing zeros: "56.69", "9.5", "18".
func appendNum(b []byte, v float64, places int) []byte {
	scale := int64(1)
	for i := 0; i < places; i++ {
		scale *= 10
	}
	n := int64(math.Round(v * float64(scale)))
	if n < 0 {
		b = append(b, '-')
		n = -n
	}
	b = strconv.AppendInt(b, n/scale, 10)
	frac := n % scale
	if frac == 0 {
		return b
	}
	var d [3]byte
	for i := places - 1; i >= 0; i-- {
		d[i] = byte('0' + frac%10)
		frac /= 10
	}
	k := places
	for d[k-1] == '0' {
		k--
	}
	b = append(b, '.')
	return append(b, d[:k]...)
}
