package fileformat

import (
	"bytes"
	"encoding/binary"
	"strings"
)

var (
	pdfMagic = []byte("%PDF-")
	zipMagic = []byte("PK\x03\x04")
	oleMagic = []byte("\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1")
)

// PDF/A

// pdfaMatcher reads the PDF/A identification from the XMP metadata, wherever in the file it is:
// pdfaid:part and pdfaid:conformance, as elements (<pdfaid:part>2</pdfaid:part>) or as attributes
// (pdfaid:part="2"). PDF/A forbids compressing the metadata stream, so its text is in the file as
// is. A file may hold more than one XMP packet (an incremental update appends a new one), so the
// last part counts, with the conformance nearest to it, which belongs to the same packet.
type pdfaMatcher struct {
	part       xmpValue // the last part
	confBefore xmpValue // the last conformance before it
	confAfter  xmpValue // the first conformance after it
	lastConf   xmpValue
}

type xmpValue struct {
	v  string
	at int64
}

var pdfaidNeedle = []byte("pdfaid:")

// samePacket is how far apart a part and a conformance may be and still be read together.
const samePacket = 2 << 10

func (m *pdfaMatcher) needle() []byte { return pdfaidNeedle }
func (m *pdfaMatcher) after() int     { return 96 }

func (m *pdfaMatcher) match(at int64, prev int, rest []byte) {
	var prop string
	switch {
	case bytes.HasPrefix(rest, []byte("part")):
		prop = "part"
	case bytes.HasPrefix(rest, []byte("conformance")):
		prop = "conformance"
	default:
		return
	}
	v, ok := xmpProperty(prev, rest[len(prop):])
	if !ok {
		return
	}
	if prop == "part" {
		if len(v) == 0 || len(v) > 2 || v[0] == '0' || !allDigits(v) {
			return
		}
		m.part = xmpValue{v, at}
		m.confBefore, m.confAfter = m.lastConf, xmpValue{}
		return
	}
	if len(v) != 1 || !isLetter(v[0]) {
		return
	}
	m.lastConf = xmpValue{strings.ToLower(v), at}
	if m.part.v != "" && m.confAfter.v == "" {
		m.confAfter = m.lastConf
	}
}

// xmpProperty reads the value of a property whose name ends where rest starts: prev '<' makes it
// an element, whitespace an attribute; a closing tag ('/') or a longer name has no value.
func xmpProperty(prev int, rest []byte) (string, bool) {
	if len(rest) == 0 {
		return "", false
	}
	switch c := rest[0]; {
	case prev == '<':
		if c != '>' && !isSpace(c) {
			return "", false
		}
		gt := bytes.IndexByte(rest, '>')
		if gt < 0 || (gt > 0 && rest[gt-1] == '/') { // an empty element has no value
			return "", false
		}
		v := rest[gt+1:]
		lt := bytes.IndexByte(v, '<')
		if lt < 0 {
			return "", false
		}
		return string(bytes.TrimSpace(v[:lt])), true
	case prev >= 0 && isSpace(byte(prev)):
		i := skipSpace(rest, 0)
		if i == len(rest) || rest[i] != '=' {
			return "", false
		}
		i = skipSpace(rest, i+1)
		if i == len(rest) || (rest[i] != '"' && rest[i] != '\'') {
			return "", false
		}
		q := rest[i]
		end := bytes.IndexByte(rest[i+1:], q)
		if end < 0 {
			return "", false
		}
		return string(bytes.TrimSpace(rest[i+1 : i+1+end])), true
	}
	return "", false
}

// result is part and conformance, e.g. "2b"; "" if no part was found.
func (m *pdfaMatcher) result() string {
	if m.part.v == "" {
		return m.part.v
	}
	conf, dist := "", int64(samePacket)+1
	if c := m.confBefore; c.v != "" && m.part.at-c.at < dist {
		conf, dist = c.v, m.part.at-c.at
	}
	if c := m.confAfter; c.v != "" && c.at-m.part.at < dist {
		conf = c.v
	}
	return m.part.v + conf
}

// pdfHeader finds the header, "%PDF-1.7". PDF readers accept it anywhere in the first KiB, after
// what some generators and web applications put before it (a byte order mark, blank lines, a
// script's warning), and so does the Detector, where nothing else was recognised at the start.
type pdfHeader struct {
	state int8 // pdfUnknown, pdfFound or pdfNone
	at    int
}

