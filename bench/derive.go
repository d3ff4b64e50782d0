package bench

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/amtsbote/amtsbote/config"
)

// Scenario configurations are derived from the one bench was given: a copy of the configuration
// file and its routes file, written into the bench's temporary directory and changed for the
// scenario; the given files stay untouched. The paths in them that are relative to the file they
// are in (schema sets and code lists, secrets and keys in files, mappings, JSON Schemas, labels:
// every relative value that names an existing file or directory beside the file) are rewritten
// so that the copy names the same files. What is relative to the working directory — the
// keys under storage, server, portals, receipts and destinations (the store, drop directories,
// the receipts inbox) — stays as it is, so each daemon writes into its own directory.

// SlowDestination is the destination the isolation scenario adds.
const SlowDestination = "bench-slow"

// workingDirKeys are the top-level keys of a configuration whose paths are relative to the
// working directory (docs/configuration.md, "Which directory a path is relative to").
var workingDirKeys = []string{"storage", "server", "portals", "receipts", "destinations"}

type derived struct {
	configDoc, routesDoc yaml.Node
	config, routes       *yaml.Node // the documents' top-level mappings
}

// loadDerived reads a configuration (as the daemon would: config.Load, which also checks it) and
// its routes file as YAML nodes, to be written into dir, with their relative paths rewritten to
// name the same files from there: absolute in the configuration; relative to dir in the routes,
// since routes.Load joins every path of a routes file to the file's directory, absolute or not.
func loadDerived(file, dir string) (*derived, error) {
	cfg, err := config.Load(file)
	if err != nil {
		return nil, err
	}
	dir, err = filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	var d derived
	for _, f := range []struct {
		path  string
		doc   *yaml.Node
		top   **yaml.Node
		skip  []string
		relTo string
	}{
		{file, &d.configDoc, &d.config, workingDirKeys, ""},
		{cfg.Path(cfg.RoutesFile), &d.routesDoc, &d.routes, nil, dir},
	} {
		raw, err := os.ReadFile(f.path)
		if err != nil {
			return nil, err
		}
		if err := yaml.Unmarshal(raw, f.doc); err != nil {
			return nil, fmt.Errorf("%s: %w", f.path, err)
		}
		if f.doc.Kind != yaml.DocumentNode || len(f.doc.Content) != 1 || f.doc.Content[0].Kind != yaml.MappingNode {
			return nil, fmt.Errorf("%s: expected a YAML mapping", f.path)
		}
		*f.top = f.doc.Content[0]
		base, err := filepath.Abs(filepath.Dir(f.path))
		if err != nil {
			return nil, err
		}
		top := *f.top
		for i := 0; i+1 < len(top.Content); i += 2 {
			if !slices.Contains(f.skip, top.Content[i].Value) {
				rebase(top.Content[i+1], base, f.relTo)
			}
		}
	}
	return &d, nil
}

// rebase rewrites every relative string value below n that names an existing file or directory
// in base: to an absolute path, or with relTo set, to a path relative to relTo.
func rebase(n *yaml.Node, base, relTo string) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 1; i < len(n.Content); i += 2 {
			rebase(n.Content[i], base, relTo)
		}
	case yaml.SequenceNode:
		for _, c := range n.Content {
			rebase(c, base, relTo)
		}
	case yaml.ScalarNode:
		v := n.Value
		if n.Tag != "!!str" || v == "" || filepath.IsAbs(v) || strings.Contains(v, "://") {
			return
		}
		p := filepath.Join(base, filepath.FromSlash(v))
		if _, err := os.Stat(p); err != nil {
			return
		}
		if relTo != "" {
			rel, err := filepath.Rel(relTo, p)
			if err != nil {
				return
			}
			p = filepath.ToSlash(rel)
		}
		n.Value, n.Style = p, 0
	}
}

