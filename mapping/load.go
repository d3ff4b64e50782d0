package mapping

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/types"
	"github.com/expr-lang/expr/vm"
	"go.yaml.in/yaml/v3"

	"github.com/amtsbote/amtsbote/dataschema"
	"github.com/amtsbote/amtsbote/xoev"
	"github.com/amtsbote/amtsbote/yamlfile"
)

// Mapping is a compiled mapping file.
type Mapping struct {
	File        string
	Root        string            // prefix:name of the root element
	Namespaces  map[string]string // prefix → namespace URI
	MessageType string            // e.g. Abgabe.Abgabe.0401: names the delivered files
	MessageCode string            // the header's message type code, e.g. 0401
	// MessageCodeList and MessageCodeListVersion name the code list of MessageCode (the
	// standard's list of message types), for headers that write it (header.type_list).
	MessageCodeList, MessageCodeListVersion string
	// SchemaLocation is written as xsi:schemaLocation on the root (namespace, then the schema
	// file), as the XÖV conformance rules ask; validation never follows it.
	SchemaLocation string
	vars           []variable
	rules          []*rule
	codes          *xoev.CodeLists
	aliases        map[string]string // variable → the submission path it stands for
	// Files are the mapping file and every partial it includes.
	Files []string

	// Output is what the mapping makes: xml (an XÖV message; the default), json or csv.
	Output string
	// JSONSchemaFile is the JSON Schema a JSON mapping's messages must fit (json_schema), as a
	// path from the working directory; "" if none.
	JSONSchemaFile string
	jsonSchema     *dataschema.Schema
	csv            csvFormat
	rows           *rule   // a CSV mapping's rows: for_each, as, if; nil: one row per submission
	columns        []*rule // a CSV mapping's columns
}

// The outputs a mapping can make.
const (
	OutputXML  = "xml"
	OutputJSON = "json"
	OutputCSV  = "csv"
)

type variable struct {
	name     string
	where    string
	prog     *vm.Program
	src      string
	required bool
}

type ruleKind int

const (
	elementRule ruleKind = iota
	attributeRule
	fieldRule  // a member of a JSON object
	columnRule // a column of a CSV row
)

type rule struct {
	kind     ruleKind
	where    string // file:line
	name     string // prefix:local or attribute name
	tag      string // the name written: name, without the prefix of a namespace declared as ""
	value    *vm.Program
	valueSrc string
	constant *string
	def      *string
	required bool
	cond     *vm.Program
	condSrc  string
	forEach  *vm.Program
	forSrc   string
	with     *vm.Program
	withSrc  string
	as       string
	itemPath string // the submission path for_each or with reads, when it is a plain path
	valueMap map[string]string
	code     *codeRule
	children []*rule
	// JSON fields: the const and default as typed in YAML, the type a value is converted to,
	// and what an empty value writes (omit, null or keep).
	jconst, jdef *jsonConst
	jsonType     string
	empty        string
}

// jsonConst is a typed YAML value for a JSON field; v is jsonNull{} for null.
type jsonConst struct{ v any }

type codeRule struct {
	list, version string
	name          bool // also write the code's name
	// loaded is the list when the schema set has it (a genericode file or an enumeration in
	// the XSD): values are looked up and checked in it. Without it the code is written as the
	// rule's value, with the rule's list and version.
	loaded *xoev.CodeList
}

// Reserved names in expressions; variables may not take them.
var reserved = map[string]bool{"submission": true, "data": true, "attachments": true, "header": true,
	"index": true, "item": true, "now": true, "uuid": true, "application": true, "object_id": true,
	"fitconnect": true, "xta": true}

// xsiNamespace is the namespace of xsi:schemaLocation.
const xsiNamespace = "http://www.w3.org/2001/XMLSchema-instance"

