package mapping

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/amtsbote/amtsbote/xoev"
)

// objectNamespace is the namespace of the name-based UUIDs of the objects of a submission.
var objectNamespace = uuid.MustParse("8d3e0a1c-5a7e-4f3e-9a57-61e7f1d2a4b0")

// ObjectID is the UUID of one object of a submission (a Vorgang, a Dokument), derived from the
// submission's id and the object's name: the same object gets the same UUID in every message of
// the fan-out and in every redelivery, so that a DMS that receives it twice recognises it.
func ObjectID(submissionID string, parts ...string) string {
	name := submissionID
	for _, p := range parts {
		name += "\x00" + p
	}
	return uuid.NewSHA1(objectNamespace, []byte(name)).String()
}

// Input is everything a mapping may use.
type Input struct {
	SubmissionID string
	Portal       string
	Reference    string
	Leistung     string
	AGS          string
	ARS          string
	ReceivedAt   time.Time
	// Data is the form data as the portal sent it, as JSON; data sent as XML is here as its
	// tree (XMLData) and in DataXML as sent.
	Data    json.RawMessage
	DataXML []byte
	// Channel is portal or fitconnect; TrustLevel and AccountType the identification's (trust).
	Channel, TrustLevel, AccountType string
	// FitConnect is what FIT-Connect said about the submission (nil for other channels).
	FitConnect map[string]any
	// XTA is the XTA metadata of a message fetched from an XTA mailbox (nil for other channels).
	XTA         map[string]any
	Attachments []Attachment
	// Sender and Recipient go into the message header.
	Sender    xoev.Authority
	Recipient xoev.Authority
	// Product names the sending system (header.product, product_version, manufacturer); what
	// is empty takes amtsbote's defaults (xoev.Product.WithDefaults).
	Product xoev.Product
	// Standard, StandardVersion and Test are the XÖV standard and version of the message and
	// its test mark (header.standard, standard_version, test), from the target's schema set
	// or the target itself.
	Standard, StandardVersion, Test string
	// Now and NewID are the clock and the UUID source; nil means time.Now and random UUIDs.
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
	// Title is what the portal says the file is; "" if it said nothing.
	Title string
	// Format, FormatVersion and PDFA are what the content shows (fileformat): e.g. pdf, 1.7, 2b.
	Format, FormatVersion, PDFA string
	// Generated marks the files amtsbote made: the readable application (PDF) and its data
	// (JSON). Mappings see them as application, not among the attachments.
	Generated bool
	// CreatedAt is when the file was made, where that is known (generated files); else zero.
	CreatedAt time.Time
}

// Message is a mapped XÖV message.
type Message struct {
	ID        string // the message (process) UUID
	Type      string // e.g. Abgabe.Abgabe.0401
	CreatedAt time.Time
	// XML is the message; JSON where MediaType says so.
	XML []byte
	// MediaType is application/xml for XÖV messages ("" reads as that), application/json for
	// form data (formdata).
	MediaType string
	// rules computes, when a problem needs it, the map from element paths (as libxml2 writes
	// them in validation errors) to the file:line of the mapping rule that produced the element.
	rules func() map[string]string
}

// Rules maps element paths (as libxml2 writes them in validation errors) to the file:line of
// the mapping rule that produced the element. It is computed on demand: valid messages, the
// usual case, never need it.
func (m *Message) Rules() map[string]string {
	if m.rules == nil {
		return nil
	}
	return m.rules()
}

// Annotate adds the producing mapping rule to validation problems that name an element.
func (m *Message) Annotate(problems []xoev.Problem) {
	rules := m.Rules()
	for i, p := range problems {
		if rule, ok := rules[p.Path]; ok {
			problems[i].Rule = rule
		}
	}
}

// Mapper maps a submission into one message type.
type Mapper interface {
	Map(in Input) (*Message, error)
}

// RuleError is a problem one rule had with one submission.
type RuleError struct {
	Where   string // file:line of the rule
	Element string // the element or attribute the rule produces
	Problem string
	// Field is the submission's field the rule's value reads (data.inhaber.geburtsdatum), where
	// the expression names one; "" otherwise.
	Field string
}

func (e RuleError) Error() string {
	if e.Element != "" {
		return fmt.Sprintf("%s: %s: %s", e.Where, e.Element, e.Problem)
	}
	return fmt.Sprintf("%s: %s", e.Where, e.Problem)
}

// Error collects every rule problem of one mapping run: the submission does not fit.
type Error struct {
	Mapping  string
	Problems []RuleError
}

func (e *Error) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.Error()
	}
	return fmt.Sprintf("mapping %s failed:\n%s", e.Mapping, strings.Join(parts, "\n"))
}

// IsMappingError tells whether err is a problem with the submission's data rather than with
// amtsbote itself.
func IsMappingError(err error) bool {
	_, ok := err.(*Error)
	return ok
}

// LoadError lists every problem found while loading a mapping file.
type LoadError struct {
	Problems []string
}

func (e *LoadError) Error() string { return strings.Join(e.Problems, "\n") }
