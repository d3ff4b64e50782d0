package formdoc

import (
	"bytes"
	"compress/zlib"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
)

// binaryComment follows the header so that transfer programs treat the file
// as binary (ISO 19005-2, 6.1.2: at least four bytes above 127).
const binaryComment = "%\xe2\xe3\xcf\xd3\n"

// pdfaMeta is the document information written twice, into the Info
// dictionary and the XMP packet, which PDF/A requires to agree.
type pdfaMeta struct {
	title    string
	subject  string
	producer string // Creator and Producer
	lang     string
	date     time.Time // CreationDate and ModDate; zero: no dates
}

// fpdfFile is what finish needs to know of fpdf's output.
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

// finish turns fpdf's output into a PDF/A-2b file. It keeps fpdf's objects
// byte for byte, raises the header to PDFVersion, inserts the binary
// comment, appends the XMP metadata, the sRGB profile with its OutputIntent,
// a new Info dictionary (dates with a time zone, values matching the XMP)
// and a new catalog referencing them, and replaces fpdf's xref and trailer
// with one complete xref section and a trailer carrying a content-derived
// /ID. fpdf's own catalog and Info stay in the file, unreferenced.
func finish(raw []byte, m pdfaMeta) ([]byte, error) {
	f, err := parseFpdf(raw)
	if err != nil {
		return nil, fmt.Errorf("formdoc: unexpected fpdf output: %w", err)
	}
	header := "%PDF-" + PDFVersion + "\n" + binaryComment
	shift := len(header) - 9 // fpdf's header line is "%PDF-1.n\n"

	var out bytes.Buffer
	out.Grow(f.xref + shift + 8192)
	out.WriteString(header)
	out.Write(raw[9:f.xref])

	offsets := make([]int, len(f.offsets), len(f.offsets)+5)
	for n := 1; n < len(f.offsets); n++ {
		offsets[n] = f.offsets[n] + shift
	}
	obj := func(body func()) int {
		n := len(offsets)
		offsets = append(offsets, out.Len())
		fmt.Fprintf(&out, "%d 0 obj\n", n)
		body()
		out.WriteString("endobj\n")
		return n
	}
	stream := func(dict string, data []byte) {
		fmt.Fprintf(&out, "<< %s /Length %d >>\nstream\n", dict, len(data))
		out.Write(data)
		out.WriteString("\nendstream\n")
	}

	// The XMP stays unfiltered, so that archive tools find it without
	// decoding (PDF/A-1 even requires this).
	xmp := xmpPacket(m)
	metadata := obj(func() { stream("/Type /Metadata /Subtype /XML", xmp) })

	icc, err := deflate(srgbProfile())
	if err != nil {
		return nil, err
	}
	profile := obj(func() { stream("/N 3 /Filter /FlateDecode", icc) })

	intent := obj(func() {
		fmt.Fprintf(&out, "<< /Type /OutputIntent /S /GTS_PDFA1 /OutputConditionIdentifier (%s) "+
			"/RegistryName (http://www.color.org) /Info (%s) /DestOutputProfile %d 0 R >>\n",
			srgbDescription, srgbDescription, profile)
	})

	info := obj(func() {
		out.WriteString("<<")
		if m.title != "" {
			out.WriteString("\n/Title " + pdfText(m.title))
		}
		if m.subject != "" {
			out.WriteString("\n/Subject " + pdfText(m.subject))
		}
		if m.producer != "" {
			out.WriteString("\n/Creator " + pdfText(m.producer))
			out.WriteString("\n/Producer " + pdfText(m.producer))
		}
		if !m.date.IsZero() {
			d := pdfDate(m.date)
			out.WriteString("\n/CreationDate " + d + "\n/ModDate " + d)
		}
		out.WriteString("\n>>\n")
	})

	root := obj(func() {
		out.WriteString("<<\n")
		out.Write(f.catalog)
		fmt.Fprintf(&out, "\n/Metadata %d 0 R\n/OutputIntents [%d 0 R]\n>>\n", metadata, intent)
	})

	xref := out.Len()
	fmt.Fprintf(&out, "xref\n0 %d\n0000000000 65535 f \n", len(offsets))
	for n := 1; n < len(offsets); n++ {
		fmt.Fprintf(&out, "%010d 00000 n \n", offsets[n])
	}
	// The /ID is a digest of everything before the trailer: identical
	// documents get identical IDs, as a byte-for-byte redelivery check needs,
	// and different documents practically never share one.
	sum := sha256.Sum256(out.Bytes())
	id := hex.EncodeToString(sum[:16])
	fmt.Fprintf(&out, "trailer\n<<\n/Size %d\n/Root %d 0 R\n/Info %d 0 R\n/ID [<%s> <%s>]\n>>\nstartxref\n%d\n%%%%EOF\n",
		len(offsets), root, info, id, id, xref)
	return out.Bytes(), nil
}

