package fitconnect

import (
	"context"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/google/uuid"
	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/amtsbote/amtsbote/fileformat"
	"github.com/amtsbote/amtsbote/formdata"
	"github.com/amtsbote/amtsbote/trust"
)

// Checker runs the checks FIT-Connect requires before a submission is accepted: the sender's
// authentication tags from the event log, decryption, the metadata against its schema, the
// service, the attachments announced against those uploaded, the SHA-512 hashes of data and
// attachments, and the data against the schema it names.
type Checker struct {
	Ring     *KeyRing
	Metadata *MetadataSchemas
	// Data are the accepted data schemas by schemaUri.
	Data map[string]*DataSchema
	// MaxAttachments and MaxAttachmentBytes (encrypted size) bound a submission.
	MaxAttachments     int
	MaxAttachmentBytes int64
	// TempDir holds decrypted attachments until they are stored.
	TempDir string
}

// Received is a checked submission: its problems (none: it may be accepted) and what it holds.
type Received struct {
	Problems    []Problem
	Metadata    Metadata
	Data        []byte
	DataType    string // application/json or application/xml
	Attachments []ReceivedAttachment
	// Tags are the authentication tags of the JWEs as received (the accept event repeats them).
	Tags AuthenticationTags
	// Leistung is the 14-digit LeiKa key of the service, "" if it has none.
	Leistung string
	// ServiceID is the service's identifier as sent (a LeiKa URN or another URN).
	ServiceID string
	// Trust is the applicant's level of assurance; TrustNote says why a report was not read.
	Trust     trust.Level
	TrustNote string
	// UnknownKIDs are the kids JWEs were encrypted for that the key ring lacks.
	UnknownKIDs []string
}

// unknownKey notes the kid of a JWE the key ring lacks.
func (r *Received) unknownKey(err error, compact []byte) {
	var de *DecryptError
	if errors.As(err, &de) && de.UnknownKey {
		if kid := headerKID(compact); kid != "" && !slices.Contains(r.UnknownKIDs, kid) {
			r.UnknownKIDs = append(r.UnknownKIDs, kid)
		}
	}
}

// ReceivedAttachment is a decrypted attachment, spooled to a file until it is stored.
type ReceivedAttachment struct {
	AttachmentMetadata
	File *os.File
	Size int64
	// SHA512 is the hash of the content (hex).
	SHA512 string
	// Format is what the content shows (fileformat).
	Format fileformat.Format
}

// Close removes the spooled attachments.
func (r *Received) Close() {
	for _, a := range r.Attachments {
		if a.File != nil {
			a.File.Close()
			os.Remove(a.File.Name())
		}
	}
}

// FetchAttachment streams one encrypted attachment into w, at most limit bytes.
type FetchAttachment func(ctx context.Context, attachmentID string, w io.Writer, limit int64) (int64, error)

var leikaRE = regexp.MustCompile(`^urn:de:fim:leika:leistung:([0-9]{14})$`)

// Leistung returns the 14-digit LeiKa key of a service identifier, or "".
func Leistung(identifier string) string {
	if m := leikaRE.FindStringSubmatch(identifier); m != nil {
		return m[1]
	}
	return ""
}