// write writes the derived configuration and its routes into dir and returns the configuration
// file's path.
func (d *derived) write(dir string) (string, error) {
	dir, err := filepath.Abs(dir) // as loadDerived was given
	if err != nil {
		return "", err
	}
	routesFile, configFile := filepath.Join(dir, "routes.yaml"), filepath.Join(dir, "amtsbote.yaml")
	set(d.config, "routes_file", str(routesFile))
	for _, f := range []struct {
		path string
		doc  *yaml.Node
	}{{routesFile, &d.routesDoc}, {configFile, &d.configDoc}} {
		raw, err := yaml.Marshal(f.doc)
		if err != nil {
			return "", err
		}
		if err := os.WriteFile(f.path, raw, 0o600); err != nil {
			return "", err
		}
	}
	return configFile, nil
}

// IsolationConfig writes into dir a configuration derived from file with one more destination,
// SlowDestination: type http, posting to url, with maxInFlight handlers and the default retries.
// Every route sends to it as well, with a copy of its first form_data target (or, without one,
// of its first target), so no new mapping is needed. It returns the new configuration file.
func IsolationConfig(file, dir, url string, maxInFlight int) (string, error) {
	d, err := loadDerived(file, dir)
	if err != nil {
		return "", err
	}
	dests := get(d.config, "destinations")
	if dests == nil || dests.Kind != yaml.SequenceNode {
		return "", fmt.Errorf("%s: no destinations list", file)
	}
	if slices.Contains(destinationIDs(dests), SlowDestination) {
		return "", fmt.Errorf("%s: destination %s exists already; the isolation scenario adds it", file, SlowDestination)
	}
	dests.Content = append(dests.Content, mapping(
		"id", str(SlowDestination), "type", str("http"),
		"options", mapping("url", str(url)),
		"max_in_flight", integer(maxInFlight)))
	routes, err := routeNodes(d.routes)
	if err != nil {
		return "", fmt.Errorf("%s: %w", file, err)
	}
	for _, r := range routes {
		targets := get(r, "targets")
		if targets == nil || targets.Kind != yaml.SequenceNode || len(targets.Content) == 0 {
			return "", fmt.Errorf("route %s has no targets", get(r, "id").Value)
		}
		template := targets.Content[0]
		for _, t := range targets.Content {
			if get(t, "form_data") != nil {
				template = t
				break
			}
		}
		slow := clone(template)
		set(slow, "destination", str(SlowDestination))
		targets.Content = append(targets.Content, slow)
	}
	return d.write(dir)
}

// Shape is a deployment's size: routes, each with its own Leistung, over destinations.
type Shape struct {
	Routes, Destinations int
}

func (s Shape) String() string { return fmt.Sprintf("%dx%d", s.Routes, s.Destinations) }

var shapePattern = regexp.MustCompile(`^([0-9]{1,4})x([0-9]{1,4})$`)

// ParseShape reads ROUTESxDESTINATIONS, e.g. 20x5.
func ParseShape(s string) (Shape, error) {
	m := shapePattern.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return Shape{}, fmt.Errorf("%q is not a shape such as 20x5 (routes x destinations)", s)
	}
	r, _ := strconv.Atoi(m[1])
	d, _ := strconv.Atoi(m[2])
	switch {
	case r < 1 || r > 1000:
		return Shape{}, fmt.Errorf("%q: routes must be 1 to 1000 (one Leistung each, from the last three digits of the submission's)", s)
	case d < 1 || d > 100:
		return Shape{}, fmt.Errorf("%q: destinations must be 1 to 100", s)
	}
	return Shape{Routes: r, Destinations: d}, nil
}

// ShapeKeys are the Leistung keys of a shape's routes: the submission's key with its last three
// digits numbering the routes (route 0 keeps …000).
func ShapeKeys(leistung string, routes int) ([]string, error) {
	if !regexp.MustCompile(`^[0-9]{14}$`).MatchString(leistung) {
		return nil, fmt.Errorf("the submission's leistung %q is not a 14-digit key", leistung)
	}
	if routes > 1000 {
		return nil, fmt.Errorf("%d routes: at most 1000 keys differ in the last three digits", routes)
	}
	keys := make([]string, routes)
	for i := range keys {
		keys[i] = fmt.Sprintf("%s%03d", leistung[:11], i)
	}
	return keys, nil
}

