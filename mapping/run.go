package mapping

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/beevik/etree"
	"github.com/expr-lang/expr/vm"
	"github.com/google/uuid"

	"github.com/amtsbote/amtsbote/xoev"
)

var _ Mapper = (*Mapping)(nil)

type run struct {
	m        *Mapping
	env      map[string]any // what every rule sees: the submission and the variables
	problems []RuleError
	origin   map[*etree.Element]string // element → rule file:line
	vm       vm.VM                     // runs every expression of the run: its stack is reused
}

// Map runs the mapping for one submission. A submission that does not fit gives an *Error
// listing every rule that failed.
func (m *Mapping) Map(in Input) (*Message, error) {
	now, newID := in.Now, in.NewID
	if now == nil {
		now = time.Now
	}
	if newID == nil {
		newID = uuid.NewString
	}
	header := xoev.NewHeader(m.MessageCode, in.Sender, in.Recipient, now, newID)
	header.MessageTypeList, header.MessageTypeListVersion = m.MessageCodeList, m.MessageCodeListVersion
	product := in.Product.WithDefaults()
	header.Product, header.ProductVersion, header.Manufacturer = product.Name, product.Version, product.Manufacturer
	header.Standard, header.StandardVersion, header.Test = in.Standard, in.StandardVersion, in.Test
	env, err := baseEnv(in, header, newID)
	if err != nil {
		return nil, &Error{Mapping: m.File, Problems: []RuleError{{Where: m.File, Problem: err.Error()}}}
	}
	r := &run{m: m, env: env, origin: map[*etree.Element]string{}}
	for _, v := range m.vars {
		val, err := r.eval(v.prog, env)
		switch {
		case err != nil:
			r.failField(v.where, "", r.field(v.src, env), "variable %s = %s: %v", v.name, v.src, err)
		case v.required && isEmpty(val):
			r.failField(v.where, "", r.field(v.src, env), "required value %s is empty or missing", r.describe(v.src, env))
		}
		env[v.name] = val
	}
	switch m.Output {
	case OutputJSON:
		tree, out, err := r.mapJSON()
		if err != nil {
			return nil, err
		}
		return &Message{ID: header.MessageID, Type: m.MessageType, CreatedAt: header.Created, XML: out, MediaType: MediaTypeJSON,
			rules: func() map[string]string {
				paths := map[string]string{"$": m.File}
				jsonPaths(tree, "$", paths)
				return paths
			}}, nil
	case OutputCSV:
		out, err := r.mapCSV()
		if err != nil {
			return nil, err
		}
		return &Message{ID: header.MessageID, Type: m.MessageType, CreatedAt: header.Created, XML: out, MediaType: m.csv.MediaType()}, nil
	}
	doc := etree.NewDocument()
	doc.CreateProcInst("xml", `version="1.0" encoding="UTF-8"`)
	root := doc.CreateElement(m.Root)
	for _, p := range m.sortedPrefixes() {
		switch {
		case m.Namespaces[p] == "":
			// no namespace: its elements are written without prefix (loader.tag)
		case p == "":
			root.CreateAttr("xmlns", m.Namespaces[p])
		default:
			root.CreateAttr("xmlns:"+p, m.Namespaces[p])
		}
	}
	if m.SchemaLocation != "" {
		root.CreateAttr("xmlns:xsi", xsiNamespace)
		root.CreateAttr("xsi:schemaLocation", m.SchemaLocation)
	}
	r.origin[root] = m.File
	r.apply(root, m.rules, env)
	if len(r.problems) > 0 {
		return nil, &Error{Mapping: m.File, Problems: r.problems}
	}
	doc.Indent(2)
	buf := xmlBuffers.Get().(*bytes.Buffer)
	defer xmlBuffers.Put(buf)
	buf.Reset()
	if _, err := doc.WriteTo(buf); err != nil {
		return nil, fmt.Errorf("write %s: %w", m.MessageType, err)
	}
	xml := bytes.Clone(buf.Bytes())
	return &Message{ID: header.MessageID, Type: m.MessageType, CreatedAt: header.Created, XML: xml, MediaType: "application/xml", rules: r.paths}, nil
}

