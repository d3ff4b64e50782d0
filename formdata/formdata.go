// Package formdata handles an application's form data as data rather than as an XÖV message:
// it checks the data against the JSON Schema of its form (FIM data schemas are JSON Schema),
// offline, and packs it with the submission's metadata into the JSON message a Fachverfahren
// takes in its own intake format.
package formdata

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/amtsbote/amtsbote/mapping"
	"github.com/amtsbote/amtsbote/xoev"
)

// Schema is a compiled JSON Schema of a form's data.
type Schema struct {
	// File is the schema's path; ID its $id, if it has one.
	File, ID string
	schema   *jsonschema.Schema
}

// LoadSchema compiles a JSON Schema file (draft 2020-12 unless it says otherwise). References
// resolve to local files only: a schema that refers to the network does not load.
func LoadSchema(path string) (*Schema, error) {
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

// Problem is one place where the data does not fit its schema.
type Problem struct {
	Path    string `json:"field"` // as problems name fields elsewhere: inhaber.anschrift.plz, gesellschafter[1].name
	Message string `json:"message"`
}

func (p Problem) String() string {
	if p.Path == "" {
		return p.Message
	}
	return p.Path + ": " + p.Message
}

// ValidationError lists every place where the data does not fit the schema.
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

// Validate checks the form data. It returns nil when the data fits, a *ValidationError naming
// every problem when it does not, or another error for data that is not JSON.
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
			out = append(out, Problem{Path: fieldOf(e.InstanceLocation), Message: e.ErrorKind.LocalizedString(printer)})
			return
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(ve)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	seen := map[Problem]bool{}
	unique := out[:0]
	for _, p := range out {
		if !seen[p] {
			seen[p] = true
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

// Mapper makes the JSON message of a form-data target: the form data as the portal sent it,
// checked against the form's schema, with the submission's metadata and the list of files in
// the package. It implements mapping.Mapper.
type Mapper struct {
	// MessageType names the message and its file (<ProzessID>_<MessageType>.json).
	MessageType string
	// Schema checks the form data; nil checks nothing.
	Schema *Schema
	// File is where the target is configured, for error messages.
	File string
}

var _ mapping.Mapper = (*Mapper)(nil)

// Type is the message type the mapper makes.
func (m *Mapper) Type() string { return m.MessageType }

// MediaType is the media type of the messages Mapper makes.
const MediaType = "application/json"

// Message is the JSON message. Field names are English, as in amtsbote's HTTP API; the form data
// keeps the names of its form.
type Message struct {
	MessageID   string          `json:"message_id"`
	MessageType string          `json:"message_type"`
	CreatedAt   string          `json:"created_at"`
	Submission  Submission      `json:"submission"`
	Sender      Authority       `json:"sender"`
	Recipient   Authority       `json:"recipient"`
	Schema      string          `json:"schema,omitempty"`
	Data        json.RawMessage `json:"data"`
	// DataXML is the form data as sent, when it was sent as XML (Data is then its tree).
	DataXML string `json:"data_xml,omitempty"`
	Files   []File `json:"files"`
}

// Authority is a Behördenkennung and name.
type Authority struct {
	Kennung string `json:"kennung,omitempty"`
	Praefix string `json:"praefix,omitempty"`
	Name    string `json:"name,omitempty"`
}

func authority(a xoev.Authority) Authority {
	return Authority{Kennung: a.Kennung, Praefix: a.Praefix, Name: a.Name}
}

// Submission is what the message says about the submission.
type Submission struct {
	ID         string `json:"id"`
	Portal     string `json:"portal"`
	Reference  string `json:"reference"`
	Leistung   string `json:"leistung"`
	AGS        string `json:"ags"`
	ARS        string `json:"ars,omitempty"`
	ReceivedAt string `json:"received_at"`
}

// File is a file of the package.
type File struct {
	Name      string `json:"name"` // in the package
	Filename  string `json:"filename"`
	Title     string `json:"title,omitempty"`
	MediaType string `json:"media_type"`
	Format    string `json:"format,omitempty"`
	Size      int64  `json:"size"`
	SHA256    string `json:"sha256"`
	// Origin is "portal", or "generated" for the readable application and its data file.
	Origin string `json:"origin"`
}

// Map builds the message. Data that does not fit the schema gives a *ValidationError.
func (m *Mapper) Map(in mapping.Input) (*mapping.Message, error) {
	data := bytes.TrimSpace(in.Data)
	if in.DataXML != nil && m.Schema != nil {
		return nil, fmt.Errorf("form_data.json_schema checks JSON form data, but this submission's data is XML (checked against its XSD at intake)")
	}
	if m.Schema != nil {
		if err := m.Schema.Validate(data); err != nil {
			return nil, err
		}
	}
	now := in.Now
	if now == nil {
		now = time.Now
	}
	h := xoev.NewHeader("", in.Sender, in.Recipient, now, in.NewID)
	msg := Message{
		MessageID: h.MessageID, MessageType: m.MessageType, CreatedAt: xoev.DateTime(h.Created),
		Submission: Submission{ID: in.SubmissionID, Portal: in.Portal, Reference: in.Reference, Leistung: in.Leistung,
			AGS: in.AGS, ARS: in.ARS, ReceivedAt: xoev.DateTime(in.ReceivedAt)},
		Sender: authority(in.Sender), Recipient: authority(in.Recipient), Data: json.RawMessage(data), Files: []File{},
		DataXML: string(in.DataXML),
	}
	if m.Schema != nil {
		msg.Schema = m.Schema.ID
	}
	for _, a := range in.Attachments {
		origin := "portal"
		if a.Generated {
			origin = "generated"
		}
		msg.Files = append(msg.Files, File{Name: a.PackageName, Filename: a.Filename, Title: a.Title, MediaType: a.MediaType,
			Format: a.Format, Size: a.Size, SHA256: a.SHA256, Origin: origin})
	}
	out, err := json.MarshalIndent(msg, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("write %s: %w", m.MessageType, err)
	}
	return &mapping.Message{ID: h.MessageID, Type: m.MessageType, CreatedAt: h.Created, XML: append(out, '\n'), MediaType: MediaType}, nil
}