// Check decrypts and checks a submission. sent are the sender's authentication tags from the
// submit-submission event (SubmitTags); tagProblem is the problem finding them, if any. Problems
// go into Received.Problems; an error means the check could not finish (the delivery service
// failed, a file could not be written) and must be retried.
func (c *Checker) Check(ctx context.Context, sub Submission, sent *AuthenticationTags, tagProblem *Problem, fetch FetchAttachment) (*Received, error) {
	r := &Received{ServiceID: sub.ServiceType.Identifier}
	add := func(p Problem) { r.Problems = append(r.Problems, p) }
	if tagProblem != nil {
		add(*tagProblem)
	}
	if sent == nil {
		sent = &AuthenticationTags{}
	}
	maxPlain := max(c.MaxAttachmentBytes, 64<<20)

	// Metadata: nothing else can be checked without it.
	r.Tags.Metadata = AuthTag([]byte(sub.EncryptedMetadata))
	if sub.EncryptedMetadata == "" {
		add(NewProblem("encryption-issue", InstanceMetadata, "The submission has no encrypted metadata."))
		return r, nil
	}
	plain, err := Decrypt(c.Ring, []byte(sub.EncryptedMetadata), maxPlain)
	if err != nil {
		r.unknownKey(err, []byte(sub.EncryptedMetadata))
		add(NewProblem("encryption-issue", InstanceMetadata, "The metadata could not be decrypted: %v.", err))
		return r, nil
	}
	if sent.Metadata != "" && sent.Metadata != r.Tags.Metadata {
		add(NewProblem("incorrect-authentication-tag", InstanceMetadata, "The metadata's authentication tag is not the one of the submit-submission event."))
	}
	var doc map[string]any
	if err := json.Unmarshal(plain, &doc); err != nil {
		add(NewProblem("syntax-violation", InstanceMetadata, "The metadata is not a JSON object: %v.", err))
		return r, nil
	}
	schema, id, ok := c.Metadata.For(doc)
	if !ok {
		add(NewProblem("unsupported-schema", InstanceMetadata, "The metadata schema %s is not supported (supported versions: %s).", id, strings.Join(c.Metadata.Versions(), ", ")))
		return r, nil
	}
	if err := schema.Validate(plain); err != nil {
		add(NewProblem("schema-violation", InstanceMetadata, "The metadata does not match schema %s: %s.", id, schemaDetail(err)))
		return r, nil
	}
	if err := json.Unmarshal(plain, &r.Metadata); err != nil {
		add(NewProblem("schema-violation", InstanceMetadata, "The metadata cannot be read: %v.", err))
		return r, nil
	}
	md := r.Metadata

	// The service.
	if pst := md.PublicServiceType; pst != nil {
		r.ServiceID = pst.Identifier
		if sub.ServiceType.Identifier != "" && pst.Identifier != sub.ServiceType.Identifier {
			add(NewProblem("service-mismatch", InstanceMetadata, "The metadata names service %s, the submission %s.", pst.Identifier, sub.ServiceType.Identifier))
		}
	}
	r.Leistung = Leistung(r.ServiceID)
	r.Trust, r.TrustNote = TrustLevel(md.AuthenticationInformation)

	// Attachments: announced in the metadata against those uploaded.
	announced := map[string]AttachmentMetadata{}
	for _, a := range md.ContentStructure.Attachments {
		announced[strings.ToLower(a.AttachmentID)] = a
	}
	uploaded := map[string]bool{}
	for _, id := range sub.Attachments {
		uploaded[strings.ToLower(id)] = true
		if _, ok := announced[strings.ToLower(id)]; !ok {
			add(NewProblem("attachments-mismatch", InstanceMetadata, "Attachment %s was uploaded but the metadata does not describe it.", id))
		}
	}
	for _, a := range md.ContentStructure.Attachments {
		if !uploaded[strings.ToLower(a.AttachmentID)] {
			add(NewProblem("missing-attachment", InstanceAttachment(a.AttachmentID), "Attachment %s is described in the metadata but was not uploaded.", a.AttachmentID))
		}
	}
	if c.MaxAttachments > 0 && len(sub.Attachments) > c.MaxAttachments {
		add(NewProblem("technical-error", InstanceSubmission, "The submission has %d attachments; this authority accepts at most %d.", len(sub.Attachments), c.MaxAttachments))
		return r, nil
	}

	// Data.
	c.checkData(r, sub, sent, maxPlain, add)

	// Each attachment, one at a time: downloaded to a file, decrypted, hashed.
	if r.Attachments == nil {
		r.Attachments = []ReceivedAttachment{}
	}
	r.Tags.Attachments = map[string]string{}
	for _, id := range sub.Attachments {
		meta, ok := announced[strings.ToLower(id)]
		if !ok {
			continue
		}
		a, err := c.attachment(ctx, id, meta, sent, fetch, maxPlain, r, add)
		if err != nil {
			r.Close()
			return nil, err
		}
		if a != nil {
			r.Attachments = append(r.Attachments, *a)
		}
	}
	return r, nil
}

