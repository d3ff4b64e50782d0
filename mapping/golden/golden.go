// Package golden runs integrators' golden tests: a directory with a submission (input.json) and
// what its mapping must produce (expected.xml, or expected.<destination>.xml for a route with
// several targets; .json for a form-data target or a JSON mapping, .csv for a CSV mapping) or
// the errors it must give (expected-errors.txt). Generated values are compared through
// placeholders — each distinct UUID of a case becomes {{uuid-N}} in order of appearance across
// its files, so that the same object keeps the same placeholder in every message; {{now}},
// {{received}}, {{version}} — XML canonically, JSON indented and a CSV as UTF-8 text with LF
// line ends, so a test states what matters. With update, the expectations are rewritten
// from what the mapping produces now.
package golden

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/amtsbote/amtsbote/adapters"
	"github.com/amtsbote/amtsbote/fileformat"
	"github.com/amtsbote/amtsbote/formdata"
	"github.com/amtsbote/amtsbote/formdoc"
	"github.com/amtsbote/amtsbote/mapping"
	"github.com/amtsbote/amtsbote/routes"
	"github.com/amtsbote/amtsbote/snapshot"
	"github.com/amtsbote/amtsbote/xoev"
)

// The fixed clock of every golden run.
var (
	ReceivedAt = time.Date(2026, 1, 15, 9, 30, 0, 0, time.UTC)
	Now        = ReceivedAt.Add(time.Minute)
)

// Input is a test's submission: the body a portal would post, plus optional test settings.
type Input struct {
	Leistung    string          `json:"leistung"`
	AGS         string          `json:"ags"`
	ARS         string          `json:"ars"`
	Reference   string          `json:"reference"`
	Data        json.RawMessage `json:"data"`
	Attachments []Attachment    `json:"attachments"`
	// Portal posts the submission (default: the first configured portal).
	Portal string `json:"portal"`
	// Route forces a route instead of matching.
	Route string `json:"route"`

	// What a stored submission adds to what a portal posts (the console's mapping playground
	// maps stored submissions): how it came and what its channel said about it.
	Channel, TrustLevel, AccountType string         `json:"-"`
	FitConnect, XTA                  map[string]any `json:"-"`
}

// Attachment is a file of the submission: its content, or — for a stored submission — what is
// known of it (Stored).
type Attachment struct {
	Filename      string `json:"filename"`
	MediaType     string `json:"media_type"`
	Title         string `json:"title"`
	ContentBase64 string `json:"content_base64"`
	// Stored describes a stored file without its content; ContentBase64 is then ignored.
	Stored *StoredAttachment `json:"-"`
}

// StoredAttachment is what the store knows of an attachment: enough for a mapping, which
// never reads the content.
type StoredAttachment struct {
	Size                        int64
	SHA256                      string
	Format, FormatVersion, PDFA string
}

// Result is the outcome of one test.
type Result struct {
	Name   string
	Passed bool
	Detail string // why it failed
}

// Run finds every test under dir (a directory holding input.json) and runs it against the
// snapshot's routes and mappings.
func Run(snap *snapshot.Snapshot, dir string, update bool) ([]Result, error) {
	var cases []string
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && d.Name() == "input.json" {
			cases = append(cases, filepath.Dir(path))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(cases) == 0 {
		return nil, fmt.Errorf("no tests in %s (a test is a directory with input.json)", dir)
	}
	sort.Strings(cases)
	results := make([]Result, 0, len(cases))
	for _, c := range cases {
		name, _ := filepath.Rel(dir, c)
		r := Result{Name: name}
		r.Detail = runCase(snap, c, update)
		r.Passed = r.Detail == ""
		results = append(results, r)
	}
	return results, nil
}

// Report prints each failure and the closing line "N passed, M failed".
func Report(w io.Writer, results []Result) (failed int) {
	passed := 0
	for _, r := range results {
		if r.Passed {
			passed++
			fmt.Fprintf(w, "ok   %s\n", r.Name)
			continue
		}
		failed++
		fmt.Fprintf(w, "FAIL %s\n%s\n", r.Name, indent(r.Detail))
	}
	fmt.Fprintf(w, "%d passed, %d failed\n", passed, failed)
	return failed
}

func indent(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = "     " + l
	}
	return strings.Join(lines, "\n")
}

// Outcome is what a submission maps to: a message per destination, or the errors.
type Outcome struct {
	Messages map[string][]byte // destination → XML (or JSON, see MediaTypes)
	// MediaTypes are the messages' media types by destination.
	MediaTypes map[string]string
	// Files are the files amtsbote generated for the submission (the readable application).
	Files  []formdoc.File
	Errors []string
}