const (
	pdfUnknown = iota
	pdfFound
	pdfNone
)

// pdfWindow is where the header may start.
const pdfWindow = 1024

// find looks for the header in the head as it grows.
func (p *pdfHeader) find(head []byte) {
	if p.state != pdfUnknown {
		return
	}
	h := head[:min(len(head), pdfWindow-1+len(pdfMagic))]
	if i := bytes.Index(h, pdfMagic); i >= 0 {
		p.state, p.at = pdfFound, i
	} else if len(h) == pdfWindow-1+len(pdfMagic) {
		p.state = pdfNone
	}
}

// pdfVersion reads the version from a header that h starts with.
func pdfVersion(h []byte) string {
	return dottedNumber(h[len(pdfMagic):])
}

// Zip

// zipMatcher reads the names of a zip archive's local file headers as the archive streams by. It
// jumps over each entry's data where the header states its size, so that the headers of a zip
// stored inside the zip are not mistaken for the outer one's; where the size follows the data (a
// data descriptor), it takes the next header signature it sees. Entry data is compressed or binary,
// so a false signature in it is as likely as four given random bytes; a header must also state a
// known compression method and a plausible name length to count. The archive is complete when its
// end record says that the central directory ends right where the record starts.
type zipMatcher struct {
	next     int64 // where the next local file header may start
	complete bool  // the end record was found: every entry was seen

	contentTypes, manifest    bool
	word, xl, ppt             bool
	wordMain, xlMain, pptMain bool
}

var zipNeedle = []byte("PK")

// maxName is how much of an entry name is read.
const maxName = 256

func (m *zipMatcher) needle() []byte { return zipNeedle }

// after covers the rest of a local file header (28 bytes after "PK") and the start of the name.
func (m *zipMatcher) after() int { return 28 + maxName }

func (m *zipMatcher) match(at int64, _ int, rest []byte) {
	le16 := func(i int) int64 { return int64(binary.LittleEndian.Uint16(rest[i:])) }
	le32 := func(i int) int64 { return int64(binary.LittleEndian.Uint32(rest[i:])) }
	switch {
	case len(rest) >= 28 && string(rest[:2]) == "\x03\x04": // local file header
		flags, method, size, nameLen, extraLen := le16(4), le16(6), le32(16), le16(24), le16(26)
		if at < m.next || nameLen == 0 || nameLen > 4096 || !knownMethod(method) {
			return
		}
		m.entry(rest[28:][:min(len(rest)-28, int(nameLen))])
		m.next = at + 30 + nameLen + extraLen
		if flags&0x8 == 0 && size != 0xFFFFFFFF { // else the size follows the data or is in a zip64 extra field
			m.next += size
		}
	case len(rest) >= 20 && string(rest[:2]) == "\x05\x06": // end of central directory
		size, offset := le32(10), le32(14)
		if offset+size == at || size == 0xFFFFFFFF || offset == 0xFFFFFFFF { // zip64 keeps them elsewhere
			m.complete = true
		}
	}
}

// knownMethod reports whether m is a compression method of the zip specification.
func knownMethod(m int64) bool {
	return m <= 20 || m == 93 || m == 95 || m == 96 || m == 97 || m == 98 || m == 99
}

func (m *zipMatcher) entry(name []byte) {
	is := func(s string) bool { return bytes.EqualFold(name, []byte(s)) }
	under := func(dir string) bool { return len(name) > len(dir) && bytes.EqualFold(name[:len(dir)], []byte(dir)) }
	switch {
	case is("[Content_Types].xml"):
		m.contentTypes = true
	case is("META-INF/manifest.xml"):
		m.manifest = true
	case under("word/"):
		m.word = true
		m.wordMain = m.wordMain || is("word/document.xml")
	case under("xl/"):
		m.xl = true
		m.xlMain = m.xlMain || is("xl/workbook.xml")
	case under("ppt/"):
		m.ppt = true
		m.pptMain = m.pptMain || is("ppt/presentation.xml")
	}
}

