package routes

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"
	"go.yaml.in/yaml/v3"

	"github.com/amtsbote/amtsbote/formdata"
	"github.com/amtsbote/amtsbote/formdoc"
	"github.com/amtsbote/amtsbote/mapping"
	"github.com/amtsbote/amtsbote/trust"
	"github.com/amtsbote/amtsbote/xoev"
	"github.com/amtsbote/amtsbote/yamlfile"
)

// Route sends matching submissions to its targets.
type Route struct {
	// ID names the route in status answers and logs.
	ID string `yaml:"id"`
	// Priority orders routes: higher first; equal priorities keep file order. Default 0.
	Priority int `yaml:"priority"`
	// Match selects the submissions the route takes.
	Match Match `yaml:"match"`
	// Targets are the destinations with the mapping and schema set for each.
	Targets []Target `yaml:"targets"`
	// Retry overrides the destinations' retry policy for this route's deliveries (fields left
	// out keep the destination's values).
	Retry RetryOverride `yaml:"retry"`
	// Retention overrides retention.payloads for this route's submissions. Default: unset.
	Retention time.Duration `yaml:"retention"`
	// ApplicationDocument, if set, renders the application as a readable PDF (PDF/A-2b) and
	// keeps the form data as received as a JSON file: the first document of the case, which
	// mappings reference as application. Default: off.
	ApplicationDocument *ApplicationDocument `yaml:"application_document"`
	// MinTrustLevel is the weakest identification of the applicant the route accepts: none,
	// basic, low, substantial or high (or the eIDAS, BSI or STORK name; package trust). A
	// submission with a lower level is refused (HTTP 422; FIT-Connect: rejected). Default: any.
	MinTrustLevel string `yaml:"min_trust_level"`
	// JSONSchema is the JSON Schema of the route's form data (a FIM data schema), relative to the
	// routes file. Data that does not fit it is refused at intake (HTTP 422 with every problem;
	// FIT-Connect: rejected) and fails processing. Optional.
	JSONSchema string `yaml:"json_schema"`
	// CheckAtIntake runs, before the intake answers, what processing will do — the readable
	// application, every target's mapping and validation — as a dry run: a submission that would
	// fail is refused (HTTP 422 with every problem; FIT-Connect: rejected) instead of being
	// accepted and failing later. Default: false.
	CheckAtIntake bool `yaml:"check_at_intake"`
	// Payment holds the route's submissions until their payment is complete (docs/payment.md).
	// Optional.
	Payment *Payment `yaml:"payment"`
	// Replies is how replies of Fachverfahren to the route's submissions reach the applicant
	// (docs/replies-delivery.md). Default: channels fitconnect, email, portal, print; the
	// portal's postbox as well.
	Replies *ReplyPolicy `yaml:"replies"`

	// Schema is JSONSchema compiled (nil without one).
	Schema *formdata.Schema `yaml:"-"`
	// MinTrust is MinTrustLevel on amtsbote's scale.
	MinTrust trust.Level `yaml:"-"`
	// Where is file:line of the route, for error messages.
	Where string `yaml:"-"`
	when  *vm.Program
	order int
}

// ApplicationDocument is how a route renders the readable application.
type ApplicationDocument struct {
	// Title heads the document, e.g. "Gewerbeanmeldung"; default: the labels file's title.
	Title string `yaml:"title"`
	// Labels is a labels file (formdoc), relative to the routes file: the German names of the
	// form's fields. Optional: without it fields are named after their keys.
	Labels string `yaml:"labels"`

	// Loaded are the labels read from Labels.
	Loaded formdoc.Labels `yaml:"-"`
	// File is the labels file's path.
	File string `yaml:"-"`
}

