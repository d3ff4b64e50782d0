package formdoc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// ErrInvalidData marks errors caused by the form data itself (not JSON, not
// an object, nested too deeply), as opposed to a failure of the renderer, so
// a caller can tell a bad submission from a bug: errors.Is(err, ErrInvalidData).
var ErrInvalidData = errors.New("invalid form data")

// maxDepth bounds the nesting of the form data. Real forms nest a handful of
// levels; the bound keeps hostile input from exhausting the stack.
const maxDepth = 64

type kind uint8

const (
	kindNull kind = iota
	kindBool
	kindNumber
	kindString
	kindObject
	kindArray
)

// node is a JSON value that, unlike map[string]any, keeps the members of an
// object in the order the portal sent them: that order is the order of the
// form, and the caseworker expects to read the application in it.
type node struct {
	kind kind
	text string // string value, or a number exactly as written
	b    bool
	keys []string // object member names, parallel to vals
	vals []*node  // object member values or array elements
}

func dataError(format string, args ...any) error {
	return fmt.Errorf("formdoc: %w: %s", ErrInvalidData, fmt.Sprintf(format, args...))
}

// parseData decodes the form data, which must be a single JSON object.
func parseData(data []byte) (*node, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, dataError("empty")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, dataError("not JSON: %v", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, dataError("a JSON object is required, got %s", describeToken(tok))
	}
	root, err := parseObject(dec, 1)
	if err != nil {
		return nil, err
	}
	if tok, err := dec.Token(); err != io.EOF {
		if err != nil {
			return nil, dataError("after the object: %v", err)
		}
		return nil, dataError("unexpected %s after the object", describeToken(tok))
	}
	return root, nil
}

func describeToken(tok json.Token) string {
	switch t := tok.(type) {
	case json.Delim:
		if t == '[' {
			return "an array"
		}
		return fmt.Sprintf("%q", t.String())
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", tok)
}

func parseObject(dec *json.Decoder, depth int) (*node, error) {
	n := &node{kind: kindObject}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, dataError("not JSON: %v", err)
		}
		key, ok := tok.(string)
		if !ok {
			return nil, dataError("object key expected, got %s", describeToken(tok))
		}
		v, err := parseValue(dec, depth)
		if err != nil {
			return nil, err
		}
		n.keys = append(n.keys, key)
		n.vals = append(n.vals, v)
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, dataError("not JSON: %v", err)
	}
	return n, nil
}

func parseArray(dec *json.Decoder, depth int) (*node, error) {
	n := &node{kind: kindArray}
	for dec.More() {
		v, err := parseValue(dec, depth)
		if err != nil {
			return nil, err
		}
		n.vals = append(n.vals, v)
	}
	if _, err := dec.Token(); err != nil { // the closing bracket
		return nil, dataError("not JSON: %v", err)
	}
	return n, nil
}

func parseValue(dec *json.Decoder, depth int) (*node, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, dataError("not JSON: %v", err)
	}
	switch t := tok.(type) {
	case json.Delim:
		if depth >= maxDepth {
			return nil, dataError("nested deeper than %d levels", maxDepth)
		}
		switch t {
		case '{':
			return parseObject(dec, depth+1)
		case '[':
			return parseArray(dec, depth+1)
		}
		return nil, dataError("unexpected %q", t.String())
	case string:
		return &node{kind: kindString, text: t}, nil
	case json.Number:
		return &node{kind: kindNumber, text: t.String()}, nil
	case bool:
		return &node{kind: kindBool, b: t}, nil
	case nil:
		return &node{kind: kindNull}, nil
	}
	return nil, dataError("unexpected token %v", tok)
}

type itemKind uint8

const (
	itemHeading itemKind = iota
	itemRow
)

// item is one line of the readable form: a section heading or a
// label/value row, at a nesting depth that decides its indentation.
type item struct {
	kind  itemKind
	depth int
	label string
	value string
}

// walker turns the data tree into items, applying labels, hidden paths and
// the German formatting of values.
type walker struct {
	labels map[string]string
	hidden map[string]bool
	loc    *time.Location
}

func newWalker(l Labels, loc *time.Location) *walker {
	w := &walker{labels: l.Fields, hidden: make(map[string]bool, len(l.Hide)), loc: loc}
	for _, p := range l.Hide {
		w.hidden[p] = true
	}
	return w
}