// xmlBuffers hold messages while they are written: a fresh buffer grew by doubling to the
// message's size, allocating about twice the message for every message mapped.
var xmlBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func baseEnv(in Input, h xoev.Header, newID func() string) (map[string]any, error) {
	var data any = map[string]any{}
	if len(in.Data) > 0 {
		if err := json.Unmarshal(in.Data, &data); err != nil {
			return nil, fmt.Errorf("data is not JSON: %v", err)
		}
	}
	file := func(a Attachment) map[string]any {
		created := ""
		if !a.CreatedAt.IsZero() {
			created = xoev.DateTime(a.CreatedAt)
		}
		ext := strings.ToLower(strings.TrimPrefix(path.Ext(a.Filename), "."))
		return map[string]any{
			"filename": a.Filename, "package_name": a.PackageName, "media_type": a.MediaType, "size": int(a.Size),
			"sha256": a.SHA256, "title": a.Title, "format": a.Format, "format_version": a.FormatVersion, "pdfa": a.PDFA,
			"extension": ext, "created": created, "object_id": ObjectID(in.SubmissionID, "dokument", a.PackageName),
		}
	}
	atts := []any{}
	var application map[string]any
	for _, a := range in.Attachments {
		if a.Generated {
			if application == nil {
				application = map[string]any{"object_id": ObjectID(in.SubmissionID, "antrag"), "pdf": nil, "data": nil}
			}
			switch a.Format {
			case "pdf":
				application["pdf"] = file(a)
			case "json":
				application["data"] = file(a)
			}
			continue
		}
		f := file(a)
		f["index"], f["number"] = len(atts), len(atts)+1
		atts = append(atts, f)
	}
	authority := func(a xoev.Authority) map[string]any {
		directory, directoryVersion := a.Directory()
		return map[string]any{"kennung": a.Kennung, "praefix": a.Praefix, "name": a.Name,
			"kennung_list": a.KennungList, "kennung_list_version": a.KennungListVersion,
			"praefix_list": a.PraefixList, "praefix_list_version": a.PraefixListVersion,
			"verzeichnisdienst": directory, "verzeichnisdienst_list_version": directoryVersion,
			"verzeichnis_kennung": a.DirectoryKennung()}
	}
	created := xoev.DateTime(h.Created)
	var fitconnect any // nil, not an empty map, for other channels
	if in.FitConnect != nil {
		fitconnect = in.FitConnect
	}
	var xtaMeta any // nil, not an empty map, for other channels
	if in.XTA != nil {
		xtaMeta = in.XTA
	}
	var app any // nil (not an empty map) when the route renders no application document
	if application != nil {
		app = application
	}
	return map[string]any{
		"submission": map[string]any{
			"id": in.SubmissionID, "portal": in.Portal, "reference": in.Reference, "leistung": in.Leistung,
			"ags": in.AGS, "ars": in.ARS, "received_at": xoev.DateTime(in.ReceivedAt), "received_date": xoev.Date(in.ReceivedAt),
			"object_id": ObjectID(in.SubmissionID, "vorgang"), "channel": in.Channel, "trust_level": in.TrustLevel,
			"account_type": in.AccountType,
		},
		"fitconnect":  fitconnect,
		"xta":         xtaMeta,
		"data":        data,
		"attachments": atts,
		"application": app,
		"header": map[string]any{
			"id": h.MessageID, "created": created, "type_code": h.MessageType, "type_list": h.MessageTypeList,
			"type_list_version": h.MessageTypeListVersion, "product": h.Product, "product_version": h.ProductVersion,
			"manufacturer": h.Manufacturer, "standard": h.Standard, "standard_version": h.StandardVersion, "test": h.Test,
			"sender": authority(h.Sender), "recipient": authority(h.Recipient),
		},
		"now":  func() string { return created },
		"uuid": newID,
		"object_id": func(parts ...any) string {
			names := make([]string, len(parts))
			for i, p := range parts {
				names[i] = fmt.Sprint(p)
			}
			return ObjectID(in.SubmissionID, names...)
		},
	}, nil
}

// fail records a problem; the same problem of the same rule is recorded once (a partial used
// twice with the same data, e.g. the applicant as contact and as sender, fails twice alike).
func (r *run) fail(where, element, format string, args ...any) {
	r.failField(where, element, "", format, args...)
}