func (c *Checker) checkData(r *Received, sub Submission, sent *AuthenticationTags, maxPlain int64, add func(Problem)) {
	ds := r.Metadata.ContentStructure.Data
	switch {
	case ds == nil && sub.EncryptedData == "":
		return // a submission of attachments only
	case ds != nil && sub.EncryptedData == "":
		add(NewProblem("missing-data", InstanceData, "The metadata describes data, but the submission carries none."))
		return
	case ds == nil:
		add(NewProblem("missing-schema", InstanceData, "The submission carries data, but the metadata names no schema and hash for it (contentStructure.data)."))
		return
	}
	r.Tags.Data = AuthTag([]byte(sub.EncryptedData))
	data, err := Decrypt(c.Ring, []byte(sub.EncryptedData), maxPlain)
	if err != nil {
		r.unknownKey(err, []byte(sub.EncryptedData))
		add(NewProblem("encryption-issue", InstanceData, "The data could not be decrypted: %v.", err))
		return
	}
	if sent.Data != "" && sent.Data != r.Tags.Data {
		add(NewProblem("incorrect-authentication-tag", InstanceData, "The data's authentication tag is not the one of the submit-submission event."))
	}
	if got := sha512Hex(data); !strings.EqualFold(got, ds.Hash.Content) {
		add(NewProblem("hash-mismatch", InstanceData, "The SHA-512 hash of the data does not match the one in the metadata."))
		return
	}
	uri, mt := ds.SubmissionSchema.SchemaURI, ds.SubmissionSchema.MimeType
	schema, ok := c.Data[uri]
	if !ok || schema.MediaType != mt {
		add(NewProblem("unsupported-schema", InstanceData, "The data schema %s (%s) is not supported by this destination.", uri, mt))
		return
	}
	if err := schema.Check(data); err != nil {
		var se *syntaxError
		if errors.As(err, &se) {
			add(NewProblem("syntax-violation", InstanceData, "%s", se.msg))
		} else {
			add(NewProblem("schema-violation", InstanceData, "The data does not match schema %s: %s.", uri, schemaDetail(err)))
		}
		return
	}
	r.Data, r.DataType = data, mt
}

func (c *Checker) attachment(ctx context.Context, id string, meta AttachmentMetadata, sent *AuthenticationTags, fetch FetchAttachment,
	maxPlain int64, r *Received, add func(Problem)) (*ReceivedAttachment, error) {
	instance := InstanceAttachment(id)
	enc, err := os.CreateTemp(c.TempDir, "fitconnect-*.jwe")
	if err != nil {
		return nil, err
	}
	defer func() { enc.Close(); os.Remove(enc.Name()) }()
	limit := c.MaxAttachmentBytes*4/3 + 4096 // base64url and the JWE's header
	if _, err := fetch(ctx, id, enc, limit); err != nil {
		if errors.Is(err, ErrTooLarge) {
			add(NewProblem("technical-error", instance, "Attachment %s is larger than this authority accepts (%d bytes).", id, c.MaxAttachmentBytes))
			return nil, nil
		}
		return nil, err
	}
	compact, err := os.ReadFile(enc.Name())
	if err != nil {
		return nil, err
	}
	r.Tags.Attachments[id] = AuthTag(compact)
	content, err := Decrypt(c.Ring, compact, maxPlain)
	if err != nil {
		r.unknownKey(err, compact)
		add(NewProblem("encryption-issue", instance, "Attachment %s could not be decrypted: %v.", id, err))
		return nil, nil
	}
	if want, ok := sent.Attachments[id]; ok && want != r.Tags.Attachments[id] {
		add(NewProblem("incorrect-authentication-tag", instance, "The authentication tag of attachment %s is not the one of the submit-submission event.", id))
	} else if !ok && len(sent.Attachments) > 0 {
		add(NewProblem("incorrect-authentication-tag", instance, "The submit-submission event has no authentication tag for attachment %s.", id))
	}
	sum := sha512Hex(content)
	if !strings.EqualFold(sum, meta.Hash.Content) {
		add(NewProblem("hash-mismatch", instance, "The SHA-512 hash of attachment %s does not match the one in the metadata.", id))
		return nil, nil
	}
	f, err := os.CreateTemp(c.TempDir, "fitconnect-*.bin")
	if err != nil {
		return nil, err
	}
	if _, err := f.Write(content); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	return &ReceivedAttachment{AttachmentMetadata: meta, File: f, Size: int64(len(content)), SHA512: sum,
		Format: fileformat.Detect(content, meta.MimeType, meta.Filename)}, nil
}

