// Package sender is the sending side of FIT-Connect, as an online service (Onlinedienst) uses
// it: it fetches a destination's public encryption key, describes the application in metadata
// (schema 1.0.0) with SHA-512 hashes, encrypts metadata, data and each attachment (JWE,
// RSA-OAEP-256 and A256GCM) and submits them. amtsbote uses it to feed the simulator — in
// tests, benchmarks and the demo (amtsbote fitconnect send) — never in production intake.
package sender

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"

	"github.com/google/uuid"
	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/amtsbote/amtsbote/fitconnect"
)

// Attachment is a file of the application.
type Attachment struct {
	Filename, MimeType string
	// Purpose is form, attachment (default) or report.
	Purpose     string
	Description string
	Content     []byte
}

// Application is what a sender submits to a destination.
type Application struct {
	DestinationID string
	Service       fitconnect.ServiceType
	// Data is the form data; DataSchemaURI and DataMimeType name its schema. No data: only
	// attachments are sent.
	Data                        []byte
	DataSchemaURI, DataMimeType string
	Attachments                 []Attachment
	// Metadata are further metadata fields (authenticationInformation, paymentInformation,
	// replyChannel, additionalReferenceInfo…), added as they are.
	Metadata map[string]any
}

// Prepared is an application ready to be sealed and sent. Tests change it on the way to make
// the submissions a delivery service or subscriber must refuse.
type Prepared struct {
	Application
	// Metadata is the metadata document before encryption.
	Metadata map[string]any
	// AttachmentIDs are the attachments' ids, in the order of Application.Attachments.
	AttachmentIDs []string
	// Announced are the attachment ids announced when the submission is created, Upload those
	// uploaded; both default to AttachmentIDs.
	Announced, Upload []string
	// Set by Seal: the JWEs.
	EncryptedMetadata, EncryptedData string
	EncryptedAttachments             map[string]string
	// Set by Send.
	SubmissionID, CaseID string
}

// Prepare describes an application in metadata, with the hashes of its data and files.
func Prepare(app Application) *Prepared {
	p := &Prepared{Application: app, EncryptedAttachments: map[string]string{}}
	var atts []any
	for _, a := range app.Attachments {
		id := uuid.NewString()
		p.AttachmentIDs = append(p.AttachmentIDs, id)
		purpose := a.Purpose
		if purpose == "" {
			purpose = "attachment"
		}
		m := map[string]any{
			"attachmentId": id, "purpose": purpose, "mimeType": a.MimeType,
			"hash": map[string]any{"type": "sha512", "content": fitconnect.SHA512Hex(a.Content)},
		}
		if a.Filename != "" {
			m["filename"] = a.Filename
		}
		if a.Description != "" {
			m["description"] = a.Description
		}
		atts = append(atts, m)
	}
	cs := map[string]any{"attachments": append([]any{}, atts...)}
	if app.Data != nil {
		cs["data"] = map[string]any{
			"hash":             map[string]any{"type": "sha512", "content": fitconnect.SHA512Hex(app.Data)},
			"submissionSchema": map[string]any{"schemaUri": app.DataSchemaURI, "mimeType": app.DataMimeType},
		}
	}
	p.Metadata = map[string]any{
		"contentStructure":  cs,
		"publicServiceType": map[string]any{"name": app.Service.Name, "identifier": app.Service.Identifier},
	}
	maps.Copy(p.Metadata, app.Metadata)
	p.Announced, p.Upload = p.AttachmentIDs, p.AttachmentIDs
	return p
}

// Seal encrypts metadata, data and attachments for the destination's public encryption key.
func (p *Prepared) Seal(pub jwk.Key) error {
	meta, err := json.Marshal(p.Metadata)
	if err != nil {
		return err
	}
	enc, err := fitconnect.Encrypt(pub, meta)
	if err != nil {
		return fmt.Errorf("encrypt the metadata: %w", err)
	}
	p.EncryptedMetadata = string(enc)
	if p.Data != nil {
		if enc, err = fitconnect.Encrypt(pub, p.Data); err != nil {
			return fmt.Errorf("encrypt the data: %w", err)
		}
		p.EncryptedData = string(enc)
	}
	for i, a := range p.Attachments {
		if enc, err = fitconnect.Encrypt(pub, a.Content); err != nil {
			return fmt.Errorf("encrypt %s: %w", a.Filename, err)
		}
		p.EncryptedAttachments[p.AttachmentIDs[i]] = string(enc)
	}
	return nil
}

// Sender submits applications through a delivery service.
type Sender struct {
	API *fitconnect.Client
}

// EncryptionKey fetches a destination's public encryption key and checks it as a sender must
// (RSA 4096, key_ops wrapKey, RSA-OAEP-256, a certificate).
func (s *Sender) EncryptionKey(ctx context.Context, destinationID string) (jwk.Key, error) {
	d, err := s.API.Destination(ctx, destinationID)
	if err != nil {
		return nil, err
	}
	key, err := s.API.PublicKey(ctx, destinationID, d.EncryptionKid)
	if err != nil {
		return nil, err
	}
	if err := fitconnect.CheckKey(key, fitconnect.Encryption, false); err != nil {
		return nil, fmt.Errorf("the encryption key of destination %s: %w", destinationID, err)
	}
	return key, nil
}

// Send creates the submission, uploads its attachments and submits it.
func (s *Sender) Send(ctx context.Context, p *Prepared) error {
	var created struct {
		SubmissionID string `json:"submissionId"`
		CaseID       string `json:"caseId"`
	}
	body, _ := json.Marshal(map[string]any{
		"destinationId": p.DestinationID, "announcedAttachments": nonNil(p.Announced), "serviceType": p.Service,
	})
	if err := s.API.Call(ctx, "create a submission", http.MethodPost, "/submissions", "application/json", body, &created, http.StatusCreated); err != nil {
		return err
	}
	p.SubmissionID, p.CaseID = created.SubmissionID, created.CaseID
	for _, id := range p.Upload {
		if err := s.API.Call(ctx, "upload attachment "+id, http.MethodPut, "/submissions/"+p.SubmissionID+"/attachments/"+id,
			"application/jose", []byte(p.EncryptedAttachments[id]), nil, http.StatusNoContent); err != nil {
			return err
		}
	}
	submit := map[string]any{"encryptedMetadata": p.EncryptedMetadata}
	if p.EncryptedData != "" {
		submit["encryptedData"] = p.EncryptedData
	}
	body, _ = json.Marshal(submit)
	return s.API.Call(ctx, "submit "+p.SubmissionID, http.MethodPut, "/submissions/"+p.SubmissionID, "application/json", body, nil, http.StatusAccepted)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
