package mapping

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/amtsbote/amtsbote/xoev"
)

// Input is everything a mapping may use.
type Input struct {
	SubmissionID string
	Portal       string
	Reference    string
	Leistung     string
	AGS          string
	ReceivedAt   time.Time
	// Data is the form data as the portal sent it.
	Data        json.RawMessage
	Attachments []Attachment
	// Sender and Recipient go into the message header.
	Sender    xoev.Authority
	Recipient xoev.Authority
	// Now and NewID are the clock and the UUID source; tests fix them.
	Now   func() time.Time
	NewID func() string
}

// Attachment describes a file of the submission as the delivered package names it.
type Attachment struct {
	Filename    string // as the portal named it
	PackageName string // the name inside the delivered package
	MediaType   string
	Size        int64
	SHA256      string
}

// Message is a mapped XÖV message.
type Message struct {
	ID        string // the ProzessID / message UUID
	Type      string // e.g. Abgabe.Abgabe.0401
	CreatedAt time.Time
	XML       []byte
}

// Mapper maps submissions of one kind into one message type.
type Mapper interface {
	Map(in Input) (*Message, error)
}

// FieldError says which form field made a mapping fail and why.
type FieldError struct {
	Field   string // JSON path, e.g. data.inhaber.nachname
	Problem string
}

func (e FieldError) Error() string { return e.Field + ": " + e.Problem }

// Error collects every field problem of one mapping run.
type Error struct {
	Mapping string
	Fields  []FieldError
}

func (e *Error) Error() string {
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.Error()
	}
	return fmt.Sprintf("mapping %s failed: %s", e.Mapping, strings.Join(parts, "; "))
}

var builtins = map[string]Mapper{}

// Register makes a mapper available to routes under name; it panics on a duplicate name, which
// is a programming error.
func Register(name string, m Mapper) {
	if _, dup := builtins[name]; dup {
		panic("mapping: registered twice: " + name)
	}
	builtins[name] = m
}

// Lookup returns the mapper with the given name.
func Lookup(name string) (Mapper, error) {
	m, ok := builtins[name]
	if !ok {
		names := make([]string, 0, len(builtins))
		for n := range builtins {
			names = append(names, n)
		}
		sort.Strings(names)
		return nil, fmt.Errorf("unknown mapping %q (known: %s)", name, strings.Join(names, ", "))
	}
	return m, nil
}

// IsMappingError tells whether err is a problem with the submission's data rather than with
// amtsbote itself.
func IsMappingError(err error) bool {
	var e *Error
	return errors.As(err, &e)
}