// ShapeDestination names the i-th destination (from 0) of a shape.
func ShapeDestination(i int) string { return fmt.Sprintf("bench-dest-%d", i+1) }

// ShapeConfig writes into dir a configuration of the given shape derived from file, for
// submissions with the given leistung and ags (the load's), and returns the file and the routes'
// Leistung keys (ShapeKeys). The route of file that takes such a submission (by priority and
// order, on leistung and ags; match.when is not evaluated) is the template: route i is a copy of
// it that matches key i, its target j going to destination (i+j) mod Destinations. The
// destinations are file drops into out/<id> in the working directory, with the handlers, retries
// and circuit breaker of the template's first destination. The routes of file are dropped; of
// its destinations only those named elsewhere in the configuration (e.g. the replies' print
// destination) are kept.
func ShapeConfig(file, dir string, s Shape, leistung, ags string) (string, []string, error) {
	keys, err := ShapeKeys(leistung, s.Routes)
	if err != nil {
		return "", nil, err
	}
	d, err := loadDerived(file, dir)
	if err != nil {
		return "", nil, err
	}
	routes, err := routeNodes(d.routes)
	if err != nil {
		return "", nil, fmt.Errorf("%s: %w", file, err)
	}
	template, err := matchingRoute(routes, leistung, ags)
	if err != nil {
		return "", nil, fmt.Errorf("%s: %w", file, err)
	}
	targets := get(template, "targets")
	if targets == nil || targets.Kind != yaml.SequenceNode || len(targets.Content) == 0 {
		return "", nil, fmt.Errorf("route %s has no targets", get(template, "id").Value)
	}
	if len(targets.Content) > s.Destinations {
		return "", nil, fmt.Errorf("shape %s: route %s has %d targets, more than the shape's destinations", s, get(template, "id").Value, len(targets.Content))
	}

	dests := get(d.config, "destinations")
	if dests == nil || dests.Kind != yaml.SequenceNode {
		return "", nil, fmt.Errorf("%s: no destinations list", file)
	}
	first := get(targets.Content[0], "destination")
	var model *yaml.Node
	for _, n := range dests.Content {
		if id := get(n, "id"); id != nil && first != nil && id.Value == first.Value {
			model = n
		}
	}
	named := map[string]bool{}
	for i := 0; i+1 < len(d.config.Content); i += 2 {
		if d.config.Content[i].Value != "destinations" {
			scalars(d.config.Content[i+1], named)
		}
	}
	var kept []*yaml.Node
	for _, n := range dests.Content {
		if id := get(n, "id"); id != nil && named[id.Value] {
			kept = append(kept, n)
		}
	}
	for i := range s.Destinations {
		id := ShapeDestination(i)
		if slices.Contains(destinationIDs(dests), id) {
			return "", nil, fmt.Errorf("%s: destination %s exists already; the shape scenario adds it", file, id)
		}
		n := mapping("id", str(id), "type", str("filedrop"), "options", mapping("path", str("out/"+id)))
		for _, k := range []string{"max_in_flight", "retry", "breaker"} {
			if model != nil && get(model, k) != nil {
				set(n, k, clone(get(model, k)))
			}
		}
		kept = append(kept, n)
	}
	dests.Content = kept

	out := &yaml.Node{Kind: yaml.SequenceNode}
	for i, key := range keys {
		r := clone(template)
		set(r, "id", str(fmt.Sprintf("bench-route-%03d", i+1)))
		match := get(r, "match")
		if match == nil || match.Kind != yaml.MappingNode {
			match = mapping()
			set(r, "match", match)
		}
		set(match, "leistung", &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle, Content: []*yaml.Node{quoted(key)}})
		for j, t := range get(r, "targets").Content {
			set(t, "destination", str(ShapeDestination((i+j)%s.Destinations)))
		}
		out.Content = append(out.Content, r)
	}
	set(d.routes, "routes", out)
	path, err := d.write(dir)
	return path, keys, err
}