// MapSubmission maps a test input through its route as the pipeline would, with the fixed clock
// and counting UUIDs, and validates each message.
func MapSubmission(snap *snapshot.Snapshot, in Input) (*routes.Route, *Outcome, error) {
	portal := in.Portal
	if portal == "" && len(snap.Config.Portals) > 0 {
		portal = snap.Config.Portals[0].ID
	}
	var data any
	if err := json.Unmarshal(in.Data, &data); err != nil && len(in.Data) > 0 {
		return nil, nil, fmt.Errorf("input data: %w", err)
	}
	var route *routes.Route
	var ok bool
	if in.Route != "" {
		if route, ok = snap.Routes.Route(in.Route); !ok {
			return nil, nil, fmt.Errorf("route %q is not configured", in.Route)
		}
	} else if route, ok = snap.Routes.Match(routes.Submission{Leistung: in.Leistung, AGS: in.AGS, ARS: in.ARS,
		Portal: portal, Reference: in.Reference, Data: data}); !ok {
		return nil, nil, fmt.Errorf("no route accepts leistung %s for ags %s", in.Leistung, in.AGS)
	}
	n := 0
	newID := func() string { n++; return fmt.Sprintf("00000000-0000-4000-8000-%012d", n) }
	mi := mapping.Input{
		SubmissionID: "golden-test", Portal: portal, Reference: in.Reference, Leistung: in.Leistung, AGS: in.AGS,
		ARS: in.ARS, ReceivedAt: ReceivedAt, Data: in.Data, Sender: snap.Config.Sender, Product: snap.Config.Product,
		Now: func() time.Time { return Now }, NewID: newID,
		Channel: in.Channel, TrustLevel: in.TrustLevel, AccountType: in.AccountType, FitConnect: in.FitConnect, XTA: in.XTA,
	}
	var docs []formdoc.Attachment
	for _, a := range in.Attachments {
		if st := a.Stored; st != nil {
			mi.Attachments = append(mi.Attachments, mapping.Attachment{Filename: a.Filename, Title: a.Title,
				PackageName: adapters.PackageName(newID(), a.Filename), MediaType: a.MediaType, Size: st.Size,
				SHA256: st.SHA256, Format: st.Format, FormatVersion: st.FormatVersion, PDFA: st.PDFA})
			docs = append(docs, formdoc.Attachment{Name: a.Filename, MediaType: a.MediaType, Size: st.Size})
			continue
		}
		content, err := base64.StdEncoding.DecodeString(a.ContentBase64)
		if err != nil {
			return nil, nil, fmt.Errorf("attachment %s: %w", a.Filename, err)
		}
		f := fileformat.Detect(content, a.MediaType, a.Filename)
		sum := sha256.Sum256(content)
		mi.Attachments = append(mi.Attachments, mapping.Attachment{Filename: a.Filename, Title: a.Title,
			PackageName: adapters.PackageName(newID(), a.Filename), MediaType: a.MediaType, Size: int64(len(content)),
			SHA256: hex.EncodeToString(sum[:]), Format: f.Name, FormatVersion: f.Version, PDFA: f.PDFA})
		docs = append(docs, formdoc.Attachment{Name: a.Filename, MediaType: a.MediaType, Size: int64(len(content))})
	}
	out := &Outcome{Messages: map[string][]byte{}, MediaTypes: map[string]string{}}
	if route.ApplicationDocument != nil {
		doc := routes.DocumentFor(route, routes.SubmissionInfo{ID: mi.SubmissionID, Portal: portal, Reference: in.Reference,
			Leistung: in.Leistung, AGS: in.AGS, ReceivedAt: ReceivedAt, Data: in.Data}, snap.Config.Location())
		doc.Attachments = docs
		files, err := formdoc.ApplicationFiles(doc, mapping.ObjectID(mi.SubmissionID, "antrag"))
		if err != nil {
			out.Errors = append(out.Errors, fmt.Sprintf("application document: %v", err))
			return route, out, nil
		}
		out.Files = files
		for _, f := range files {
			sum := sha256.Sum256(f.Content)
			mi.Attachments = append(mi.Attachments, mapping.Attachment{Filename: f.Filename, PackageName: f.PackageName,
				MediaType: f.MediaType, Size: int64(len(f.Content)), SHA256: hex.EncodeToString(sum[:]), Title: f.Title, Format: f.Format,
				FormatVersion: f.FormatVersion, PDFA: f.PDFA, Generated: true, CreatedAt: ReceivedAt})
		}
	}
	for _, t := range route.Targets {
		ti := t.Input(mi)
		m, err := t.Mapper.Map(ti)
		var fe *formdata.ValidationError
		if errors.As(err, &fe) {
			for _, p := range fe.Problems {
				out.Errors = append(out.Errors, fmt.Sprintf("%s: %s: %s", t.Destination, fe.Schema, p.String()))
			}
			continue
		}
		if err != nil {
			var me *mapping.Error
			if !errors.As(err, &me) {
				return nil, nil, err
			}
			for _, p := range me.Problems {
				out.Errors = append(out.Errors, fmt.Sprintf("%s: %s", t.Destination, p.Error()))
			}
			continue
		}
		out.Messages[t.Destination] = m.XML
		out.MediaTypes[t.Destination] = m.MediaType
		if t.FormData != nil {
			continue // checked against its JSON Schema while mapped
		}
		check := func() error { return snap.Schemas[t.Schema].Validate(m.XML) }
		if mm, ok := t.Mapper.(*mapping.Mapping); ok && mm.Output != mapping.OutputXML {
			check = func() error { return mm.Check(m) } // JSON against its JSON Schema; CSV has none
		}
		if err := check(); err != nil {
			var ve *xoev.ValidationError
			if !errors.As(err, &ve) {
				out.Errors = append(out.Errors, fmt.Sprintf("%s: %v", t.Destination, err))
				continue
			}
			m.Annotate(ve.Problems)
			for _, p := range ve.Problems {
				out.Errors = append(out.Errors, fmt.Sprintf("%s: %s", t.Destination, p.String()))
			}
		}
	}
	return route, out, nil
}

