package fileformat

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"strings"
	"testing"
)

type detectCase struct {
	name                string
	content             []byte
	mediaType, filename string
	want                Format
}

const (
	C = SourceContent
	M = SourceMediaType
	E = SourceExtension
)

// detectCases are content, declaration and the expected Format, in the field order Name, Version,
// PDFA, Source, Extension, Content.
func detectCases(t testing.TB) []detectCase {
	text := []byte("Sehr geehrte Damen und Herren,\nanbei mein Antrag auf Überlassung des Grundstücks.\n")
	latin1 := []byte("Gr\xfc\xdfe aus M\xfcnchen\n")
	csv := []byte("Name;Straße;Ort\nMüller;Hauptstraße 1;Köln\n")
	mail := []byte("Return-Path: <buerger@example.org>\r\nReceived: from mx.example.org\r\n\tby mail.example.de\r\n" +
		"From: Bürger <buerger@example.org>\r\nTo: poststelle@example.de\r\nSubject: Antrag\r\n" +
		"Date: Mon, 2 Nov 2026 10:00:00 +0100\r\nMIME-Version: 1.0\r\n\r\nGuten Tag,\r\nanbei mein Antrag.\r\n")
	noise := filler(3000, 1)
	noise[100] = 0

	xmlDoc := []byte(`<?xml version="1.0" encoding="UTF-8"?>
<xdomea:Abgabe.Abgabe.0401 xmlns:xdomea="urn:xoev-de:xdomea:schema:3.0.0"><xdomea:Kopf/></xdomea:Abgabe.Abgabe.0401>`)
	longComment := concat([]byte("<!-- "), bytes.Repeat([]byte("Lizenz. "), 2000), []byte(" -->\n<daten/>\n"))
	bigJSON := concat([]byte(`{"antrag": {"felder": [`), bytes.Repeat([]byte(`{"name": "Straße", "wert": "Hauptstraße 1"}, `), 300), []byte(`{}]}}`))
	jsonThenJunk := concat([]byte(`{"a": 1} und mehr`), bytes.Repeat([]byte(" "), 9000))

	utf16 := func(s string) []byte {
		b := []byte{0xFF, 0xFE}
		for _, r := range s {
			b = binary.LittleEndian.AppendUint16(b, uint16(r))
		}
		return b
	}

	docxStored := zipSample(t, ooxmlEntries("word/document.xml", stored)...)
	docx := zipSample(t, ooxmlEntries("word/document.xml", deflated)...)
	xlsx := zipSample(t, ooxmlEntries("xl/workbook.xml", deflated)...)
	pptx := zipSample(t, ooxmlEntries("ppt/presentation.xml", stored)...)
	both := zipSample(t, append(ooxmlEntries("word/document.xml", deflated), zipEntry{"xl/workbook.xml", []byte("<x/>"), deflated})...)
	odt := zipSample(t, odfEntries("application/vnd.oasis.opendocument.text")...)
	ods := zipSample(t, odfEntries("application/vnd.oasis.opendocument.spreadsheet")...)
	odp := zipSample(t, odfEntries("application/vnd.oasis.opendocument.presentation")...)
	ott := zipSample(t, odfEntries("application/vnd.oasis.opendocument.text-template")...)
	odtDescriptor := zipSample(t, append([]zipEntry{{"mimetype", []byte("application/vnd.oasis.opendocument.text"), storedLater}}, odfEntries("")[1:]...)...)
	odfNoMimetype := zipSample(t, odfEntries("")[1:]...)
	epub := zipSample(t, zipEntry{"mimetype", []byte("application/epub+zip"), stored}, zipEntry{"OEBPS/a.xhtml", []byte("<html/>"), deflated})
	plainZip := zipSample(t, zipEntry{"Anlage 1.pdf", pdfSample("1.4"), deflated}, zipEntry{"Anlage 2.txt", text, stored})
	truncated := zipSample(t, zipEntry{"scan.tif", filler(20000, 2), stored}, zipEntry{"[Content_Types].xml", []byte(contentTypesXML), stored})
	truncated = truncated[:10000]
	// An entry that holds what looks like the end record of an archive, cut before the real one.
	fakeEnd := zipSample(t, zipEntry{"daten.bin", concat([]byte("PK\x05\x06"), make([]byte, 18), filler(20000, 4)), stored})[:10000]
	// A zip holding a docx stored as is: the docx's headers are inside an entry's data.
	docxInZip := zipSample(t, zipEntry{"Antrag.docx", docxStored, stored}, zipEntry{"liesmich.txt", text, deflated})
	emptyZip := append([]byte("PK\x05\x06"), make([]byte, 18)...)

	pdf := pdfSample("1.7", []byte("BT /F1 12 Tf (Bescheid) Tj ET"))
	ole := oleSample()
	encrypted := oleSample(utf16le("EncryptionInfo"), utf16le("EncryptedPackage"))

	return []detectCase{
		// PDF and PDF/A
		{"pdf", pdf, "application/pdf", "Bescheid.pdf", Format{"pdf", "1.7", "", C, "pdf", "pdf"}},
		{"pdf 2.0, nothing declared", pdfSample("2.0"), "application/octet-stream", "", Format{"pdf", "2.0", "", C, "", "pdf"}},
		{"pdf declared as something else", pdf, "image/png", "scan.png", Format{"pdf", "1.7", "", C, "png", "pdf"}},
		{"pdf/a-1b, elements", pdfSample("1.4", []byte(xmp("1", "B", false))), "application/pdf", "a.pdf", Format{"pdf", "1.4", "1b", C, "pdf", "pdf"}},
		{"pdf/a-2u, attributes", pdfSample("1.7", []byte(xmp("2", "U", true))), "application/pdf", "a.pdf", Format{"pdf", "1.7", "2u", C, "pdf", "pdf"}},
		{"pdf/a-3a amid binary streams", pdfSample("1.7", noise, []byte(xmp("3", "a", false)), noise), "", "a.pdf", Format{"pdf", "1.7", "3a", C, "pdf", "pdf"}},
		{"pdf/a, conformance first", pdfSample("1.7", []byte(`<rdf:Description pdfaid:conformance="A" pdfaid:part="3"/>`)), "", "", Format{"pdf", "1.7", "3a", C, "", "pdf"}},
		{"pdf/a, elements with attributes and space", pdfSample("1.7", []byte("<pdfaid:part rdf:datatype=\"http://www.w3.org/2001/XMLSchema#integer\">\n  1\n</pdfaid:part>\n<pdfaid:conformance >b</pdfaid:conformance>")), "", "", Format{"pdf", "1.7", "1b", C, "", "pdf"}},
		{"pdf/a-4, no conformance", pdfSample("2.0", []byte(xmp("4", "", true))), "", "", Format{"pdf", "2.0", "4", C, "", "pdf"}},
		{"pdf/a updated: the last packet counts", pdfSample("1.7", []byte(xmp("1", "B", false)), filler(5000, 3), []byte(xmp("2", "U", true))), "", "", Format{"pdf", "1.7", "2u", C, "", "pdf"}},
		{"pdf/a updated to a part without conformance", pdfSample("2.0", []byte(xmp("1", "B", false)), filler(5000, 3), []byte(xmp("4", "", false))), "", "", Format{"pdf", "2.0", "4", C, "", "pdf"}},
		{"pdfaid named in text", pdfSample("1.7", []byte("(the pdfaid:part property and </pdfaid:part>2 and pdfaid:parts=\"3\")")), "", "", Format{"pdf", "1.7", "", C, "", "pdf"}},
		{"pdfaid empty", pdfSample("1.7", []byte(`<pdfaid:part/>3 <pdfaid:conformance/>`)), "", "", Format{"pdf", "1.7", "", C, "", "pdf"}},
		{"pdfaid with invalid values", pdfSample("1.7", []byte(`pdfaid:part="x" pdfaid:conformance="B"`)), "", "", Format{"pdf", "1.7", "", C, "", "pdf"}},
		{"pdf after a script's warning", concat([]byte("\xEF\xBB\xBF\r\n<br />\n<b>Warning</b>: session_start()\n"), pdfSample("1.5", []byte(xmp("3", "B", true)))), "application/pdf", "", Format{"pdf", "1.5", "3b", C, "", "pdf"}},
		{"pdf header too late", concat(bytes.Repeat([]byte("x"), pdfWindow), pdfSample("1.5")), "", "", Format{"", "", "", "", "", ""}},
		{"pdf header in a jpeg", withSegment(jpegSample(t), 0xE1, []byte("%PDF-1.4")), "", "", Format{"jpeg", "", "", C, "", "jpeg"}},
		{"xmp outside a pdf", []byte(xmp("1", "B", false)), "", "", Format{"xml", "", "", C, "", "xml"}},

		// Images
		{"png", pngSample(t), "image/png", "a.png", Format{"png", "", "", C, "png", "png"}},
		{"png named and declared pdf", pngSample(t), "application/pdf", "Bescheid.pdf", Format{"png", "", "", C, "pdf", "png"}},
		{"jpeg without jfif", jpegSample(t), "image/jpeg", "Foto.JPG", Format{"jpeg", "", "", C, "jpg", "jpeg"}},
		{"jfif 1.01", jfifSample(t, 1, 1), "", "foto.jpe", Format{"jpeg", "1.01", "", C, "jpe", "jpeg"}},
		{"jfif 1.02", jfifSample(t, 1, 2), "", "foto.jpeg", Format{"jpeg", "1.02", "", C, "jpeg", "jpeg"}},
		{"exif", exifSample(t), "", "", Format{"jpeg", "", "", C, "", "jpeg"}},
		{"gif 89a", gifSample(t), "", "", Format{"gif", "89a", "", C, "", "gif"}},
		{"gif 87a", gif87Sample(t), "", "", Format{"gif", "87a", "", C, "", "gif"}},
		{"tiff little-endian", tiffSample(binary.LittleEndian), "", `C:\Users\Bürger\Scan.TIF`, Format{"tiff", "", "", C, "tif", "tiff"}},
		{"tiff big-endian", tiffSample(binary.BigEndian), "image/tiff", "scan.tiff", Format{"tiff", "", "", C, "tiff", "tiff"}},
		{"bmp 3.0", bmpSample(40), "", "", Format{"bmp", "3.0", "", C, "", "bmp"}},
		{"bmp 5.0", bmpSample(124), "", "", Format{"bmp", "5.0", "", C, "", "bmp"}},
		{"text starting with BM", []byte("BMW Zulassung, Kennzeichen M-AB 123\n"), "text/plain", "", Format{"txt", "", "", C, "", "text"}},
		{"webp", webpSample(), "", "", Format{"webp", "", "", C, "", "webp"}},
		{"heic", ftypSample("heic", "mif1", "heic"), "", "IMG_0001.HEIC", Format{"heic", "", "", C, "heic", "heic"}},
		{"heif mif1", ftypSample("mif1", "mif1"), "", "", Format{"heic", "", "", C, "", "heic"}},
		{"avif is not heic", ftypSample("avif", "mif1", "avif"), "image/avif", "a.avif", Format{"", "", "", "", "avif", ""}},

		// Markup
		{"xml", xmlDoc, "application/xml", "nachricht.xml", Format{"xml", "1.0", "", C, "xml", "xml"}},
		{"xml declared as text", xmlDoc, "text/plain", "nachricht.txt", Format{"xml", "1.0", "", C, "txt", "xml"}},
		{"xml 1.1", []byte("<?xml version='1.1'?><a/>"), "", "", Format{"xml", "1.1", "", C, "", "xml"}},
		{"xml schema by extension", []byte(`<?xml version="1.0"?><xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"/>`), "text/xml", "xdomea.xsd", Format{"xsd", "", "", C, "xsd", "xml"}},
		{"xml without declaration", []byte("\n  <daten a=\"1\" b='2'><x/></daten>\n"), "", "", Format{"xml", "", "", C, "", "xml"}},
		{"text starting with a tag", []byte("<Anhang> siehe unten\n"), "text/plain", "", Format{"txt", "", "", C, "", "text"}},
		{"xml behind a long comment", longComment, "", "", Format{"xml", "", "", C, "", "xml"}},
		{"xml with byte order mark", concat([]byte("\xEF\xBB\xBF"), xmlDoc), "", "", Format{"xml", "1.0", "", C, "", "xml"}},
		{"xml in utf-16", utf16("<?xml version=\"1.0\" encoding=\"UTF-16\"?>\r\n<Straße/>"), "", "", Format{"xml", "1.0", "", C, "", "xml"}},
		{"svg", []byte(`<?xml version="1.0"?>` + "\n" + `<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">` + "\n" + `<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="10"/>`), "", "", Format{"svg", "1.1", "", C, "", "svg"}},
		{"svg without declaration", []byte(`<svg xmlns="http://www.w3.org/2000/svg"><rect/></svg>`), "application/xml", "", Format{"svg", "", "", C, "", "svg"}},
		{"html5", []byte("<!DOCTYPE html>\n<html lang=\"de\"><head><title>Antrag</title></head></html>"), "text/html", "antrag.htm", Format{"html", "", "", C, "htm", "html"}},
		{"xhtml", []byte(`<?xml version="1.0"?><!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" "x"><html xmlns="http://www.w3.org/1999/xhtml"/>`), "", "", Format{"html", "", "", C, "", "html"}},
		{"html in capitals after a comment", []byte("<!-- export -->\n<HTML><BODY>Hallo</BODY></HTML>"), "", "", Format{"html", "", "", C, "", "html"}},
		{"html fragment", []byte("<p>Hallo</p>"), "text/plain", "", Format{"html", "", "", C, "", "html"}},

		// JSON
		{"json", []byte(`{"a": [1, 2.5e3, {"b": null}], "c": "Straße"}`), "application/json", "", Format{"json", "", "", C, "", "json"}},
		{"json declared as text", []byte(" [true, false]\n"), "text/plain", "daten.txt", Format{"json", "", "", C, "txt", "json"}},
		{"json beyond the head", bigJSON, "", "", Format{"json", "", "", C, "", "json"}},
		{"json object then text", jsonThenJunk, "text/plain", "", Format{"txt", "", "", C, "", "text"}},
		{"invalid json", []byte(`{"a" 1}`), "text/plain", "", Format{"txt", "", "", C, "", "text"}},
		{"bracketed text", []byte("[1] Einleitung\n[2] Antrag\n"), "text/plain", "", Format{"txt", "", "", C, "", "text"}},

		// Text
		{"txt by media type", text, "text/plain; charset=utf-8", "", Format{"txt", "", "", C, "", "text"}},
		{"txt by extension", text, "application/octet-stream", "Notiz.TXT", Format{"txt", "", "", C, "txt", "text"}},
		{"text declared as pdf", text, "application/pdf", "Bescheid.pdf", Format{"pdf", "", "", M, "pdf", "text"}},
		{"text declared as nothing", text, "", "", Format{"", "", "", "", "", "text"}},
		{"text declared as nothing known", text, "application/octet-stream", "daten.bin", Format{"", "", "", "", "bin", "text"}},
		{"latin-1 text declared as text", latin1, "text/plain", "", Format{"txt", "", "", M, "", ""}},
		{"binary declared as text", noise, "", "notiz.txt", Format{"txt", "", "", E, "txt", ""}},
		{"csv", csv, "text/csv", "liste.csv", Format{"csv", "", "", C, "csv", "text"}},
		{"csv sent as text/plain", csv, "text/plain", "liste.csv", Format{"csv", "", "", C, "csv", "text"}},
		{"csv sent as excel", csv, "application/vnd.ms-excel", "liste.csv", Format{"csv", "", "", C, "csv", "text"}},
		{"latin-1 csv sent as excel", latin1, "application/vnd.ms-excel", "liste.csv", Format{"csv", "", "", E, "csv", ""}},
		{"text declared as xml", text, "application/xml", "", Format{"xml", "", "", M, "", "text"}},

		// Mail
		{"eml by media type", mail, "message/rfc822", "", Format{"eml", "", "", C, "", "mail"}},
		{"eml by extension", mail, "", "Nachricht.eml", Format{"eml", "", "", C, "eml", "mail"}},
		{"mail declared as text", mail, "text/plain", "", Format{"txt", "", "", C, "", "mail"}},
		{"mail declared as nothing", mail, "", "", Format{"", "", "", "", "", "mail"}},
		{"mail in latin-1", concat(mail, latin1), "message/rfc822", "", Format{"eml", "", "", C, "", "mail"}},
		{"text declared as mail", text, "message/rfc822", "", Format{"eml", "", "", M, "", "text"}},
		{"one header is no mail", []byte("Betreff: Antrag\n\nText\n"), "message/rfc822", "", Format{"eml", "", "", M, "", "text"}},

		// Zip-based
		{"docx, sizes in the headers", docxStored, "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "a.docx", Format{"docx", "", "", C, "docx", "docx"}},
		{"docx, data descriptors", docx, "application/octet-stream", "a.bin", Format{"docx", "", "", C, "bin", "docx"}},
		{"xlsx", xlsx, "", "", Format{"xlsx", "", "", C, "", "xlsx"}},
		{"pptx", pptx, "", "", Format{"pptx", "", "", C, "", "pptx"}},
		{"dotx by media type", docx, "application/vnd.openxmlformats-officedocument.wordprocessingml.template", "", Format{"dotx", "", "", C, "", "docx"}},
		{"xltx by extension", xlsx, "application/zip", "vorlage.xltx", Format{"xltx", "", "", C, "xltx", "xlsx"}},
		{"docx declared as xlsx", docx, "", "a.xlsx", Format{"docx", "", "", C, "xlsx", "docx"}},
		{"docx declared as zip", docx, "application/zip", "a.zip", Format{"docx", "", "", C, "zip", "docx"}},
		{"word and excel parts", both, "", "", Format{"zip", "", "", C, "", "zip"}},
		{"word and excel parts, declared xlsx", both, "", "a.xlsx", Format{"xlsx", "", "", C, "xlsx", "zip"}},
		{"odt", odt, "", "", Format{"odt", "", "", C, "", "odt"}},
		{"ods", ods, "application/zip", "", Format{"ods", "", "", C, "", "ods"}},
		{"odp", odp, "", "a.odt", Format{"odp", "", "", C, "odt", "odp"}},
		{"ott", ott, "", "", Format{"ott", "", "", C, "", "ott"}},
		{"odt, mimetype size in a data descriptor", odtDescriptor, "", "", Format{"odt", "", "", C, "", "odt"}},
		{"odf without mimetype", odfNoMimetype, "", "", Format{"zip", "", "", C, "", "zip"}},
		{"odf without mimetype, declared odt", odfNoMimetype, "application/vnd.oasis.opendocument.text", "", Format{"odt", "", "", C, "", "zip"}},
		{"epub", epub, "application/epub+zip", "", Format{"zip", "", "", C, "", "zip"}},
		{"zip", plainZip, "application/zip", "Anlagen.zip", Format{"zip", "", "", C, "zip", "zip"}},
		{"complete zip declared as docx", plainZip, "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "a.docx", Format{"zip", "", "", C, "docx", "zip"}},
		{"truncated zip declared as docx", truncated, "", "a.docx", Format{"docx", "", "", C, "docx", "zip"}},
		{"truncated zip declared as zip and docx", truncated, "application/zip", "a.docx", Format{"docx", "", "", C, "docx", "zip"}},
		{"truncated zip holding a false end record", fakeEnd, "", "a.docx", Format{"docx", "", "", C, "docx", "zip"}},
		{"truncated zip", truncated, "", "", Format{"zip", "", "", C, "", "zip"}},
		{"docx stored in a zip", docxInZip, "", "a.docx", Format{"zip", "", "", C, "docx", "zip"}},
		{"empty zip", emptyZip, "", "a.docx", Format{"zip", "", "", C, "docx", "zip"}},

		// OLE2
		{"doc", ole, "application/msword", "a.doc", Format{"doc", "", "", C, "doc", "ole"}},
		{"xls by extension", ole, "application/octet-stream", "Tabelle.XLS", Format{"xls", "", "", C, "xls", "ole"}},
		{"ppt", ole, "application/vnd.ms-powerpoint", "", Format{"ppt", "", "", C, "", "ole"}},
		{"msg", ole, "application/vnd.ms-outlook", "Mail.msg", Format{"msg", "", "", C, "msg", "ole"}},
		{"ole, media type wrong, extension right", ole, "application/pdf", "a.doc", Format{"doc", "", "", C, "doc", "ole"}},
		{"ole declared as nothing", ole, "", "", Format{"ole", "", "", C, "", "ole"}},
		{"ole declared as pdf", ole, "application/pdf", "a.pdf", Format{"ole", "", "", C, "pdf", "ole"}},
		{"ole declared as docx", ole, "", "a.docx", Format{"ole", "", "", C, "docx", "ole"}},
		{"encrypted docx", encrypted, "", "a.docx", Format{"docx", "", "", C, "docx", "ole"}},

		// Others
		{"rtf", []byte(`{\rtf1\ansi\deff0 {\fonttbl {\f0 Times;}} Antrag}`), "application/msword", "a.doc", Format{"rtf", "1", "", C, "doc", "rtf"}},
		{"postscript", []byte("%!PS-Adobe-3.0\n%%Title: Plan\nshowpage\n"), "", "", Format{"ps", "3.0", "", C, "", "ps"}},
		{"p7s", []byte("\x30\x82\x01\x0a\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x07\x02\xa0"), "application/pkcs7-signature", "signatur.p7s", Format{"p7s", "", "", M, "p7s", ""}},
		{"p7m", []byte("\x30\x80\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x07\x03\xa0\x80"), "application/octet-stream", "Antrag.pdf.p7m", Format{"p7m", "", "", E, "p7m", ""}},
		{"empty declared as text", nil, "text/plain", "", Format{"txt", "", "", M, "", ""}},
		{"empty", nil, "", "", Format{}},
		{"noise", noise, "", "", Format{}},
		{"noise, media type before extension", noise, "image/png", "a.jpg", Format{"png", "", "", M, "jpg", ""}},
		{"noise, generic media type", noise, "application/octet-stream", "a.jpg", Format{"jpeg", "", "", E, "jpg", ""}},
		{"noise, media type with parameters", noise, " Application/PDF; name=\"a.pdf\"", "", Format{"pdf", "", "", M, "", ""}},
		{"noise, media type suffix", noise, "application/vnd.example+json", "", Format{"json", "", "", M, "", ""}},
		{"noise, unknown declarations", noise, "application/x-foo", "a.foo", Format{"", "", "", "", "foo", ""}},
		{"no extension in the name", noise, "", "Bericht v1.2 final", Format{}},
	}
}

func TestDetect(t *testing.T) {
	for _, tt := range detectCases(t) {
		t.Run(tt.name, func(t *testing.T) {
			if got := Detect(tt.content, tt.mediaType, tt.filename); got != tt.want {
				t.Errorf("Detect = %+v\n          want %+v", got, tt.want)
			}
		})
	}
}

// Every case gives the same result through the Detector, whatever the writes: single bytes,
// random sizes, and pieces handed to the scanners directly, past the collecting of small writes.
func TestDetectorMatchesDetect(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, tt := range detectCases(t) {
		t.Run(tt.name, func(t *testing.T) {
			for _, feed := range []struct {
				name  string
				sizes func() int
				write func(d *Detector, p []byte)
			}{
				{"bytes", func() int { return 1 }, func(d *Detector, p []byte) { d.Write(p) }},
				{"random writes", func() int { return 1 + r.IntN(9000) }, func(d *Detector, p []byte) { d.Write(p) }},
				{"scanner bytes", func() int { return 1 }, (*Detector).process},
				{"scanner pieces", func() int { return 1 + r.IntN(700) }, (*Detector).process},
			} {
				var d Detector
				for p := tt.content; len(p) > 0; {
					n := min(len(p), feed.sizes())
					feed.write(&d, p[:n])
					p = p[n:]
				}
				if got := d.Format(tt.mediaType, tt.filename); got != tt.want {
					t.Errorf("%s: Format = %+v\n          want %+v", feed.name, got, tt.want)
				}
			}
		})
	}
}

// pdfaAfter is a PDF/A-2b whose metadata follows n bytes of binary stream data, as it does in
// files that write the metadata last.
func pdfaAfter(n int, attributes bool) []byte {
	return pdfSample("1.7", filler(n, 7), []byte(xmp("2", "B", attributes)))
}

// The XMP is found wherever the writes cut it, even where a cut falls inside "pdfaid:" or inside
// the value, and after more data than the Detector keeps.
func TestPDFAAcrossWrites(t *testing.T) {
	want := Format{"pdf", "1.7", "2b", C, "pdf", "pdf"}
	for _, attributes := range []bool{false, true} {
		content := pdfaAfter(20000, attributes)
		marker := bytes.Index(content, pdfaidNeedle)
		for cut := marker - 3; cut < min(len(content), marker+200); cut++ {
			var d Detector
			d.process(content[:cut])
			d.process(content[cut:])
			if got := d.Format("", "a.pdf"); got != want {
				t.Fatalf("cut at %d (marker at %d): %+v", cut, marker, got)
			}
		}
	}

	middle := pdfSample("1.7", filler(5<<19, 8), []byte(xmp("2", "B", true)), filler(5<<19, 9))
	for name, content := range map[string][]byte{
		"xmp in the middle":  middle,
		"xmp after 5 MB":     pdfaAfter(5<<20, false),
		"xmp after 5 MB too": pdfaAfter(5<<20, true),
	} {
		r := rand.New(rand.NewPCG(3, 4))
		sizes := map[string]func() int{
			"1 byte":       func() int { return 1 },
			"random":       func() int { return []int{1, 2, 3, 7, 100, 4095, 4096, 4097, 32 << 10}[r.IntN(9)] },
			"random large": func() int { return 1 + r.IntN(1<<20) },
		}
		for sizeName, size := range sizes {
			t.Run(name+", "+sizeName, func(t *testing.T) {
				var d Detector
				for p := content; len(p) > 0; {
					n := min(len(p), size())
					d.Write(p[:n])
					p = p[n:]
				}
				if got := d.Format("application/pdf", "a.pdf"); got != want {
					t.Errorf("Format = %+v", got)
				}
			})
		}
		if got := Detect(content, "", "a.pdf"); got != want {
			t.Errorf("%s: Detect = %+v", name, got)
		}
	}
}

// Format can be asked midway; it changes nothing for the rest of the stream.
func TestFormatMidway(t *testing.T) {
	content := pdfaAfter(50000, true)
	var d Detector
	d.Write(content[:30000])
	if got := d.Format("", ""); got.Name != "pdf" || got.PDFA != "" {
		t.Errorf("midway: %+v", got)
	}
	d.Write(content[30000:])
	want := Format{"pdf", "1.7", "2b", C, "", "pdf"}
	for range 2 {
		if got := d.Format("", ""); got != want {
			t.Errorf("at the end: %+v", got)
		}
	}
}

func TestSpelling(t *testing.T) {
	tests := []struct {
		name, content, mediaType, filename, want string
	}{
		{"jpe", "jfif", "", "Foto.JPE", "jpe"},
		{"jpg", "jfif", "", "foto.jpg", "jpg"},
		{"jpeg declared, no name", "jfif", "image/jpeg", "", "jpeg"},
		{"jpeg named otherwise", "jfif", "", "foto.pdf", "jpeg"},
		{"htm", "html", "", "seite.HTM", "htm"},
		{"tif", "tiff", "", "scan.tif", "tif"},
		{"pdf", "pdf", "", "a.PDF", "pdf"},
	}
	contents := map[string][]byte{
		"jfif": jfifSample(t, 1, 1),
		"html": []byte("<html></html>"),
		"tiff": tiffSample(binary.BigEndian),
		"pdf":  pdfSample("1.4"),
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Detect(contents[tt.content], tt.mediaType, tt.filename).Spelling(); got != tt.want {
				t.Errorf("Spelling = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestExtension(t *testing.T) {
	tests := []struct{ filename, want string }{
		{"a.pdf", "pdf"},
		{"Antrag.PDF", "pdf"},
		{"Antrag.pdf.p7m", "p7m"},
		{`C:\Users\Bürger\Desktop\Scan.JPG`, "jpg"},
		{"/tmp/upload/scan.tiff ", "tiff"},
		{"ordner.v2/datei", ""},
		{"ohne", ""},
		{"endet.", ""},
		{"Bericht v1.2 final", ""},
		{"Übersicht.ädt", ""},
		{"a." + strings.Repeat("x", 17), ""},
		{"", ""},
	}
	for _, tt := range tests {
		if got := extension(tt.filename); got != tt.want {
			t.Errorf("extension(%q) = %q, want %q", tt.filename, got, tt.want)
		}
	}
}

func TestTextCheck(t *testing.T) {
	euro := "\u20ac" // three bytes
	tests := []struct {
		name   string
		pieces []string
		want   bool
	}{
		{"ascii", []string{"abc", "def"}, true},
		{"sequence cut", []string{"a" + euro[:1], euro[1:2], euro[2:] + "b"}, true},
		{"four-byte sequence cut", []string{"\U0001F600"[:3], "\U0001F600"[3:]}, true},
		{"truncated at the end", []string{"a" + euro[:2]}, false},
		{"cut sequence continued wrongly", []string{euro[:2], "x"}, false},
		{"nul", []string{"a\x00b"}, false},
		{"stray continuation byte", []string{"a", "\x80"}, false},
		{"latin-1", []string{"Gr\xfc\xdfe"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c textCheck
			for _, p := range tt.pieces {
				c.write([]byte(p))
			}
			if got := c.text(); got != tt.want {
				t.Errorf("text() = %v, want %v", got, tt.want)
			}
		})
	}
}