func sha512Hex(b []byte) string {
	var h hash.Hash = sha512.New()
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))
}

// SHA512Hex is the lower-case hex SHA-512 hash FIT-Connect's metadata carries.
func SHA512Hex(b []byte) string { return sha512Hex(b) }

// schemaDetail shortens a schema validation error to its first problems.
func schemaDetail(err error) string {
	var ve *formdata.ValidationError
	if errors.As(err, &ve) {
		var parts []string
		for i, p := range ve.Problems {
			if i == 5 {
				parts = append(parts, fmt.Sprintf("and %d more", len(ve.Problems)-5))
				break
			}
			parts = append(parts, p.String())
		}
		return strings.Join(parts, "; ")
	}
	msg := err.Error()
	if len(msg) > 500 {
		msg = msg[:500] + "…"
	}
	return msg
}

// SubmitTags finds the sender's authentication tags for a submission in its case's event log:
// the submit-submission event the delivery service signed. key returns the service's key for a
// kid. A missing, unverifiable or tagless event is a problem (invalid-event-log,
// missing-authentication-tags).
func SubmitTags(events []string, submissionID string, key func(kid string) (jwk.Key, error)) (*AuthenticationTags, *Problem, error) {
	return submitTags(events, "submission:"+submissionID, EventSubmitSubmission, key)
}

// ReplyTags finds the authority's authentication tags for a reply in the case's event log: the
// submit-reply event the delivery service signed. Problems as SubmitTags.
func ReplyTags(events []string, replyID string, key func(kid string) (jwk.Key, error)) (*AuthenticationTags, *Problem, error) {
	return submitTags(events, "reply:"+replyID, EventSubmitReply, key)
}

func submitTags(events []string, subject, event string, key func(kid string) (jwk.Key, error)) (*AuthenticationTags, *Problem, error) {
	name := strings.TrimPrefix(event, EventBase)
	var found bool
	for _, token := range events {
		_, _, kid, err := SETHeader(token)
		if err != nil {
			continue
		}
		// Only the delivery service's events matter here; a destination's own are signed
		// with keys of the destinations.
		var claims SET
		payload, perr := unverifiedPayload(token)
		if perr != nil || json.Unmarshal(payload, &claims) != nil {
			continue
		}
		if !strings.EqualFold(claims.Sub, subject) {
			continue
		}
		if _, ok := claims.Events[event]; !ok {
			continue
		}
		found = true
		k, err := key(kid)
		if err != nil {
			return nil, nil, err
		}
		if k == nil {
			p := NewProblem("invalid-event-log", InstanceSubmission, "The %s event is signed with key %q, which the delivery service does not publish.", name, kid)
			return nil, &p, nil
		}
		set, err := Verify(token, k, false)
		if err != nil {
			p := NewProblem("invalid-event-log", InstanceSubmission, "The %s event does not verify: %v.", name, err)
			return nil, &p, nil
		}
		ev, err := Payload(set.Events[event], false)
		if err != nil || ev.AuthenticationTags == nil || ev.AuthenticationTags.Metadata == "" {
			p := NewProblem("missing-authentication-tags", InstanceSubmission, "The %s event carries no authentication tags.", name)
			return nil, &p, nil
		}
		return ev.AuthenticationTags, nil, nil
	}
	if !found {
		p := NewProblem("invalid-event-log", InstanceSubmission, "The event log has no %s event for %s.", name, strings.Replace(subject, ":", " ", 1))
		return nil, &p, nil
	}
	return nil, nil, nil
}

func unverifiedPayload(token string) ([]byte, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, errors.New("not a compact JWS")
	}
	return decodeSegment(parts[1])
}

// SubmitTime returns when a submission's submit-submission event was issued, from the event
// log (unverified; for display), or 0.
func SubmitTime(events []string, submissionID string) int64 {
	for _, token := range events {
		payload, err := unverifiedPayload(token)
		if err != nil {
			continue
		}
		var claims SET
		if json.Unmarshal(payload, &claims) == nil && claims.Sub == "submission:"+submissionID {
			if _, ok := claims.Events[EventSubmitSubmission]; ok {
				return claims.Iat
			}
		}
	}
	return 0
}

func newUUID() string { return uuid.NewString() }
