// Package fileformat recognises a file's format from its content, so that an xdomea message can
// state each attachment's format (code list Dateiformat), the format's version and whether it is
// PDF/A, even where the portal that received the file declared the wrong media type or the citizen
// chose a misleading file name.
//
// Intake streams attachments of tens of megabytes through io.Writer chains and never holds them
// whole, so detection is a Detector: an io.Writer that sees every byte once and keeps bounded state
// (the first 8 KiB, and small windows in which markers are looked for that may lie anywhere in the
// file, such as a PDF/A's XMP metadata near its end). Detect does the same for content in memory;
// both give the same result for the same bytes, however they were split into writes.
//
// # Content, media type, extension
//
// Content decides when it identifies a format by itself: a "Bescheid.pdf" that holds a PNG is png.
// Some content only narrows the format down to a class: an OLE2 compound file may be doc, xls, ppt,
// msg and more; UTF-8 text may be txt, csv or dtd; XML may be an xsd. There the declared media type
// and then the file name's extension pick the member of the class, and the result still counts as
// backed by the content (Source "content"); a declaration outside the class is ignored and the
// class's own name (ole, zip, xml) stands. Where the content is not recognised, or is text that no
// declaration places in its class, the declared media type and then the extension name the format
// on trust (Source "media type" or "extension"). Generic media types (application/octet-stream and
// the like) declare nothing. text/plain, which clients send for every kind of text, is consulted
// after the extension, and so is application/vnd.ms-excel where the extension is .csv (Windows
// declares it for every file Excel opens): "liste.csv" sent as either is csv. Version and PDFA
// are only ever read from the content, and only reported where Name is what the content showed.
//
// # Text
//
// txt is never a guess: text content is named txt only when it is declared as text/plain or .txt.
// Text here means valid UTF-8 without NUL bytes, checked over the whole stream, that no more
// specific recogniser (XML, HTML, JSON, RTF, ...) took. A UTF-8 file declared as anything else
// becomes what it was declared as, with Source saying so and Content "text", and a UTF-8 file
// declared as nothing known has no Name. Text in another encoding (Windows-1252 is common) is not
// recognised and so follows the declaration like any unrecognised content. eml works the same way:
// a header block at the start is only named eml where message/rfc822 or .eml was declared.
//
// # Zip
//
// Office Open XML and OpenDocument files are zip archives. The Detector reads the names of the
// local file headers as they stream by, skipping each entry's data where its size is known (so that
// a docx stored inside a zip does not make the zip a docx): a "[Content_Types].xml" entry together
// with entries under word/, xl/ or ppt/ makes docx, xlsx or pptx, and a first entry "mimetype",
// stored, saying application/vnd.oasis.opendocument.* makes odt, ods, odp or one of their
// templates. The rest is left to the declaration within the class "zip", as far as the names allow:
//
//   - The templates dotx, xltx and potx have the same entries as docx, xlsx and pptx.
//   - An OpenDocument file without the mimetype entry (META-INF/manifest.xml shows what it is) keeps
//     its type in the compressed manifest.
//   - Where the central directory was never reached (a truncated upload, or a structure the
//     Detector could not follow), the entries that would confirm a declared docx, odt, ... may lie
//     in the part it did not see.
//
// But a zip archive that shows none of the markers stays zip whatever was declared once the
// Detector has reached its central directory: it has then seen every entry, and a docx without
// [Content_Types].xml is no docx.
//
// # OLE2
//
// An OLE2 compound file (doc, xls, ppt, msg, ...) is "ole" unless a declaration names one of those.
// A password-protected docx, xlsx or pptx is an OLE2 file too; where it holds an "EncryptedPackage"
// stream the declaration may name these as well. A renamed doc declared as docx stays "ole".
//
// # PDF
//
// The version is the header's ("%PDF-1.7"), which PDF readers accept anywhere in the first KiB,
// after what some web applications write first; so does the Detector where nothing else was
// recognised at the very start. PDF/A is what the XMP metadata claims (PDF/A forbids compressing
// it); where a file holds several packets, as after an incremental update, the last one counts.
package fileformat

import (
	"io"
	"slices"
	"sync"
)

// Values of Format.Source.
const (
	SourceContent   = "content"
	SourceMediaType = "media type"
	SourceExtension = "extension"
)

