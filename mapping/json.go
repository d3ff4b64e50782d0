package mapping

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/amtsbote/amtsbote/dataschema"
	"github.com/amtsbote/amtsbote/xoev"
	"github.com/amtsbote/amtsbote/yamlfile"
)

// MediaTypeJSON is the media type of the messages JSON mappings make.
const MediaTypeJSON = "application/json"

// jsonNull is an explicit JSON null (const: null, or empty: null); nil is a missing value.
type jsonNull struct{}

// jsonObject is a JSON object whose members keep the order of the rules that set them.
type jsonObject struct {
	keys   []string
	values map[string]any
	origin map[string]string // member → rule file:line
	lists  map[string]bool   // members made by for_each: another for_each of the field adds to them
}

func newObject() *jsonObject {
	return &jsonObject{values: map[string]any{}, origin: map[string]string{}, lists: map[string]bool{}}
}

// jsonArray is a list made by for_each; origin is each entry's rule.
type jsonArray struct {
	items  []any
	origin []string
}

// jsonSchema compiles the schema a JSON mapping's messages must fit.
func (l *loader) jsonSchema(file string, n *yaml.Node, m *Mapping) {
	if n.Value == "" {
		l.errorf(file, n.Line, "json_schema names a JSON Schema file (a relative path is relative to the mapping)")
		return
	}
	path := yamlfile.Beside(file, n.Value)
	s, err := dataschema.Load(path)
	if err != nil {
		l.errorf(file, n.Line, "json_schema: %v", err)
		return
	}
	m.JSONSchemaFile, m.jsonSchema = path, s
	l.files = append(l.files, path)
}

// jsonRule reads what only JSON fields have: typed const and default, type and empty.
func (l *loader) jsonRule(file string, f map[string]*yaml.Node, r *rule) {
	if n, ok := f["const"]; ok {
		r.jconst = l.jsonConst(file, "const", n)
	}
	if n, ok := f["default"]; ok {
		r.jdef = l.jsonConst(file, "default", n)
	}
	if n, ok := f["type"]; ok {
		switch n.Value {
		case "string", "number", "integer", "boolean":
			r.jsonType = n.Value
		default:
			l.errorf(file, n.Line, "type %q: expected string, number, integer or boolean", n.Value)
		}
	}
	if n, ok := f["empty"]; ok {
		switch n.Value {
		case "omit", "null", "keep":
			r.empty = n.Value
		default:
			l.errorf(file, n.Line, "empty %q: expected omit (leave the field out; the default), null or keep", n.Value)
		}
	}
}

// jsonConst reads a YAML value as the JSON value it stands for: 3 is a number, "3" a text,
// true a boolean, null null.
func (l *loader) jsonConst(file, key string, n *yaml.Node) *jsonConst {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return &jsonConst{v: jsonNull{}}
	}
	var v any
	if err := n.Decode(&v); err != nil {
		l.errorf(file, n.Line, "%s: %v", key, err)
		return &jsonConst{}
	}
	v, err := normalize(v)
	if err != nil {
		l.errorf(file, n.Line, "%s is not a JSON value: %v", key, err)
		return &jsonConst{}
	}
	return &jsonConst{v: v}
}

// normalize turns an expression's result into a JSON value: strings, numbers, booleans, nil,
// []any and map[string]any.
func normalize(v any) (any, error) {
	switch x := v.(type) {
	case nil, string, bool, int, int64, jsonNull:
		return x, nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, fmt.Errorf("%v is not a finite number", x)
		}
		return x, nil
	case float32:
		return normalize(float64(x))
	case time.Time:
		return xoev.DateTime(x), nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			n, err := normalize(e)
			if err != nil {
				return nil, err
			}
			out[i] = n
		}
		return out, nil
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			n, err := normalize(e)
			if err != nil {
				return nil, err
			}
			out[k] = n
		}
		return out, nil
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32:
		return int(rv.Int()), nil
	case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint, reflect.Uint64:
		return normalize(float64(rv.Uint()))
	case reflect.Slice, reflect.Array:
		out := make([]any, rv.Len())
		for i := range out {
			out[i] = rv.Index(i).Interface()
		}
		return normalize(out)
	case reflect.Map:
		if rv.Type().Key().Kind() != reflect.String {
			return nil, fmt.Errorf("a map with %s keys is not a JSON object", rv.Type().Key())
		}
		out := make(map[string]any, rv.Len())
		for _, k := range rv.MapKeys() {
			out[k.String()] = rv.MapIndex(k).Interface()
		}
		return normalize(out)
	case reflect.String:
		return rv.String(), nil
	case reflect.Bool:
		return rv.Bool(), nil
	case reflect.Float32, reflect.Float64:
		return normalize(rv.Float())
	}
	return nil, fmt.Errorf("a %T cannot be written as JSON", v)
}

