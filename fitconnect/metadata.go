package fitconnect

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/amtsbote/amtsbote/formdata"
	"github.com/amtsbote/amtsbote/trust"
	"github.com/amtsbote/amtsbote/xoev"
)

// Metadata is a submission's metadata (schema 1.x) as far as amtsbote reads it; the whole
// document is validated against its schema first.
type Metadata struct {
	Schema                    string               `json:"$schema,omitempty"`
	ContentStructure          ContentStructure     `json:"contentStructure"`
	PublicServiceType         *PublicServiceType   `json:"publicServiceType,omitempty"`
	AuthenticationInformation []AuthenticationInfo `json:"authenticationInformation,omitempty"`
	PaymentInformation        map[string]any       `json:"paymentInformation,omitempty"`
	ReplyChannel              map[string]any       `json:"replyChannel,omitempty"`
	AdditionalReferenceInfo   *AdditionalReference `json:"additionalReferenceInfo,omitempty"`
}

// ContentStructure announces the data and the attachments with their hashes.
type ContentStructure struct {
	Data        *DataStructure       `json:"data,omitempty"`
	Attachments []AttachmentMetadata `json:"attachments"`
}

// DataStructure describes the data: its hash and schema.
type DataStructure struct {
	Hash             Hash             `json:"hash"`
	SubmissionSchema SubmissionSchema `json:"submissionSchema"`
}

// SubmissionSchema names the data's schema.
type SubmissionSchema struct {
	SchemaURI string `json:"schemaUri"`
	MimeType  string `json:"mimeType"`
}

// Hash is a SHA-512 hash in hex.
type Hash struct {
	Type    string `json:"type"`
	Content string `json:"content"`
}

// AttachmentMetadata describes one attachment.
type AttachmentMetadata struct {
	AttachmentID string `json:"attachmentId"`
	Hash         Hash   `json:"hash"`
	Purpose      string `json:"purpose"`
	MimeType     string `json:"mimeType"`
	Filename     string `json:"filename,omitempty"`
	Description  string `json:"description,omitempty"`
}

// PublicServiceType is the service (Verwaltungsleistung), ideally by its LeiKa URN.
type PublicServiceType struct {
	Name        string `json:"name,omitempty"`
	Description string `json:"description,omitempty"`
	Identifier  string `json:"identifier"`
}

// AuthenticationInfo is an identification report of the applicant.
type AuthenticationInfo struct {
	Type    string `json:"type"`
	Version string `json:"version"`
	Content string `json:"content"`
}

// AdditionalReference carries the sender's reference and the application date.
type AdditionalReference struct {
	SenderReference string `json:"senderReference,omitempty"`
	ApplicationDate string `json:"applicationDate,omitempty"`
}

// MetadataVersion1 is the metadata schema that documents without $schema follow.
const MetadataVersion1 = "https://schema.fitko.de/fit-connect/metadata/1.0.0/metadata.schema.json"

var metadataSchemaID = regexp.MustCompile(`^https://schema\.fitko\.de/fit-connect/metadata/(\d+\.\d+\.\d+)/metadata\.schema\.json$`)

// MetadataSchemas are the accepted metadata schema versions, by $id.
type MetadataSchemas struct {
	byID map[string]*formdata.Schema
}

// LoadMetadataSchemas compiles metadata schema files (offline); each must carry a FIT-Connect
// metadata $id, which is how a document's $schema picks it.
func LoadMetadataSchemas(files []string) (*MetadataSchemas, error) {
	m := &MetadataSchemas{byID: map[string]*formdata.Schema{}}
	var errs []error
	for _, f := range files {
		s, err := formdata.LoadSchema(f)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !metadataSchemaID.MatchString(s.ID) {
			errs = append(errs, fmt.Errorf("%s: $id %q is not a FIT-Connect metadata schema (https://schema.fitko.de/fit-connect/metadata/<version>/metadata.schema.json)", f, s.ID))
			continue
		}
		if _, dup := m.byID[s.ID]; dup {
			errs = append(errs, fmt.Errorf("%s: metadata schema %s is configured twice", f, s.ID))
			continue
		}
		m.byID[s.ID] = s
	}
	return m, errors.Join(errs...)
}