// Format is what a file is.
type Format struct {
	// Name is a short lower-case name: pdf, png, jpeg, gif, tiff, bmp, webp, heic, svg, xml, xsd,
	// dtd, json, txt, csv, html, rtf, ps, eml, msg, zip, docx, dotx, xlsx, xltx, pptx, potx, odt,
	// ott, ods, ots, odp, otp, ole, doc, dot, xls, xlt, xlw, xlc, xlm, ppt, pot, wps, mpp, p7s, p7m;
	// "" if unknown. One name stands for several spellings of an extension (jpeg for jpe, jpeg and
	// jpg; html for htm and html; tiff for tif and tiff); see Spelling. "ole" is an OLE2 compound
	// file that nothing declared tells apart.
	Name string
	// Version is the format's version where the content states it: "1.7" for PDF (from the
	// header), "1.01" for JFIF, "87a" or "89a" for GIF, "1.0" for XML (from the declaration), "1.1"
	// for SVG (from the root element), "3.0" for PostScript, "1" for RTF, and for BMP the version of
	// the Windows bitmap header ("2.0", "3.0", "4.0" or "5.0", as PRONOM counts them); "" otherwise.
	Version string
	// PDFA is, for PDF/A, the part and conformance level from the XMP metadata (pdfaid:part,
	// pdfaid:conformance), lower case: "1b", "2b", "2u", "3a"; just the part ("4") where no
	// conformance is stated. "" for anything that does not claim PDF/A.
	PDFA string
	// Source says how Name was found: "content", "media type" or "extension"; "" with Name "".
	// "content" means the content bears Name out — it identifies Name by itself (then Content ==
	// Name), or a class that the declaration narrowed down to Name (an OLE2 file declared .doc, text
	// declared text/plain). "media type" and "extension" mean Name was taken from that declaration
	// and nothing in the content confirmed it.
	Source string
	// Extension is the file name's extension, lower case and without the dot ("jpg" for
	// "Scan.JPG"), whatever Name is; "" if the name has none that looks like one (1 to 16 ASCII
	// letters or digits). The Dateiformat list has a code for each of jpe, jpeg and jpg (and htm and
	// html, tif and tiff), which only the file name tells apart; Spelling picks it.
	Extension string
	// Content is what the content alone shows: a Name where it identifies the format by itself;
	// "ole" for an OLE2 compound file, "zip" for a zip archive whose entries do not settle which
	// zip-based format it is, "text" for UTF-8 text without NUL bytes that nothing more specific
	// recognised, "mail" for content that starts with an RFC 5322 header block; "" if nothing was
	// recognised.
	Content string
}

// spellings lists the extensions that name one format, where the Dateiformat list has a code for
// each.
var spellings = map[string][]string{
	"jpeg": {"jpe", "jpeg", "jpg"},
	"html": {"htm", "html"},
	"tiff": {"tif", "tiff"},
}

// Spelling is Name as the file name spells it: Extension where it is one of the spellings of Name
// (jpe, jpeg or jpg for jpeg; htm or html for html; tif or tiff for tiff), else Name. A mapping to
// the Dateiformat list looks up Spelling, so that "Foto.jpe" gets the code for jpe.
func (f Format) Spelling() string {
	if slices.Contains(spellings[f.Name], f.Extension) {
		return f.Extension
	}
	return f.Name
}

const (
	// headSize is how much of the start of a file is kept: enough for every magic number and
	// header that is read, for an XML prolog with a licence comment, and for a mail header block.
	headSize = 8 << 10
	// bufSize is how many bytes of small writes are collected before they are examined, so that
	// the fixed cost of a write (a few hundred bytes copied at each scanner's seam) is paid per
	// bufSize bytes and not per byte.
	bufSize = 4 << 10
)

// Detector finds a file's format while the file streams through it. It keeps about 16 KiB
// whatever the size of the file. The zero Detector is ready to use; Format may be called at any
// time, more than once, and writing may go on after it.
type Detector struct {
	n     int64 // bytes examined; buf holds the ones written after them
	buf   [bufSize]byte
	nbuf  int
	head  [headSize]byte
	nhead int
	text  textCheck

	pdf     pdfHeader
	pdfScan scanner
	pdfa    pdfaMatcher
	zipScan scanner
	zip     zipMatcher
	oleScan scanner
	ole     oleMatcher
}

var _ io.Writer = (*Detector)(nil)

