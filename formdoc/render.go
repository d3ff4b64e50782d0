package formdoc

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
	_ "time/tzdata" // Europe/Berlin must resolve in containers without a zone database
)

// PDFA is the PDF/A part and conformance Render produces, for the xdomea
// Dateiformat.
const PDFA = "2b"

// PDFVersion is the PDF version of the files Render produces. PDF/A-2 is
// based on ISO 32000-1, which is PDF 1.7.
const PDFVersion = "1.7"

// Document is what the readable application shows.
type Document struct {
	Title        string         // e.g. "Gewerbeanmeldung"; required (or Labels.Title)
	Reference    string         // the portal's reference of the submission
	SubmissionID string         // shown in the header and in every footer
	Leistung     string         // 14-digit LeiKa/FIM key
	AGS          string         // 8-digit municipality key
	Portal       string         // the portal the application came from
	ReceivedAt   time.Time      // shown in Location as "15.01.2026, 10:30 Uhr"; the PDF's dates
	Location     *time.Location // nil: Europe/Berlin
	// Data is the form data JSON as received; objects keep the order of
	// their keys as sent.
	Data        []byte
	Labels      Labels
	Attachments []Attachment // listed at the end ("Anlagen")
	Producer    string       // e.g. "amtsbote"; written to the PDF's Producer/Creator metadata
}

// Attachment is one file that came with the application.
type Attachment struct {
	Name      string // the file name as the portal sent it
	MediaType string
	Size      int64 // bytes; negative if unknown
}

var berlin = sync.OnceValues(func() (*time.Location, error) {
	return time.LoadLocation("Europe/Berlin")
})

// Render returns the application as a PDF/A-2b file. The same Document
// always gives the same bytes: nothing depends on the clock, randomness or
// map order, so a redelivered application can be compared byte for byte.
// Errors caused by the form data wrap ErrInvalidData.
func Render(d Document) ([]byte, error) {
	regular, bold, err := loadFaces()
	if err != nil {
		return nil, err
	}
	title := clean(strings.TrimSpace(d.Title), false)
	if title == "" {
		title = clean(strings.TrimSpace(d.Labels.Title), false)
	}
	if strings.TrimSpace(title) == "" {
		return nil, errors.New("formdoc: the document needs a title (Document.Title or Labels.Title)")
	}
	if y := d.ReceivedAt.UTC().Year(); !d.ReceivedAt.IsZero() && (y < 1000 || y > 9999) {
		// PDF and XMP dates have four-digit years.
		return nil, fmt.Errorf("formdoc: ReceivedAt %v is out of range", d.ReceivedAt)
	}
	loc := d.Location
	if loc == nil {
		if loc, err = berlin(); err != nil {
			return nil, fmt.Errorf("formdoc: time zone: %w", err)
		}
	}
	root, err := parseData(d.Data)
	if err != nil {
		return nil, err
	}
	items := newWalker(d.Labels, loc).object(root, "", 0)

	l := newLayout(regular, bold)
	l.header(title, metaRows(d, loc))
	l.form(items)
	l.attachments(d.Attachments)
	l.decorate(title, clean(d.SubmissionID, false))

	m := pdfaMeta{
		title:    title,
		subject:  "Antrag",
		producer: clean(strings.TrimSpace(d.Producer), false),
		lang:     "de-DE",
		date:     d.ReceivedAt,
	}
	return write(l.pages, regular, bold, m)
}

// metaRows are the administrative facts above the form data; empty ones are
// left out rather than shown as blanks.
func metaRows(d Document, loc *time.Location) [][2]string {
	var rows [][2]string
	add := func(label, value string) {
		if v := strings.TrimSpace(value); v != "" {
			rows = append(rows, [2]string{label, v})
		}
	}
	if !d.ReceivedAt.IsZero() {
		add("Eingegangen am", germanDateTime(d.ReceivedAt, loc))
	}
	add("Aktenzeichen des Portals", d.Reference)
	add("Leistung", d.Leistung)
	add("Gemeinde (AGS)", d.AGS)
	add("Portal", d.Portal)
	add("Vorgangsnummer", d.SubmissionID)
	return rows
}

// germanSize formats a file size the way German software shows it, with
// binary multiples and a decimal comma: "512 Byte", "3,5 KB", "1,2 MB".
func germanSize(n int64) string {
	if n < 0 {
		return "unbekannt"
	}
	if n < 1024 {
		return strconv.FormatInt(n, 10) + " Byte"
	}
	units := []string{"KB", "MB", "GB", "TB"}
	v := float64(n) / 1024
	i := 0
	for i < len(units)-1 && v >= 1023.95 { // 1023.95 would be shown as "1024,0"
		v /= 1024
		i++
	}
	return strings.Replace(strconv.FormatFloat(v, 'f', 1, 64), ".", ",", 1) + " " + units[i]
}