// Target is one destination of a route and the message it gets: an XÖV message (mapping and
// schema), a JSON document or a CSV file (a mapping with output json or csv), or the form data
// as JSON (form_data).
type Target struct {
	// Destination is the id of a destination in the main configuration.
	Destination string `yaml:"destination"`
	// Mapping is the mapping file, relative to the routes file.
	Mapping string `yaml:"mapping"`
	// Schema is the id of the schema set an XÖV message is validated against. A JSON or CSV
	// mapping needs none; if it names one, its code lists serve the mapping's code lookups.
	Schema string `yaml:"schema"`
	// FormData, instead of mapping and schema, sends the form data as the portal sent it, as
	// JSON, for a Fachverfahren that takes applications in its own intake format (formdata).
	FormData *FormDataTarget `yaml:"form_data"`
	// Recipient is the receiving authority written into the message header.
	Recipient xoev.Authority `yaml:"recipient"`
	// Header overrides what the message header says about the standard and marks test
	// messages (the Basisnachricht's standard, version and test attributes). Optional.
	Header TargetHeader `yaml:"header"`
	// Standard and StandardVersion are what the header names: Header's, else the schema set's.
	Standard, StandardVersion string `yaml:"-"`

	// Mapper makes the message: the compiled mapping, or a formdata.Mapper.
	Mapper mapping.Mapper `yaml:"-"`
	// Files are the files the target's message depends on (mapping and partials, JSON Schema).
	Files []string `yaml:"-"`
	// Source names what makes the message, for messages: the mapping or the JSON Schema file.
	Source string `yaml:"-"`
}

// TargetHeader is what a target's messages say about their standard, where the schema set's
// standard and version are not what the receiver expects, and the test mark.
type TargetHeader struct {
	// Standard and Version override the schema set's (Basisnachricht standard, version).
	Standard string `yaml:"standard"`
	Version  string `yaml:"version"`
	// Test, when set, marks every message to this target as a test message: the
	// Basisnachricht's test attribute, whose content sender and receiver agree on.
	Test string `yaml:"test"`
}

// Input is the mapping input for this target: in, addressed to the target's recipient, with
// the standard, version and test mark of its header.
func (t Target) Input(in mapping.Input) mapping.Input {
	in.Recipient = t.Recipient
	in.Standard, in.StandardVersion, in.Test = t.Standard, t.StandardVersion, t.Header.Test
	return in
}

// FormDataTarget sends the form data as JSON.
type FormDataTarget struct {
	// MessageType names the message and its file, e.g. Gewerbeanmeldung.
	MessageType string `yaml:"message_type"`
	// JSONSchema is the form's JSON Schema (a FIM data schema), relative to the routes file;
	// the data must fit it. Optional.
	JSONSchema string `yaml:"json_schema"`
}

// Match lists what a route accepts. An empty list accepts anything.
type Match struct {
	// Leistung lists 14-digit service keys.
	Leistung []string `yaml:"leistung"`
	// AGS lists 8-digit municipality keys; a trailing * matches a prefix (e.g. "09162*").
	AGS []string `yaml:"ags"`
	// ARS lists 12-digit regional keys, or prefixes ending in *.
	ARS []string `yaml:"ars"`
	// Portal lists portal ids.
	Portal []string `yaml:"portal"`
	// When is an expression over the submission (submission.*, data.*) that must be true.
	When string `yaml:"when"`
}

// RetryOverride changes a destination's retry policy for one route.
type RetryOverride struct {
	MaxAttempts     int           `yaml:"max_attempts"`
	InitialInterval time.Duration `yaml:"initial_interval"`
	MaxInterval     time.Duration `yaml:"max_interval"`
	MaxAge          time.Duration `yaml:"max_age"`
}

// Submission is what routing looks at.
type Submission struct {
	Leistung, AGS, ARS, Portal, Reference string
	// Channel is portal (a portal's HTTP API) or fitconnect; TrustLevel is the identification's
	// level of assurance on amtsbote's scale (trust), AccountType person, organisation or "".
	Channel, TrustLevel, AccountType string
	Data                             any // the decoded form data
}

// Admits reports whether a submission's level of assurance meets the route's minimum, and if
// not, why.
func (r *Route) Admits(level trust.Level) (bool, string) {
	if level.AtLeast(r.MinTrust) {
		return true, ""
	}
	return false, fmt.Sprintf("route %s requires an identification of at least level %s (min_trust_level); the applicant's is %s",
		r.ID, r.MinTrust, level)
}

// Table is an ordered set of routes.
type Table struct {
	Routes []Route // in the order they are tried
	File   string
}

// Checks tells Load what exists elsewhere in the configuration.
type Checks struct {
	// Schemas are the compiled schema sets by id.
	Schemas map[string]*xoev.SchemaSet
	// Destination reports whether a destination id is configured.
	Destination func(id string) bool
	// PaymentProvider reports whether a payment provider id is configured.
	PaymentProvider func(id string) bool
}

