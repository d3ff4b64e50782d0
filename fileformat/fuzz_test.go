package fileformat

import (
	"bytes"
	"crypto/sha256"
	"testing"
)

// chunkSize is the size of the i-th write, taken from cuts: bytes below 0xC0 give 1 to 192, the
// others multiples of 4 KiB, so that both the collecting of small writes and the direct path of
// large ones are taken.
func chunkSize(cuts []byte, i int) int {
	if len(cuts) == 0 {
		return 1
	}
	if c := int(cuts[i%len(cuts)]); c < 0xC0 {
		return 1 + c
	} else {
		return (c - 0xBF) << 12
	}
}

// FuzzDetect checks that detection never panics and that the Detector, fed in any chunks (written,
// or handed to the scanners directly), and asked for the Format midway, agrees with Detect.
func FuzzDetect(f *testing.F) {
	for _, c := range detectCases(f) {
		f.Add(c.content, []byte{0, 6, 0xC0, 1, 99}, c.mediaType, c.filename)
	}
	f.Add(pdfaAfter(3000, true), []byte{0}, "", "")
	f.Fuzz(func(t *testing.T, content, cuts []byte, mediaType, filename string) {
		want := Detect(content, mediaType, filename)
		if (want.Name == "") != (want.Source == "") {
			t.Errorf("Name and Source disagree: %+v", want)
		}
		if want.Source == SourceContent && want.Content == "" {
			t.Errorf("content as source without content recognised: %+v", want)
		}
		if want.PDFA != "" && want.Name != "pdf" {
			t.Errorf("PDF/A that is no pdf: %+v", want)
		}
		var written, scanned Detector
		for i, p := 0, content; len(p) > 0; i++ {
			n := min(len(p), chunkSize(cuts, i))
			written.Write(p[:n])
			scanned.process(p[:n])
			if i == 2 {
				written.Format(mediaType, filename)
			}
			p = p[n:]
		}
		if got := written.Format(mediaType, filename); got != want {
			t.Errorf("written in chunks: %+v\n          Detect: %+v", got, want)
		}
		if got := scanned.Format(mediaType, filename); got != want {
			t.Errorf("scanned in chunks: %+v\n          Detect: %+v", got, want)
		}
	})
}

// BenchmarkDetector measures the Detector on 10 MB written in 32 KiB pieces, as io.Copy writes,
// next to copying the same bytes and hashing them, which intake does as well.
func BenchmarkDetector(b *testing.B) {
	const size = 10 << 20
	lorem := []byte("Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua. Überprüfung der Anträge. ")
	text := bytes.Repeat(lorem, size/len(lorem))
	pdfText := pdfSample("1.7", text, []byte(xmp("2", "B", false)))
	zipped := zipSample(b, append(ooxmlEntries("word/document.xml", deflated), zipEntry{"word/media/image1.png", filler(size, 9), stored})...)
	contents := []struct {
		name    string
		content []byte
	}{
		{"pdf-a, binary streams", pdfaAfter(size, false)},
		{"pdf-a, text streams", pdfText},
		{"text", text},
		{"docx", zipped},
	}
	write := func(w interface{ Write([]byte) (int, error) }, content []byte) {
		for p := content; len(p) > 0; {
			n := min(len(p), 32<<10)
			w.Write(p[:n])
			p = p[n:]
		}
	}
	for _, c := range contents {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(c.content)))
			for b.Loop() {
				var d Detector
				write(&d, c.content)
				if d.Format("", "").Content == "" {
					b.Fatal("not recognised")
				}
			}
		})
	}
	b.Run("baseline: copy", func(b *testing.B) {
		b.SetBytes(int64(len(text)))
		dst := make([]byte, 32<<10)
		for b.Loop() {
			for p := text; len(p) > 0; {
				n := copy(dst, p)
				p = p[n:]
			}
		}
	})
	b.Run("baseline: sha-256", func(b *testing.B) {
		b.SetBytes(int64(len(text)))
		for b.Loop() {
			h := sha256.New()
			write(h, text)
		}
	})
}