var (
	qnamePattern = regexp.MustCompile(`^([A-Za-z_][\w.-]*:)?[A-Za-z_][\w.-]*$`)
	varPattern   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

type loader struct {
	files    []string
	codes    *xoev.CodeLists
	options  []expr.Option
	problems []string
	stack    []string // files being loaded, for include cycles
	ns       map[string]string
	output   string // xml, json or csv: which rule keys apply
}

// Load reads and compiles a mapping file. codes are the code lists of the schema set the
// messages are validated against (nil if it has none). Every problem is reported with its
// file:line.
func Load(file string, codes *xoev.CodeLists) (*Mapping, error) {
	l := &loader{codes: codes, options: exprOptions(codes)}
	m := l.loadMain(file)
	if len(l.problems) > 0 {
		return nil, &LoadError{Problems: l.problems}
	}
	m.Files = l.files
	return m, nil
}

// errorf records a problem once, however often a partial with it is included.
func (l *loader) errorf(file string, line int, format string, args ...any) {
	p := fmt.Sprintf("%s:%d: %s", file, line, fmt.Sprintf(format, args...))
	for _, seen := range l.problems {
		if seen == p {
			return
		}
	}
	l.problems = append(l.problems, p)
}

func readYAML(file string) (*yaml.Node, error) {
	raw, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	doc, err := yamlfile.Parse(file, raw)
	if err != nil {
		return nil, err
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s:1: expected a mapping with root, namespaces and rules", file)
	}
	return doc.Content[0], nil
}

// fields returns a mapping node's keys and values, reporting keys not in allowed.
func (l *loader) fields(file string, n *yaml.Node, allowed ...string) map[string]*yaml.Node {
	out := map[string]*yaml.Node{}
	if n.Kind != yaml.MappingNode {
		l.errorf(file, n.Line, "expected a mapping of keys (%s)", strings.Join(allowed, ", "))
		return out
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		ok := false
		for _, a := range allowed {
			ok = ok || a == k.Value
		}
		if !ok {
			l.errorf(file, k.Line, "unknown key %q (expected one of: %s)", k.Value, strings.Join(allowed, ", "))
			continue
		}
		out[k.Value] = v
	}
	return out
}

// mainKeys are the keys of a mapping file for each output.
var mainKeys = map[string][]string{
	OutputXML: {"output", "root", "namespaces", "message_type", "message_code", "message_code_list",
		"message_code_list_version", "schema_location", "vars", "rules"},
	OutputJSON: {"output", "message_type", "json_schema", "vars", "rules"},
	OutputCSV:  {"output", "message_type", "csv", "rows", "vars", "columns"},
}

func (l *loader) loadMain(file string) *Mapping {
	l.files = append(l.files, file)
	node, err := readYAML(file)
	if err != nil {
		l.problems = append(l.problems, err.Error())
		return nil
	}
	l.output = l.outputOf(file, node)
	f := l.mainFields(file, node)
	m := &Mapping{File: file, Output: l.output, Namespaces: map[string]string{}, codes: l.codes, aliases: map[string]string{}}
	str := func(key string, required bool) string {
		v, ok := f[key]
		if !ok || v.Value == "" {
			if required {
				l.errorf(file, node.Line, "%s is required", key)
			}
			return ""
		}
		return v.Value
	}
	m.MessageType = str("message_type", true)
	switch l.output {
	case OutputJSON:
		if n, ok := f["json_schema"]; ok {
			l.jsonSchema(file, n, m)
		}
	case OutputCSV:
		m.csv = l.csvFormat(file, f["csv"])
	default:
		m.Root = str("root", true)
		m.MessageCode = str("message_code", false)
		m.MessageCodeList = str("message_code_list", false)
		m.MessageCodeListVersion = str("message_code_list_version", false)
		m.SchemaLocation = str("schema_location", false)
		if loc := m.SchemaLocation; loc != "" && len(strings.Fields(loc))%2 != 0 {
			l.errorf(file, f["schema_location"].Line, "schema_location %q: expected pairs of namespace and schema file", loc)
		}
		if ns, ok := f["namespaces"]; ok {
			for i := 0; i+1 < len(ns.Content); i += 2 {
				m.Namespaces[ns.Content[i].Value] = ns.Content[i+1].Value
			}
		}
		l.ns = m.Namespaces
		if m.Root != "" {
			l.checkName(file, f["root"].Line, m.Root)
			m.Root = l.tag(m.Root)
		}
	}
	scope := map[string]bool{}
	if vars, ok := f["vars"]; ok {
		l.vars(file, vars, m, scope)
	}
	l.stack = []string{file}
	if l.output == OutputCSV {
		l.csvRows(file, node, f, m, scope)
		return m
	}
	if rules, ok := f["rules"]; ok {
		m.rules = l.rules(file, rules, scope)
	} else {
		l.errorf(file, node.Line, "rules is required")
	}
	return m
}

// MakesXML tells whether a mapping file makes an XÖV message (output xml, the default), which
// a schema set validates. A file that does not read gives false: loading it says why.
func MakesXML(file string) bool {
	node, err := readYAML(file)
	if err != nil {
		return false
	}
	for i := 0; i+1 < len(node.Content); i += 2 {
		if node.Content[i].Value == "output" {
			return node.Content[i+1].Value == OutputXML
		}
	}
	return true
}

// outputOf reads the output key: xml (the default), json or csv.
func (l *loader) outputOf(file string, node *yaml.Node) string {
	for i := 0; i+1 < len(node.Content); i += 2 {
		if k, v := node.Content[i], node.Content[i+1]; k.Value == "output" {
			switch v.Value {
			case OutputXML, OutputJSON, OutputCSV:
				return v.Value
			}
			l.errorf(file, v.Line, "output %q: expected xml (an XÖV message), json or csv", v.Value)
		}
	}
	return OutputXML
}

// mainFields reads the keys of a mapping file. A key of another output is named as such: a
// clearer message than an unknown key.
func (l *loader) mainFields(file string, node *yaml.Node) map[string]*yaml.Node {
	f := map[string]*yaml.Node{}
	allowed := mainKeys[l.output]
outer:
	for i := 0; i+1 < len(node.Content); i += 2 {
		k, v := node.Content[i], node.Content[i+1]
		if slices.Contains(allowed, k.Value) {
			f[k.Value] = v
			continue
		}
		for _, out := range []string{OutputXML, OutputJSON, OutputCSV} {
			if slices.Contains(mainKeys[out], k.Value) {
				l.errorf(file, k.Line, "%s belongs to mappings with output: %s; this one makes %s", k.Value, out, l.output)
				continue outer
			}
		}
		l.errorf(file, k.Line, "unknown key %q (expected one of: %s)", k.Value, strings.Join(allowed, ", "))
	}
	return f
}

func (l *loader) vars(file string, vars *yaml.Node, m *Mapping, scope map[string]bool) {
	if vars.Kind != yaml.MappingNode {
		l.errorf(file, vars.Line, "vars must be a mapping of name: expression")
	}
	for i := 0; i+1 < len(vars.Content); i += 2 {
		k, v := vars.Content[i], vars.Content[i+1]
		where := fmt.Sprintf("%s:%d", file, k.Line)
		switch {
		case !varPattern.MatchString(k.Value):
			l.errorf(file, k.Line, "variable name %q: use letters, digits and _", k.Value)
		case reserved[k.Value]:
			l.errorf(file, k.Line, "variable name %q is reserved", k.Value)
		case scope[k.Value]:
			l.errorf(file, k.Line, "variable %q is defined twice", k.Value)
		}
		src, required := v, false
		if v.Kind == yaml.MappingNode {
			vf := l.fields(file, v, "value", "required")
			if vf["value"] == nil {
				l.errorf(file, v.Line, "variable %s needs value", k.Value)
				continue
			}
			src = vf["value"]
			if req, ok := vf["required"]; ok {
				if err := req.Decode(&required); err != nil {
					l.errorf(file, req.Line, "required must be true or false")
				}
			}
		}
		prog := l.compile(file, src, src.Value, scope)
		if jsonPath(src.Value, nil) == strings.TrimSpace(src.Value) { // a plain path: an alias
			m.aliases[k.Value] = jsonPath(src.Value, m.aliases)
		}
		m.vars = append(m.vars, variable{name: k.Value, where: where, prog: prog, src: src.Value, required: required})
		scope[k.Value] = true
	}
}

// Type is the message type the mapping makes.
func (m *Mapping) Type() string { return m.MessageType }

// tag is the name an element is written with: a prefix declared with the empty namespace
// ("g2g: ”") stands for no namespace, so that one partial serves both the qualified and the
// unqualified variant of a schema (the XÖV Basisnachricht has both).
func (l *loader) tag(name string) string {
	if prefix, local, ok := strings.Cut(name, ":"); ok {
		if ns, declared := l.ns[prefix]; declared && ns == "" {
			return local
		}
	}
	return name
}

func (l *loader) checkName(file string, line int, name string) {
	if !qnamePattern.MatchString(name) {
		l.errorf(file, line, "%q is not an XML name", name)
		return
	}
	if prefix, _, ok := strings.Cut(name, ":"); ok {
		if _, declared := l.ns[prefix]; !declared {
			l.errorf(file, line, "prefix %q of %s is not declared in namespaces", prefix, name)
		}
	}
}

// compile checks an expression against the names in scope.
func (l *loader) compile(file string, node *yaml.Node, src string, scope map[string]bool) *vm.Program {
	env := types.Map{}
	for k, v := range envTypes {
		env[k] = v
	}
	for name := range scope {
		env[name] = types.Any
	}
	prog, err := expr.Compile(src, append([]expr.Option{expr.Env(env)}, l.options...)...)
	if err != nil {
		l.errorf(file, node.Line, "expression %q: %s", src, oneLine(err.Error()))
		return nil
	}
	return prog
}

// envTypes describe what expressions see, so that a misspelt field of submission, header or an
// attachment is found when the mapping loads, not when a submission arrives. The form data is
// free-form.
var envTypes = func() types.Map {
	str, integer := types.String, types.Int
	authority := types.Map{"kennung": str, "praefix": str, "name": str, "kennung_list": str, "kennung_list_version": str,
		"praefix_list": str, "praefix_list_version": str, "verzeichnisdienst": str, "verzeichnisdienst_list_version": str,
		"verzeichnis_kennung": str}
	file := types.Map{"filename": str, "package_name": str, "media_type": str, "size": integer, "sha256": str,
		"title": str, "format": str, "format_version": str, "pdfa": str, "extension": str, "created": str, "object_id": str}
	attachment := types.Map{"index": integer, "number": integer}
	for k, v := range file {
		attachment[k] = v
	}
	return types.Map{
		"submission": types.Map{"id": str, "portal": str, "reference": str, "leistung": str, "ags": str, "ars": str,
			"received_at": str, "received_date": str, "object_id": str, "channel": str, "trust_level": str, "account_type": str},
		// fitconnect is nil unless the submission came from FIT-Connect (docs/fitconnect.md).
		"fitconnect": types.TypeOf(map[string]any{}),
		// xta is nil unless the submission came from an XTA mailbox (docs/xta.md).
		"xta":         types.TypeOf(map[string]any{}),
		"data":        types.TypeOf(map[string]any{}),
		"attachments": types.Array(attachment),
		// application is nil unless the route renders the readable application (application_document).
		"application": types.Map{"object_id": str, "pdf": file, "data": file},
		"header": types.Map{"id": str, "created": str, "type_code": str, "type_list": str, "type_list_version": str,
			"product": str, "product_version": str, "manufacturer": str, "standard": str, "standard_version": str,
			"test": str, "sender": authority, "recipient": authority},
		"now":       types.TypeOf(func() string { return "" }),
		"uuid":      types.TypeOf(func() string { return "" }),
		"object_id": types.TypeOf(func(...any) string { return "" }),
	}
}()

func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " | ")), " ")
}

