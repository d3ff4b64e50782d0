package simulator

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Replies ("Rückkanal FIT-Connect"): the subscriber of a destination answers a submission with
// a reply, encrypted for the key the sender named in its metadata (replyChannel.fitConnect);
// the sender fetches, decrypts and checks it and accepts or rejects it. A reply goes
// incomplete → submitted → accepted | rejected; every step is a SET of the service in the case's
// event log, with sub reply:<replyId>.

// Reply states as reported by [Server.ReplyState].
const (
	ReplyIncomplete = "incomplete"
	ReplySubmitted  = "submitted"
	ReplyAccepted   = "accepted"
	ReplyRejected   = "rejected"
)

// Reply events.
const (
	EventCreateReply = EventPrefix + "create-reply"
	EventSubmitReply = EventPrefix + "submit-reply"
	EventAcceptReply = EventPrefix + "accept-reply"
	EventRejectReply = EventPrefix + "reject-reply"
)

// Operations of the reply endpoints, for [Server.Requests], [Server.Fail] and [Server.Stall].
const (
	OpCreateReply     = "reply-create"     // POST /v1/replies (subscriber)
	OpUploadReply     = "reply-upload"     // PUT /v1/replies/{id}/attachments/{aid} (subscriber)
	OpSubmitReply     = "reply-submit"     // PUT /v1/replies/{id} (subscriber)
	OpListReplies     = "reply-list"       // GET /v1/replies (sender)
	OpGetReply        = "reply-get"        // GET /v1/replies/{id} (sender)
	OpReplyAttachment = "reply-attachment" // GET /v1/replies/{id}/attachments/{aid} (sender)
	OpAcceptReply     = "reply-accept"     // PUT /v1/replies/{id}/accept (sender)
	OpRejectReply     = "reply-reject"     // PUT /v1/replies/{id}/reject (sender)
)

type reply struct {
	id, caseID, destID, submissionID string
	sender                           string // client id of the sender the reply goes to
	announced                        []string
	attachments                      map[string][]byte
	encMetadata, encData             string
	state                            string
	created, submitted               time.Time
	submitSeq                        uint64
	decisionEvent                    string
	decisionPayload                  json.RawMessage
}

func (rp *reply) jwes() jweSet {
	return jweSet{kind: "reply", encMetadata: rp.encMetadata, encData: rp.encData, attachments: rp.attachments}
}

func (rp *reply) ref() map[string]string {
	return map[string]string{"replyId": rp.id, "caseId": rp.caseID, "submissionId": rp.submissionID}
}

func (s *Server) replyRoutes(add func(string, map[string]endpoint)) {
	add("/v1/replies", map[string]endpoint{
		http.MethodGet:  {OpListReplies, s.handleListReplies},
		http.MethodPost: {OpCreateReply, s.handleCreateReply},
	})
	add("/v1/replies/{replyId}", map[string]endpoint{
		http.MethodGet: {OpGetReply, s.handleGetReply},
		http.MethodPut: {OpSubmitReply, s.handleSubmitReply},
	})
	add("/v1/replies/{replyId}/attachments/{attachmentId}", map[string]endpoint{
		http.MethodGet: {OpReplyAttachment, s.handleReplyAttachment},
		http.MethodPut: {OpUploadReply, s.handleUploadReply},
	})
	add("/v1/replies/{replyId}/accept", map[string]endpoint{http.MethodPut: {OpAcceptReply, s.handleAcceptReply}})
	add("/v1/replies/{replyId}/reject", map[string]endpoint{http.MethodPut: {OpRejectReply, s.handleRejectReply}})
}

// ReplyState returns the state of a reply: "", incomplete, submitted, accepted or rejected.
func (s *Server) ReplyState(replyID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rp, ok := s.replies[replyID]; ok {
		return rp.state
	}
	return ""
}

