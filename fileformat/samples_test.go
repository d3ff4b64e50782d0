package fileformat

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

// Samples are built here, small and by hand or with the standard library's encoders, so that the
// tests need no fixtures.

func testImage() image.Image {
	img := image.NewRGBA(image.Rect(0, 0, 8, 8))
	for i := range img.Pix {
		img.Pix[i] = byte(i * 7)
	}
	return img
}

func pngSample(t testing.TB) []byte {
	var b bytes.Buffer
	if err := png.Encode(&b, testImage()); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// jpegSample is a JPEG as image/jpeg writes it: no JFIF or Exif segment.
func jpegSample(t testing.TB) []byte {
	var b bytes.Buffer
	if err := jpeg.Encode(&b, testImage(), nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// withSegment inserts an APPn segment after a JPEG's SOI marker.
func withSegment(j []byte, marker byte, payload []byte) []byte {
	seg := []byte{0xFF, marker, 0, 0}
	binary.BigEndian.PutUint16(seg[2:], uint16(2+len(payload)))
	return concat(j[:2], seg, payload, j[2:])
}

func jfifSample(t testing.TB, major, minor byte) []byte {
	app0 := []byte{'J', 'F', 'I', 'F', 0, major, minor, 1, 0, 72, 0, 72, 0, 0}
	return withSegment(jpegSample(t), 0xE0, app0)
}

func exifSample(t testing.TB) []byte {
	app1 := append([]byte("Exif\x00\x00"), []byte("II*\x00\x08\x00\x00\x00\x00\x00")...)
	return withSegment(jpegSample(t), 0xE1, app1)
}

func gifSample(t testing.TB) []byte {
	var b bytes.Buffer
	if err := gif.Encode(&b, testImage(), nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func gif87Sample(t testing.TB) []byte {
	g := gifSample(t)
	return concat([]byte("GIF87a"), g[6:])
}

func tiffSample(order binary.ByteOrder) []byte {
	b := make([]byte, 8+2+12+4)
	if order == binary.LittleEndian {
		copy(b, "II")
	} else {
		copy(b, "MM")
	}
	order.PutUint16(b[2:], 42)
	order.PutUint32(b[4:], 8)
	order.PutUint16(b[8:], 1)    // one IFD entry
	order.PutUint16(b[10:], 256) // ImageWidth
	order.PutUint16(b[12:], 3)   // SHORT
	order.PutUint32(b[14:], 1)   // count
	order.PutUint16(b[18:], 1)   // value
	return b
}

func bmpSample(headerSize uint32) []byte {
	b := make([]byte, 14+headerSize+4)
	copy(b, "BM")
	binary.LittleEndian.PutUint32(b[2:], uint32(len(b)))
	binary.LittleEndian.PutUint32(b[10:], 14+headerSize)
	binary.LittleEndian.PutUint32(b[14:], headerSize)
	binary.LittleEndian.PutUint32(b[18:], 1) // width
	binary.LittleEndian.PutUint32(b[22:], 1) // height
	return b
}

func webpSample() []byte {
	b := []byte("RIFF\x00\x00\x00\x00WEBPVP8L\x0a\x00\x00\x00\x2f\x00\x00\x00\x10\x07\x10\x11\x11\x88")
	binary.LittleEndian.PutUint32(b[4:], uint32(len(b)-8))
	return b
}

// ftypSample is the start of an ISO base media file with the given brands.
func ftypSample(major string, compatible ...string) []byte {
	box := concat([]byte("\x00\x00\x00\x00ftyp"), []byte(major), []byte{0, 0, 0, 0})
	for _, c := range compatible {
		box = append(box, c...)
	}
	binary.BigEndian.PutUint32(box, uint32(len(box)))
	return concat(box, []byte("\x00\x00\x00\x08free"))
}

func oleSample(extra ...[]byte) []byte {
	b := make([]byte, 1536)
	copy(b, oleMagic)
	for i, e := range extra {
		copy(b[512+i*128:], e)
	}
	return b
}

// xmp is an XMP packet that says PDF/A part and conformance (none where conformance is ""), in
// element or attribute form.
func xmp(part, conformance string, attributes bool) string {
	var b strings.Builder
	b.WriteString("<?xpacket begin=\"\ufeff\" id=\"W5M0MpCehiHzreSzNTczkc9d\"?>\n" +
		"<x:xmpmeta xmlns:x=\"adobe:ns:meta/\"><rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\">\n")
	if attributes {
		b.WriteString("<rdf:Description rdf:about=\"\" xmlns:pdfaid=\"http://www.aiim.org/pdfa/ns/id/\"\n   pdfaid:part=\"" + part + "\"")
		if conformance != "" {
			b.WriteString("\n   pdfaid:conformance='" + conformance + "'")
		}
		b.WriteString("/>\n")
	} else {
		b.WriteString("<rdf:Description rdf:about=\"\" xmlns:pdfaid=\"http://www.aiim.org/pdfa/ns/id/\">\n" +
			"  <pdfaid:part>" + part + "</pdfaid:part>\n")
		if conformance != "" {
			b.WriteString("  <pdfaid:conformance>" + conformance + "</pdfaid:conformance>\n")
		}
		b.WriteString("</rdf:Description>\n")
	}
	b.WriteString("</rdf:RDF></x:xmpmeta>\n<?xpacket end=\"w\"?>")
	return b.String()
}

// pdfSample is a minimal PDF with the given header version whose body holds the given parts, each
// as a stream object, in order.
func pdfSample(version string, parts ...[]byte) []byte {
	var b bytes.Buffer
	b.WriteString("%PDF-" + version + "\n%\xE2\xE3\xCF\xD3\n")
	b.WriteString("1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n")
	b.WriteString("2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\n")
	for i, p := range parts {
		b.WriteString(strconv.Itoa(3+i) + " 0 obj\n<< /Length " + strconv.Itoa(len(p)) + " >>\nstream\n")
		b.Write(p)
		b.WriteString("\nendstream\nendobj\n")
	}
	b.WriteString("trailer\n<< /Root 1 0 R >>\nstartxref\n0\n%%EOF\n")
	return b.Bytes()
}

// filler is n bytes of deterministic noise, like compressed stream data.
func filler(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9E3779B97F4A7C15))
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		binary.LittleEndian.PutUint64(b[i:], r.Uint64())
	}
	return b
}

// zipEntry is a file to put into a zip archive.
type zipEntry struct {
	name   string
	data   []byte
	method zipMethod
}

type zipMethod int

const (
	// stored is uncompressed with the sizes in the local header, as most zip tools write it.
	stored zipMethod = iota
	// deflated is compressed with the sizes in a data descriptor after the data, as archive/zip
	// writes it.
	deflated
	// storedLater is uncompressed with the sizes in a data descriptor.
	storedLater
)

func zipSample(t testing.TB, entries ...zipEntry) []byte {
	var b bytes.Buffer
	w := zip.NewWriter(&b)
	for _, e := range entries {
		var err error
		switch e.method {
		case stored:
			var f io.Writer
			f, err = w.CreateRaw(&zip.FileHeader{
				Name: e.name, Method: zip.Store, CRC32: crc32.ChecksumIEEE(e.data),
				CompressedSize64: uint64(len(e.data)), UncompressedSize64: uint64(len(e.data)),
			})
			if err == nil {
				_, err = f.Write(e.data)
			}
		case deflated, storedLater:
			m := zip.Deflate
			if e.method == storedLater {
				m = zip.Store
			}
			var f io.Writer
			f, err = w.CreateHeader(&zip.FileHeader{Name: e.name, Method: m})
			if err == nil {
				_, err = f.Write(e.data)
			}
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

const contentTypesXML = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="xml" ContentType="application/xml"/></Types>`

// ooxmlEntries are the entries of a minimal Office Open XML document whose main part is main.
func ooxmlEntries(main string, method zipMethod) []zipEntry {
	return []zipEntry{
		{"[Content_Types].xml", []byte(contentTypesXML), method},
		{"_rels/.rels", []byte(`<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"/>`), method},
		{"docProps/core.xml", []byte(`<?xml version="1.0"?><cp:coreProperties xmlns:cp="x"/>`), method},
		{main, []byte(`<?xml version="1.0"?><root/>`), method},
	}
}

func odfEntries(mimetype string) []zipEntry {
	return []zipEntry{
		{"mimetype", []byte(mimetype), stored},
		{"content.xml", []byte(`<?xml version="1.0"?><office:document-content xmlns:office="x"/>`), deflated},
		{"META-INF/manifest.xml", []byte(`<?xml version="1.0"?><manifest:manifest xmlns:manifest="x"/>`), deflated},
	}
}

func concat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}