// ruleKeys are the keys of a rule for each output.
var ruleKeys = map[string][]string{
	OutputXML: {"element", "attribute", "include", "value", "const", "default", "required",
		"if", "for_each", "with", "as", "map", "code", "children"},
	OutputJSON: {"field", "include", "value", "const", "default", "required", "if", "for_each", "with", "as",
		"map", "children", "type", "empty"},
	OutputCSV: {"name", "include", "value", "const", "default", "required", "if", "with", "as", "map"},
}

func (l *loader) rules(file string, n *yaml.Node, scope map[string]bool) []*rule {
	if n.Kind != yaml.SequenceNode {
		l.errorf(file, n.Line, "expected a list of rules")
		return nil
	}
	var out []*rule
	for _, item := range n.Content {
		f := l.fields(file, item, ruleKeys[l.output]...)
		if inc, ok := f["include"]; ok {
			if len(f) > 1 {
				l.errorf(file, item.Line, "an include rule takes no other keys")
			}
			out = append(out, l.include(file, inc, scope)...)
			continue
		}
		if r := l.rule(file, item, f, scope); r != nil {
			out = append(out, r)
		}
	}
	if l.output == OutputJSON {
		l.checkFields(out)
	}
	return out
}

// checkFields finds a field that two rules of one object set unconditionally: the second would
// overwrite the first. Rules with if may take turns; for_each rules of one field add to a list.
func (l *loader) checkFields(rules []*rule) {
	first := map[string]*rule{}
	for _, r := range rules {
		prev, seen := first[r.name]
		switch {
		case !seen:
			first[r.name] = r
		case prev.cond == nil && r.cond == nil && prev.condSrc == "" && r.condSrc == "" && (prev.forSrc == "" || r.forSrc == ""):
			file, line := splitWhere(r.where)
			l.errorf(file, line, "field %q is already set by the rule at %s", r.name, prev.where)
		}
	}
}