func joinPath(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

// label returns the configured label of path, or the humanized key.
func (w *walker) label(path, key string) string {
	if l := strings.TrimSpace(w.labels[path]); l != "" {
		return l
	}
	return humanize(key)
}

// object lists the members of an object whose rows sit at depth. A member
// object or array of objects becomes a heading at depth with its content one
// level deeper; a section with nothing to show is left out entirely, heading
// included, so hidden or empty parts leave no orphaned titles behind.
func (w *walker) object(n *node, path string, depth int) []item {
	var out []item
	for i, key := range n.keys {
		p := joinPath(path, key)
		if w.hidden[p] {
			continue
		}
		out = w.member(out, n.vals[i], p, w.label(p, key), depth)
	}
	return out
}

// member appends the items of one value shown under label.
func (w *walker) member(out []item, v *node, path, label string, depth int) []item {
	switch v.kind {
	case kindObject:
		if sub := w.object(v, path, depth+1); len(sub) > 0 {
			out = append(out, item{kind: itemHeading, depth: depth, label: label})
			out = append(out, sub...)
		}
	case kindArray:
		if scalarArray(v) {
			if s, ok := w.joined(v); ok {
				out = append(out, item{kind: itemRow, depth: depth, label: label, value: s})
			}
			return out
		}
		if sub := w.elements(v, path, label, depth+1); len(sub) > 0 {
			out = append(out, item{kind: itemHeading, depth: depth, label: label})
			out = append(out, sub...)
		}
	default:
		if s, ok := w.scalar(v); ok {
			out = append(out, item{kind: itemRow, depth: depth, label: label, value: s})
		}
	}
	return out
}

// elements lists the elements of an array that holds objects (or arrays).
// Each element is named by the label of "path[]" (or the array's own label)
// and its position in the array, counted from 1 as a caseworker would.
func (w *walker) elements(n *node, path, arrayLabel string, depth int) []item {
	p := path + "[]"
	if w.hidden[p] {
		return nil
	}
	name := arrayLabel
	if l := strings.TrimSpace(w.labels[p]); l != "" {
		name = l
	}
	var out []item
	for i, el := range n.vals {
		out = w.member(out, el, p, name+" "+strconv.Itoa(i+1), depth)
	}
	return out
}

func scalarArray(n *node) bool {
	for _, el := range n.vals {
		if el.kind == kindObject || el.kind == kindArray {
			return false
		}
	}
	return true
}

func (w *walker) joined(n *node) (string, bool) {
	var parts []string
	for _, el := range n.vals {
		if s, ok := w.scalar(el); ok {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, ", "), len(parts) > 0
}

// scalar formats a value for reading; ok is false for values left out
// (null and blank strings).
func (w *walker) scalar(n *node) (s string, ok bool) {
	switch n.kind {
	case kindBool:
		if n.b {
			return "Ja", true
		}
		return "Nein", true
	case kindNumber:
		return germanNumber(n.text), true
	case kindString:
		s := strings.TrimSpace(n.text)
		if s == "" {
			return "", false
		}
		return w.formatString(s), true
	}
	return "", false
}

// germanNumber keeps a number as the portal wrote it (no rounding, no digit
// grouping that could turn an identifier into something else) and only
// swaps the decimal point for the German comma.
func germanNumber(lit string) string {
	return strings.Replace(lit, ".", ",", 1)
}

// localDateTimes are date-time forms without an offset; they are read as
// wall-clock time in the document's location.
var localDateTimes = []string{
	"2006-01-02T15:04:05.999999999",
	"2006-01-02T15:04:05",
	"2006-01-02T15:04",
}

// formatString shows ISO dates the German way; any other string is shown as
// sent. Only complete, valid dates are converted, so a reference number that
// merely looks date-like ("2026-13-45") is left untouched.
func (w *walker) formatString(s string) string {
	if len(s) == 10 && s[4] == '-' && s[7] == '-' {
		if t, err := time.Parse("2006-01-02", s); err == nil {
			return t.Format("02.01.2006")
		}
		return s
	}
	if len(s) >= 16 && len(s) <= 40 && s[4] == '-' && s[7] == '-' && (s[10] == 'T' || s[10] == 't') {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			return germanDateTime(t, w.loc)
		}
		for _, layout := range localDateTimes {
			if t, err := time.ParseInLocation(layout, s, w.loc); err == nil {
				return germanDateTime(t, w.loc)
			}
		}
	}
	return s
}

// germanDateTime formats t in loc as "15.01.2026, 10:30 Uhr".
func germanDateTime(t time.Time, loc *time.Location) string {
	return t.In(loc).Format("02.01.2006, 15:04") + " Uhr"
}

// humanize turns a field key into a heading when no label is configured. It
// is deliberately plain so the result is predictable: the key is split at
// "_", "-", "." and spaces and where a lower-case letter is followed by an
// upper-case one, and each word gets an upper-case first letter. Umlaut
// transcriptions are not guessed back: "staatsangehoerigkeit" becomes
// "Staatsangehoerigkeit", "geburts_datum" and "geburtsDatum" both become
// "Geburts Datum". A key without letters or digits is shown as "–".
func humanize(key string) string {
	var words []string
	var cur []rune
	flush := func() {
		if len(cur) > 0 {
			cur[0] = unicode.ToUpper(cur[0])
			words = append(words, string(cur))
			cur = nil
		}
	}
	var prev rune
	for _, r := range key {
		switch {
		case r == '_' || r == '-' || r == '.' || unicode.IsSpace(r):
			flush()
		case unicode.IsUpper(r) && unicode.IsLower(prev):
			flush()
			cur = append(cur, r)
		default:
			cur = append(cur, r)
		}
		prev = r
	}
	flush()
	if len(words) == 0 {
		return "–"
	}
	return strings.Join(words, " ")
}