// Replies returns the ids of the replies to a submission, oldest first, in any state.
func (s *Server) Replies(submissionID string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var all []*reply
	for _, rp := range s.replies {
		if rp.submissionID == submissionID {
			all = append(all, rp)
		}
	}
	slices.SortFunc(all, func(a, b *reply) int { return a.created.Compare(b.created) })
	ids := make([]string, len(all))
	for i, rp := range all {
		ids[i] = rp.id
	}
	return ids
}

// ReplyDecision returns the event (EventAcceptReply or EventRejectReply) and payload with which
// the sender decided on a reply.
func (s *Server) ReplyDecision(replyID string) (event string, payload json.RawMessage, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp, found := s.replies[replyID]
	if !found || rp.decisionEvent == "" {
		return "", nil, false
	}
	return rp.decisionEvent, slices.Clone(rp.decisionPayload), true
}

// --- the subscriber's side ---------------------------------------------------------------

func (s *Server) handleCreateReply(w http.ResponseWriter, r *http.Request) {
	c, body, ok := s.receive(w, r, RoleSubscriber, "application/json")
	if !ok {
		return
	}
	var req struct {
		SubmissionID         *string   `json:"submissionId"`
		AnnouncedAttachments *[]string `json:"announcedAttachments"`
	}
	if aerr := decodeStrict(body, &req); aerr != nil {
		s.fail(w, r, aerr)
		return
	}
	var aerr *apiError
	switch {
	case req.SubmissionID == nil:
		aerr = errorf(http.StatusBadRequest, "submissionId is required")
	case !isUUID(*req.SubmissionID):
		aerr = errorf(http.StatusBadRequest, "submissionId %q is not a UUID", *req.SubmissionID)
	case req.AnnouncedAttachments == nil:
		aerr = errorf(http.StatusBadRequest, "announcedAttachments is required (use [] for none)")
	}
	if aerr == nil {
		aerr = checkAnnounced(*req.AnnouncedAttachments)
	}
	if aerr != nil {
		s.fail(w, r, aerr)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	id := *req.SubmissionID
	sub, found := s.subs[id]
	switch {
	case !found && s.deleted[id]:
		aerr = errorf(http.StatusNotFound, "submission %s not found (it was deleted)", id)
	case !found:
		aerr = errorf(http.StatusNotFound, "submission %s not found", id)
	case !canSubscribe(c, sub.destID):
		aerr = errorf(http.StatusForbidden, "client %s is not a subscriber of destination %s of submission %s", c.ID, sub.destID, id)
	case sub.state != StateAccepted:
		aerr = unprocessable("submission %s is in state %s; a reply answers an accepted submission", id, sub.state)
	}
	if aerr != nil {
		s.fail(w, r, aerr)
		return
	}
	rp := &reply{
		id: uuid.NewString(), caseID: sub.caseID, destID: sub.destID, submissionID: sub.id, sender: sub.owner,
		announced: slices.Clone(*req.AnnouncedAttachments), attachments: map[string][]byte{}, state: ReplyIncomplete,
		created: s.now(),
	}
	set, _, err := s.signEventLocked("reply:"+rp.id, rp.caseID, EventCreateReply, map[string]any{})
	if err != nil {
		s.problem(w, r, http.StatusInternalServerError, "signing create-reply event: "+err.Error())
		return
	}
	s.cases[rp.caseID].events = append(s.cases[rp.caseID].events, set)
	s.replies[rp.id] = rp
	s.log.Info("fitconnect simulator: reply created", "reply", rp.id, "submission", sub.id, "case", rp.caseID, "client", c.ID)
	writeJSON(w, http.StatusCreated, rp.ref())
}

func checkAnnounced(ids []string) *apiError {
	seen := map[string]bool{}
	for i, id := range ids {
		if !isUUID(id) {
			return errorf(http.StatusBadRequest, "announcedAttachments[%d] %q is not a UUID", i, id)
		}
		if seen[id] {
			return unprocessable("announcedAttachments[%d]: attachment %s is announced twice", i, id)
		}
		seen[id] = true
	}
	return nil
}

// ownReply finds a reply the subscriber c created (a subscriber of its destination). s.mu
// must be held.
func (s *Server) ownReply(r *http.Request, c *Client) (*reply, *apiError) {
	id, aerr := pathUUID(r, "replyId")
	if aerr != nil {
		return nil, aerr
	}
	rp, ok := s.replies[id]
	if !ok {
		return nil, errorf(http.StatusNotFound, "reply %s not found", id)
	}
	if !canSubscribe(c, rp.destID) {
		return nil, errorf(http.StatusForbidden, "client %s is not a subscriber of destination %s of reply %s", c.ID, rp.destID, id)
	}
	return rp, nil
}

func (s *Server) handleUploadReply(w http.ResponseWriter, r *http.Request) {
	c, aerr := s.authRole(r, RoleSubscriber)
	if aerr == nil {
		aerr = requireContentType(r, "application/jose")
	}
	var aid string
	if aerr == nil {
		aid, aerr = pathUUID(r, "attachmentId")
	}
	if aerr != nil {
		s.fail(w, r, aerr)
		return
	}
	check := func() (*reply, *apiError) {
		rp, aerr := s.ownReply(r, c)
		if aerr != nil {
			return nil, aerr
		}
		if rp.state != ReplyIncomplete {
			return nil, errorf(http.StatusConflict, "reply %s is in state %s; attachments can only be uploaded in state incomplete", rp.id, rp.state)
		}
		if !slices.Contains(rp.announced, aid) {
			return nil, unprocessable("attachment %s was not announced for reply %s", aid, rp.id)
		}
		return rp, nil
	}
	s.mu.Lock()
	_, aerr = check()
	s.mu.Unlock()
	if aerr != nil {
		s.fail(w, r, aerr)
		return
	}
	body, aerr := readBody(w, r, maxAttachmentBody)
	if aerr != nil {
		s.fail(w, r, aerr)
		return
	}
	if err := checkReplyJWE(body); err != nil {
		s.problem(w, r, http.StatusBadRequest, fmt.Sprintf("attachment %s: body is not a FIT-Connect JWE: %v", aid, err))
		return
	}
	s.mu.Lock()
	rp, aerr := check() // the state may have changed while the body was read
	if aerr == nil {
		rp.attachments[aid] = body
	}
	s.mu.Unlock()
	if aerr != nil {
		s.fail(w, r, aerr)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handleSubmitReply(w http.ResponseWriter, r *http.Request) {
	c, body, ok := s.receive(w, r, RoleSubscriber, "application/json")
	if !ok {
		return
	}
	var req struct {
		EncryptedMetadata *string `json:"encryptedMetadata"`
		EncryptedData     *string `json:"encryptedData"`
	}
	if aerr := decodeStrict(body, &req); aerr != nil {
		s.fail(w, r, aerr)
		return
	}
	if req.EncryptedMetadata == nil {
		s.problem(w, r, http.StatusBadRequest, "encryptedMetadata is required")
		return
	}
	if err := checkReplyJWE(*req.EncryptedMetadata); err != nil {
		s.problem(w, r, http.StatusBadRequest, "encryptedMetadata is not a FIT-Connect JWE: "+err.Error())
		return
	}
	if req.EncryptedData != nil {
		if err := checkReplyJWE(*req.EncryptedData); err != nil {
			s.problem(w, r, http.StatusBadRequest, "encryptedData is not a FIT-Connect JWE: "+err.Error())
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rp, aerr := s.ownReply(r, c)
	if aerr != nil {
		s.fail(w, r, aerr)
		return
	}
	if rp.state != ReplyIncomplete {
		s.problem(w, r, http.StatusConflict, fmt.Sprintf("reply %s is in state %s; only a reply in state incomplete can be submitted", rp.id, rp.state))
		return
	}
	var missing []string
	for _, aid := range rp.announced {
		if _, ok := rp.attachments[aid]; !ok {
			missing = append(missing, aid)
		}
	}
	if len(missing) > 0 {
		s.problem(w, r, http.StatusUnprocessableEntity, fmt.Sprintf("reply incomplete: announced attachments not uploaded: %s", strings.Join(missing, ", ")))
		return
	}
	rp.encMetadata = *req.EncryptedMetadata
	if req.EncryptedData != nil {
		rp.encData = *req.EncryptedData
	}
	tags := map[string]any{"metadata": jweTag(rp.encMetadata)}
	if rp.encData != "" {
		tags["data"] = jweTag(rp.encData)
	}
	att := map[string]string{}
	for id, b := range rp.attachments {
		att[id] = jweTagBytes(b)
	}
	tags["attachments"] = att
	set, _, err := s.signEventLocked("reply:"+rp.id, rp.caseID, EventSubmitReply, map[string]any{"authenticationTags": tags})
	if err != nil {
		rp.encMetadata, rp.encData = "", ""
		s.problem(w, r, http.StatusInternalServerError, "signing submit-reply event: "+err.Error())
		return
	}
	s.cases[rp.caseID].events = append(s.cases[rp.caseID].events, set)
	s.seq++
	rp.submitSeq, rp.submitted, rp.state = s.seq, s.now(), ReplySubmitted
	s.log.Info("fitconnect simulator: reply submitted", "reply", rp.id, "case", rp.caseID)
	writeJSON(w, http.StatusAccepted, rp.ref())
}

// checkReplyJWE checks a JWE's compact syntax and the header FIT-Connect prescribes: alg
// RSA-OAEP-256, enc A256GCM and the kid of the key it is encrypted for (the service cannot
// decrypt; the sender checks the content).
func checkReplyJWE[T string | []byte](s T) error {
	if err := checkCompactJWE(s); err != nil {
		return err
	}
	b := []byte(s)
	raw, _ := base64.RawURLEncoding.DecodeString(string(b[:bytes.IndexByte(b, '.')]))
	var hdr struct {
		Alg, Enc, Kid string
	}
	_ = json.Unmarshal(raw, &hdr)
	switch {
	case hdr.Alg != "RSA-OAEP-256":
		return fmt.Errorf("alg is %q, FIT-Connect encrypts keys with RSA-OAEP-256", hdr.Alg)
	case hdr.Enc != "A256GCM":
		return fmt.Errorf("enc is %q, FIT-Connect encrypts content with A256GCM", hdr.Enc)
	case hdr.Kid == "":
		return fmt.Errorf("the protected header names no kid")
	}
	return nil
}

// --- the sender's side -------------------------------------------------------------------

func (s *Server) handleListReplies(w http.ResponseWriter, r *http.Request) {
	c, aerr := s.authRole(r, RoleSender)
	if aerr != nil {
		s.fail(w, r, aerr)
		return
	}
	offset, limit, aerr := paging(r)
	if aerr != nil {
		s.fail(w, r, aerr)
		return
	}
	s.mu.Lock()
	var ready []*reply
	for _, rp := range s.replies {
		if rp.state == ReplySubmitted && rp.sender == c.ID {
			ready = append(ready, rp)
		}
	}
	s.mu.Unlock()
	slices.SortFunc(ready, func(a, b *reply) int { return compareUint(a.submitSeq, b.submitSeq) })
	refs := make([]map[string]string, len(ready))
	for i, rp := range ready {
		refs[i] = rp.ref()
	}
	p := page(refs, offset, limit)
	writeJSON(w, http.StatusOK, map[string]any{"count": len(p), "offset": offset, "totalCount": len(refs), "replies": p})
}

// senderReply finds a reply to a submission of the sender c. s.mu must be held.
func (s *Server) senderReply(r *http.Request, c *Client) (*reply, *apiError) {
	id, aerr := pathUUID(r, "replyId")
	if aerr != nil {
		return nil, aerr
	}
	rp, ok := s.replies[id]
	if !ok || rp.state == ReplyIncomplete {
		return nil, errorf(http.StatusNotFound, "reply %s not found", id)
	}
	if rp.sender != c.ID {
		return nil, errorf(http.StatusForbidden, "reply %s answers a submission of another client", id)
	}
	return rp, nil
}

// pickupReply finds a submitted reply the sender may fetch. s.mu must be held.
func (s *Server) pickupReply(r *http.Request, c *Client) (*reply, *apiError) {
	rp, aerr := s.senderReply(r, c)
	if aerr != nil {
		return nil, aerr
	}
	if rp.state != ReplySubmitted {
		return nil, errorf(http.StatusNotFound, "reply %s not found: it is in state %s, not submitted", rp.id, rp.state)
	}
	return rp, nil
}

func (s *Server) handleGetReply(w http.ResponseWriter, r *http.Request) {
	c, aerr := s.authRole(r, RoleSender)
	if aerr != nil {
		s.fail(w, r, aerr)
		return
	}
	s.mu.Lock()
	rp, aerr := s.pickupReply(r, c)
	if aerr != nil {
		s.mu.Unlock()
		s.fail(w, r, aerr)
		return
	}
	out := map[string]any{
		"replyId": rp.id, "caseId": rp.caseID, "submissionId": rp.submissionID,
		"attachments": slices.Clone(rp.announced), "encryptedMetadata": rp.encMetadata,
	}
	if rp.encData != "" {
		out["encryptedData"] = rp.encData
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleReplyAttachment(w http.ResponseWriter, r *http.Request) {
	c, aerr := s.authRole(r, RoleSender)
	if aerr != nil {
		s.fail(w, r, aerr)
		return
	}
	aid, aerr := pathUUID(r, "attachmentId")
	if aerr != nil {
		s.fail(w, r, aerr)
		return
	}
	s.mu.Lock()
	rp, aerr := s.pickupReply(r, c)
	var body []byte
	if aerr == nil {
		var ok bool
		if body, ok = rp.attachments[aid]; !ok {
			aerr = errorf(http.StatusNotFound, "attachment %s of reply %s not found", aid, rp.id)
		}
	}
	s.mu.Unlock()
	if aerr != nil {
		s.fail(w, r, aerr)
		return
	}
	w.Header().Set("Content-Type", "application/jose")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

func (s *Server) handleAcceptReply(w http.ResponseWriter, r *http.Request) {
	s.decideReply(w, r, EventAcceptReply)
}

func (s *Server) handleRejectReply(w http.ResponseWriter, r *http.Request) {
	s.decideReply(w, r, EventRejectReply)
}

// decideReply records the sender's accept (with the authentication tags of the JWEs it
// received) or reject (with problems) as a SET of the service in the case's event log.
func (s *Server) decideReply(w http.ResponseWriter, r *http.Request, event string) {
	c, body, ok := s.receive(w, r, RoleSender, "application/json")
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rp, aerr := s.senderReply(r, c)
	if aerr == nil {
		name := strings.TrimPrefix(event, EventPrefix)
		if event == EventAcceptReply {
			aerr = checkTags(body, name+" payload", rp.jwes())
		} else {
			aerr = checkProblems(body, name+" payload")
		}
	}
	if aerr == nil && rp.state != ReplySubmitted {
		aerr = errorf(http.StatusConflict, "invalid state transition: reply %s is in state %s, %s needs state submitted", rp.id, rp.state, strings.TrimPrefix(event, EventPrefix))
	}
	if aerr != nil {
		s.fail(w, r, aerr)
		return
	}
	var payload bytes.Buffer
	if err := json.Compact(&payload, body); err != nil {
		s.fail(w, r, unprocessable("payload: %v", err))
		return
	}
	set, raw, err := s.signEventLocked("reply:"+rp.id, rp.caseID, event, json.RawMessage(payload.Bytes()))
	if err != nil {
		s.problem(w, r, http.StatusInternalServerError, "signing "+event+" event: "+err.Error())
		return
	}
	s.cases[rp.caseID].events = append(s.cases[rp.caseID].events, set)
	rp.state = ReplyAccepted
	if event == EventRejectReply {
		rp.state = ReplyRejected
	}
	rp.decisionEvent, rp.decisionPayload = event, raw
	s.log.Info("fitconnect simulator: reply "+rp.state, "reply", rp.id, "case", rp.caseID)
	w.WriteHeader(http.StatusNoContent)
}
