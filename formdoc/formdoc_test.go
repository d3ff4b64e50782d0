package formdoc

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestRenderContent(t *testing.T) {
	demo := demoDocument(t)
	with := func(data string, edit ...func(*Document)) Document {
		d := demo
		d.Data = []byte(data)
		d.Labels = Labels{}
		for _, e := range edit {
			e(&d)
		}
		return d
	}
	tests := []struct {
		name    string
		doc     Document
		want    []string
		notWant []string
	}{
		{
			name: "demo",
			doc:  demo,
			want: []string{
				"Gewerbeanmeldung", "Eingegangen am", "15.01.2026, 10:30 Uhr",
				"Aktenzeichen des Portals", "DEMO-2026-000001", "Leistung", "99050012104000",
				"Gemeinde (AGS)", "09162000", "Portal", "Demo-Portal", "Vorgangsnummer",
				"Inhaberin oder Inhaber", "Vorname", "Anna", "Familienname", "Müller",
				"Geburtsdatum", "12.04.1985", "Staatsangehörigkeit", "Straße", "Lindwurmstraße",
				"Postleitzahl", "80337", "München", "Angaben zum Betrieb", "Bäckerei Müller",
				"Anschrift der Betriebsstätte", "Herstellung und Verkauf von Backwaren", "15.01.2027",
				"Anzahl der Beschäftigten", "Anlagen", "Personalausweis.pdf", "application/pdf",
				"1,2 MB", "Meisterbrief.png", "image/png", "3,5 KB",
				"Vorgangsnummer AB-2026-0000042", "Seite 1 von 1",
			},
			notWant: []string{"1985-04-12", "Seite 1 von 2"},
		},
		{
			name: "letters beyond Latin-1",
			doc:  with(`{"person": {"name": "Łódź", "komponist": "Antonín Dvořák", "familienname": "Őry", "ort": "Ærøskøbing"}}`),
			want: []string{"Łódź", "Antonín Dvořák", "Őry", "Ærøskøbing"},
		},
		{
			name: "Greek and Cyrillic",
			doc:  with(`{"name": "Ψυχή", "ort": "Москва"}`),
			want: []string{"Ψυχή", "Москва"},
		},
		{
			// Their two-byte codes hold "(", ")", "\\", CR and LF.
			name: "characters whose codes need escaping",
			doc:  with(`{"name": "Ĩĩŝčċ (a\\b)"}`),
			want: []string{"Ĩĩŝčċ (a\\b)"},
		},
		{
			name: "decomposed accents are composed",
			doc:  with("{\"name\": \"Dvor\u030ca\u0301k\"}"),
			want: []string{"Dvořák"},
		},
		{
			name:    "unsupported runes are substituted",
			doc:     with(`{"notiz": "Name: 中文 😀 Ende"}`),
			want:    []string{"Name: \uFFFD\uFFFD \uFFFD Ende"},
			notWant: []string{"中", "😀"},
		},
		{
			name: "nested objects and arrays",
			doc: with(`{
				"gesellschafter": [
					{"vorname": "Eva", "anschrift": {"ort": "Köln"}},
					{"vorname": "Jan", "anschrift": {"ort": "Bonn"}}
				],
				"sprachen": ["Deutsch", "Englisch", null, ""],
				"betrieb": {"filiale": {"adresse": {"land": {"name": "Deutschland"}}}}
			}`, func(d *Document) {
				d.Labels.Fields = map[string]string{
					"gesellschafter":             "Gesellschafterinnen und Gesellschafter",
					"gesellschafter[]":           "Gesellschafter/in",
					"gesellschafter[].anschrift": "Wohnanschrift",
				}
			}),
			want: []string{
				"Gesellschafterinnen und Gesellschafter", "Gesellschafter/in 1", "Gesellschafter/in 2",
				"Wohnanschrift", "Eva", "Köln", "Jan", "Bonn", "Sprachen", "Deutsch, Englisch",
				"Betrieb", "Filiale", "Adresse", "Land", "Deutschland",
			},
		},
		{
			name: "hidden fields",
			doc: with(`{"intern": {"token": "geheim-1"}, "person": {"name": "Eva", "steuerId": "geheim-2"},
				"kinder": [{"name": "Mia", "id": "geheim-3"}]}`, func(d *Document) {
				d.Labels.Hide = []string{"intern", "person.steuerId", "kinder[].id"}
			}),
			want:    []string{"Eva", "Mia"},
			notWant: []string{"geheim", "Intern", "Steuer Id"},
		},
		{
			name:    "null and empty values are left out",
			doc:     with(`{"nullfeld": null, "leerfeld": "", "blankfeld": "   ", "leeresobjekt": {"x": null}, "leereliste": [], "vollfeld": "da"}`),
			want:    []string{"Vollfeld", "da"},
			notWant: []string{"Nullfeld", "Leerfeld", "Blankfeld", "Leeresobjekt", "Leereliste"},
		},
		{
			name: "values in German",
			doc: with(`{"ja": true, "nein": false, "anteil": 2.5, "anzahl": 3, "negativ": -0.75,
				"zeitpunkt": "2026-01-15T10:30:00Z", "ortszeit": "2026-07-01T08:00", "kein_datum": "2026-13-45"}`),
			want: []string{"Ja", "Nein", "2,5", "3", "-0,75", "15.01.2026, 11:30 Uhr", "01.07.2026, 08:00 Uhr", "2026-13-45"},
		},
		{
			name: "time zone of the document",
			doc: with(`{"zeitpunkt": "2026-01-15T10:30:00Z"}`, func(d *Document) {
				d.Location = time.UTC
			}),
			want: []string{"15.01.2026, 10:30 Uhr", "15.01.2026, 09:30 Uhr"},
		},
		{
			name: "humanized keys",
			doc:  with(`{"geburts_datum": "x", "geburtsDatum": "y", "staatsangehoerigkeit": "z"}`),
			want: []string{"Geburts Datum", "Staatsangehoerigkeit"},
		},
		{
			name: "no attachments",
			doc:  with(`{"a": "b"}`, func(d *Document) { d.Attachments = nil }),
			want: []string{"Anlagen", "keine"},
		},
		{
			name: "empty form",
			doc:  with(`{}`),
			want: []string{"Das Formular enthält keine Angaben."},
		},
		{
			name: "title from the labels",
			doc: with(`{"a": "b"}`, func(d *Document) {
				d.Title = ""
				d.Labels.Title = "Anzeige einer Veranstaltung"
			}),
			want: []string{"Anzeige einer Veranstaltung"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pdf := mustRender(t, tt.doc)
			validate(t, pdf)
			text := pdfToText(t, pdf)
			flat := squash(text)
			for _, w := range tt.want {
				if !strings.Contains(flat, w) {
					t.Errorf("text lacks %q\n%s", w, text)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(flat, w) {
					t.Errorf("text has %q, which must not be shown\n%s", w, text)
				}
			}
		})
	}
}

func TestRenderWrapsLongValues(t *testing.T) {
	word := strings.Repeat("Langwort", 25) // 200 characters, no space
	var long strings.Builder
	for long.Len() < 3000 {
		fmt.Fprintf(&long, "Satz %d der Begründung mit Umlauten. ", long.Len())
	}
	url := "https://portal.example.org/antrag/" + strings.Repeat("x", 150) + "?id=1&typ=2"
	d := demoDocument(t)
	d.Data = []byte(fmt.Sprintf(`{"begruendung": %q, "wort": %q, "adresse": %q}`, long.String(), word, url))
	d.Labels = Labels{Fields: map[string]string{"begruendung": strings.Repeat("Sehr lange Beschriftung ", 6)}}
	pdf := mustRender(t, d)
	validate(t, pdf)

	text := pdfToText(t, pdf)
	joined := strings.Join(strings.Fields(text), "")
	for _, w := range []string{word, url, strings.ReplaceAll(long.String(), " ", "")} {
		if !strings.Contains(joined, w) {
			t.Errorf("text does not contain the value %.40q… in one piece", w)
		}
	}
	for _, line := range strings.Split(text, "\n") {
		if strings.Contains(line, word) {
			t.Errorf("the 200-character word is on one line: %q", line)
		}
	}
	checkInsideMargins(t, pdf)
}

var bboxRe = regexp.MustCompile(`<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">`)

// checkInsideMargins asserts that every word pdftotext finds lies within the
// page margins, which catches text running off the right edge.
func checkInsideMargins(t *testing.T, pdf []byte) {
	t.Helper()
	bin := tool(t, "pdftotext")
	in := filepath.Join(t.TempDir(), "doc.pdf")
	if err := os.WriteFile(in, pdf, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "-bbox", in, "-").CombinedOutput()
	if err != nil {
		t.Fatalf("pdftotext -bbox: %v\n%s", err, out)
	}
	const ptPerMM = 72 / 25.4
	const slack = 0.5 // points
	words := 0
	for _, m := range bboxRe.FindAllSubmatch(out, -1) {
		words++
		xMin, _ := strconv.ParseFloat(string(m[1]), 64)
		xMax, _ := strconv.ParseFloat(string(m[3]), 64)
		if xMin < marginL*ptPerMM-slack || xMax > right*ptPerMM+slack {
			t.Errorf("word outside the margins (x %.1f–%.1f pt): %s", xMin, xMax, m[0])
		}
	}
	if words == 0 {
		t.Fatal("pdftotext found no words")
	}
}

func TestRenderManyFieldsPaginates(t *testing.T) {
	var b strings.Builder
	b.WriteString("{")
	for i := 0; i < 300; i++ {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `"feld%03d": "Wert Nummer %d"`, i, i)
	}
	b.WriteString("}")
	d := demoDocument(t)
	d.Data = []byte(b.String())
	pdf := mustRender(t, d)
	validate(t, pdf)

	n := pageCount(t, pdf)
	if n < 3 {
		t.Fatalf("300 fields gave %d pages, want at least 3", n)
	}
	flat := squash(pdfToText(t, pdf))
	for p := 1; p <= n; p++ {
		if want := fmt.Sprintf("Seite %d von %d", p, n); !strings.Contains(flat, want) {
			t.Errorf("text lacks %q", want)
		}
	}
	for _, w := range []string{"Wert Nummer 0", "Wert Nummer 150", "Wert Nummer 299"} {
		if !strings.Contains(flat, w) {
			t.Errorf("text lacks %q", w)
		}
	}
	// Every page after the first repeats the title as a running header.
	if got := strings.Count(flat, "Gewerbeanmeldung"); got < n {
		t.Errorf("title appears %d times on %d pages", got, n)
	}
	checkInsideMargins(t, pdf)
}