var (
	idPattern       = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)
	leistungPattern = regexp.MustCompile(`^[0-9]{14}$`)
)

// Load reads a routes file, compiles every route's mappings and match expression, and checks
// that everything a route names exists. Every problem is reported with its file:line.
func Load(path string, checks Checks) (*Table, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read routes: %w", err)
	}
	// A strict decode finds unknown keys (yaml names their lines); the nodes give each route's line.
	strict := yaml.NewDecoder(bytes.NewReader(raw))
	strict.KnownFields(true)
	if err := strict.Decode(&struct {
		Routes []Route `yaml:"routes"`
	}{}); err != nil && !errors.Is(err, io.EOF) {
		return nil, yamlfile.Describe(path, raw, err)
	}
	var f struct {
		Routes []yaml.Node `yaml:"routes"`
	}
	if err := yaml.Unmarshal(raw, &f); err != nil {
		return nil, yamlfile.Describe(path, raw, err)
	}
	t := &Table{File: path}
	var errs []error
	seen := map[string]string{}
	mappings := map[string]*mapping.Mapping{} // one compile per file and schema set
	for i, node := range f.Routes {
		where := fmt.Sprintf("%s:%d", path, node.Line)
		var r Route
		if err := node.Decode(&r); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", where, err))
			continue
		}
		r.Where, r.order = where, i
		r.MinTrust, _ = trust.Parse(r.MinTrustLevel) // checked by r.check
		for _, err := range r.check() {
			errs = append(errs, fmt.Errorf("%s: route %q: %w", where, r.ID, err))
		}
		errs = append(errs, r.checkPayment(where, checks)...)
		if first, dup := seen[r.ID]; dup {
			errs = append(errs, fmt.Errorf("%s: route id %q is already used at %s", where, r.ID, first))
		}
		seen[r.ID] = where
		if r.Match.When != "" {
			r.when, err = expr.Compile(r.Match.When, expr.Env(matchEnv{}), expr.AsBool(), expr.Patch(mapping.NilSafe{}))
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: route %q: match.when %q: %v", where, r.ID, r.Match.When, err))
			}
		}
		if d := r.ApplicationDocument; d != nil && d.Labels != "" {
			d.File = yamlfile.Beside(path, d.Labels)
			if d.Loaded, err = formdoc.LoadLabels(d.File); err != nil {
				errs = append(errs, fmt.Errorf("%s: route %q: application_document.labels: %w", where, r.ID, err))
			}
		}
		if r.JSONSchema != "" {
			if r.Schema, err = formdata.LoadSchema(yamlfile.Beside(path, r.JSONSchema)); err != nil {
				errs = append(errs, fmt.Errorf("%s: route %q: json_schema: %w", where, r.ID, err))
			}
		}
		if r.Replies != nil {
			for _, err := range r.Replies.prepare(path) {
				errs = append(errs, fmt.Errorf("%s: route %q: replies: %w", where, r.ID, err))
			}
		}
		lines := targetLines(&node)
		for j := range r.Targets {
			tw := where
			if j < len(lines) {
				tw = fmt.Sprintf("%s:%d", path, lines[j])
			}
			errs = append(errs, r.Targets[j].prepare(path, tw, r.ID, checks, mappings)...)
		}
		t.Routes = append(t.Routes, r)
	}
	if len(f.Routes) == 0 {
		errs = append(errs, fmt.Errorf("%s: no routes: every submission would be refused", path))
	}
	if err := errors.Join(unique(errs)...); err != nil {
		return nil, err
	}
	sort.SliceStable(t.Routes, func(i, j int) bool { return t.Routes[i].Priority > t.Routes[j].Priority })
	return t, nil
}

// unique drops repeated problems (a partial shared by two mappings reports its problems once).
func unique(errs []error) []error {
	seen := map[string]bool{}
	var out []error
	for _, e := range errs {
		if !seen[e.Error()] {
			seen[e.Error()] = true
			out = append(out, e)
		}
	}
	return out
}

// targetLines finds the line of each entry under a route's targets.
func targetLines(route *yaml.Node) []int {
	for i := 0; i+1 < len(route.Content); i += 2 {
		if route.Content[i].Value == "targets" {
			var lines []int
			for _, t := range route.Content[i+1].Content {
				lines = append(lines, t.Line)
			}
			return lines
		}
	}
	return nil
}