// convert gives a value the JSON type a field asks for.
func convert(v any, typ string) (any, error) {
	switch typ {
	case "string":
		return toText(v)
	case "number", "integer":
		var f float64
		switch x := v.(type) {
		case int:
			f = float64(x)
		case int64:
			f = float64(x)
		case float64:
			f = x
		case string:
			s := strings.ReplaceAll(strings.TrimSpace(x), ",", ".")
			var err error
			if f, err = strconv.ParseFloat(s, 64); err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
				return nil, fmt.Errorf("%q is not a number", x)
			}
		default:
			return nil, fmt.Errorf("%s is not a number", describeValue(v))
		}
		if typ == "number" {
			return f, nil
		}
		if f != math.Trunc(f) || math.Abs(f) > 1<<53 {
			return nil, fmt.Errorf("%s is not a whole number", describeValue(v))
		}
		return int64(f), nil
	case "boolean":
		switch x := v.(type) {
		case bool:
			return x, nil
		case int, int64, float64:
			switch fmt.Sprint(x) {
			case "1":
				return true, nil
			case "0":
				return false, nil
			}
		case string:
			switch strings.ToLower(strings.TrimSpace(x)) {
			case "true", "ja", "yes", "1", "on", "x":
				return true, nil
			case "false", "nein", "no", "0", "off":
				return false, nil
			}
		}
		return nil, fmt.Errorf("%s is not a yes/no value (true/false, ja/nein, 1/0)", describeValue(v))
	}
	return v, nil
}

func describeValue(v any) string {
	switch x := v.(type) {
	case string:
		return strconv.Quote(x)
	case []any:
		return fmt.Sprintf("a list of %d items", len(x))
	case map[string]any:
		return "an object"
	}
	return fmt.Sprint(v)
}

// mapJSON builds the JSON document: the root object from the rules.
func (r *run) mapJSON() (any, []byte, error) {
	root := newObject()
	r.applyJSON(root, r.m.rules, r.env)
	if len(r.problems) > 0 {
		return nil, nil, &Error{Mapping: r.m.File, Problems: r.problems}
	}
	var b bytes.Buffer
	if err := writeJSON(&b, root, ""); err != nil {
		return nil, nil, fmt.Errorf("write %s: %w", r.m.MessageType, err)
	}
	b.WriteByte('\n')
	return root, b.Bytes(), nil
}

func (r *run) applyJSON(obj *jsonObject, rules []*rule, env map[string]any) {
	for _, rl := range rules {
		if rl.forEach != nil {
			r.jsonList(obj, rl, env)
			continue
		}
		for _, scoped := range r.bindings(rl, env) {
			if !r.holds(rl, scoped) {
				continue
			}
			if v, ok := r.jsonField(rl, scoped); ok {
				r.set(obj, rl, v, false)
			}
		}
	}
}

// jsonList makes the list of a for_each field: one entry per item, empty entries left out;
// with required, a list left empty is an error.
func (r *run) jsonList(obj *jsonObject, rl *rule, env map[string]any) {
	list := &jsonArray{}
	before := len(r.problems)
	for _, scoped := range r.bindings(rl, env) {
		if !r.holds(rl, scoped) {
			continue
		}
		v, ok := r.jsonEntry(rl, scoped, false)
		if ok {
			list.items = append(list.items, v)
			list.origin = append(list.origin, rl.where)
		}
	}
	if len(list.items) > 0 {
		r.set(obj, rl, list, true)
		return
	}
	if rl.required && len(r.problems) == before {
		r.fail(rl.where, rl.name, "required list is empty: for_each %s gives no entries", r.describe(rl.forSrc, env))
		return
	}
	switch rl.empty {
	case "null":
		r.set(obj, rl, jsonNull{}, false)
	case "keep":
		r.set(obj, rl, list, true)
	}
}

