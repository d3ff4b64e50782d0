package email

import (
	"bytes"
	_ "embed"

	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"text/template"
	"time"
	_ "time/tzdata" // Europe/Berlin must resolve in containers without a zone database
	"unicode"
	"unicode/utf8"

	"github.com/amtsbote/amtsbote/replies"
)

// The built-in template holds no personal data beyond the application's reference: the kind
// of reply, its date and how many documents are attached — nothing of what the Fachverfahren
// wrote (Subject, Text), no names of people or documents.
//
//go:embed default.tmpl
var defaultTemplate string

// defaultTemplateName stands for the built-in template in errors.
const defaultTemplateName = "built-in e-mail template"

// maxTemplateBytes bounds a template file, maxBodyBytes what a template writes.
const (
	maxTemplateBytes = 256 << 10
	maxBodyBytes     = 1 << 20
	maxSubjectRunes  = 200
)

var berlin = mustLoadLocation("Europe/Berlin")

func mustLoadLocation(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err) // time/tzdata is linked in
	}
	return loc
}

// Data is what a template sees. Strings from the reply are cleaned of control characters
// (Text keeps its line breaks and tabs).
type Data struct {
	// Kind is bescheid, nachforderung, status or abschluss; KindLabel its German name
	// (Bescheid, Nachforderung von Unterlagen, Statusmitteilung, Abschluss des Verfahrens).
	Kind, KindLabel string
	// Status is the status the reply moves the application to (in_progress, decided, closed);
	// StatusLabel its German name (in Bearbeitung, entschieden, abgeschlossen).
	Status, StatusLabel string
	// Reference is the portal's reference of the application; Leistung, AGS and Route
	// describe it, Source is the Fachverfahren that replied, Portal the portal it came from.
	Reference, Leistung, AGS, Route, Source, Portal string
	// Subject and Text are what the Fachverfahren wrote (either may be empty). Both are
	// personal data of the case: a template that uses them puts them into the mail.
	Subject, Text string
	// ReceivedAt is the day the application was received, RepliedAt the day of the reply,
	// both as 02.01.2006 in Europe/Berlin ("" when unknown).
	ReceivedAt, RepliedAt string
	// Documents are the attached files, in order.
	Documents []DocumentData
	// Encrypted tells whether the mail is OpenPGP-encrypted.
	Encrypted bool
}

// DocumentData describes an attached document.
type DocumentData struct {
	Name      string
	MediaType string
	Size      int64  // bytes
	SizeText  string // e.g. "1,2 MB", "830 KB", "512 Bytes"
}

// KindLabels and StatusLabels are the German names templates see as KindLabel and StatusLabel.
var (
	KindLabels = map[string]string{
		replies.KindBescheid:      "Bescheid",
		replies.KindNachforderung: "Nachforderung von Unterlagen",
		replies.KindStatus:        "Statusmitteilung",
		replies.KindAbschluss:     "Abschluss des Verfahrens",
	}
	StatusLabels = map[string]string{
		replies.StatusInProgress: "in Bearbeitung",
		replies.StatusDecided:    "entschieden",
		replies.StatusClosed:     "abgeschlossen",
	}
)

// dataFor is the template data of a reply.
func dataFor(o *replies.Outgoing, encrypted bool) *Data {
	d := &Data{
		Kind: oneLine(o.Kind), KindLabel: KindLabels[o.Kind], Status: oneLine(o.Status), StatusLabel: StatusLabels[o.Status],
		Reference: oneLine(o.Reference), Leistung: oneLine(o.Leistung), AGS: oneLine(o.AGS), Route: oneLine(o.Route),
		Source: oneLine(o.Source), Portal: oneLine(o.Portal), Subject: oneLine(o.Subject), Text: multiLine(o.Text),
		ReceivedAt: germanDate(o.ReceivedAt), RepliedAt: germanDate(o.RepliedAt), Encrypted: encrypted,
	}
	if d.KindLabel == "" {
		d.KindLabel = "Nachricht"
	}
	for i, doc := range o.Documents {
		d.Documents = append(d.Documents, DocumentData{
			Name: attachmentName(doc.Name, i), MediaType: mediaType(doc.MediaType), Size: doc.Size, SizeText: sizeText(doc.Size),
		})
	}
	return d
}

