package fitconnect_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/amtsbote/amtsbote/fitconnect"
	"github.com/amtsbote/amtsbote/fitconnect/sender"
)

// BenchmarkCheckSubmission is the CPU one FIT-Connect submission costs amtsbote besides the
// pipeline: verifying the delivery service's submit event, decrypting metadata (checked
// against its schema), 10 KB of data (checked against the demo's JSON Schema) and a 100 KB
// attachment, hashing, and signing the accept.
func BenchmarkCheckSubmission(b *testing.B) {
	const keys = "../fixtures/demo/fitconnect/keys/"
	dec, err := fitconnect.LoadPrivateKey(keys+"encryption.private.jwk", fitconnect.Encryption)
	if err != nil {
		b.Fatal(err)
	}
	sig, err := fitconnect.LoadPrivateKey(keys+"signing.private.jwk", fitconnect.Signing)
	if err != nil {
		b.Fatal(err)
	}
	raw, _ := os.ReadFile(keys + "encryption.public.jwk")
	pub, _ := jwk.ParseKey(raw)
	ring, _ := fitconnect.NewKeyRing(dec)
	meta, err := fitconnect.LoadMetadataSchemas([]string{"../fixtures/demo/fitconnect/schemas/metadata.schema.v1.0.0.json"})
	if err != nil {
		b.Fatal(err)
	}
	const uri = "urn:amtsbote:demo:schema:gewerbeanmeldung:1.0"
	ds, err := fitconnect.LoadDataSchema(uri, "../fixtures/demo/schemas/gewerbeanmeldung.schema.json")
	if err != nil {
		b.Fatal(err)
	}
	checker := &fitconnect.Checker{Ring: ring, Metadata: meta, Data: map[string]*fitconnect.DataSchema{uri: ds},
		MaxAttachments: 10, MaxAttachmentBytes: 1 << 20, TempDir: b.TempDir()}

	var demo struct {
		Data map[string]any `json:"data"`
	}
	rawDemo, _ := os.ReadFile("../fixtures/demo/submission.json")
	json.Unmarshal(rawDemo, &demo)
	demo.Data["betrieb"].(map[string]any)["taetigkeit"] = strings.Repeat("Herstellung und Verkauf von Backwaren. ", 250) // ~10 KB
	data, _ := json.Marshal(demo.Data)
	attachment := make([]byte, 100<<10)
	rand.Read(attachment)
	p := sender.Prepare(sender.Application{DestinationID: "5f7c2a1e-8b3d-4e6f-9a0b-1c2d3e4f5a6b", Data: data, DataSchemaURI: uri,
		DataMimeType: "application/json", Service: fitconnect.ServiceType{Identifier: "urn:de:fim:leika:leistung:99050012104000"},
		Attachments: []sender.Attachment{{Filename: "scan.pdf", MimeType: "application/pdf", Content: attachment}}})
	if err := p.Seal(pub); err != nil {
		b.Fatal(err)
	}
	sub := fitconnect.Submission{DestinationID: p.DestinationID, SubmissionID: "0f1e2d3c-4b5a-4968-8776-655443322110",
		CaseID: "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d", Attachments: p.AttachmentIDs, ServiceType: p.Service,
		EncryptedMetadata: p.EncryptedMetadata, EncryptedData: p.EncryptedData}
	tags := fitconnect.AuthenticationTags{Metadata: fitconnect.AuthTag([]byte(p.EncryptedMetadata)), Data: fitconnect.AuthTag([]byte(p.EncryptedData)),
		Attachments: map[string]string{p.AttachmentIDs[0]: fitconnect.AuthTag([]byte(p.EncryptedAttachments[p.AttachmentIDs[0]]))}}
	// The delivery service's submit event, signed (here with the demo signing key).
	submit, _ := fitconnect.NewDecision("http://service", sub.SubmissionID, sub.CaseID, tags, nil, time.Now())
	submit.Events = map[string]json.RawMessage{fitconnect.EventSubmitSubmission: submit.Events[fitconnect.EventAcceptSubmission]}
	token, _ := fitconnect.Sign(sig, submit)
	sigPub, _ := jwk.PublicKeyOf(sig)
	fetch := func(_ context.Context, id string, w io.Writer, _ int64) (int64, error) {
		n, err := io.Copy(w, strings.NewReader(p.EncryptedAttachments[id]))
		return n, err
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sent, problem, err := fitconnect.SubmitTags([]string{token}, sub.SubmissionID, func(string) (jwk.Key, error) { return sigPub, nil })
		if err != nil || problem != nil {
			b.Fatal(err, problem)
		}
		rec, err := checker.Check(context.Background(), sub, sent, nil, fetch)
		if err != nil || len(rec.Problems) > 0 {
			b.Fatal(err, rec.Problems)
		}
		decision, _ := fitconnect.NewDecision(sub.DestinationID, sub.SubmissionID, sub.CaseID, rec.Tags, nil, time.Now())
		if _, err := fitconnect.Sign(sig, decision); err != nil {
			b.Fatal(err)
		}
		if !bytes.Equal(rec.Data, data) {
			b.Fatal("data")
		}
		rec.Close()
	}
}