func runCase(snap *snapshot.Snapshot, dir string, update bool) string {
	raw, err := os.ReadFile(filepath.Join(dir, "input.json"))
	if err != nil {
		return err.Error()
	}
	var in Input
	if err := json.Unmarshal(raw, &in); err != nil {
		return fmt.Sprintf("input.json: %v", err)
	}
	route, out, err := MapSubmission(snap, in)
	if err != nil {
		return err.Error()
	}
	base := filepath.Dir(snap.Config.File) + string(filepath.Separator)
	errorsFile := filepath.Join(dir, "expected-errors.txt")
	if len(out.Errors) > 0 {
		got := normalizeErrors(out.Errors, base)
		if update {
			clearExpected(dir)
			return writeFile(errorsFile, got)
		}
		want, err := os.ReadFile(errorsFile)
		if err != nil {
			return "the mapping failed, but there is no expected-errors.txt:\n" + got
		}
		return diff("expected-errors.txt", strings.TrimSpace(string(want)), strings.TrimSpace(got))
	}
	if update {
		clearExpected(dir)
	}
	var problems []string
	ids := &uuidNumbers{seen: map[string]int{}}
	for _, t := range route.Targets {
		ext := (&adapters.Package{MediaType: out.MediaTypes[t.Destination]}).MessageExt()
		canonical := map[string]func([]byte) (string, error){".xml": Canonical, ".json": canonicalJSON, ".csv": canonicalCSV}[ext]
		name := "expected" + ext
		if len(route.Targets) > 1 {
			name = "expected." + t.Destination + ext
		}
		content := out.Messages[t.Destination]
		if ext == ".csv" { // as text, whatever its encoding
			text, err := mapping.DecodeCSV(content, out.MediaTypes[t.Destination])
			if err != nil {
				return err.Error()
			}
			content = []byte(text)
		}
		got, err := canonical(content)
		if err != nil {
			return err.Error()
		}
		got = ids.replace(got)
		if update {
			if msg := writeFile(filepath.Join(dir, name), got); msg != "" {
				return msg
			}
			continue
		}
		want, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			if _, e := os.Stat(errorsFile); e == nil {
				return "expected-errors.txt says the mapping fails, but it succeeded"
			}
			return fmt.Sprintf("%s is missing (run with --update to create it)", name)
		}
		wantC, err := canonical(want)
		if err != nil {
			return fmt.Sprintf("%s: %v", name, err)
		}
		wantC = (&uuidNumbers{seen: map[string]int{}}).replace(wantC)
		if d := diff(name, wantC, got); d != "" {
			problems = append(problems, d)
		}
	}
	return strings.Join(problems, "\n")
}

