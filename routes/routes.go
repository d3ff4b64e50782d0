package routes

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/amtsbote/amtsbote/xoev"
)

// Route sends matching submissions through one mapping to one or more destinations.
type Route struct {
	// ID names the route in status answers and logs.
	ID string `yaml:"id"`
	// Match selects the submissions the route takes.
	Match Match `yaml:"match"`
	// Mapping names the mapping that turns a submission into a message.
	Mapping string `yaml:"mapping"`
	// Schema is the id of the schema set the message is validated against.
	Schema string `yaml:"schema"`
	// Recipient is the receiving authority written into the message header.
	Recipient xoev.Authority `yaml:"recipient"`
	// Destinations receive the message (ids from the main config).
	Destinations []string `yaml:"destinations"`

	// Where is file:line of the route, for error messages.
	Where string `yaml:"-"`
}

// Match lists what a route accepts. An empty list accepts anything.
type Match struct {
	// Leistung lists 14-digit service keys.
	Leistung []string `yaml:"leistung"`
	// AGS lists 8-digit municipality keys; a trailing * matches a prefix (e.g. "09162*").
	AGS []string `yaml:"ags"`
}

// Table is an ordered set of routes.
type Table struct {
	Routes []Route
}

type file struct {
	Routes []yaml.Node `yaml:"routes"`
}

var (
	idPattern       = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)
	leistungPattern = regexp.MustCompile(`^[0-9]{14}$`)
	agsPattern      = regexp.MustCompile(`^[0-9]{1,8}\*?$`)
)

// Load reads and checks a routes file. Every problem is reported with its file:line.
func Load(path string) (*Table, error) {
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
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var f file
	if err := yaml.Unmarshal(raw, &f); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var t Table
	var errs []error
	seen := map[string]string{}
	for _, node := range f.Routes {
		where := fmt.Sprintf("%s:%d", path, node.Line)
		var r Route
		if err := node.Decode(&r); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", where, err))
			continue
		}
		r.Where = where
		for _, err := range r.check() {
			errs = append(errs, fmt.Errorf("%s: route %q: %w", where, r.ID, err))
		}
		if first, dup := seen[r.ID]; dup {
			errs = append(errs, fmt.Errorf("%s: route id %q is already used at %s", where, r.ID, first))
		}
		seen[r.ID] = where
		t.Routes = append(t.Routes, r)
	}
	if len(f.Routes) == 0 {
		errs = append(errs, fmt.Errorf("%s: no routes: every submission would be refused", path))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &t, nil
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
	for _, a := range r.Match.AGS {
		if !agsPattern.MatchString(a) || (!strings.HasSuffix(a, "*") && len(a) != 8) {
			errs = append(errs, fmt.Errorf("match.ags %q: expected 8 digits, or up to 8 digits followed by * for a prefix", a))
		}
	}
	if r.Mapping == "" {
		errs = append(errs, errors.New("mapping must name a mapping"))
	}
	if r.Schema == "" {
		errs = append(errs, errors.New("schema must name a schema set"))
	}
	if len(r.Destinations) == 0 {
		errs = append(errs, errors.New("destinations must list at least one destination"))
	}
	return errs
}

// Match returns the first route that accepts the leistung and ags.
func (t *Table) Match(leistung, ags string) (*Route, bool) {
	for i := range t.Routes {
		if t.Routes[i].accepts(leistung, ags) {
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

func (r *Route) accepts(leistung, ags string) bool {
	return anyMatches(r.Match.Leistung, leistung) && anyMatches(r.Match.AGS, ags)
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