// jsonEntry is the value of one item of a for_each field, or of a field; ok is false when it
// is absent or failed. required makes an empty value an error.
func (r *run) jsonEntry(rl *rule, env map[string]any, required bool) (any, bool) {
	if len(rl.children) > 0 {
		child := newObject()
		before := len(r.problems)
		r.applyJSON(child, rl.children, env)
		if len(r.problems) > before {
			return nil, false
		}
		if len(child.keys) == 0 {
			if required {
				r.fail(rl.where, rl.name, "required field is empty: none of its rules produced anything")
			}
			return child, false
		}
		return child, true
	}
	v, ok := r.jsonValue(rl, env, required)
	if !ok || isEmpty(v) {
		return v, false
	}
	return v, true
}

// jsonField is a field's value, with empty values handled as the rule's empty says.
func (r *run) jsonField(rl *rule, env map[string]any) (any, bool) {
	before := len(r.problems)
	v, ok := r.jsonEntry(rl, env, rl.required)
	if ok || len(r.problems) > before {
		return v, ok
	}
	switch rl.empty {
	case "null":
		return jsonNull{}, true
	case "keep":
		if v == nil {
			return jsonNull{}, true
		}
		return v, true
	}
	return nil, false
}

// jsonValue computes a field's value: value or const, translated by map, falling back to
// default, checked by required and converted to type. ok is false when the rule failed.
func (r *run) jsonValue(rl *rule, env map[string]any, required bool) (any, bool) {
	var v any
	switch {
	case rl.jconst != nil:
		v = rl.jconst.v
	case rl.value != nil:
		x, err := r.eval(rl.value, env)
		if err == nil {
			v, err = normalize(x)
		}
		if err != nil {
			r.fail(rl.where, rl.name, "value %s: %v", rl.valueSrc, err)
			return nil, false
		}
	}
	if rl.valueMap != nil && !isEmpty(v) {
		s, err := toText(v)
		if err != nil {
			r.fail(rl.where, rl.name, "value %s: %v", rl.valueSrc, err)
			return nil, false
		}
		mapped, found := rl.valueMap[s]
		switch {
		case found:
			v = mapped
		case rl.jdef != nil:
			v = rl.jdef.v
		default:
			r.fail(rl.where, rl.name, "value %s is %q, which the rule's map does not list (%s)", rl.valueSrc, s, keys(rl.valueMap))
			return nil, false
		}
	}
	if isEmpty(v) && rl.jdef != nil {
		v = rl.jdef.v
	}
	if isEmpty(v) && required {
		r.fail(rl.where, rl.name, "required value %s is empty or missing", r.describe(rl.source(), env))
		return nil, false
	}
	if rl.jsonType != "" && !isEmpty(v) {
		if _, null := v.(jsonNull); !null {
			c, err := convert(v, rl.jsonType)
			if err != nil {
				r.fail(rl.where, rl.name, "value %s: %v", r.describe(rl.source(), env), err)
				return nil, false
			}
			v = c
		}
	}
	return v, true
}

// set writes a member; a for_each field adds to the list another for_each of it began.
func (r *run) set(obj *jsonObject, rl *rule, v any, list bool) {
	if prev, ok := obj.values[rl.name]; ok {
		if pa, isList := prev.(*jsonArray); isList && list && obj.lists[rl.name] {
			add := v.(*jsonArray)
			pa.items = append(pa.items, add.items...)
			pa.origin = append(pa.origin, add.origin...)
			return
		}
		r.fail(rl.where, rl.name, "the field is set twice: the rule at %s set it already", obj.origin[rl.name])
		return
	}
	obj.keys = append(obj.keys, rl.name)
	obj.values[rl.name], obj.origin[rl.name], obj.lists[rl.name] = v, rl.where, list
}

