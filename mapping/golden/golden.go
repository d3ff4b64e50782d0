// Package golden runs integrators' golden tests: a directory with a submission (input.json) and
// what its mapping must produce (expected.xml, or expected.<destination>.xml for a route with
// several targets) or the errors it must give (expected-errors.txt). Generated values are
// compared through placeholders ({{uuid}}, {{now}}, {{received}}) and XML canonically, so a
// test states what matters. With update, the expectations are rewritten from what the mapping
// produces now.
package golden

import (
	"bytes"
	"encoding/base64"
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
	Attachments []struct {
		Filename      string `json:"filename"`
		MediaType     string `json:"media_type"`
		ContentBase64 string `json:"content_base64"`
	} `json:"attachments"`
	// Portal posts the submission (default: the first configured portal).
	Portal string `json:"portal"`
	// Route forces a route instead of matching.
	Route string `json:"route"`
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
	Messages map[string][]byte // destination → XML
	Errors   []string
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
		ARS: in.ARS, ReceivedAt: ReceivedAt, Data: in.Data, Sender: snap.Config.Sender,
		Now: func() time.Time { return Now }, NewID: newID,
	}
	for _, a := range in.Attachments {
		content, err := base64.StdEncoding.DecodeString(a.ContentBase64)
		if err != nil {
			return nil, nil, fmt.Errorf("attachment %s: %w", a.Filename, err)
		}
		mi.Attachments = append(mi.Attachments, mapping.Attachment{Filename: a.Filename,
			PackageName: newID() + "_" + adapters.SafeName(a.Filename), MediaType: a.MediaType, Size: int64(len(content))})
	}
	out := &Outcome{Messages: map[string][]byte{}}
	for _, t := range route.Targets {
		ti := mi
		ti.Recipient = t.Recipient
		m, err := t.Mapper.Map(ti)
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
		if err := snap.Schemas[t.Schema].Validate(m.XML); err != nil {
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
	for _, t := range route.Targets {
		name := "expected.xml"
		if len(route.Targets) > 1 {
			name = "expected." + t.Destination + ".xml"
		}
		got, err := Canonical(out.Messages[t.Destination])
		if err != nil {
			return err.Error()
		}
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
		wantC, err := Canonical(want)
		if err != nil {
			return fmt.Sprintf("%s: %v", name, err)
		}
		if d := diff(name, wantC, got); d != "" {
			problems = append(problems, d)
		}
	}
	return strings.Join(problems, "\n")
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
		out[i] = placeholders(strings.ReplaceAll(e, base, ""))
	}
	return strings.Join(out, "\n")
}

var uuidPattern = regexp.MustCompile(`[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}`)

// placeholders replaces what differs between runs: UUIDs and the run's clock.
func placeholders(s string) string {
	s = uuidPattern.ReplaceAllString(s, "{{uuid}}")
	s = strings.ReplaceAll(s, xoev.DateTime(Now), "{{now}}")
	s = strings.ReplaceAll(s, xoev.DateTime(ReceivedAt), "{{received}}")
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