func (l *loader) include(file string, inc *yaml.Node, scope map[string]bool) []*rule {
	path := yamlfile.Beside(file, inc.Value)
	for _, f := range l.stack {
		if f == path {
			l.errorf(file, inc.Line, "include %s: includes itself (%s)", inc.Value, strings.Join(append(l.stack, path), " → "))
			return nil
		}
	}
	l.files = append(l.files, path)
	node, err := readYAML(path)
	var ye *yamlfile.Error
	if errors.As(err, &ye) {
		// Where the partial is wrong matters, and where it is included.
		l.problems = append(l.problems, fmt.Sprintf("%v (included at %s:%d)", err, file, inc.Line))
		return nil
	}
	if err != nil {
		l.errorf(file, inc.Line, "include %s: %v", inc.Value, err)
		return nil
	}
	key := "rules"
	if l.output == OutputCSV {
		key = "columns"
	}
	f := l.fields(path, node, key)
	rules, ok := f[key]
	if !ok {
		l.errorf(path, node.Line, "a partial needs %s", key)
		return nil
	}
	l.stack = append(l.stack, path)
	defer func() { l.stack = l.stack[:len(l.stack)-1] }()
	return l.rules(path, rules, scope)
}

func (l *loader) rule(file string, item *yaml.Node, f map[string]*yaml.Node, scope map[string]bool) *rule {
	r := &rule{where: fmt.Sprintf("%s:%d", file, item.Line)}
	el, isEl := f["element"]
	at, isAt := f["attribute"]
	switch {
	case l.output == OutputJSON:
		n, ok := f["field"]
		if !ok || n.Value == "" {
			l.errorf(file, item.Line, "a rule needs field (the name of the JSON member) or include")
			return nil
		}
		r.kind, r.name = fieldRule, n.Value
	case l.output == OutputCSV:
		n, ok := f["name"]
		if !ok || n.Value == "" {
			l.errorf(file, item.Line, "a column needs name (its header) or include")
			return nil
		}
		r.kind, r.name = columnRule, n.Value
	case isEl && isAt, !isEl && !isAt:
		l.errorf(file, item.Line, "a rule needs exactly one of element, attribute or include")
		return nil
	case isEl:
		r.kind, r.name = elementRule, el.Value
		l.checkName(file, el.Line, el.Value)
		r.tag = l.tag(el.Value)
	default:
		r.kind, r.name, r.tag = attributeRule, at.Value, at.Value
		if !qnamePattern.MatchString(at.Value) {
			l.errorf(file, at.Line, "%q is not an attribute name", at.Value)
		}
	}
	inner := scope
	forEach, isFor := f["for_each"]
	with, isWith := f["with"]
	switch {
	case isFor && isWith:
		l.errorf(file, item.Line, "use for_each or with, not both")
	case isFor || isWith:
		if isFor {
			r.forEach, r.forSrc = l.compile(file, forEach, forEach.Value, scope), forEach.Value
		} else {
			r.with, r.withSrc = l.compile(file, with, with.Value, scope), with.Value
		}
		r.as = "item"
		if as, ok := f["as"]; ok {
			r.as = as.Value
			if !varPattern.MatchString(as.Value) || (reserved[as.Value] && as.Value != "item") {
				l.errorf(file, as.Line, "as: %q cannot name the item", as.Value)
			}
		}
		src := r.forSrc + r.withSrc
		if path := jsonPath(src, nil); path == strings.TrimSpace(src) {
			r.itemPath = path
		}
		inner = map[string]bool{}
		for k := range scope {
			inner[k] = true
		}
		inner[r.as], inner["index"] = true, true
	default:
		if as, ok := f["as"]; ok {
			l.errorf(file, as.Line, "as names the item of for_each or with; this rule has neither")
		}
	}
	if n, ok := f["if"]; ok {
		// with for_each or with, the condition is checked for each item
		r.cond, r.condSrc = l.compile(file, n, n.Value, inner), n.Value
	}
	if n, ok := f["value"]; ok {
		r.value, r.valueSrc = l.compile(file, n, n.Value, inner), n.Value
	}
	if n, ok := f["const"]; ok {
		v := n.Value
		r.constant = &v
	}
	if n, ok := f["default"]; ok {
		v := n.Value
		r.def = &v
	}
	if n, ok := f["required"]; ok {
		if err := n.Decode(&r.required); err != nil {
			l.errorf(file, n.Line, "required must be true or false")
		}
	}
	if n, ok := f["map"]; ok {
		if err := n.Decode(&r.valueMap); err != nil {
			l.errorf(file, n.Line, "map must be a mapping of input value: output value")
		}
	}
	if n, ok := f["code"]; ok {
		r.code = l.codeRule(file, n)
	}
	if n, ok := f["children"]; ok {
		r.children = l.rules(file, n, inner)
		if len(r.children) == 0 && n.Kind == yaml.SequenceNode {
			l.errorf(file, n.Line, "%s: children is empty", r.name)
		}
	}
	if r.kind == fieldRule {
		l.jsonRule(file, f, r)
	}
	l.checkRule(file, item.Line, r)
	return r
}