func (tg *Target) prepare(routesFile, where, routeID string, checks Checks, cache map[string]*mapping.Mapping) []error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: route %q: %s", where, routeID, fmt.Sprintf(format, args...)))
	}
	if checks.Destination != nil && !checks.Destination(tg.Destination) {
		bad("destination %q is not in the configuration's destinations", tg.Destination)
	}
	if fd := tg.FormData; fd != nil {
		fm := &formdata.Mapper{MessageType: fd.MessageType, File: routesFile}
		tg.Mapper, tg.Source = fm, "form data"
		if fd.JSONSchema != "" {
			file := yamlfile.Beside(routesFile, fd.JSONSchema)
			schema, err := formdata.LoadSchema(file)
			if err != nil {
				bad("form_data.json_schema: %v", err)
				return errs
			}
			fm.Schema, tg.Source, tg.Files = schema, file, []string{file}
		}
		return errs
	}
	var codes *xoev.CodeLists
	if tg.Schema != "" {
		set, ok := checks.Schemas[tg.Schema]
		if !ok {
			bad("schema set %q is not in the configuration's schemas", tg.Schema)
			return errs
		}
		codes = set.CodeLists
		tg.Standard, tg.StandardVersion = set.Standard, set.Version
	}
	if tg.Header.Standard != "" {
		tg.Standard = tg.Header.Standard
	}
	if tg.Header.Version != "" {
		tg.StandardVersion = tg.Header.Version
	}
	file := yamlfile.Beside(routesFile, tg.Mapping)
	if _, err := os.Stat(file); err != nil {
		bad("mapping %s: %v", tg.Mapping, err)
		return errs
	}
	key := file + "\x00" + tg.Schema
	if m, ok := cache[key]; ok {
		tg.Mapper, tg.Files, tg.Source = m, m.Files, m.File
		return errs
	}
	if tg.Schema == "" && mapping.MakesXML(file) {
		bad("mapping %s makes an XÖV message: add schema, the id of the schema set that validates it", tg.Mapping)
		return errs
	}
	m, err := mapping.Load(file, codes)
	if err != nil {
		var le *mapping.LoadError
		if errors.As(err, &le) {
			for _, p := range le.Problems {
				errs = append(errs, errors.New(p))
			}
		} else {
			bad("mapping %s: %v", tg.Mapping, err)
		}
		return errs
	}
	cache[key], tg.Mapper, tg.Files, tg.Source = m, m, m.Files, m.File
	return errs
}

func (r Route) check() []error {
	var errs []error
	if !idPattern.MatchString(r.ID) {
		errs = append(errs, fmt.Errorf("id must match %s", idPattern))
	}
	for _, l := range r.Match.Leistung {
		if !leistungPattern.MatchString(l) {
			errs = append(errs, fmt.Errorf("match.leistung %q: expected 14 digits", l))
		}
	}
	errs = append(errs, checkKeys("match.ags", r.Match.AGS, 8)...)
	errs = append(errs, checkKeys("match.ars", r.Match.ARS, 12)...)
	if len(r.Targets) == 0 {
		errs = append(errs, errors.New("targets must list at least one destination with its mapping and schema"))
	}
	dests := map[string]bool{}
	for i, t := range r.Targets {
		switch {
		case t.Destination == "":
			errs = append(errs, fmt.Errorf("targets[%d] needs a destination", i))
		case t.FormData != nil && (t.Mapping != "" || t.Schema != ""):
			errs = append(errs, fmt.Errorf("targets[%d]: form_data sends the form data as JSON: leave out mapping and schema", i))
		case t.FormData != nil && t.FormData.MessageType == "":
			errs = append(errs, fmt.Errorf("targets[%d]: form_data needs message_type (it names the file)", i))
		case t.FormData == nil && t.Mapping == "":
			errs = append(errs, fmt.Errorf("targets[%d] needs a mapping (and for an XÖV message a schema), or form_data", i))
		case dests[t.Destination]:
			errs = append(errs, fmt.Errorf("targets[%d]: destination %q is listed twice", i, t.Destination))
		}
		dests[t.Destination] = true
	}
	if r.MinTrustLevel != "" {
		if _, err := trust.Parse(r.MinTrustLevel); err != nil {
			errs = append(errs, fmt.Errorf("min_trust_level: %v", err))
		}
	}
	if r.Retry.MaxAttempts < 0 || r.Retry.InitialInterval < 0 || r.Retry.MaxInterval < 0 || r.Retry.MaxAge < 0 {
		errs = append(errs, errors.New("retry values must not be negative"))
	}
	return errs
}

