package fileformat

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"
)

// sniff says what the content shows, once the stream has been finished.
func (d *Detector) sniff() sniffed {
	h := d.head[:d.nhead]
	whole := d.n <= int64(len(d.head)) // h is all of the content
	switch {
	case len(h) == 0:
		return sniffed{}
	case hasPrefix(h, []byte("\x89PNG\r\n\x1a\n")):
		return named("png", "")
	case hasPrefix(h, []byte("\xFF\xD8\xFF")):
		return named("jpeg", jfifVersion(h))
	case hasPrefix(h, []byte("GIF87a")), hasPrefix(h, []byte("GIF89a")):
		return named("gif", string(h[3:6]))
	case hasPrefix(h, []byte("II*\x00")), hasPrefix(h, []byte("MM\x00*")),
		hasPrefix(h, []byte("II+\x00")), hasPrefix(h, []byte("MM\x00+")): // classic and BigTIFF
		return named("tiff", "")
	case len(h) >= 12 && string(h[:4]) == "RIFF" && string(h[8:12]) == "WEBP":
		return named("webp", "")
	case isHEIF(h):
		return named("heic", "")
	case hasPrefix(h, oleMagic):
		return d.oleFormat()
	case hasPrefix(h, zipMagic):
		return d.zipFormat()
	case hasPrefix(h, []byte("PK\x05\x06")): // an empty zip archive
		return named("zip", "")
	case hasPrefix(h, []byte(`{\rtf`)):
		return named("rtf", leadingDigits(h[5:]))
	case hasPrefix(h, []byte("%!PS")):
		v := ""
		if rest, ok := bytes.CutPrefix(h, []byte("%!PS-Adobe-")); ok {
			v = dottedNumber(rest)
		}
		return named("ps", v)
	}
	if v, ok := bmpVersion(h); ok {
		return named("bmp", v)
	}
	if d.pdf.state == pdfFound {
		return sniffed{name: "pdf", class: "pdf", version: pdfVersion(h[d.pdf.at:]), pdfa: d.pdfa.result()}
	}
	v := textView(h)
	if s, ok := sniffMarkup(v, whole); ok {
		return s
	}
	if isJSON(v, whole) {
		return named("json", "")
	}
	text := d.text.text()
	switch {
	case looksLikeMail(v):
		s := sniffed{class: "mail", alts: []string{"eml"}}
		if text {
			s.alts = append(s.alts, textNames...)
		}
		return s
	case text:
		return sniffed{class: "text", alts: textNames}
	}
	return sniffed{}
}

// textNames are the formats that are plain text with nothing in it to tell them apart.
var textNames = []string{"txt", "csv", "dtd"}

func named(name, version string) sniffed {
	return sniffed{name: name, class: name, version: version}
}

// jfifVersion reads the version from a JFIF APP0 segment among the segments before the image data,
// e.g. "1.01"; "" if there is none (an Exif file, say).
func jfifVersion(h []byte) string {
	for i := 2; i+4 <= len(h); {
		if h[i] != 0xFF {
			return ""
		}
		marker := h[i+1]
		switch {
		case marker == 0xFF: // fill byte
			i++
			continue
		case marker == 0xDA || marker == 0xD9: // start of scan, end of image
			return ""
		case marker == 0x01 || (marker >= 0xD0 && marker <= 0xD8): // no length
			i += 2
			continue
		}
		n := int(binary.BigEndian.Uint16(h[i+2:]))
		if n < 2 {
			return ""
		}
		if seg := h[i+4 : min(len(h), i+2+n)]; marker == 0xE0 && len(seg) >= 7 && string(seg[:5]) == "JFIF\x00" {
			return strconv.Itoa(int(seg[5])) + "." + twoDigits(seg[6])
		}
		i += 2 + n
	}
	return ""
}

func twoDigits(b byte) string {
	if b < 10 {
		return "0" + strconv.Itoa(int(b))
	}
	return strconv.Itoa(int(b))
}

// bmpVersion recognises a Windows bitmap by its file header and the size of the header that
// follows it, which is also what tells the versions apart.
func bmpVersion(h []byte) (string, bool) {
	if len(h) < 18 || h[0] != 'B' || h[1] != 'M' {
		return "", false
	}
	switch binary.LittleEndian.Uint32(h[14:]) {
	case 12: // BITMAPCOREHEADER
		return "2.0", true
	case 40: // BITMAPINFOHEADER
		return "3.0", true
	case 108: // BITMAPV4HEADER
		return "4.0", true
	case 124: // BITMAPV5HEADER
		return "5.0", true
	case 16, 52, 56, 64: // OS/2 2.x and the Adobe variants of BITMAPINFOHEADER
		return "", true
	}
	return "", false
}

