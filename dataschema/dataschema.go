// Package dataschema checks JSON documents against JSON Schemas, offline: a form's data against
// its FIM data schema (formdata, fitconnect), and the JSON message a mapping makes against the
// schema of the receiving system (mapping). Every problem names the place in the document.
package dataschema

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// Schema is a compiled JSON Schema.
type Schema struct {
	// File is the schema's path; ID its $id, if it has one.
	File, ID string
	schema   *jsonschema.Schema
}

// Load compiles a JSON Schema file (draft 2020-12 unless it says otherwise). References resolve
// to local files only: a schema that refers to the network does not load.
func Load(path string) (*Schema, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	raw, err := os.ReadFile(abs)
	if err != nil {
		return nil, fmt.Errorf("json schema: %w", err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("json schema %s: not JSON: %v", path, err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	if err := c.AddResource(abs, doc); err != nil {
		return nil, fmt.Errorf("json schema %s: %v", path, err)
	}
	compiled, err := c.Compile(abs)
	if err != nil {
		return nil, fmt.Errorf("json schema %s: %v", path, oneLine(err.Error()))
	}
	s := &Schema{File: path, schema: compiled}
	if m, ok := doc.(map[string]any); ok {
		s.ID, _ = m["$id"].(string)
	}
	return s, nil
}

// Problem is one place where a document does not fit its schema.
type Problem struct {
	Path    string `json:"field"` // as problems name fields elsewhere: inhaber.anschrift.plz, gesellschafter[1].name
	Message string `json:"message"`
	// Location is the place as the tokens of a JSON Pointer (nil: the document itself).
	Location []string `json:"-"`
}

func (p Problem) String() string {
	if p.Path == "" {
		return p.Message
	}
	return p.Path + ": " + p.Message
}

// ValidationError lists every place where the document does not fit the schema.
type ValidationError struct {
	Schema   string
	Problems []Problem
}

func (e *ValidationError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return fmt.Sprintf("the form data does not fit %s:\n%s", e.Schema, strings.Join(lines, "\n"))
}

// Validate checks a JSON document. It returns nil when the document fits, a *ValidationError
// naming every problem when it does not, or another error for a document that is not JSON.
func (s *Schema) Validate(data []byte) error {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("the form data is not JSON: %v", err)
	}
	err = s.schema.Validate(doc)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return err
	}
	return &ValidationError{Schema: filepath.Base(s.File), Problems: problems(ve)}
}

// problems flattens the schema library's tree of causes into the leaves, each with its field.
func problems(ve *jsonschema.ValidationError) []Problem {
	var out []Problem
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			out = append(out, Problem{Path: fieldOf(e.InstanceLocation), Message: e.ErrorKind.LocalizedString(printer),
				Location: e.InstanceLocation})
			return
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(ve)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	seen := map[string]bool{}
	unique := out[:0]
	for _, p := range out {
		key := p.Path + "\x00" + p.Message
		if !seen[key] {
			seen[key] = true
			unique = append(unique, p)
		}
	}
	return unique
}

// printer words the schema library's messages (in English, as amtsbote's other problems).
var printer = message.NewPrinter(language.English)

// fieldOf writes an instance location the way problems name fields: a.b[1].c.
func fieldOf(tokens []string) string {
	var b strings.Builder
	for _, t := range tokens {
		if _, err := strconv.Atoi(t); err == nil && b.Len() > 0 {
			b.WriteString("[" + t + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(t)
	}
	return b.String()
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
