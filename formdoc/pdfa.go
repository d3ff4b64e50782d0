package formdoc

import (
	"bytes"
	"compress/zlib"
	"fmt"
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

var literalEscaper = strings.NewReplacer(`\`, `\\`, `(`, `\(`, `)`, `\)`)

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
		return "(" + literalEscaper.Replace(s) + ")"
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