// sampleData is what CheckTemplate executes a template with: every field set.
func sampleData() *Data {
	received := time.Date(2026, 3, 2, 9, 30, 0, 0, berlin)
	return dataFor(&replies.Outgoing{
		ReplyID: "sample", Kind: replies.KindBescheid, Status: replies.StatusDecided,
		Subject: "Ihr Antrag auf Erteilung einer Gaststättenerlaubnis", Text: "Sehr geehrte Damen und Herren,\n\nanbei der Bescheid.",
		Source: "gewerbe", Reference: "PORTAL-2026-000123", Leistung: "99050012104000", AGS: "05315000", Route: "gewerbe",
		Portal: "portal", ReceivedAt: received, RepliedAt: received.AddDate(0, 0, 14),
		Documents: []replies.Document{{Seq: 1, Name: "Bescheid.pdf", MediaType: "application/pdf", Size: 123456}},
	}, false)
}

func germanDate(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(berlin).Format("02.01.2006")
}

// sizeText is a size as German readers write it.
func sizeText(n int64) string {
	switch {
	case n < 1000:
		return strconv.FormatInt(n, 10) + " Bytes"
	case n < 1000*1000:
		return strconv.FormatInt((n+500)/1000, 10) + " KB"
	}
	mb := strconv.FormatFloat(float64(n)/1e6, 'f', 1, 64)
	return strings.Replace(mb, ".", ",", 1) + " MB"
}

// oneLine turns control characters (line breaks too) into spaces and trims.
func oneLine(s string) string {
	return strings.TrimSpace(strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD")))
}

// multiLine keeps line breaks (as \n) and tabs, and drops other control characters.
func multiLine(s string) string {
	s = strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\r\n", "\n")
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\n' || r == '\t':
			return r
		case r == '\r':
			return '\n'
		case unicode.IsControl(r):
			return -1
		}
		return r
	}, s)
}

// mailTemplate is a parsed template: the Subject line and the body.
type mailTemplate struct {
	name    string
	subject *template.Template
	body    *template.Template
}

// parseTemplate reads a template file's text. The format:
//
//	Subject: {{.KindLabel}} zu Ihrem Antrag {{.Reference}}
//
//	Guten Tag,
//	…
//
// The header block comes first: lines "Name: value" up to the first blank line, of which only
// Subject exists and is required; then the body. Both are Go text/template; errors name the
// file and the line.
func parseTemplate(name, text string) (*mailTemplate, error) {
	if len(text) > maxTemplateBytes {
		return nil, fmt.Errorf("%s: %d bytes, more than the %d a template may have", name, len(text), maxTemplateBytes)
	}
	if !utf8.ValidString(text) {
		return nil, fmt.Errorf("%s: not UTF-8 text", name)
	}
	text = strings.TrimPrefix(text, "\uFEFF")
	text = strings.ReplaceAll(text, "\r\n", "\n")
	t := &mailTemplate{name: name}
	rest := text
	subjectLine := 0
	var subject string
	for line := 1; ; line++ {
		if rest == "" {
			return nil, fmt.Errorf("%s:%d: the header block ends without a blank line: a template is a line \"Subject: …\", a blank line, then the body", name, line)
		}
		var l string
		l, rest, _ = strings.Cut(rest, "\n")
		if strings.TrimSpace(l) == "" {
			if subjectLine == 0 {
				return nil, fmt.Errorf("%s:%d: no Subject line before the blank line: a template is a line \"Subject: …\", a blank line, then the body", name, line)
			}
			if strings.TrimSpace(rest) == "" {
				return nil, fmt.Errorf("%s:%d: the body after the blank line is empty", name, line+1)
			}
			b, err := template.New(name).Option("missingkey=error").Parse(lineOffset(line+1) + rest)
			if err != nil {
				return nil, err
			}
			t.body = b
			break
		}
		if l[0] == ' ' || l[0] == '\t' {
			return nil, fmt.Errorf("%s:%d: a header continues on an indented line; keep the Subject on one line", name, line)
		}
		key, value, ok := strings.Cut(l, ":")
		switch {
		case !ok:
			return nil, fmt.Errorf("%s:%d: %q is no header line \"Name: value\"; a template is a line \"Subject: …\", a blank line, then the body", name, line, truncate(l, 40))
		case !strings.EqualFold(strings.TrimSpace(key), "Subject"):
			return nil, fmt.Errorf("%s:%d: unknown header %q: the header block takes only Subject (the channel sets From, To and the others)", name, line, truncate(key, 40))
		case subjectLine != 0:
			return nil, fmt.Errorf("%s:%d: a second Subject line (the first is on line %d)", name, line, subjectLine)
		case strings.TrimSpace(value) == "":
			return nil, fmt.Errorf("%s:%d: the Subject is empty", name, line)
		}
		subjectLine, subject = line, strings.TrimSpace(value)
	}
	s, err := template.New(name).Option("missingkey=error").Parse(lineOffset(subjectLine) + subject)
	if err != nil {
		return nil, err
	}
	t.subject = s
	return t, nil
}