func (l *loader) checkRule(file string, line int, r *rule) {
	sources := 0
	hasValue := r.value != nil || r.valueSrc != ""
	for _, has := range []bool{hasValue, r.constant != nil, len(r.children) > 0} {
		if has {
			sources++
		}
	}
	switch {
	case sources > 1:
		l.errorf(file, line, "%s: use only one of value, const and children", r.name)
	case r.code != nil && !hasValue && r.constant == nil:
		l.errorf(file, line, "%s: code needs the rule's value or const (a code, or a name of one)", r.name)
	case sources == 0 && r.kind == columnRule:
		l.errorf(file, line, "column %s needs value or const", r.name)
	case sources == 0 && r.kind == fieldRule:
		l.errorf(file, line, "field %s needs value, const or children", r.name)
	case sources == 0 && r.kind == attributeRule:
		l.errorf(file, line, "attribute %s needs value or const", r.name)
	case sources == 0:
		l.errorf(file, line, "element %s needs value, const or children", r.name)
	case r.kind == attributeRule && (r.code != nil || len(r.children) > 0):
		l.errorf(file, line, "attribute %s cannot have code or children", r.name)
	case r.valueMap != nil && r.value == nil && r.valueSrc == "":
		l.errorf(file, line, "%s: map translates a value; add value", r.name)
	case r.kind == fieldRule && len(r.children) > 0 && (r.jsonType != "" || r.def != nil):
		l.errorf(file, line, "field %s: type and default apply to a value; this field has children (an object)", r.name)
	}
}

func (l *loader) codeRule(file string, n *yaml.Node) *codeRule {
	f := l.fields(file, n, "list", "version", "name")
	c := &codeRule{}
	if v, ok := f["list"]; ok {
		c.list = v.Value
	}
	if v, ok := f["version"]; ok {
		c.version = v.Value
	}
	if v, ok := f["name"]; ok {
		_ = v.Decode(&c.name)
	}
	if c.list == "" {
		l.errorf(file, n.Line, "code needs list (the code list's URI)")
		return c
	}
	list, found := l.codes.List(c.list, c.version)
	switch {
	case found:
		c.version, c.loaded = list.Version, list
	case c.version == "":
		l.errorf(file, n.Line, "code: code list %s is not loaded (neither among the schema set's code_lists nor enumerated in its XSD), so its version cannot be known: give version, it is written as listVersionID and the code as it is", c.list)
	case c.name:
		l.errorf(file, n.Line, "code: name: true needs the code list %s version %s to know the names, and it is not loaded (add it to the schema set's code_lists)", c.list, c.version)
	}
	return c
}

// Namespace declarations of the root in a stable order.
func (m *Mapping) sortedPrefixes() []string {
	out := make([]string, 0, len(m.Namespaces))
	for p := range m.Namespaces {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}