// isHEIF recognises an HEIF image (HEIC, from phones) by the brands of its ISO media file's ftyp
// box. Plain mif1 without a HEVC brand is HEIF too, unless it says it is AVIF.
func isHEIF(h []byte) bool {
	if len(h) < 16 || string(h[4:8]) != "ftyp" {
		return false
	}
	end := min(len(h), int(binary.BigEndian.Uint32(h)))
	var hevc, mif, avif bool
	check := func(brand string) {
		switch brand {
		case "heic", "heix", "heim", "heis", "hevc", "hevx", "hevm", "hevs":
			hevc = true
		case "mif1", "msf1":
			mif = true
		case "avif", "avis":
			avif = true
		}
	}
	check(string(h[8:12]))
	for i := 16; i+4 <= end; i += 4 {
		check(string(h[i : i+4]))
	}
	return hevc || (mif && !avif)
}

// textView is the start of the content as ASCII-compatible bytes for the markup and JSON checks:
// without a UTF-8 byte order mark, and UTF-16 (with a byte order mark, as Windows tools write XML)
// reduced to one byte a character, '?' for those outside ASCII.
func textView(h []byte) []byte {
	var order binary.ByteOrder
	switch {
	case hasPrefix(h, []byte("\xEF\xBB\xBF")):
		return h[3:]
	case hasPrefix(h, []byte("\xFF\xFE")):
		order = binary.LittleEndian
	case hasPrefix(h, []byte("\xFE\xFF")):
		order = binary.BigEndian
	default:
		return h
	}
	v := make([]byte, 0, len(h)/2)
	for i := 2; i+2 <= len(h); i += 2 {
		c := order.Uint16(h[i:])
		if c >= 0x80 {
			c = '?'
		}
		v = append(v, byte(c))
	}
	return v
}

// htmlTags are the first elements that make markup without an XML declaration HTML: those the
// WHATWG MIME sniffing standard lists, and meta and link, which start many exported pages.
var htmlTags = map[string]bool{
	"html": true, "head": true, "body": true, "script": true, "iframe": true, "h1": true,
	"div": true, "font": true, "table": true, "a": true, "style": true, "title": true, "b": true,
	"br": true, "p": true, "meta": true, "link": true,
}

// sniffMarkup recognises XML, SVG and HTML from the prolog and the root element's start tag. A file
// with an XML declaration is XML (or SVG or XHTML by its root). Without one, it must start with
// markup and reach a start tag that parses — and where the whole file is in view, end with '>'.
func sniffMarkup(v []byte, whole bool) (sniffed, bool) {
	i := skipSpace(v, 0)
	if i == len(v) || v[i] != '<' {
		return sniffed{}, false
	}
	xml := sniffed{name: "xml", class: "xml", alts: []string{"xsd"}}
	decl := false
	if rest := v[i:]; hasPrefix(rest, []byte("<?xml")) && len(rest) > 5 && (isSpace(rest[5]) || rest[5] == '?') {
		decl = true
		end := bytes.Index(rest, []byte("?>"))
		if end < 0 {
			return xml, true
		}
		attrs(rest[5:end], func(name, value []byte) {
			if v := dottedNumber(value); string(name) == "version" && len(v) == len(value) {
				xml.version = v
			}
		})
		i += end + 2
	}
	doctype := ""
	// prolog is the answer where the view ends before the root element.
	prolog := func() (sniffed, bool) {
		switch {
		case strings.EqualFold(doctype, "html"):
			return named("html", ""), true
		case doctype == "svg":
			return named("svg", ""), true
		case decl || !whole:
			return xml, true
		}
		return sniffed{}, false
	}
	// root decides by the root element's start tag, which rest starts with.
	root := func(rest []byte) (sniffed, bool) {
		n := 1 + nameLen(rest[1:])
		name, tag := string(rest[1:n]), rest[n:]
		if len(tag) > 0 && !isSpace(tag[0]) && tag[0] != '>' && tag[0] != '/' {
			return xml, decl
		}
		local := strings.ToLower(name[strings.LastIndexByte(name, ':')+1:])
		switch {
		case local == "html" || strings.EqualFold(doctype, "html"):
			return named("html", ""), true
		case local == "svg":
			version := ""
			attrs(tag, func(name, value []byte) {
				if string(name) == "version" {
					version = dottedNumber(value)
				}
			})
			return named("svg", version), true
		case !decl && htmlTags[local]:
			return named("html", ""), true
		case decl:
			return xml, true
		}
		return xml, attrs(tag, nil) && (!whole || bytes.HasSuffix(bytes.TrimRight(v, " \t\r\n"), []byte(">")))
	}
	for {
		i = skipSpace(v, i)
		rest := v[i:]
		switch {
		case len(rest) == 0:
			return prolog()
		case hasPrefix(rest, []byte("<!--")):
			e := bytes.Index(rest[4:], []byte("-->"))
			if e < 0 {
				return prolog()
			}
			i += 4 + e + 3
		case hasPrefix(rest, []byte("<?")):
			e := bytes.Index(rest, []byte("?>"))
			if e < 0 {
				return prolog()
			}
			i += e + 2
		case len(rest) >= 9 && strings.EqualFold(string(rest[:9]), "<!doctype"):
			j := skipSpace(rest, 9)
			doctype = string(rest[j : j+nameLen(rest[j:])])
			e := doctypeEnd(rest)
			if e < 0 {
				return prolog()
			}
			i += e
		case len(rest) >= 2 && isNameStart(rest[1]):
			return root(rest)
		default:
			return xml, decl
		}
	}
}