// writeJSON writes a value indented by two spaces, members in the order of their rules.
func writeJSON(b *bytes.Buffer, v any, indent string) error {
	inner := indent + "  "
	switch x := v.(type) {
	case *jsonObject:
		if len(x.keys) == 0 {
			b.WriteString("{}")
			return nil
		}
		b.WriteString("{\n")
		for i, k := range x.keys {
			b.WriteString(inner)
			writeScalar(b, k)
			b.WriteString(": ")
			if err := writeJSON(b, x.values[k], inner); err != nil {
				return err
			}
			if i < len(x.keys)-1 {
				b.WriteByte(',')
			}
			b.WriteByte('\n')
		}
		b.WriteString(indent + "}")
	case *jsonArray:
		if len(x.items) == 0 {
			b.WriteString("[]")
			return nil
		}
		b.WriteString("[\n")
		for i, item := range x.items {
			b.WriteString(inner)
			if err := writeJSON(b, item, inner); err != nil {
				return err
			}
			if i < len(x.items)-1 {
				b.WriteByte(',')
			}
			b.WriteByte('\n')
		}
		b.WriteString(indent + "]")
	case jsonNull, nil:
		b.WriteString("null")
	default:
		var raw bytes.Buffer
		enc := json.NewEncoder(&raw)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(x); err != nil {
			return err
		}
		if err := json.Indent(b, bytes.TrimSpace(raw.Bytes()), indent, "  "); err != nil {
			return err
		}
	}
	return nil
}

func writeScalar(b *bytes.Buffer, v any) {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // a string: cannot fail
	b.Truncate(b.Len() - 1)
}

// jsonPaths maps the path of every value the rules produced ($.a.b[0]) to its rule.
func jsonPaths(v any, path string, out map[string]string) {
	switch x := v.(type) {
	case *jsonObject:
		for _, k := range x.keys {
			p := memberPath(path, k)
			out[p] = x.origin[k]
			jsonPaths(x.values[k], p, out)
		}
	case *jsonArray:
		for i, item := range x.items {
			p := fmt.Sprintf("%s[%d]", path, i)
			out[p] = x.origin[i]
			jsonPaths(item, p, out)
		}
	}
}

var identifier = regexp.MustCompile(`^[A-Za-z_$][A-Za-z0-9_$]*$`)

// memberPath appends a member to a JSON path: $.name, or $["a name"] where it is not a plain name.
func memberPath(path, key string) string {
	if identifier.MatchString(key) {
		return path + "." + key
	}
	q, _ := json.Marshal(key)
	return path + "[" + string(q) + "]"
}

// pathOf writes a JSON Pointer's tokens as a JSON path, looking at the document to tell an
// array index from a member name.
func pathOf(doc any, tokens []string) string {
	path := "$"
	for _, t := range tokens {
		switch x := doc.(type) {
		case []any:
			i, err := strconv.Atoi(t)
			if err != nil || i < 0 || i >= len(x) {
				return memberPath(path, t)
			}
			path, doc = fmt.Sprintf("%s[%d]", path, i), x[i]
		case map[string]any:
			path, doc = memberPath(path, t), x[t]
		default:
			return memberPath(path, t)
		}
	}
	return path
}

// Check validates a message the mapping made against the mapping's JSON Schema (json_schema):
// nil when it fits, else a *xoev.ValidationError whose problems name the JSON path, the
// schema's message and the rule that produced the value (or the nearest enclosing one). An XML
// message is validated against its schema set instead (xoev), and a CSV has no schema: both
// give nil.
func (m *Mapping) Check(msg *Message) error {
	if m.Output != OutputJSON || m.jsonSchema == nil {
		return nil
	}
	err := m.jsonSchema.Validate(msg.XML)
	var ve *dataschema.ValidationError
	if !errors.As(err, &ve) {
		return err
	}
	var doc any
	_ = json.Unmarshal(msg.XML, &doc) // valid JSON: it was validated
	rules := msg.Rules()
	out := &xoev.ValidationError{SchemaSet: filepath.Base(m.JSONSchemaFile)}
	for _, p := range ve.Problems {
		prob := xoev.Problem{Path: pathOf(doc, p.Location), Message: p.Message}
		for n := len(p.Location); n >= 0 && prob.Rule == ""; n-- {
			prob.Rule = rules[pathOf(doc, p.Location[:n])]
		}
		out.Problems = append(out.Problems, prob)
	}
	return out
}