// matchingRoute is the route that takes a submission with this leistung and ags: the first by
// priority (higher first), then file order, whose match.leistung and match.ags accept them.
func matchingRoute(routes []*yaml.Node, leistung, ags string) (*yaml.Node, error) {
	type candidate struct {
		node     *yaml.Node
		priority int
	}
	var cs []candidate
	for _, r := range routes {
		var m struct {
			Priority int `yaml:"priority"`
			Match    struct {
				Leistung []string `yaml:"leistung"`
				AGS      []string `yaml:"ags"`
			} `yaml:"match"`
		}
		if err := r.Decode(&m); err != nil {
			return nil, fmt.Errorf("line %d: %w", r.Line, err)
		}
		if matchesAny(m.Match.Leistung, leistung) && matchesAny(m.Match.AGS, ags) {
			cs = append(cs, candidate{r, m.Priority})
		}
	}
	if len(cs) == 0 {
		return nil, fmt.Errorf("no route takes leistung %s for ags %s (the submission's)", leistung, ags)
	}
	slices.SortStableFunc(cs, func(a, b candidate) int { return b.priority - a.priority })
	return cs[0].node, nil
}

// matchesAny is the routes' match rule: an empty list accepts anything; a trailing * a prefix.
func matchesAny(patterns []string, v string) bool {
	if len(patterns) == 0 {
		return true
	}
	for _, p := range patterns {
		if prefix, ok := strings.CutSuffix(p, "*"); ok && strings.HasPrefix(v, prefix) || p == v {
			return true
		}
	}
	return false
}

func routeNodes(top *yaml.Node) ([]*yaml.Node, error) {
	routes := get(top, "routes")
	if routes == nil || routes.Kind != yaml.SequenceNode || len(routes.Content) == 0 {
		return nil, errors.New("the routes file lists no routes")
	}
	for _, r := range routes.Content {
		if r.Kind != yaml.MappingNode {
			return nil, fmt.Errorf("routes file line %d: a route must be a mapping", r.Line)
		}
	}
	return routes.Content, nil
}

func destinationIDs(dests *yaml.Node) []string {
	var ids []string
	for _, n := range dests.Content {
		if id := get(n, "id"); id != nil {
			ids = append(ids, id.Value)
		}
	}
	return ids
}

// scalars collects the scalar values below n.
func scalars(n *yaml.Node, into map[string]bool) {
	if n.Kind == yaml.ScalarNode {
		into[n.Value] = true
	}
	for _, c := range n.Content {
		scalars(c, into)
	}
}

// get returns the value of key in mapping m, or nil.
func get(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// set sets key in mapping m to v, adding it at the end if it is not there.
func set(m *yaml.Node, key string, v *yaml.Node) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content[i+1] = v
			return
		}
	}
	m.Content = append(m.Content, str(key), v)
}

func str(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s} }

// quoted keeps a digit string a string (a Leistung key, not a number).
func quoted(s string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s, Style: yaml.DoubleQuotedStyle}
}

func integer(i int) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.Itoa(i)}
}

func mapping(kv ...any) *yaml.Node {
	m := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	for i := 0; i+1 < len(kv); i += 2 {
		m.Content = append(m.Content, str(kv[i].(string)), kv[i+1].(*yaml.Node))
	}
	return m
}

func clone(n *yaml.Node) *yaml.Node {
	if n == nil {
		return nil
	}
	c := *n
	c.Content = make([]*yaml.Node, len(n.Content))
	for i, k := range n.Content {
		c.Content[i] = clone(k)
	}
	return &c
}

// SubmissionKeys reads the leistung and ags of a submission file, which pick its route.
func SubmissionKeys(file string) (leistung, ags string, err error) {
	raw, err := os.ReadFile(file)
	if err != nil {
		return "", "", fmt.Errorf("submission file: %w", err)
	}
	var sub struct {
		Leistung string `json:"leistung"`
		AGS      string `json:"ags"`
	}
	if err := json.Unmarshal(raw, &sub); err != nil {
		return "", "", fmt.Errorf("submission file %s: %w", file, err)
	}
	return sub.Leistung, sub.AGS, nil
}