// failField records a problem with the submission's field the rule reads.
func (r *run) failField(where, element, field, format string, args ...any) {
	e := RuleError{Where: where, Element: element, Field: field, Problem: fmt.Sprintf(format, args...)}
	for _, p := range r.problems {
		if p == e {
			return
		}
	}
	r.problems = append(r.problems, e)
}

func (r *run) eval(prog *vm.Program, env map[string]any) (any, error) {
	return r.vm.Run(prog, env)
}

func (r *run) apply(parent *etree.Element, rules []*rule, env map[string]any) {
	for _, rl := range rules {
		for _, scoped := range r.bindings(rl, env) {
			if r.holds(rl, scoped) {
				r.emit(parent, rl, scoped)
			}
		}
	}
}

// holds tells whether a rule's if holds (true without one); a failing condition is recorded.
func (r *run) holds(rl *rule, env map[string]any) bool {
	if rl.cond == nil {
		return true
	}
	ok, err := r.eval(rl.cond, env)
	if err != nil {
		r.fail(rl.where, rl.name, "if %s: %v", rl.condSrc, err)
		return false
	}
	return truthy(ok)
}

// bindings are the environments a rule is emitted in: once as is, once with its with-value
// bound, or once per item of its for_each list.
func (r *run) bindings(rl *rule, env map[string]any) []map[string]any {
	switch {
	case rl.with != nil:
		v, err := r.eval(rl.with, env)
		if err != nil {
			r.fail(rl.where, rl.name, "with %s: %v", rl.withSrc, err)
			return nil
		}
		scoped := scope(env, rl.as, v, 0)
		if rl.itemPath != "" {
			scoped[pathKey(rl.as)] = r.expand(rl.itemPath, env)
		}
		return []map[string]any{scoped}
	case rl.forEach != nil:
		items, err := r.eval(rl.forEach, env)
		if err != nil {
			r.fail(rl.where, rl.name, "for_each %s: %v", rl.forSrc, err)
			return nil
		}
		list, ok := items.([]any)
		if items != nil && !ok {
			r.fail(rl.where, rl.name, "for_each %s: the value is not a list", rl.forSrc)
			return nil
		}
		out := make([]map[string]any, len(list))
		for i, item := range list {
			out[i] = scope(env, rl.as, item, i)
			if rl.itemPath != "" {
				out[i][pathKey(rl.as)] = fmt.Sprintf("%s[%d]", r.expand(rl.itemPath, env), i)
			}
		}
		return out
	}
	return []map[string]any{env}
}

// scope is env with the item of a for_each or with bound.
func scope(env map[string]any, as string, item any, index int) map[string]any {
	scoped := make(map[string]any, len(env)+2)
	for k, v := range env {
		scoped[k] = v
	}
	scoped[as], scoped["index"] = item, index
	return scoped
}

// text computes a rule's text: value or const, translated by map, falling back to default.
// ok is false when the rule failed (the problem is recorded).
func (r *run) text(rl *rule, env map[string]any) (string, bool) {
	var s string
	switch {
	case rl.constant != nil:
		s = *rl.constant
	case rl.value != nil:
		v, err := r.eval(rl.value, env)
		if err != nil {
			r.failField(rl.where, rl.name, r.field(rl.valueSrc, env), "value %s: %v", rl.valueSrc, err)
			return "", false
		}
		if s, err = toText(v); err != nil {
			r.failField(rl.where, rl.name, r.field(rl.valueSrc, env), "value %s: %v", rl.valueSrc, err)
			return "", false
		}
	}
	if rl.valueMap != nil && s != "" {
		mapped, found := rl.valueMap[s]
		if !found {
			if rl.def == nil {
				r.failField(rl.where, rl.name, r.field(rl.valueSrc, env), "value %s is %q, which the rule's map does not list (%s)", rl.valueSrc, s, keys(rl.valueMap))
				return "", false
			}
			mapped = *rl.def
		}
		s = mapped
	}
	if s == "" && rl.def != nil {
		s = *rl.def
	}
	if s == "" && rl.required {
		r.failField(rl.where, rl.name, r.field(rl.valueSrc, env), "required value %s is empty or missing", r.describe(rl.source(), env))
		return "", false
	}
	return s, true
}

// pathKey holds, in a scope, the submission path an item name stands for (data.inhaber for
// person), so that errors name the field in the submission. Expressions cannot reach it.
func pathKey(as string) string { return "$path:" + as }

