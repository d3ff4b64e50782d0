package sender

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/amtsbote/amtsbote/fitconnect"
)

// ReplyChannel is the metadata's replyChannel asking for replies through FIT-Connect: the
// process standards the sender understands and its public encryption key (the public part of a
// key pair whose private part decrypts the replies). Put it into Application.Metadata under
// "replyChannel".
func ReplyChannel(pub jwk.Key, processStandards ...string) (map[string]any, error) {
	if private, err := jwk.IsPrivateKey(pub); err != nil || private {
		return nil, errors.New("the reply channel takes the public part of the encryption key")
	}
	raw, err := json.Marshal(pub)
	if err != nil {
		return nil, err
	}
	var key map[string]any
	if err := json.Unmarshal(raw, &key); err != nil {
		return nil, err
	}
	if processStandards == nil {
		processStandards = []string{}
	}
	return map[string]any{"fitConnect": map[string]any{"processStandards": processStandards, "encryptionPublicKey": key}}, nil
}

// ReplyPage is one page of the replies waiting for the sender.
type ReplyPage struct {
	Count      int                   `json:"count"`
	Offset     int                   `json:"offset"`
	TotalCount int                   `json:"totalCount"`
	Replies    []fitconnect.ReplyRef `json:"replies"`
}

// Replies lists every reply waiting for the sender (submitted, not yet accepted or rejected).
func (s *Sender) Replies(ctx context.Context) ([]fitconnect.ReplyRef, error) {
	var all []fitconnect.ReplyRef
	for offset := 0; ; {
		var p ReplyPage
		q := url.Values{"offset": {strconv.Itoa(offset)}, "limit": {strconv.Itoa(fitconnect.PageLimit)}}
		if err := s.API.Call(ctx, "list replies", http.MethodGet, "/replies?"+q.Encode(), "", nil, &p, http.StatusOK); err != nil {
			return all, err
		}
		all = append(all, p.Replies...)
		offset += len(p.Replies)
		if len(p.Replies) < fitconnect.PageLimit || (p.TotalCount > 0 && offset >= p.TotalCount) {
			return all, nil
		}
	}
}

// Reply is a fetched reply, decrypted and checked: Problems (fitconnect.Received) are the
// reasons to reject it; none, and it may be accepted.
type Reply struct {
	fitconnect.ReplyRef
	*fitconnect.Received
}

// ReplyData reads the reply's data as amtsbote writes it.
func (r *Reply) ReplyData() (fitconnect.ReplyData, error) {
	var d fitconnect.ReplyData
	if r.Received == nil || r.Data == nil {
		return d, errors.New("the reply has no (valid) data")
	}
	dec := json.NewDecoder(bytes.NewReader(r.Data))
	dec.DisallowUnknownFields()
	err := dec.Decode(&d)
	return d, err
}

// Content reads a received attachment's content.
func Content(a fitconnect.ReceivedAttachment) ([]byte, error) {
	if _, err := a.File.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	return io.ReadAll(a.File)
}

// FetchReply fetches a reply and checks it as its receiver must: the authority's authentication
// tags from the submit-reply event (signed by the delivery service), decryption with the
// sender's key ring (checker.Ring), the metadata against its schema, the attachments announced
// against those uploaded, the SHA-512 hashes and the data against its schema (checker.Data,
// e.g. amtsbote's reply data schema). Close the reply when done.
func (s *Sender) FetchReply(ctx context.Context, replyID string, checker *fitconnect.Checker) (*Reply, error) {
	var got struct {
		fitconnect.ReplyRef
		Attachments       []string `json:"attachments"`
		EncryptedMetadata string   `json:"encryptedMetadata"`
		EncryptedData     string   `json:"encryptedData"`
	}
	if err := s.API.Call(ctx, "fetch reply "+replyID, http.MethodGet, "/replies/"+url.PathEscape(replyID), "", nil, &got, http.StatusOK); err != nil {
		return nil, err
	}
	events, err := s.API.Events(ctx, got.CaseID)
	if err != nil {
		return nil, err
	}
	tags, tagProblem, err := fitconnect.ReplyTags(events, replyID, func(kid string) (jwk.Key, error) { return s.API.ServiceKey(ctx, kid) })
	if err != nil {
		return nil, err
	}
	rec, err := checker.Check(ctx, fitconnect.Submission{SubmissionID: replyID, CaseID: got.CaseID, Attachments: got.Attachments,
		EncryptedMetadata: got.EncryptedMetadata, EncryptedData: got.EncryptedData}, tags, tagProblem,
		func(ctx context.Context, aid string, w io.Writer, limit int64) (int64, error) {
			return s.API.ReplyAttachment(ctx, replyID, aid, w, limit)
		})
	if err != nil {
		return nil, err
	}
	if got.ReplyID == "" {
		got.ReplyID = replyID
	}
	return &Reply{ReplyRef: got.ReplyRef, Received: rec}, nil
}

// Close removes the reply's spooled attachments.
func (r *Reply) Close() {
	if r.Received != nil {
		r.Received.Close()
	}
}

// Accept tells the delivery service that the reply arrived intact, with the authentication
// tags of the JWEs received; the service records accept-reply in the case's event log.
func (s *Sender) Accept(ctx context.Context, r *Reply) error {
	if len(r.Problems) > 0 {
		return fmt.Errorf("reply %s has %d problem(s); reject it instead", r.ReplyID, len(r.Problems))
	}
	tags := r.Tags
	if len(tags.Attachments) == 0 {
		tags.Attachments = nil
	}
	body, err := json.Marshal(map[string]any{"authenticationTags": tags})
	if err != nil {
		return err
	}
	return s.API.Call(ctx, "accept reply "+r.ReplyID, http.MethodPut, "/replies/"+url.PathEscape(r.ReplyID)+"/accept",
		"application/json", body, nil, http.StatusNoContent, http.StatusOK)
}

// Reject tells the delivery service why a reply cannot be taken (the problems of the checks);
// the service records reject-reply in the case's event log.
func (s *Sender) Reject(ctx context.Context, replyID string, problems []fitconnect.Problem) error {
	if len(problems) == 0 {
		return errors.New("a reject names at least one problem")
	}
	body, err := json.Marshal(map[string]any{"problems": problems})
	if err != nil {
		return err
	}
	return s.API.Call(ctx, "reject reply "+replyID, http.MethodPut, "/replies/"+url.PathEscape(replyID)+"/reject",
		"application/json", body, nil, http.StatusNoContent, http.StatusOK)
}
