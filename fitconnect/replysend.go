package fitconnect

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/amtsbote/amtsbote/adapters"
	"github.com/amtsbote/amtsbote/replies"
)

// ReplyRef names a reply at the delivery service.
type ReplyRef struct {
	ReplyID      string `json:"replyId"`
	CaseID       string `json:"caseId"`
	SubmissionID string `json:"submissionId,omitempty"`
}

// CreateReply announces a reply to a submission with the ids of its attachments
// (POST /v1/replies); the delivery service gives it its id, in state incomplete.
func (c *Client) CreateReply(ctx context.Context, submissionID string, attachmentIDs []string) (ReplyRef, error) {
	var ref ReplyRef
	if attachmentIDs == nil {
		attachmentIDs = []string{}
	}
	body, err := json.Marshal(map[string]any{"submissionId": submissionID, "announcedAttachments": attachmentIDs})
	if err != nil {
		return ref, err
	}
	err = c.Call(ctx, "create a reply to submission "+submissionID, http.MethodPost, "/replies", "application/json", body, &ref, http.StatusCreated)
	if err == nil && ref.ReplyID == "" {
		err = fmt.Errorf("create a reply to submission %s: the answer names no replyId", submissionID)
	}
	return ref, err
}

// UploadReplyAttachment uploads one encrypted attachment (a JWE) of a reply.
func (c *Client) UploadReplyAttachment(ctx context.Context, replyID, attachmentID string, jwe []byte) error {
	return c.Call(ctx, fmt.Sprintf("upload attachment %s of reply %s", attachmentID, replyID), http.MethodPut,
		"/replies/"+url.PathEscape(replyID)+"/attachments/"+url.PathEscape(attachmentID), "application/jose", jwe, nil,
		http.StatusNoContent, http.StatusOK, http.StatusCreated)
}

// SubmitReply sends a reply's encrypted metadata and data; the reply is then with the sender.
func (c *Client) SubmitReply(ctx context.Context, replyID string, encryptedMetadata, encryptedData []byte) error {
	req := map[string]string{"encryptedMetadata": string(encryptedMetadata)}
	if encryptedData != nil {
		req["encryptedData"] = string(encryptedData)
	}
	body, err := json.Marshal(req)
	if err != nil {
		return err
	}
	return c.Call(ctx, "submit reply "+replyID, http.MethodPut, "/replies/"+url.PathEscape(replyID), "application/json", body, nil,
		http.StatusOK, http.StatusAccepted, http.StatusNoContent)
}