func deflate(b []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := zlib.NewWriterLevel(&buf, zlib.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(b); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// pdfDate formats t in UTC as a PDF date. The offset is written as
// "+00'00'": ISO 32000-1 (7.9.4) defines "+HH'mm" and the older PDF
// references "+HH'mm'"; readers accept both, and widespread readers need
// the trailing apostrophe. A bare "Z" is valid as well but rejected by
// pdfcpu's strict validation, which the tests use.
func pdfDate(t time.Time) string {
	return "(D:" + t.UTC().Format("20060102150405") + "+00'00')"
}

// xmpDate formats t in UTC as an XMP date (ISO 8601 with a time zone, as
// PDF/A requires for dates that must match the Info dictionary).
func xmpDate(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05Z")
}

// pdfText encodes s as a PDF text string: a literal string when it is
// printable ASCII, otherwise UTF-16BE with a byte order mark, in hex, so
// that no byte of the value can upset the syntax.
func pdfText(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			ascii = false
			break
		}
	}
	if ascii {
		r := strings.NewReplacer(`\`, `\\`, `(`, `\(`, `)`, `\)`)
		return "(" + r.Replace(s) + ")"
	}
	var b strings.Builder
	b.WriteString("<FEFF")
	for _, u := range utf16.Encode([]rune(s)) {
		fmt.Fprintf(&b, "%04X", u)
	}
	b.WriteString(">")
	return b.String()
}

// xmpPacket builds the XMP metadata: the PDF/A identification and the
// counterparts of every Info entry (Title ↔ dc:title, Subject ↔
// dc:description, Creator ↔ xmp:CreatorTool, Producer ↔ pdf:Producer,
// CreationDate ↔ xmp:CreateDate, ModDate ↔ xmp:ModifyDate). Only
// predefined schemas are used, so no extension schema is needed.
func xmpPacket(m pdfaMeta) []byte {
	var b strings.Builder
	b.WriteString("<?xpacket begin=\"\ufeff\" id=\"W5M0MpCehiHzreSzNTczkc9d\"?>\n")
	b.WriteString(`<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:pdfaid="http://www.aiim.org/pdfa/ns/id/"
    xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:xmp="http://ns.adobe.com/xap/1.0/"
    xmlns:pdf="http://ns.adobe.com/pdf/1.3/">
   <pdfaid:part>2</pdfaid:part>
   <pdfaid:conformance>B</pdfaid:conformance>
   <dc:format>application/pdf</dc:format>
`)
	alt := func(name, v string) {
		fmt.Fprintf(&b, "   <%s><rdf:Alt><rdf:li xml:lang=\"x-default\">%s</rdf:li></rdf:Alt></%s>\n", name, xmlEscape(v), name)
	}
	simple := func(name, v string) {
		fmt.Fprintf(&b, "   <%s>%s</%s>\n", name, xmlEscape(v), name)
	}
	if m.title != "" {
		alt("dc:title", m.title)
	}
	if m.subject != "" {
		alt("dc:description", m.subject)
	}
	if m.lang != "" {
		fmt.Fprintf(&b, "   <dc:language><rdf:Bag><rdf:li>%s</rdf:li></rdf:Bag></dc:language>\n", xmlEscape(m.lang))
	}
	if m.producer != "" {
		simple("xmp:CreatorTool", m.producer)
		simple("pdf:Producer", m.producer)
	}
	if !m.date.IsZero() {
		d := xmpDate(m.date)
		simple("xmp:CreateDate", d)
		simple("xmp:ModifyDate", d)
		simple("xmp:MetadataDate", d)
	}
	b.WriteString("  </rdf:Description>\n </rdf:RDF>\n</x:xmpmeta>\n")
	// Padding lets a later tool update the packet in place.
	for i := 0; i < 8; i++ {
		b.WriteString(strings.Repeat(" ", 99) + "\n")
	}
	b.WriteString(`<?xpacket end="w"?>`)
	return []byte(b.String())
}

func xmlEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '&':
			b.WriteString("&amp;")
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '"':
			b.WriteString("&quot;")
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
