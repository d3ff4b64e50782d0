// Package formdata handles an application's form data as data rather than as an XÖV message:
// it checks the data against the JSON Schema of its form (FIM data schemas are JSON Schema),
// offline, and packs it with the submission's metadata into the JSON message a Fachverfahren
// takes in its own intake format.
package formdata

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/amtsbote/amtsbote/dataschema"
	"github.com/amtsbote/amtsbote/mapping"
	"github.com/amtsbote/amtsbote/xoev"
)

// Schema is a compiled JSON Schema of a form's data (dataschema).
type Schema = dataschema.Schema

// LoadSchema compiles a JSON Schema file (draft 2020-12 unless it says otherwise). References
// resolve to local files only: a schema that refers to the network does not load.
func LoadSchema(path string) (*Schema, error) { return dataschema.Load(path) }

// Problem is one place where the data does not fit its schema.
type Problem = dataschema.Problem

// ValidationError lists every place where the data does not fit the schema.
type ValidationError = dataschema.ValidationError

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