// lineOffset is a template comment that makes text/template count lines from line, so that its
// errors name the line of the file.
func lineOffset(line int) string {
	if line <= 1 {
		return ""
	}
	return "{{/*" + strings.Repeat("\n", line-1) + "*/}}"
}

func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n]) + "…"
}

// render executes the template: the subject on one line (a generic one if the template's is
// empty for this reply), the body with \n line ends.
func (t *mailTemplate) render(d *Data) (subject, body string, err error) {
	var sb, bb bytes.Buffer
	if err := t.subject.Execute(&limitedBuffer{b: &sb, max: maxBodyBytes}, d); err != nil {
		return "", "", err
	}
	if err := t.body.Execute(&limitedBuffer{b: &bb, max: maxBodyBytes}, d); err != nil {
		return "", "", err
	}
	subject = strings.Join(strings.Fields(oneLine(sb.String())), " ")
	if subject == "" {
		subject = genericSubject
	}
	return truncate(subject, maxSubjectRunes), multiLine(bb.String()), nil
}

type limitedBuffer struct {
	b   *bytes.Buffer
	max int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if l.b.Len()+len(p) > l.max {
		return 0, fmt.Errorf("the template writes more than %d bytes", l.max)
	}
	return l.b.Write(p)
}

// CheckTemplate checks a template file for a configuration check: it parses it and executes it
// with sample data in which every field is set, so that a misspelt field fails now rather than
// at the first reply. The error names the file and the line.
func CheckTemplate(path string) error {
	t, err := loadTemplate(path)
	if err != nil {
		return err
	}
	_, _, err = t.render(sampleData())
	return err
}

func loadTemplate(path string) (*mailTemplate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("e-mail template: %w", err)
	}
	return parseTemplate(path, string(b))
}

var builtin = func() *mailTemplate {
	t, err := parseTemplate(defaultTemplateName, defaultTemplate)
	if err != nil {
		panic(err)
	}
	if _, _, err := t.render(sampleData()); err != nil {
		panic(err)
	}
	return t
}()

// templates caches parsed template files by path, each as of its modification time and size:
// a file changed on disk is read again at its next use, so templates can be edited while the
// daemon runs. Safe for concurrent use.
type templates struct {
	mu sync.Mutex
	m  map[string]cachedTemplate
}

type cachedTemplate struct {
	modTime time.Time
	size    int64
	t       *mailTemplate
}

// get returns the template at path ("" = the built-in one).
func (c *templates) get(path string) (*mailTemplate, error) {
	if path == "" {
		return builtin, nil
	}
	path = filepath.Clean(path)
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("e-mail template: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("e-mail template %s: not a regular file", path)
	}
	c.mu.Lock()
	cached, ok := c.m[path]
	c.mu.Unlock()
	if ok && cached.modTime.Equal(fi.ModTime()) && cached.size == fi.Size() {
		return cached.t, nil
	}
	t, err := loadTemplate(path)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.m == nil {
		c.m = map[string]cachedTemplate{}
	}
	c.m[path] = cachedTemplate{modTime: fi.ModTime(), size: fi.Size(), t: t}
	c.mu.Unlock()
	return t, nil
}

// Reset forgets the parsed templates (e.g. after a configuration reload).
func (c *templates) Reset() {
	c.mu.Lock()
	c.m = nil
	c.mu.Unlock()
}