// uuidNumbers numbers the distinct UUIDs of a case in order of appearance, across its files.
type uuidNumbers struct {
	seen map[string]int
}

func (u *uuidNumbers) replace(s string) string {
	return uuidPlaceholder.ReplaceAllStringFunc(s, func(id string) string {
		n, ok := u.seen[id]
		if !ok {
			n = len(u.seen) + 1
			u.seen[id] = n
		}
		return fmt.Sprintf("{{uuid-%d}}", n)
	})
}

// uuidPlaceholder finds the UUIDs Canonical left in place.
var uuidPlaceholder = regexp.MustCompile(`\{\{id:([0-9a-f-]{36})\}\}`)

// canonicalJSON indents a JSON message and puts in the placeholders.
func canonicalJSON(raw []byte) (string, error) {
	var b bytes.Buffer
	if err := json.Indent(&b, bytes.TrimSpace(raw), "", "  "); err != nil {
		return "", fmt.Errorf("the message is not JSON: %w", err)
	}
	return placeholders(b.String()), nil
}

// canonicalCSV shows a CSV file as UTF-8 text with LF line ends and the placeholders: what its
// rows say, not how they are encoded (the mapping's csv block fixes that).
func canonicalCSV(raw []byte) (string, error) {
	text, err := mapping.DecodeCSV(raw, "")
	if err != nil {
		return "", err
	}
	return placeholders(strings.ReplaceAll(text, "\r\n", "\n")), nil
}

func clearExpected(dir string) {
	matches, _ := filepath.Glob(filepath.Join(dir, "expected*"))
	for _, m := range matches {
		os.Remove(m)
	}
}

func writeFile(path, content string) string {
	if err := os.WriteFile(path, []byte(strings.TrimRight(content, "\n")+"\n"), 0o644); err != nil {
		return err.Error()
	}
	return ""
}

func normalizeErrors(errs []string, base string) string {
	out := make([]string, len(errs))
	for i, e := range errs {
		out[i] = uuidPlaceholder.ReplaceAllString(placeholders(strings.ReplaceAll(e, base, "")), "{{uuid}}")
	}
	return strings.Join(out, "\n")
}

var uuidPattern = regexp.MustCompile(`[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}`)

// placeholders replaces what differs between runs: the run's clock and the build's version;
// UUIDs are marked for numbering per case ({{uuid-N}}, uuidNumbers).
func placeholders(s string) string {
	s = uuidPattern.ReplaceAllStringFunc(s, func(id string) string { return "{{id:" + strings.ToLower(id) + "}}" })
	s = strings.ReplaceAll(s, xoev.DateTime(Now), "{{now}}")
	s = strings.ReplaceAll(s, xoev.DateTime(ReceivedAt), "{{received}}")
	if xoev.Version != "" {
		s = strings.ReplaceAll(s, ">"+xoev.Version+"<", ">{{version}}<")
	}
	return s
}

// diff reports the first lines where want and got differ, with a little context.
func diff(name, want, got string) string {
	if want == got {
		return ""
	}
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	i := 0
	for i < len(wl) && i < len(gl) && wl[i] == gl[i] {
		i++
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s differs from line %d:\n", name, i+1)
	for j := i; j < i+6 && (j < len(wl) || j < len(gl)); j++ {
		if j < len(wl) {
			fmt.Fprintf(&b, "- %s\n", wl[j])
		}
		if j < len(gl) {
			fmt.Fprintf(&b, "+ %s\n", gl[j])
		}
	}
	return strings.TrimRight(b.String(), "\n")
}

// Message is one message of an outcome with the target it is for.
type Message struct {
	Target    routes.Target
	Content   []byte
	MediaType string
}

// Select returns the outcome's messages in the route's target order; destination, if not "",
// selects one.
func (o *Outcome) Select(route *routes.Route, destination string) []Message {
	var msgs []Message
	for _, t := range route.Targets {
		if destination != "" && t.Destination != destination {
			continue
		}
		if content, ok := o.Messages[t.Destination]; ok {
			msgs = append(msgs, Message{t, content, o.MediaTypes[t.Destination]})
		}
	}
	return msgs
}

// Printable is a message as a person reads it: a CSV decoded from its charset (Windows-1252)
// to UTF-8; anything else as it is.
func Printable(content []byte, mediaType string) []byte {
	if (&adapters.Package{MediaType: mediaType}).MessageExt() != ".csv" {
		return content
	}
	text, err := mapping.DecodeCSV(content, mediaType)
	if err != nil {
		return content
	}
	return []byte(text)
}