// expand rewrites a path's first name into the submission path it stands for, if known.
func (r *run) expand(path string, env map[string]any) string {
	head, rest, _ := strings.Cut(path, ".")
	full, ok := env[pathKey(head)].(string)
	if !ok {
		full, ok = r.m.aliases[head]
	}
	if !ok {
		return path
	}
	if rest == "" {
		return full
	}
	return full + "." + rest
}

// field is the submission's field an expression reads, if it reads one of data's (data.a.b).
func (r *run) field(src string, env map[string]any) string {
	if src == "" {
		return ""
	}
	if path := r.expand(jsonPath(src, nil), env); path == "data" || strings.HasPrefix(path, "data.") {
		return path
	}
	return ""
}

// describe names the submission path an expression reads, and the expression if it is more.
func (r *run) describe(src string, env map[string]any) string {
	path := r.expand(jsonPath(src, nil), env)
	switch {
	case path == "":
		return src
	case path == strings.TrimSpace(src):
		return path
	}
	return path + " (in " + src + ")"
}

func (rl *rule) source() string {
	if rl.valueSrc != "" {
		return rl.valueSrc
	}
	return "(const)"
}

func keys(m map[string]string) string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, fmt.Sprintf("%q", k))
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

func (r *run) emit(parent *etree.Element, rl *rule, env map[string]any) {
	if rl.kind == attributeRule {
		if s, ok := r.text(rl, env); ok && s != "" {
			parent.CreateAttr(rl.tag, s)
		}
		return
	}
	el := etree.NewElement(rl.tag)
	switch {
	case rl.code != nil:
		if !r.code(el, rl, env) {
			return
		}
	case len(rl.children) > 0:
		before := len(r.problems)
		r.apply(el, rl.children, env)
		if len(r.problems) > before {
			return
		}
	default:
		s, ok := r.text(rl, env)
		if !ok {
			return
		}
		el.SetText(s)
	}
	if el.Text() == "" && len(el.Attr) == 0 && len(el.ChildElements()) == 0 {
		if rl.required {
			r.fail(rl.where, rl.name, "required element is empty: none of its rules produced anything")
		}
		return // optional and empty: left out, so the schema never sees an empty element
	}
	parent.AddChild(el)
	r.origin[el] = rl.where
}

// code writes a code element: the rule's value (a code, or a name or alias of one) looked up in
// the code list, with listURI and listVersionID.
func (r *run) code(el *etree.Element, rl *rule, env map[string]any) bool {
	s, ok := r.text(rl, env)
	if !ok {
		return false
	}
	if s == "" {
		return true // optional and empty: left out
	}
	c := rl.code
	if c.loaded == nil { // a list the set does not hold: the rule's list and version, the code as given
		xoev.WriteCode(el, c.list, c.version, s, "")
		return true
	}
	code, ok := c.loaded.Code(s)
	if !ok {
		r.fail(rl.where, rl.name, "value %s: %q is neither a code nor a name in code list %s version %s", rl.source(), s, c.loaded.URI, c.loaded.Version)
		return false
	}
	name := ""
	if c.name {
		name, _ = c.loaded.Name(code)
	}
	xoev.WriteCode(el, c.list, c.version, code, name)
	return true
}

func truthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case string:
		return strings.TrimSpace(x) != ""
	case []any:
		return len(x) > 0
	case int:
		return x != 0
	case float64:
		return x != 0
	}
	return true
}

// paths maps each produced element's path, written as libxml2 writes it in validation errors
// (prefix:name, with [n] where same-named siblings exist), to its rule.
func (r *run) paths() map[string]string {
	out := make(map[string]string, len(r.origin))
	for el, where := range r.origin {
		out[nodePath(el)] = where
	}
	return out
}

func nodePath(el *etree.Element) string {
	var parts []string
	for e := el; e != nil && e.Tag != ""; e = e.Parent() {
		name := e.FullTag()
		if p := e.Parent(); p != nil {
			same, pos := 0, 0
			for _, sib := range p.ChildElements() {
				if sib.FullTag() == name {
					same++
					if sib == e {
						pos = same
					}
				}
			}
			if same > 1 {
				name = fmt.Sprintf("%s[%d]", name, pos)
			}
		}
		parts = append([]string{"/" + name}, parts...)
	}
	return strings.Join(parts, "")
}
