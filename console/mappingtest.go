package console

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/amtsbote/amtsbote/admin"
)

// exampleSubmission is the demo's sample submission, beside the configuration file: "Beispiel
// einsetzen" loads it into the form (no other file is read).
const exampleSubmission = "submission.json"

// maxExampleBytes caps the sample submission.
const maxExampleBytes = 1 << 20

type mappingTestData struct {
	// The form's values.
	Daten, Antrag, Route, Ziel string
	Routes, Destinations       []string
	// Example tells whether "Beispiel einsetzen" is offered.
	Example bool
	// Errors are the form's problems, by field id (daten, antrag, route, ziel, "" for the form).
	Errors map[string]string
	Result *mappingResult
}

// mappingResult is the playground's answer as the page shows it.
type mappingResult struct {
	Route, ConfigVersion string
	Valid                bool
	Messages             []mappingMessage
	// Other are problems of the route itself (the application document).
	Other []problem
}

type mappingMessage struct {
	Destination, Source, MediaType string
	Valid                          bool
	// Content is the message, indented when it is XML.
	Content  string
	Problems []problem
}

// problem is one problem of a mapping or validation: the rule (file:line, linked to the file's
// line when it is a file of the configuration), the place in the message, the message.
type problem struct {
	Rule, RuleLink string
	Line, Column   int
	Message        string
}

var (
	// A mapping rule's problem: "<file>:<line>: <element>: <problem>", maybe continued on lines.
	problemRule = regexp.MustCompile(`(?s)^(\S+?):(\d+): (.*)$`)
	// An XSD problem's place in the message: "line L, column C: ".
	problemPlace = regexp.MustCompile(`^line (\d+)(?:, column (\d+))?: `)
	// The rule that made the element of an XSD or JSON Schema problem.
	problemRuleSuffix = regexp.MustCompile(` \(mapping rule (\S+?):(\d+)\)$`)
)

// parseProblem reads one of the playground's problems (without its "<destination>: " prefix);
// files lists the configuration's files that have a page.
func parseProblem(s string, files map[string]bool) problem {
	var p problem
	link := func(file, line string) {
		n, _ := strconv.Atoi(line)
		p.Rule = file + ":" + line
		if files[file] {
			p.RuleLink = fileLink(file, n)
		}
	}
	if m := problemRule.FindStringSubmatch(s); m != nil && !strings.HasPrefix(s, "line ") {
		link(m[1], m[2])
		p.Message = m[3]
		return p
	}
	if m := problemPlace.FindStringSubmatch(s); m != nil {
		p.Line, _ = strconv.Atoi(m[1])
		p.Column, _ = strconv.Atoi(m[2])
		s = s[len(m[0]):]
	}
	if m := problemRuleSuffix.FindStringSubmatch(s); m != nil {
		link(m[1], m[2])
		s = s[:len(s)-len(m[0])]
	}
	p.Message = s
	return p
}

// mappingTestSetup fills the form's lists and whether the example is offered.
func (c *Console) mappingTestSetup(r *http.Request, d *mappingTestData) (cfg *admin.ConfigView) {
	var v admin.ConfigView
	if err := c.callAPI(r, http.MethodGet, "/v1/config", &v); err != nil {
		return nil
	}
	for _, rt := range v.Routes {
		d.Routes = append(d.Routes, rt.ID)
	}
	for _, dst := range v.Destinations {
		d.Destinations = append(d.Destinations, dst.ID)
	}
	_, err := os.Stat(examplePath(&v))
	d.Example = err == nil
	return &v
}

func examplePath(cfg *admin.ConfigView) string {
	return filepath.Join(filepath.Dir(cfg.ConfigFile), exampleSubmission)
}

// mappingTestForm shows the mapping test's form; ?beispiel=1 fills in the demo's submission.
func (c *Console) mappingTestForm(w http.ResponseWriter, r *http.Request) {
	d := mappingTestData{Errors: map[string]string{}}
	cfg := c.mappingTestSetup(r, &d)
	if r.URL.Query().Get("beispiel") != "" {
		if cfg == nil || !d.Example {
			c.errorPage(w, r, http.StatusNotFound, "Für diese Konfiguration gibt es kein Beispiel (die Datei submission.json neben der Konfigurationsdatei fehlt).")
			return
		}
		f, err := os.Open(examplePath(cfg))
		if err != nil {
			c.fail(w, r, err)
			return
		}
		defer f.Close()
		b, err := io.ReadAll(io.LimitReader(f, maxExampleBytes))
		if err != nil {
			c.fail(w, r, err)
			return
		}
		d.Daten = string(b)
	}
	c.render(w, r, "mapping-test", "Mapping-Test", d)
}

// jsonPosition is the line and column of a byte offset in s.
func jsonPosition(s string, offset int64) (line, col int) {
	if offset > int64(len(s)) {
		offset = int64(len(s))
	}
	before := s[:offset]
	line = strings.Count(before, "\n") + 1
	col = len([]rune(before[strings.LastIndex(before, "\n")+1:]))
	return line, max(col, 1)
}

