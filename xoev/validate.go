package xoev

import (
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/lestrrat-go/libxml2/parser"
	"github.com/lestrrat-go/libxml2/xsd"
)

// Validator checks a message against a schema set. A nil error means valid; an invalid message
// gives a *ValidationError.
type Validator interface {
	Validate(doc []byte) error
}

// ValidationError lists everything the schema found wrong with a message.
type ValidationError struct {
	SchemaSet string
	Problems  []string
}

func (e *ValidationError) Error() string {
	return fmt.Sprintf("message is not valid against %s: %s", e.SchemaSet, strings.Join(e.Problems, "; "))
}

// SchemaSet is a compiled XSD schema set. One SchemaSet is safe for use by many goroutines.
type SchemaSet struct {
	ID        string
	Namespace string
	schema    *xsd.Schema
}

var _ Validator = (*SchemaSet)(nil)

// docParser never loads external DTDs, never substitutes entities and never uses the network.
var docParser = parser.New(parser.XMLParseNoNet)

var warmOnce sync.Once

// Compile parses the root XSD at path (which includes or imports the rest of the set by
// relative paths) once.
func Compile(id, namespace, path string) (*SchemaSet, error) {
	warmOnce.Do(warmUp)
	s, err := xsd.ParseFromFile(path)
	if err != nil {
		return nil, fmt.Errorf("schema set %s: compile %s: %w", id, path, err)
	}
	return &SchemaSet{ID: id, Namespace: namespace, schema: s}, nil
}

// warmUp initialises libxml2's global state from one goroutine before any concurrent use.
func warmUp() {
	if doc, err := docParser.ParseString(`<warm-up/>`); err == nil {
		doc.Free()
	}
}

// Validate parses doc and validates it; the parsed document is always freed.
func (s *SchemaSet) Validate(doc []byte) error {
	d, err := docParser.Parse(doc)
	if err != nil {
		return &ValidationError{SchemaSet: s.ID, Problems: []string{"not well-formed XML: " + err.Error()}}
	}
	defer d.Free()
	if err := s.schema.Validate(d); err != nil {
		var sve xsd.SchemaValidationError
		if errors.As(err, &sve) {
			ve := &ValidationError{SchemaSet: s.ID}
			for _, p := range sve.Errors() {
				ve.Problems = append(ve.Problems, strings.TrimSpace(p.Error()))
			}
			return ve
		}
		return &ValidationError{SchemaSet: s.ID, Problems: []string{err.Error()}}
	}
	return nil
}

// Close frees the compiled schema.
func (s *SchemaSet) Close() {
	s.schema.Free()
}
