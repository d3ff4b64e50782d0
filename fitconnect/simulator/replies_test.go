package simulator

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwe"
	"github.com/lestrrat-go/jwx/v3/jws"
)

// replyJWE encrypts content as a FIT-Connect JWE (with a kid) for the test key; the simulator
// cannot decrypt it and need not.
func replyJWE(t *testing.T, content string) string {
	t.Helper()
	h := jwe.NewHeaders()
	_ = h.Set(jwe.KeyIDKey, "sender-reply-key-01")
	out, err := jwe.Encrypt([]byte(content), jwe.WithKey(jwa.RSA_OAEP_256(), encPub), jwe.WithContentEncryption(jwa.A256GCM()), jwe.WithProtectedHeaders(h))
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// accepted sends a submission to destA and accepts it as the subscriber.
func (e *env) accepted() sent {
	e.t.Helper()
	s := e.send(destA, 0, true)
	if r := e.postSET("sub", s.ref.CaseID, e.signSET(e.acceptClaims(s), setSpec{})); r.status != http.StatusNoContent {
		e.t.Fatalf("accept: %d %s", r.status, r.body)
	}
	return s
}

type replyRef struct {
	ReplyID      string `json:"replyId"`
	CaseID       string `json:"caseId"`
	SubmissionID string `json:"submissionId"`
}

func (e *env) createReply(client, submissionID string, attachments ...string) (replyRef, response) {
	e.t.Helper()
	if attachments == nil {
		attachments = []string{}
	}
	r := e.call(client, http.MethodPost, "/v1/replies", "application/json",
		mustJSON(e.t, map[string]any{"submissionId": submissionID, "announcedAttachments": attachments}))
	var ref replyRef
	if r.status == http.StatusCreated {
		r.json(e.t, &ref)
	}
	return ref, r
}

// verifiedEvents verifies every SET of a case's log with the service's key and returns their
// claims.
func (e *env) verifiedEvents(caseID string) []map[string]any {
	e.t.Helper()
	var out []map[string]any
	for _, set := range e.srv.Events(caseID) {
		hdr, claims := decodeSET(e.t, set)
		if hdr["kid"] == "sig-key-0001" { // the subscriber's own accept-submission
			out = append(out, claims)
			continue
		}
		if _, err := jws.Verify([]byte(set), jws.WithKeySet(e.srv.ServiceKeys())); err != nil {
			e.t.Fatalf("event does not verify with the service's key: %v", err)
		}
		out = append(out, claims)
	}
	return out
}

func eventOf(claims map[string]any) string {
	for k := range claims["events"].(map[string]any) {
		return strings.TrimPrefix(k, EventPrefix)
	}
	return ""
}

func TestReplyLifecycle(t *testing.T) {
	e := newEnv(t)
	s := e.send(destA, 0, true)
	if _, r := e.createReply("sub", s.ref.SubmissionID); r.status != http.StatusUnprocessableEntity || !strings.Contains(r.detail(), "state submitted") {
		t.Fatalf("reply before the accept: %d %s", r.status, r.body)
	}
	if r := e.postSET("sub", s.ref.CaseID, e.signSET(e.acceptClaims(s), setSpec{})); r.status != http.StatusNoContent {
		t.Fatalf("accept: %d %s", r.status, r.body)
	}
	a1, a2 := uuid.NewString(), uuid.NewString()
	ref, r := e.createReply("sub", s.ref.SubmissionID, a1, a2)
	if r.status != http.StatusCreated || ref.CaseID != s.ref.CaseID || ref.SubmissionID != s.ref.SubmissionID || !isUUID(ref.ReplyID) {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	if got := e.srv.ReplyState(ref.ReplyID); got != ReplyIncomplete {
		t.Fatalf("state %q", got)
	}
	base := "/v1/replies/" + ref.ReplyID
	var list struct {
		Count, TotalCount int
		Replies           []replyRef
	}
	e.getJSON("snd", "/v1/replies", http.StatusOK, &list)
	if list.TotalCount != 0 {
		t.Fatalf("an incomplete reply is listed: %+v", list)
	}
	e.getJSON("snd", base, http.StatusNotFound, nil)

	att1, att2 := replyJWE(t, "Bescheid"), replyJWE(t, "Anlage")
	meta, data := replyJWE(t, `{"contentStructure":{"attachments":[]}}`), replyJWE(t, `{"kind":"bescheid"}`)
	submit := mustJSON(t, map[string]string{"encryptedMetadata": meta, "encryptedData": data})
	badAlg := func() string {
		out, _ := jwe.Encrypt([]byte("x"), jwe.WithKey(jwa.RSA_OAEP(), encPub), jwe.WithContentEncryption(jwa.A256GCM()))
		return string(out)
	}()
	noKid := func() string { // the service sees only the header
		parts := strings.SplitN(encrypt(t, "x"), ".", 2)
		return base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RSA-OAEP-256","enc":"A256GCM"}`)) + "." + parts[1]
	}()
	steps := []struct {
		name        string
		client      string
		method      string
		path        string
		contentType string
		body        []byte
		status      int
		detail      string
	}{
		{"submit before the uploads", "sub", http.MethodPut, base, "application/json", submit, 422, "not uploaded"},
		{"unannounced attachment", "sub", http.MethodPut, base + "/attachments/" + uuid.NewString(), "application/jose", []byte(att1), 422, "not announced"},
		{"wrong content type", "sub", http.MethodPut, base + "/attachments/" + a1, "application/octet-stream", []byte(att1), 415, "application/jose"},
		{"not a JWE", "sub", http.MethodPut, base + "/attachments/" + a1, "application/jose", []byte("%PDF-1.7"), 400, "segments"},
		{"alg RSA-OAEP", "sub", http.MethodPut, base + "/attachments/" + a1, "application/jose", []byte(badAlg), 400, "RSA-OAEP-256"},
		{"no kid", "sub", http.MethodPut, base + "/attachments/" + a1, "application/jose", []byte(noKid), 400, "no kid"},
		{"another destination's subscriber", "subB", http.MethodPut, base + "/attachments/" + a1, "application/jose", []byte(att1), 403, "not a subscriber"},
		{"the sender", "snd", http.MethodPut, base + "/attachments/" + a1, "application/jose", []byte(att1), 403, "needs a subscriber"},
		{"upload 1", "sub", http.MethodPut, base + "/attachments/" + a1, "application/jose", []byte(att1), 204, ""},
		{"upload 2", "sub", http.MethodPut, base + "/attachments/" + a2, "application/jose", []byte(att2), 204, ""},
		{"submit with unknown field", "sub", http.MethodPut, base, "application/json", []byte(`{"encryptedMetadata":"` + meta + `","x":1}`), 400, "unknown field"},
		{"metadata not a JWE", "sub", http.MethodPut, base, "application/json", []byte(`{"encryptedMetadata":"a.b"}`), 400, "not a FIT-Connect JWE"},
		{"submit", "sub", http.MethodPut, base, "application/json", submit, 202, ""},
		{"submit twice", "sub", http.MethodPut, base, "application/json", submit, 409, "state submitted"},
		{"upload after the submit", "sub", http.MethodPut, base + "/attachments/" + a1, "application/jose", []byte(att1), 409, "state submitted"},
		{"accept as the subscriber", "sub", http.MethodPut, base + "/accept", "application/json", []byte(`{}`), 403, "needs a sender"},
	}
	for _, st := range steps {
		r := e.call(st.client, st.method, st.path, st.contentType, st.body)
		if r.status != st.status || !strings.Contains(r.detail(), st.detail) {
			t.Fatalf("%s: %d %s, want %d with %q", st.name, r.status, r.body, st.status, st.detail)
		}
	}
	if got := e.srv.ReplyState(ref.ReplyID); got != ReplySubmitted {
		t.Fatalf("state %q", got)
	}

	// The sender's side.
	e.getJSON("snd", "/v1/replies", http.StatusOK, &list)
	if list.TotalCount != 1 || list.Replies[0].ReplyID != ref.ReplyID || list.Replies[0].CaseID != s.ref.CaseID {
		t.Fatalf("list %+v", list)
	}
	var got struct {
		replyRef
		Attachments       []string
		EncryptedMetadata string
		EncryptedData     string
	}
	e.getJSON("snd", base, http.StatusOK, &got)
	if got.EncryptedMetadata != meta || got.EncryptedData != data || len(got.Attachments) != 2 {
		t.Fatalf("reply %+v", got)
	}
	if r := e.call("snd", http.MethodGet, base+"/attachments/"+a2, "", nil); r.status != 200 || string(r.body) != att2 || r.header.Get("Content-Type") != "application/jose" {
		t.Fatalf("attachment: %d %s", r.status, r.body)
	}
	e.getJSON("sub", "/v1/replies", http.StatusForbidden, nil)

	tags := map[string]any{"metadata": tagOf(meta), "data": tagOf(data), "attachments": map[string]string{a1: tagOf(att1), a2: tagOf(att2)}}
	wrong := map[string]any{"metadata": tagOf(data), "data": tagOf(data), "attachments": map[string]string{a1: tagOf(att1), a2: tagOf(att2)}}
	missing := map[string]any{"metadata": tagOf(meta), "data": tagOf(data), "attachments": map[string]string{a1: tagOf(att1)}}
	for _, st := range []struct {
		name   string
		body   any
		status int
		detail string
	}{
		{"wrong metadata tag", map[string]any{"authenticationTags": wrong}, 422, "does not match the authentication tag of the reply's encryptedMetadata"},
		{"an attachment's tag missing", map[string]any{"authenticationTags": missing}, 422, "no tag for attachment " + a2},
		{"extra field", map[string]any{"authenticationTags": tags, "problems": []any{}}, 422, "unknown field"},
		{"accept", map[string]any{"authenticationTags": tags}, 204, ""},
		{"accept twice", map[string]any{"authenticationTags": tags}, 409, "state accepted"},
	} {
		r := e.call("snd", http.MethodPut, base+"/accept", "application/json", mustJSON(t, st.body))
		if r.status != st.status || !strings.Contains(r.detail(), st.detail) {
			t.Fatalf("%s: %d %s", st.name, r.status, r.body)
		}
	}
	if state := e.srv.ReplyState(ref.ReplyID); state != ReplyAccepted {
		t.Fatalf("state %q", state)
	}
	if ev, _, ok := e.srv.ReplyDecision(ref.ReplyID); !ok || ev != EventAcceptReply {
		t.Fatalf("decision %q", ev)
	}
	e.getJSON("snd", base, http.StatusNotFound, nil) // no longer waiting

	// The event log: every step a SET of the service about the reply.
	var seen []string
	for _, c := range e.verifiedEvents(s.ref.CaseID) {
		ev := eventOf(c)
		seen = append(seen, ev)
		if strings.Contains(ev, "reply") {
			if c["sub"] != "reply:"+ref.ReplyID || c["txn"] != "case:"+s.ref.CaseID || c["iss"] != DefaultIssuer {
				t.Fatalf("%s: claims %v", ev, c)
			}
		}
		if ev == "submit-reply" {
			payload := c["events"].(map[string]any)[EventSubmitReply].(map[string]any)
			got := mustJSON(t, payload["authenticationTags"])
			if string(got) != string(mustJSON(t, tags)) {
				t.Fatalf("submit-reply tags %s, want %s", got, mustJSON(t, tags))
			}
		}
	}
	want := "create-submission submit-submission accept-submission create-reply submit-reply accept-reply"
	if strings.Join(seen, " ") != want {
		t.Fatalf("events %v, want %s", seen, want)
	}
}

func TestReplyRefusals(t *testing.T) {
	e := newEnv(t)
	s := e.accepted()
	gone := e.accepted()
	e.srv.Delete(gone.ref.SubmissionID)
	a := uuid.NewString()
	tests := []struct {
		name        string
		client      string
		contentType string
		body        string
		status      int
		detail      string
	}{
		{"unknown submission", "sub", "application/json", `{"submissionId":"` + uuid.NewString() + `","announcedAttachments":[]}`, 404, "not found"},
		{"deleted submission", "sub", "application/json", `{"submissionId":"` + gone.ref.SubmissionID + `","announcedAttachments":[]}`, 404, "deleted"},
		{"another destination's subscriber", "subB", "application/json", `{"submissionId":"` + s.ref.SubmissionID + `","announcedAttachments":[]}`, 403, "not a subscriber"},
		{"the sender", "snd", "application/json", `{"submissionId":"` + s.ref.SubmissionID + `","announcedAttachments":[]}`, 403, "needs a subscriber"},
		{"wrong content type", "sub", "text/plain", `{}`, 415, "application/json"},
		{"no submission id", "sub", "application/json", `{"announcedAttachments":[]}`, 400, "submissionId is required"},
		{"no announced attachments", "sub", "application/json", `{"submissionId":"` + s.ref.SubmissionID + `"}`, 400, "announcedAttachments is required"},
		{"attachment id not a UUID", "sub", "application/json", `{"submissionId":"` + s.ref.SubmissionID + `","announcedAttachments":["x"]}`, 400, "not a UUID"},
		{"attachment twice", "sub", "application/json", `{"submissionId":"` + s.ref.SubmissionID + `","announcedAttachments":["` + a + `","` + a + `"]}`, 422, "announced twice"},
		{"unknown field", "sub", "application/json", `{"submissionId":"` + s.ref.SubmissionID + `","announcedAttachments":[],"caseId":"x"}`, 400, "unknown field"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.call(tt.client, http.MethodPost, "/v1/replies", tt.contentType, []byte(tt.body))
			if r.status != tt.status || !strings.Contains(r.detail(), tt.detail) {
				t.Fatalf("%d %s, want %d with %q", r.status, r.body, tt.status, tt.detail)
			}
		})
	}
	if n := len(e.srv.Replies(s.ref.SubmissionID)); n != 0 {
		t.Fatalf("%d replies made by refused requests", n)
	}
	if r := e.call("sub", http.MethodGet, "/v1/replies/"+uuid.NewString()+"/attachments/"+a, "", nil); r.status != 403 {
		t.Fatalf("a subscriber reading a reply attachment: %d", r.status)
	}
	if r := e.call("snd", http.MethodPut, "/v1/replies/"+uuid.NewString()+"/reject", "application/json", []byte(`{"problems":[]}`)); r.status != 404 {
		t.Fatalf("reject of an unknown reply: %d", r.status)
	}
}

// sendReply makes a submitted reply without attachments to s.
func (e *env) sendReply(s sent) (replyRef, string, string) {
	e.t.Helper()
	ref, r := e.createReply("sub", s.ref.SubmissionID)
	if r.status != http.StatusCreated {
		e.t.Fatalf("create: %d %s", r.status, r.body)
	}
	meta, data := replyJWE(e.t, "m"), replyJWE(e.t, "d")
	r = e.call("sub", http.MethodPut, "/v1/replies/"+ref.ReplyID, "application/json", mustJSON(e.t, map[string]string{"encryptedMetadata": meta, "encryptedData": data}))
	if r.status != http.StatusAccepted {
		e.t.Fatalf("submit: %d %s", r.status, r.body)
	}
	return ref, meta, data
}

func TestReplyReject(t *testing.T) {
	e := newEnv(t)
	s := e.accepted()
	ref, _, _ := e.sendReply(s)
	path := "/v1/replies/" + ref.ReplyID + "/reject"
	problem := map[string]string{"type": ProblemTechnicalError[:strings.LastIndex(ProblemTechnicalError, "/")+1] + "encryption-issue",
		"title": "Entschlüsselungs-Fehler", "detail": "not for our key", "instance": "metadata"}
	for _, st := range []struct {
		name   string
		body   any
		status int
		detail string
	}{
		{"no problems", map[string]any{"problems": []any{}}, 422, "at least one problem"},
		{"problem without type", map[string]any{"problems": []any{map[string]string{"title": "x", "instance": "metadata"}}}, 422, "type is missing"},
		{"tags instead", map[string]any{"authenticationTags": map[string]string{}}, 422, "unknown field"},
		{"reject", map[string]any{"problems": []any{problem}}, 204, ""},
		{"reject twice", map[string]any{"problems": []any{problem}}, 409, "state rejected"},
	} {
		r := e.call("snd", http.MethodPut, path, "application/json", mustJSON(t, st.body))
		if r.status != st.status || !strings.Contains(r.detail(), st.detail) {
			t.Fatalf("%s: %d %s", st.name, r.status, r.body)
		}
	}
	ev, payload, ok := e.srv.ReplyDecision(ref.ReplyID)
	if !ok || ev != EventRejectReply || !strings.Contains(string(payload), "encryption-issue") || e.srv.ReplyState(ref.ReplyID) != ReplyRejected {
		t.Fatalf("decision %s %s", ev, payload)
	}
	claims := e.verifiedEvents(s.ref.CaseID)
	if last := claims[len(claims)-1]; eventOf(last) != "reject-reply" || last["sub"] != "reply:"+ref.ReplyID {
		t.Fatalf("last event %v", last)
	}
}

func TestReplyFaults(t *testing.T) {
	e := newEnv(t)
	s := e.accepted()
	e.srv.FailRetryAfter(OpCreateReply, http.StatusServiceUnavailable, 1, 7*time.Second)
	_, r := e.createReply("sub", s.ref.SubmissionID)
	if r.status != 503 || r.header.Get("Retry-After") != "7" {
		t.Fatalf("fault: %d %v", r.status, r.header)
	}
	if n := len(e.srv.Replies(s.ref.SubmissionID)); n != 0 {
		t.Fatalf("a failed request made %d replies", n)
	}
	// A lost answer: the reply is made, the client hears 502.
	e.srv.LoseAnswer(OpCreateReply, 1)
	_, r = e.createReply("sub", s.ref.SubmissionID)
	if r.status != http.StatusBadGateway || !strings.Contains(r.detail(), "answer is lost") {
		t.Fatalf("lost answer: %d %s", r.status, r.body)
	}
	ids := e.srv.Replies(s.ref.SubmissionID)
	if len(ids) != 1 || e.srv.ReplyState(ids[0]) != ReplyIncomplete {
		t.Fatalf("replies %v", ids)
	}
	if _, r = e.createReply("sub", s.ref.SubmissionID); r.status != http.StatusCreated {
		t.Fatalf("after the fault: %d", r.status)
	}
	if got := e.srv.Requests(OpCreateReply); got != 3 {
		t.Fatalf("requests %d", got)
	}
}

// TestReplyJWEHeader: the reply endpoints take only what FIT-Connect prescribes.
func TestReplyJWEHeader(t *testing.T) {
	hdr := func(h string) string {
		return base64.RawURLEncoding.EncodeToString([]byte(h)) + ".aa.bb.cc.dd"
	}
	for _, tt := range []struct {
		in, want string
	}{
		{hdr(`{"alg":"RSA-OAEP-256","enc":"A256GCM","kid":"k"}`), ""},
		{hdr(`{"alg":"RSA-OAEP-256","enc":"A128GCM","kid":"k"}`), "enc"},
		{hdr(`{"alg":"dir","enc":"A256GCM","kid":"k"}`), "alg"},
		{hdr(`{"alg":"RSA-OAEP-256","enc":"A256GCM"}`), "kid"},
		{"a.b", "segments"},
	} {
		err := checkReplyJWE(tt.in)
		if (tt.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.want)) {
			t.Fatalf("%s: %v, want %q", tt.in, err, tt.want)
		}
	}
}