// checkJSON says in German what is wrong with the JSON of the field, with the position.
func checkJSON(s string) string {
	dec := json.NewDecoder(strings.NewReader(s))
	var v any
	err := dec.Decode(&v)
	if err == nil {
		if _, ok := v.(map[string]any); !ok {
			return "Die Antragsdaten müssen ein JSON-Objekt sein ({ … }), wie ein Portal es sendet."
		}
		if _, err2 := dec.Token(); err2 != io.EOF {
			line, col := jsonPosition(s, dec.InputOffset())
			return fmt.Sprintf("Nach dem JSON-Objekt folgt noch etwas (Zeile %d, Spalte %d).", line, col)
		}
		return ""
	}
	var syn *json.SyntaxError
	switch {
	case errors.As(err, &syn):
		line, col := jsonPosition(s, syn.Offset)
		return fmt.Sprintf("Kein gültiges JSON in Zeile %d, Spalte %d (Zeichen %d): %s.", line, col, syn.Offset, syn.Error())
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		line, col := jsonPosition(s, int64(len(s)))
		return fmt.Sprintf("Das JSON endet vorzeitig (Zeile %d, Spalte %d): Es fehlt eine schließende Klammer oder ein Anführungszeichen.", line, col)
	}
	return "Kein gültiges JSON: " + err.Error() + "."
}

// apiFields name the playground's fields in German, by the form field they belong to.
var apiFields = []struct{ prefix, field, label string }{
	{"submission_id: ", "antrag", "Gespeicherter Antrag"},
	{"submission: ", "daten", "Antragsdaten"},
	{"route: ", "route", "Route"},
	{"destination: ", "ziel", "Ziel"},
}

// mappingTest maps the form's submission with the configuration in force and shows the messages
// and their problems; it stores nothing (viewers may use it).
func (c *Console) mappingTest(w http.ResponseWriter, r *http.Request) {
	d := mappingTestData{Errors: map[string]string{},
		Daten: r.PostFormValue("daten"), Antrag: strings.TrimSpace(r.PostFormValue("antrag")),
		Route: r.PostFormValue("route"), Ziel: r.PostFormValue("ziel")}
	cfg := c.mappingTestSetup(r, &d)
	daten := strings.TrimSpace(d.Daten)
	switch {
	case daten != "" && d.Antrag != "":
		d.Errors["antrag"] = "Geben Sie entweder Antragsdaten oder einen gespeicherten Antrag an, nicht beides."
	case daten == "" && d.Antrag == "":
		d.Errors["daten"] = "Geben Sie die Antragsdaten (JSON) ein oder unten die ID eines gespeicherten Antrags."
	case daten != "":
		if msg := checkJSON(daten); msg != "" {
			d.Errors["daten"] = msg
		}
	}
	if len(d.Errors) > 0 {
		c.renderStatus(w, r, http.StatusBadRequest, "mapping-test", "Mapping-Test", d)
		return
	}
	req := admin.PlaygroundRequest{SubmissionID: d.Antrag, Route: d.Route, Destination: d.Ziel}
	if daten != "" {
		req.Submission = json.RawMessage(daten)
	}
	var res admin.PlaygroundResult
	err := c.callAPIBody(r, http.MethodPost, "/v1/playground", req, &res)
	var e *errAPI
	switch {
	case errors.As(err, &e) && e.Status == http.StatusServiceUnavailable:
		d.Errors[""] = "Der Mapping-Test braucht die Konfiguration des laufenden Dienstes; hier ist keine geladen."
	case errors.As(err, &e) && e.Status >= 400 && e.Status < 500:
		field, label, msg := "", "", e.Message
		for _, f := range apiFields {
			if strings.HasPrefix(msg, f.prefix) {
				field, label, msg = f.field, f.label, strings.TrimPrefix(msg, f.prefix)
			}
		}
		switch {
		case field == "antrag" && e.Status == http.StatusNotFound:
			msg = "Es gibt keinen Antrag mit dieser ID."
		case field == "daten" && e.Status == http.StatusUnprocessableEntity:
			msg = "Der Antrag lässt sich nicht abbilden: " + msg
		case label != "":
			msg = label + ": " + msg
		}
		d.Errors[field] = msg
	case err != nil:
		c.apiError(w, r, err)
		return
	}
	if len(d.Errors) > 0 {
		c.renderStatus(w, r, e.Status, "mapping-test", "Mapping-Test", d)
		return
	}
	files := map[string]bool{}
	if cfg != nil {
		for _, f := range cfg.Mappings {
			files[f.Path] = true
		}
	}
	d.Result = &mappingResult{Route: res.Route, ConfigVersion: res.ConfigVersion, Valid: res.Valid}
	for _, m := range res.Messages {
		mm := mappingMessage{Destination: m.Destination, Source: m.Source, MediaType: m.MediaType, Content: m.Pretty,
			Valid: len(m.Errors) == 0 && m.Content != ""}
		if mm.Content == "" {
			mm.Content = m.Content
		}
		mm.Content = strings.TrimRight(mm.Content, "\n")
		for _, e := range m.Errors {
			mm.Problems = append(mm.Problems, parseProblem(strings.TrimPrefix(e, m.Destination+": "), files))
		}
		d.Result.Messages = append(d.Result.Messages, mm)
	}
	for _, e := range res.Errors {
		own := false
		for _, m := range res.Messages {
			own = own || strings.HasPrefix(e, m.Destination+": ")
		}
		if !own {
			d.Result.Other = append(d.Result.Other, parseProblem(e, files))
		}
	}
	c.render(w, r, "mapping-test", "Mapping-Test", d)
}