// attrs walks the attributes of a start tag (or XML declaration), b starting after the name, and
// reports whether they look well-formed up to the end of the tag or of b.
func attrs(b []byte, f func(name, value []byte)) bool {
	for i := 0; ; {
		i = skipSpace(b, i)
		if i >= len(b) || b[i] == '>' {
			return true
		}
		if b[i] == '/' || b[i] == '?' {
			return i+1 == len(b) || b[i+1] == '>'
		}
		n := nameLen(b[i:])
		if n == 0 {
			return false
		}
		name := b[i : i+n]
		if i = skipSpace(b, i+n); i >= len(b) {
			return true
		}
		if b[i] != '=' {
			return false
		}
		if i = skipSpace(b, i+1); i >= len(b) {
			return true
		}
		q := b[i]
		if q != '"' && q != '\'' {
			return false
		}
		e := bytes.IndexByte(b[i+1:], q)
		if e < 0 {
			return true // the view ends inside the value
		}
		if f != nil {
			f(name, b[i+1:i+1+e])
		}
		i += e + 2
	}
}

// doctypeEnd is the offset just after a document type declaration, internal subset included; -1
// if it does not end in b.
func doctypeEnd(b []byte) int {
	gt := bytes.IndexByte(b, '>')
	if sq := bytes.IndexByte(b, '['); sq >= 0 && (gt < 0 || sq < gt) {
		e := bytes.Index(b[sq:], []byte("]"))
		if e < 0 {
			return -1
		}
		gt = bytes.IndexByte(b[sq+e:], '>')
		if gt < 0 {
			return -1
		}
		return sq + e + gt + 1
	}
	if gt < 0 {
		return -1
	}
	return gt + 1
}

// isJSON recognises a JSON object or array: the whole file must be valid JSON where it is in view,
// else the view must be a valid start of JSON (what follows a complete value only whitespace).
func isJSON(v []byte, whole bool) bool {
	i := skipSpace(v, 0)
	if i == len(v) || (v[i] != '{' && v[i] != '[') {
		return false
	}
	if whole {
		return json.Valid(v)
	}
	dec := json.NewDecoder(bytes.NewReader(v[i:]))
	for depth := 0; ; {
		t, err := dec.Token()
		if err != nil {
			// The view ends inside the value: what was read of it was fine.
			return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
		}
		switch t {
		case json.Delim('{'), json.Delim('['):
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
		if depth == 0 {
			return skipSpace(v, i+int(dec.InputOffset())) == len(v)
		}
	}
}

// mailHeaders are header fields of which a message has at least two near its start.
var mailHeaders = map[string]int{
	"from": 0, "to": 1, "cc": 2, "subject": 3, "date": 4, "message-id": 5, "mime-version": 6,
	"received": 7, "return-path": 8, "reply-to": 9, "sender": 10, "delivered-to": 11,
}

// looksLikeMail reports whether v starts with an RFC 5322 header block: header fields (and their
// continuation lines) up to an empty line or the end of the view, two of them distinct fields every
// message has.
func looksLikeMail(v []byte) bool {
	fields, seen := 0, 0
	for {
		nl := bytes.IndexByte(v, '\n')
		if nl < 0 {
			break // the view ends inside a line: judge by the lines before it
		}
		line := bytes.TrimSuffix(v[:nl], []byte("\r"))
		v = v[nl+1:]
		if len(line) == 0 {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			if fields == 0 {
				return false
			}
			continue
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			return false
		}
		for _, c := range line[:colon] {
			if c < 33 || c > 126 {
				return false
			}
		}
		fields++
		if bit, ok := mailHeaders[strings.ToLower(string(line[:colon]))]; ok {
			seen |= 1 << bit
		}
	}
	n := 0
	for ; seen != 0; seen &= seen - 1 {
		n++
	}
	return fields >= 2 && n >= 2
}

func hasPrefix(b, prefix []byte) bool { return bytes.HasPrefix(b, prefix) }

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

func isLetter(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

func isNameStart(c byte) bool { return isLetter(c) || c == '_' || c == ':' || c >= 0x80 }

// nameLen is the length of the XML name b starts with.
func nameLen(b []byte) int {
	if len(b) == 0 || !isNameStart(b[0]) {
		return 0
	}
	i := 1
	for i < len(b) && (isNameStart(b[i]) || isDigit(b[i]) || b[i] == '-' || b[i] == '.') {
		i++
	}
	return i
}

func leadingDigits(b []byte) string {
	i := 0
	for i < len(b) && i < 4 && isDigit(b[i]) {
		i++
	}
	return string(b[:i])
}

// dottedNumber reads a version such as "1.7" that b starts with; "" if it does not.
func dottedNumber(b []byte) string {
	major := leadingDigits(b)
	if major == "" || len(b) == len(major) || b[len(major)] != '.' {
		return ""
	}
	minor := leadingDigits(b[len(major)+1:])
	if minor == "" {
		return ""
	}
	return major + "." + minor
}