// ReplySender sends replies of the return channel as FIT-Connect replies to the sender (the
// online service) of the submission, with the client of the subscription that received it.
type ReplySender struct {
	subs map[string]*Subscription
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// NewReplySender makes the FIT-Connect reply channel for the loaded subscriptions.
func NewReplySender(subs ...*Subscription) *ReplySender {
	s := &ReplySender{subs: map[string]*Subscription{}}
	for _, sub := range subs {
		s.subs[sub.Config.ID] = sub
	}
	return s
}

// ErrNoReplyChannel is the error for an application that named no FIT-Connect reply channel.
var ErrNoReplyChannel = errors.New("the application named no FIT-Connect reply channel")

var _ replies.Sender = (*ReplySender)(nil)

// Send sends one reply: it checks the sender's key, waits until the submission is accepted,
// looks in the case's event log whether this reply was submitted before (a retry after a crash),
// then announces the reply, uploads each document as a JWE and submits the encrypted metadata
// and data. Errors that retrying cannot fix are adapters.Permanent; the others carry the
// service's Retry-After.
func (s *ReplySender) Send(ctx context.Context, o *replies.Outgoing) (string, error) {
	fc := o.Address.FitConnect
	if fc == nil {
		return "", adapters.Permanent(ErrNoReplyChannel)
	}
	if strings.TrimSpace(o.ReplyID) == "" {
		return "", adapters.Permanent(errors.New("the reply has no id; its attachment ids are made from it"))
	}
	key, err := CheckReplyKey(fc.EncryptionKey)
	if err != nil {
		return "", adapters.Permanent(fmt.Errorf("the sender's encryption key (replyChannel.fitConnect.encryptionPublicKey): %w", err))
	}
	sub, ok := s.subs[fc.Subscription]
	if !ok || sub.Client == nil {
		return "", adapters.Permanent(fmt.Errorf("FIT-Connect subscription %q is not configured (fitconnect.subscriptions)", fc.Subscription))
	}
	for _, id := range []struct{ name, v string }{{"submission id", fc.SubmissionID}, {"case id", fc.CaseID}} {
		if !jtiRE.MatchString(id.v) {
			return "", adapters.Permanent(fmt.Errorf("the %s %q is not a UUID", id.name, id.v))
		}
	}
	attIDs := make([]string, len(o.Documents))
	for i, d := range o.Documents {
		attIDs[i] = ReplyAttachmentID(o.ReplyID, d.Seq)
	}

	// The case's event log says whether the submission is accepted, and whether this reply
	// (known by its attachment ids) was submitted before.
	events, err := sub.Client.Events(ctx, fc.CaseID)
	if err != nil {
		return "", classify(err)
	}
	switch state := submissionState(events, fc.SubmissionID); state {
	case "accepted":
	case "rejected":
		return "", adapters.Permanent(fmt.Errorf("FIT-Connect submission %s was rejected; a reply cannot go to it", fc.SubmissionID))
	default:
		return "", adapters.Transient(fmt.Errorf("FIT-Connect submission %s is not accepted yet (the case's event log has no accept-submission); the reply waits for it", fc.SubmissionID), 0)
	}
	if len(attIDs) > 0 {
		replyID, err := s.submittedBefore(ctx, sub, events, attIDs)
		if err != nil {
			return "", classify(err)
		}
		if replyID != "" {
			return artefact(replyID, fc.CaseID) + " (submitted before)", nil
		}
	}

	sealed, err := seal(o, key, attIDs, s.now())
	if err != nil {
		return "", err
	}
	ref, err := sub.Client.CreateReply(ctx, fc.SubmissionID, attIDs)
	if err != nil {
		return done(err, "")
	}
	for i, id := range attIDs {
		if err := sub.Client.UploadReplyAttachment(ctx, ref.ReplyID, id, sealed.attachments[i]); err != nil {
			return done(err, artefact(ref.ReplyID, fc.CaseID))
		}
	}
	if err := sub.Client.SubmitReply(ctx, ref.ReplyID, sealed.metadata, sealed.data); err != nil {
		return done(err, artefact(ref.ReplyID, fc.CaseID))
	}
	return artefact(ref.ReplyID, fc.CaseID), nil
}

func (s *ReplySender) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func artefact(replyID, caseID string) string {
	return fmt.Sprintf("FIT-Connect reply %s (case %s)", replyID, caseID)
}

// done finishes a failed step: a 409 means the delivery service has this step done already.
func done(err error, art string) (string, error) {
	if StatusOf(err) == http.StatusConflict {
		if art == "" {
			art = "FIT-Connect reply"
		}
		return art + " (the delivery service had it already: " + err.Error() + ")", nil
	}
	return "", classify(err)
}

// classify marks an error of the delivery service: 5xx, 408, 429, 401 (after a fresh token),
// network errors and timeouts may pass (with the service's Retry-After); any other answer is
// permanent, with the service's problem text.
func classify(err error) error {
	var ae *APIError
	if errors.As(err, &ae) {
		if Temporary(err) {
			return adapters.Transient(err, ae.RetryAfter)
		}
		return adapters.Permanent(err)
	}
	return adapters.Transient(err, 0)
}

// submissionState reads the case's event log for the decision on a submission: accepted,
// rejected or "" (none yet). Events are read without verifying them: the log tells where the
// submission stands, it proves nothing.
func submissionState(events []string, submissionID string) string {
	state := ""
	for _, token := range events {
		set, ok := unverifiedSET(token)
		if !ok || !strings.EqualFold(set.Sub, "submission:"+submissionID) {
			continue
		}
		if _, ok := set.Events[EventAcceptSubmission]; ok {
			state = "accepted"
		}
		if _, ok := set.Events[EventRejectSubmission]; ok {
			state = "rejected"
		}
	}
	return state
}

func unverifiedSET(token string) (SET, bool) {
	payload, err := unverifiedPayload(token)
	if err != nil {
		return SET{}, false
	}
	var set SET
	if json.Unmarshal(payload, &set) != nil {
		return SET{}, false
	}
	return set, true
}

// submittedBefore looks for a submit-reply event, signed by the delivery service, whose
// authentication tags name one of this reply's attachment ids: the reply went out before (its
// answer was lost, or amtsbote stopped before it recorded it). It returns that reply's id.
func (s *ReplySender) submittedBefore(ctx context.Context, sub *Subscription, events []string, attIDs []string) (string, error) {
	for _, token := range events {
		set, ok := unverifiedSET(token)
		if !ok {
			continue
		}
		raw, ok := set.Events[EventSubmitReply]
		if !ok {
			continue
		}
		p, err := Payload(raw, false)
		if err != nil || p.AuthenticationTags == nil {
			continue
		}
		match := false
		for id := range p.AuthenticationTags.Attachments {
			match = match || slices.Contains(attIDs, strings.ToLower(id))
		}
		if !match {
			continue
		}
		_, _, kid, err := SETHeader(token)
		if err != nil {
			continue
		}
		key, err := sub.Client.ServiceKey(ctx, kid)
		if err != nil {
			return "", err
		}
		if key == nil {
			continue
		}
		if _, err := Verify(token, key, false); err != nil {
			continue
		}
		return strings.TrimPrefix(set.Sub, "reply:"), nil
	}
	return "", nil
}

// sealedReply is a reply encrypted for the sender.
type sealedReply struct {
	metadata, data []byte
	attachments    [][]byte
}

// seal reads the documents, describes the reply in metadata (with the SHA-512 hashes) and
// encrypts metadata, data and each document for the sender's key.
func seal(o *replies.Outgoing, key jwk.Key, attIDs []string, now time.Time) (*sealedReply, error) {
	out := &sealedReply{}
	atts := make([]any, 0, len(o.Documents))
	for i, d := range o.Documents {
		content, err := readDocument(d)
		if err != nil {
			return nil, err
		}
		enc, err := Encrypt(key, content)
		if err != nil {
			return nil, adapters.Permanent(fmt.Errorf("encrypt document %s for the sender's key: %w", d.Name, err))
		}
		out.attachments = append(out.attachments, enc)
		a := map[string]any{
			"attachmentId": attIDs[i], "purpose": "attachment", "mimeType": mediaType(d.MediaType),
			"hash": map[string]any{"type": "sha512", "content": sha512Hex(content)},
		}
		if d.Name != "" {
			a["filename"] = d.Name
		}
		atts = append(atts, a)
	}
	data := ReplyData{Kind: o.Kind, Status: o.Status, Subject: o.Subject, Text: o.Text, Reference: o.Reference}
	if !o.RepliedAt.IsZero() {
		data.RepliedAt = o.RepliedAt.UTC().Format(time.RFC3339)
	} else {
		data.RepliedAt = now.UTC().Format(time.RFC3339)
	}
	if len(o.Message) > 0 {
		data.Message = &ReplyMessage{Type: o.MessageType, MediaType: "application/xml", Content: o.Message}
	}
	rawData, err := json.Marshal(data)
	if err != nil {
		return nil, err
	}
	meta := map[string]any{
		"$schema": MetadataVersion1,
		"contentStructure": map[string]any{
			"data": map[string]any{
				"hash":             map[string]any{"type": "sha512", "content": sha512Hex(rawData)},
				"submissionSchema": map[string]any{"schemaUri": ReplyDataSchema, "mimeType": "application/json"},
			},
			"attachments": atts,
		},
	}
	if o.Reference != "" {
		meta["additionalReferenceInfo"] = map[string]any{"senderReference": o.Reference}
	}
	rawMeta, err := json.Marshal(meta)
	if err != nil {
		return nil, err
	}
	if out.metadata, err = Encrypt(key, rawMeta); err != nil {
		return nil, adapters.Permanent(fmt.Errorf("encrypt the reply's metadata for the sender's key: %w", err))
	}
	if out.data, err = Encrypt(key, rawData); err != nil {
		return nil, adapters.Permanent(fmt.Errorf("encrypt the reply's data for the sender's key: %w", err))
	}
	return out, nil
}

func mediaType(mt string) string {
	if mt == "" {
		return "application/octet-stream"
	}
	return mt
}

// readDocument reads a document and checks it against the SHA-256 stored with it.
func readDocument(d replies.Document) ([]byte, error) {
	if d.Open == nil {
		return nil, adapters.Permanent(fmt.Errorf("document %d (%s) has no content", d.Seq, d.Name))
	}
	rc, err := d.Open()
	if err != nil {
		return nil, fmt.Errorf("read document %s: %w", d.Name, err)
	}
	defer rc.Close()
	content, err := io.ReadAll(rc)
	if err != nil {
		return nil, fmt.Errorf("read document %s: %w", d.Name, err)
	}
	if d.SHA256 != "" {
		sum := sha256.Sum256(content)
		if !strings.EqualFold(hex.EncodeToString(sum[:]), d.SHA256) {
			return nil, adapters.Permanent(fmt.Errorf("document %s does not match the SHA-256 stored with it", d.Name))
		}
	}
	return content, nil
}