func checkKeys(field string, keys []string, digits int) []error {
	var errs []error
	for _, k := range keys {
		prefix, isPrefix := strings.CutSuffix(k, "*")
		if !regexp.MustCompile(`^[0-9]+$`).MatchString(prefix) || len(prefix) > digits || (!isPrefix && len(prefix) != digits) {
			errs = append(errs, fmt.Errorf("%s %q: expected %d digits, or up to %d digits followed by * for a prefix", field, k, digits, digits))
		}
	}
	return errs
}

// matchEnv is what match.when expressions see.
type matchEnv struct {
	Submission matchSubmission `expr:"submission"`
	Data       map[string]any  `expr:"data"`
}

type matchSubmission struct {
	Leistung    string `expr:"leistung"`
	AGS         string `expr:"ags"`
	ARS         string `expr:"ars"`
	Portal      string `expr:"portal"`
	Reference   string `expr:"reference"`
	Channel     string `expr:"channel"`
	TrustLevel  string `expr:"trust_level"`
	AccountType string `expr:"account_type"`
}

// Match returns the first route (by priority, then file order) that accepts the submission.
func (t *Table) Match(s Submission) (*Route, bool) {
	for i := range t.Routes {
		if t.Routes[i].accepts(s) {
			return &t.Routes[i], true
		}
	}
	return nil, false
}

// Route returns the route with the given id.
func (t *Table) Route(id string) (*Route, bool) {
	for i := range t.Routes {
		if t.Routes[i].ID == id {
			return &t.Routes[i], true
		}
	}
	return nil, false
}

// Target returns the route's target for a destination.
func (r *Route) Target(destination string) (*Target, bool) {
	for i := range r.Targets {
		if r.Targets[i].Destination == destination {
			return &r.Targets[i], true
		}
	}
	return nil, false
}

func (r *Route) accepts(s Submission) bool {
	if !anyMatches(r.Match.Leistung, s.Leistung) || !anyMatches(r.Match.AGS, s.AGS) ||
		!anyMatches(r.Match.ARS, s.ARS) || !anyMatches(r.Match.Portal, s.Portal) {
		return false
	}
	if r.when == nil {
		return true
	}
	data, _ := s.Data.(map[string]any)
	out, err := expr.Run(r.when, matchEnv{
		Submission: matchSubmission{Leistung: s.Leistung, AGS: s.AGS, ARS: s.ARS, Portal: s.Portal, Reference: s.Reference,
			Channel: s.Channel, TrustLevel: s.TrustLevel, AccountType: s.AccountType},
		Data: data,
	})
	return err == nil && out == true
}

func anyMatches(patterns []string, v string) bool {
	if len(patterns) == 0 {
		return true
	}
	for _, p := range patterns {
		if prefix, ok := strings.CutSuffix(p, "*"); ok {
			if strings.HasPrefix(v, prefix) {
				return true
			}
		} else if p == v {
			return true
		}
	}
	return false
}

// SubmissionInfo is what the readable application shows of a submission besides its data.
type SubmissionInfo struct {
	ID, Portal, Reference, Leistung, AGS string
	ReceivedAt                           time.Time
	Data                                 []byte
}

// DocumentFor is the readable application of a submission to a route with an
// application_document (pipeline and golden tests make it the same way).
func DocumentFor(r *Route, s SubmissionInfo, loc *time.Location) formdoc.Document {
	d := r.ApplicationDocument
	title := d.Title
	if title == "" {
		title = d.Loaded.Title
	}
	if title == "" {
		title = "Antrag"
	}
	return formdoc.Document{Title: title, Reference: s.Reference, SubmissionID: s.ID, Leistung: s.Leistung, AGS: s.AGS,
		Portal: s.Portal, ReceivedAt: s.ReceivedAt, Location: loc, Data: s.Data, Labels: d.Loaded, Producer: "amtsbote"}
}
