package fileformat_test

import (
	"crypto/sha256"
	"fmt"
	"io"
	"strings"

	"github.com/amtsbote/amtsbote/fileformat"
)

// The Detector sits in the chain that spools and hashes an upload.
func ExampleDetector() {
	upload := strings.NewReader("%PDF-1.7\n%\xE2\xE3\xCF\xD3\n" +
		"1 0 obj\n<< /Type /Metadata /Subtype /XML >>\nstream\n" +
		`<rdf:Description rdf:about="" xmlns:pdfaid="http://www.aiim.org/pdfa/ns/id/">` +
		"<pdfaid:part>2</pdfaid:part><pdfaid:conformance>B</pdfaid:conformance></rdf:Description>\n" +
		"endstream\nendobj\n%%EOF\n")

	var d fileformat.Detector
	sum := sha256.New()
	if _, err := io.Copy(io.MultiWriter(sum, &d), upload); err != nil {
		panic(err)
	}
	f := d.Format("application/octet-stream", "Bescheid.PDF")
	fmt.Printf("%s %s PDF/A-%s (%s)\n", f.Name, f.Version, f.PDFA, f.Source)
	// Output: pdf 1.7 PDF/A-2b (content)
}

// An OLE2 compound file is only known to be a Word document from its declaration.
func ExampleDetect() {
	ole := make([]byte, 512)
	copy(ole, "\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1")
	f := fileformat.Detect(ole, "application/msword", "Antrag.doc")
	fmt.Println(f.Name, f.Content, f.Source)

	jpeg := []byte("\xFF\xD8\xFF\xE0\x00\x10JFIF\x00\x01\x02\x00\x00\x01\x00\x01\x00\x00\xFF\xD9")
	f = fileformat.Detect(jpeg, "application/pdf", "Foto.JPE")
	fmt.Println(f.Name, f.Version, f.Spelling(), f.Source)
	// Output:
	// doc ole content
	// jpeg 1.02 jpe content
}