func TestRenderIsDeterministic(t *testing.T) {
	d := demoDocument(t)
	first := mustRender(t, d)
	for i := 0; i < 3; i++ {
		if again := mustRender(t, d); !bytes.Equal(first, again) {
			t.Fatalf("render %d differs from the first", i+2)
		}
	}

	later := d
	later.ReceivedAt = d.ReceivedAt.Add(26 * time.Hour)
	other := mustRender(t, later)
	if bytes.Equal(first, other) {
		t.Fatal("a different ReceivedAt gives the same bytes")
	}
	for _, w := range []string{"D:20260116113000", "2026-01-16T11:30:00Z"} {
		if !bytes.Contains(other, []byte(w)) {
			t.Errorf("metadata lacks the new date %q", w)
		}
		if bytes.Contains(first, []byte(w)) {
			t.Errorf("first render has the later date %q", w)
		}
	}
	if text := squash(pdfToText(t, other)); !strings.Contains(text, "16.01.2026, 12:30 Uhr") {
		t.Errorf("header does not show the new date:\n%s", text)
	}
}

func TestRenderConcurrently(t *testing.T) {
	// Render shares the parsed fonts and the ICC profile between calls; run
	// it in parallel (under -race in CI) and expect the sequential bytes.
	d := demoDocument(t)
	want := mustRender(t, d)
	const n = 4
	results := make(chan []byte, n)
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		go func() {
			pdf, err := Render(d)
			if err != nil {
				errs <- err
				return
			}
			results <- pdf
		}()
	}
	for i := 0; i < n; i++ {
		select {
		case err := <-errs:
			t.Fatal(err)
		case got := <-results:
			if !bytes.Equal(got, want) {
				t.Fatal("a concurrent render differs")
			}
		}
	}
}