var (
	ooxmlNames = []string{"docx", "dotx", "xlsx", "xltx", "pptx", "potx"}
	odfNames   = []string{"odt", "ott", "ods", "ots", "odp", "otp"}
	zipNames   = append(append([]string(nil), ooxmlNames...), odfNames...)
	// templates are the formats that differ from the key only in a content type inside the
	// compressed [Content_Types].xml.
	templates = map[string][]string{"docx": {"dotx"}, "xlsx": {"xltx"}, "pptx": {"potx"}}
)

// zipFormat says which zip-based format a zip archive is.
func (d *Detector) zipFormat() sniffed {
	if name := odfType(d.head[:d.nhead]); name != "" {
		return sniffed{name: name, class: name}
	}
	m := &d.zip
	zip := sniffed{name: "zip", class: "zip"}
	if m.contentTypes {
		kinds := ooxmlKinds(m.word, m.xl, m.ppt)
		if len(kinds) > 1 {
			kinds = ooxmlKinds(m.wordMain, m.xlMain, m.pptMain)
		}
		switch {
		case len(kinds) == 1:
			return sniffed{name: kinds[0], class: kinds[0], alts: templates[kinds[0]]}
		case m.word || m.xl || m.ppt:
			zip.alts = ooxmlNames
		case !m.complete:
			zip.alts = ooxmlNames
		}
		return zip
	}
	switch {
	case m.manifest: // OpenDocument without a mimetype entry: the type is in the compressed manifest
		zip.alts = odfNames
	case !m.complete:
		zip.alts = zipNames
	}
	return zip
}

func ooxmlKinds(word, xl, ppt bool) []string {
	var k []string
	if word {
		k = append(k, "docx")
	}
	if xl {
		k = append(k, "xlsx")
	}
	if ppt {
		k = append(k, "pptx")
	}
	return k
}

var odfTypes = map[string]string{
	"application/vnd.oasis.opendocument.text":                  "odt",
	"application/vnd.oasis.opendocument.text-template":         "ott",
	"application/vnd.oasis.opendocument.spreadsheet":           "ods",
	"application/vnd.oasis.opendocument.spreadsheet-template":  "ots",
	"application/vnd.oasis.opendocument.presentation":          "odp",
	"application/vnd.oasis.opendocument.presentation-template": "otp",
}

// odfType reads an OpenDocument file's type from its first entry, "mimetype", which the standard
// has stored uncompressed so that it can be read at a fixed place.
func odfType(h []byte) string {
	const name = "mimetype"
	if len(h) < 30+len(name) || !hasPrefix(h, zipMagic) ||
		binary.LittleEndian.Uint16(h[8:]) != 0 || // method: stored
		binary.LittleEndian.Uint16(h[26:]) != uint16(len(name)) || string(h[30:30+len(name)]) != name {
		return ""
	}
	start := 30 + len(name) + int(binary.LittleEndian.Uint16(h[28:]))
	if start > len(h) {
		return ""
	}
	v := h[start:min(len(h), start+80)]
	if size := int(binary.LittleEndian.Uint32(h[18:])); size > 0 && size <= len(v) {
		v = v[:size]
	} else if i := bytes.Index(v, zipNeedle); i >= 0 { // the size is in a data descriptor after it
		v = v[:i]
	}
	return odfTypes[string(bytes.TrimSpace(v))]
}

// OLE2

// oleMatcher looks for the stream that marks an encrypted (password-protected) Office Open XML
// file: such a docx, xlsx or pptx is an OLE2 compound file holding "EncryptedPackage", whose name
// appears in UTF-16 in a directory sector, wherever that is.
type oleMatcher struct{ encrypted bool }

var encryptedPackage = utf16le("EncryptedPackage")

func (m *oleMatcher) needle() []byte                  { return encryptedPackage }
func (m *oleMatcher) after() int                      { return 0 }
func (m *oleMatcher) match(at int64, _ int, _ []byte) { m.encrypted = true }

var oleNames = []string{"doc", "dot", "xls", "xlt", "xlw", "xlc", "xlm", "ppt", "pot", "msg", "wps", "mpp"}

func (d *Detector) oleFormat() sniffed {
	s := sniffed{name: "ole", class: "ole", alts: oleNames}
	if d.ole.encrypted {
		s.alts = append(append([]string(nil), oleNames...), ooxmlNames...)
	}
	return s
}

func utf16le(s string) []byte {
	b := make([]byte, 0, 2*len(s))
	for i := 0; i < len(s); i++ {
		b = append(b, s[i], 0)
	}
	return b
}