// Versions lists the accepted versions, e.g. 1.0.0.
func (m *MetadataSchemas) Versions() []string {
	var out []string
	for id := range m.byID {
		out = append(out, metadataSchemaID.FindStringSubmatch(id)[1])
	}
	return out
}

// For returns the schema a metadata document names ($schema; none means 1.0.0).
func (m *MetadataSchemas) For(doc map[string]any) (*formdata.Schema, string, bool) {
	id, _ := doc["$schema"].(string)
	if id == "" {
		id = MetadataVersion1
	}
	s, ok := m.byID[id]
	return s, id, ok
}

// DataSchema checks a submission's data: a JSON Schema or an XSD.
type DataSchema struct {
	URI, File string
	// MediaType is application/json or application/xml.
	MediaType string
	json      *formdata.Schema
	xsd       *xoev.SchemaSet
}

// LoadDataSchema compiles a data schema file: .json is a JSON Schema, .xsd an XML Schema.
func LoadDataSchema(uri, file string) (*DataSchema, error) {
	d := &DataSchema{URI: uri, File: file}
	var err error
	switch strings.ToLower(filepath.Ext(file)) {
	case ".json":
		d.MediaType = "application/json"
		d.json, err = formdata.LoadSchema(file)
	case ".xsd":
		d.MediaType = "application/xml"
		d.xsd, err = xoev.Compile(uri, "", file)
	default:
		err = fmt.Errorf("%s: a data schema is a JSON Schema (.json) or an XSD (.xsd)", file)
	}
	if err != nil {
		return nil, err
	}
	return d, nil
}

// Close frees an XSD's compiled schema.
func (d *DataSchema) Close() {
	if d.xsd != nil {
		d.xsd.Close()
	}
}

// errSyntax marks data that does not parse at all.
type syntaxError struct{ msg string }

func (e *syntaxError) Error() string { return e.msg }

// Check validates data: a *syntaxError if it does not parse, another error naming the
// problems if it does not fit the schema.
func (d *DataSchema) Check(data []byte) error {
	if d.json != nil {
		var probe any
		if err := json.Unmarshal(data, &probe); err != nil {
			return &syntaxError{"the data is not JSON: " + err.Error()}
		}
		return d.json.Validate(data)
	}
	err := d.xsd.Check(data, false)
	var pe *xoev.ParseError
	if errors.As(err, &pe) {
		return &syntaxError{"the data is not well-formed XML: " + pe.Error()}
	}
	return err
}

// TrustLevel reads the level of assurance from the identification reports: the content of a
// report is base64url, a signed token (JWS) or plain JSON, whose levelOfAssurance (or acr)
// claim names the level as eIDAS, BSI or STORK do. The report's signature is not verified
// (docs/fitconnect.md). The strongest level reported counts; none is trust.None.
func TrustLevel(reports []AuthenticationInfo) (trust.Level, string) {
	best, note := trust.None, ""
	for i, r := range reports {
		claims, err := reportClaims(r.Content)
		if err != nil {
			note = fmt.Sprintf("identification report %d: %v", i, err)
			continue
		}
		for _, name := range []string{"levelOfAssurance", "acr", "loa"} {
			v, ok := claims[name].(string)
			if !ok {
				continue
			}
			l, err := trust.Parse(v)
			if err != nil {
				note = fmt.Sprintf("identification report %d: %v", i, err)
				break
			}
			best = max(best, l)
			break
		}
	}
	return best, note
}

func reportClaims(content string) (map[string]any, error) {
	parts := strings.Split(content, ".")
	payload := content
	if len(parts) == 3 {
		payload = parts[1]
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(payload, "="))
	if err != nil {
		return nil, errors.New("not base64url")
	}
	var claims map[string]any
	if err := json.Unmarshal(raw, &claims); err != nil {
		return nil, errors.New("not a JSON object or a signed token")
	}
	return claims, nil
}