func TestRenderErrors(t *testing.T) {
	deep := strings.Repeat(`{"a":`, maxDepth+1) + "1" + strings.Repeat("}", maxDepth+1)
	tests := []struct {
		name     string
		data     string
		title    string
		badInput bool      // the error must wrap ErrInvalidData
		received time.Time // Document.ReceivedAt
	}{
		{name: "array", data: `[{"a": 1}]`, title: "T", badInput: true},
		{name: "string", data: `"Antrag"`, title: "T", badInput: true},
		{name: "number", data: `42`, title: "T", badInput: true},
		{name: "null", data: `null`, title: "T", badInput: true},
		{name: "empty", data: ``, title: "T", badInput: true},
		{name: "white space", data: " \n ", title: "T", badInput: true},
		{name: "truncated", data: `{"a": "b"`, title: "T", badInput: true},
		{name: "invalid", data: `{"a": tru}`, title: "T", badInput: true},
		{name: "trailing data", data: `{"a": 1} x`, title: "T", badInput: true},
		{name: "two objects", data: `{"a": 1}{"b": 2}`, title: "T", badInput: true},
		{name: "too deep", data: deep, title: "T", badInput: true},
		{name: "no title", data: `{"a": 1}`, title: "", badInput: false},
		{name: "blank title", data: `{"a": 1}`, title: "  ", badInput: false},
		{name: "control characters as title", data: `{"a": 1}`, title: "\x00\u200b", badInput: false},
		{name: "received after 9999", data: `{"a": 1}`, title: "T", badInput: false, received: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},
		{name: "received before 1000", data: `{"a": 1}`, title: "T", badInput: false, received: time.Date(999, 1, 1, 0, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pdf, err := Render(Document{Title: tt.title, Data: []byte(tt.data), ReceivedAt: tt.received})
			if err == nil {
				t.Fatalf("no error; got %d bytes", len(pdf))
			}
			if got := errors.Is(err, ErrInvalidData); got != tt.badInput {
				t.Errorf("errors.Is(%v, ErrInvalidData) = %v, want %v", err, got, tt.badInput)
			}
			if !strings.HasPrefix(err.Error(), "formdoc: ") {
				t.Errorf("error %q does not name the package", err)
			}
		})
	}
}

func BenchmarkRender(b *testing.B) {
	d := demoDocument(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Render(d); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDocumentAfterGC renders the demo application after two garbage
// collections, as in the daemon, where a submission allocates far more than
// its document: whatever a sync.Pool held is gone by then, what Render
// keeps for itself must not be.
func BenchmarkDocumentAfterGC(b *testing.B) {
	d := demoDocument(b)
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		runtime.GC()
		runtime.GC()
		b.StartTimer()
		if _, err := Render(d); err != nil {
			b.Fatal(err)
		}
	}
}