// Write examines p. It never fails.
func (d *Detector) Write(p []byte) (int, error) {
	n := len(p)
	if d.nbuf+len(p) <= len(d.buf) {
		d.nbuf += copy(d.buf[d.nbuf:], p)
		return n, nil
	}
	if d.nbuf > 0 {
		k := copy(d.buf[d.nbuf:], p)
		d.nbuf += k
		p = p[k:]
		d.process(d.buf[:d.nbuf])
		d.nbuf = 0
	}
	if len(p) >= len(d.buf) {
		d.process(p)
	} else {
		d.nbuf = copy(d.buf[:], p)
	}
	return n, nil
}

// process examines the next bytes of the stream.
func (d *Detector) process(p []byte) {
	if len(p) == 0 {
		return
	}
	at := d.n
	d.n += int64(len(p))
	if d.nhead < len(d.head) {
		d.nhead += copy(d.head[d.nhead:], p)
	}
	d.text.write(p)
	d.pdf.find(d.head[:d.nhead])
	// The scanners only run for the format they serve; until the head is long enough to tell,
	// they run for all, and what they found is ignored if the format turns out otherwise.
	h := d.head[:d.nhead]
	if d.pdf.state != pdfNone {
		d.pdfScan.write(p, at, &d.pdfa)
	}
	if len(h) < len(zipMagic) || hasPrefix(h, zipMagic) {
		d.zipScan.write(p, at, &d.zip)
	}
	if len(h) < len(oleMagic) || hasPrefix(h, oleMagic) {
		d.oleScan.write(p, at, &d.ole)
	}
}

// finish examines what is left at the end of the stream.
func (d *Detector) finish() {
	d.process(d.buf[:d.nbuf])
	d.nbuf = 0
	d.pdfScan.finish(&d.pdfa)
	d.zipScan.finish(&d.zip)
	d.oleScan.finish(&d.ole)
}

// Format reports the format of what was written, using mediaType (as declared, parameters
// allowed) and filename (a path is allowed) only where the content is not recognised or only
// narrows the format down to a class (see the package documentation).
func (d *Detector) Format(mediaType, filename string) Format {
	c := detectors.Get().(*Detector)
	defer detectors.Put(c)
	*c = *d // finishing changes the state, and writing may go on
	return c.final(mediaType, filename)
}

// final finishes d and reports the format; d is not written to again.
func (d *Detector) final(mediaType, filename string) Format {
	d.finish()
	return resolve(d.sniff(), mediaType, filename)
}

// Detect is Detector for content in memory.
func Detect(content []byte, mediaType, filename string) Format {
	d := detectors.Get().(*Detector)
	defer detectors.Put(d)
	*d = Detector{}
	d.process(content)
	return d.final(mediaType, filename)
}

// detectors are reused: a Detector holds 15 KB of buffers, and intake detected the format of
// every attachment with two of them (one to finish), a third of all the bytes it allocated.
var detectors = sync.Pool{New: func() any { return new(Detector) }}

// sniffed is what the content alone shows.
type sniffed struct {
	name    string   // the format the content identifies by itself; "" if none
	class   string   // Format.Content
	alts    []string // formats a declaration may pick instead of name, which the content bears out
	version string
	pdfa    string
}

// declaration is a format as declared.
type declaration struct{ name, source string }

func resolve(s sniffed, mediaType, filename string) Format {
	f := Format{Extension: extension(filename), Content: s.class}
	decls := [2]declaration{
		{byMediaType(mediaType), SourceMediaType},
		{byExtension(f.Extension), SourceExtension},
	}
	if extensionFirst(decls[0].name, decls[1].name) {
		decls[0], decls[1] = decls[1], decls[0]
	}
	for _, dc := range decls {
		if dc.name != "" && slices.Contains(s.alts, dc.name) {
			f.Name, f.Source = dc.name, SourceContent
			return f
		}
	}
	if s.name != "" {
		f.Name, f.Version, f.PDFA, f.Source = s.name, s.version, s.pdfa, SourceContent
		return f
	}
	for _, dc := range decls {
		if dc.name != "" {
			f.Name, f.Source = dc.name, dc.source
			return f
		}
	}
	return f
}

// extensionFirst reports whether the extension is to be consulted before the media type because
// clients declare that media type for the extension's format too: text/plain for any text, and
// application/vnd.ms-excel, which Windows declares for every file Excel opens, for CSV.
func extensionFirst(mediaType, ext string) bool {
	return ext != "" && (mediaType == "txt" || mediaType == "xls" && ext == "csv")
}
