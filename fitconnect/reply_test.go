package fitconnect_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/amtsbote/amtsbote/adapters"
	"github.com/amtsbote/amtsbote/config"
	"github.com/amtsbote/amtsbote/fitconnect"
	"github.com/amtsbote/amtsbote/fitconnect/sender"
	"github.com/amtsbote/amtsbote/fitconnect/simulator"
	"github.com/amtsbote/amtsbote/replies"
)

const (
	demoDir       = "../fixtures/demo/fitconnect/"
	replyService  = "urn:de:fim:leika:leistung:99050012104000"
	replyStandard = "urn:xoev-de:bmk:standard:xbau_2.4"
)

// senderKeys are the online service's key pair for replies, made once (RSA 4096 is slow).
var senderKeys = sync.OnceValue(func() *fitconnect.GeneratedKeys {
	k, err := fitconnect.GenerateKeys("online service")
	if err != nil {
		panic(err)
	}
	return k
})

// replyEnv is the demo destination in a simulator, amtsbote's subscription of it with its reply
// channel, and an online service that sends applications and takes replies.
type replyEnv struct {
	t       *testing.T
	sim     *simulator.Server
	dest    string
	sub     *fitconnect.Subscription
	rs      *fitconnect.ReplySender
	snd     *sender.Sender
	sigKey  jwk.Key // the destination's signing key (accept-submission)
	checker *fitconnect.Checker
}

func newReplyEnv(t *testing.T) *replyEnv {
	t.Helper()
	cfg, err := simulator.LoadConfigFile(demoDir + "simulator.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Destinations[0].CallbackURL, cfg.Destinations[0].CallbackSecret = "", ""
	cfg.Issuer = ""
	sim, err := simulator.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(sim.Handler())
	t.Cleanup(func() { ts.Close(); sim.Close() })
	secret := func(id string) string {
		for _, c := range cfg.Clients {
			if c.ID == id {
				return c.Secret
			}
		}
		t.Fatalf("no client %s", id)
		return ""
	}
	sub := &fitconnect.Subscription{Config: config.FitConnectSubscription{ID: "demo-fitconnect"},
		Client: fitconnect.NewClient(ts.URL, "v1", ts.URL+"/token", "demo-subscriber", secret("demo-subscriber"), "", 10*time.Second)}
	sig, err := fitconnect.LoadPrivateKey(demoDir+"keys/signing.private.jwk", fitconnect.Signing)
	if err != nil {
		t.Fatal(err)
	}
	schemas, err := fitconnect.LoadMetadataSchemas([]string{demoDir + "schemas/metadata.schema.v1.0.0.json"})
	if err != nil {
		t.Fatal(err)
	}
	data, err := fitconnect.LoadDataSchema(fitconnect.ReplyDataSchema, "../fixtures/fitconnect/reply-data.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	ring, err := fitconnect.NewKeyRing(senderKeys().EncryptionPrivate)
	if err != nil {
		t.Fatal(err)
	}
	return &replyEnv{t: t, sim: sim, dest: cfg.Destinations[0].ID, sub: sub, rs: fitconnect.NewReplySender(sub), sigKey: sig,
		snd: &sender.Sender{API: fitconnect.NewClient(ts.URL, "v1", ts.URL+"/token", "demo-sender", secret("demo-sender"), "", 10*time.Second)},
		checker: &fitconnect.Checker{Ring: ring, Metadata: schemas, Data: map[string]*fitconnect.DataSchema{fitconnect.ReplyDataSchema: data},
			MaxAttachmentBytes: 16 << 20, TempDir: t.TempDir()}}
}

// application sends an application that asks for replies through FIT-Connect (encrypted for
// replyKey) and, with accept, accepts it as amtsbote would; it returns the reply address the
// stored submission's Meta gives.
func (e *replyEnv) application(replyKey jwk.Key, accept bool) (*sender.Prepared, replies.Address) {
	e.t.Helper()
	ctx := context.Background()
	channel, err := sender.ReplyChannel(replyKey, replyStandard)
	if err != nil {
		e.t.Fatal(err)
	}
	pub, err := e.snd.EncryptionKey(ctx, e.dest)
	if err != nil {
		e.t.Fatal(err)
	}
	p := sender.Prepare(sender.Application{DestinationID: e.dest,
		Service: fitconnect.ServiceType{Name: "Gewerbeanmeldung", Identifier: replyService},
		Data:    []byte(`{"betrieb":"Bäckerei"}`), DataSchemaURI: "urn:amtsbote:demo:schema:gewerbeanmeldung:1.0", DataMimeType: "application/json",
		Metadata: map[string]any{"replyChannel": channel}})
	if err := p.Seal(pub); err != nil {
		e.t.Fatal(err)
	}
	if err := e.snd.Send(ctx, p); err != nil {
		e.t.Fatal(err)
	}
	if accept {
		tags := fitconnect.AuthenticationTags{Metadata: fitconnect.AuthTag([]byte(p.EncryptedMetadata)), Data: fitconnect.AuthTag([]byte(p.EncryptedData))}
		set, err := fitconnect.NewDecision(e.dest, p.SubmissionID, p.CaseID, tags, nil, time.Now())
		if err != nil {
			e.t.Fatal(err)
		}
		token, err := fitconnect.Sign(e.sigKey, set)
		if err != nil {
			e.t.Fatal(err)
		}
		if err := e.sub.Client.PostEvent(ctx, p.CaseID, token); err != nil {
			e.t.Fatal(err)
		}
	}
	// What the intake keeps of it (Meta fitconnect.*), read back as the reply channel.
	meta, _ := json.Marshal(map[string]any{"fitconnect": map[string]any{"subscription": e.sub.Config.ID,
		"destination_id": e.dest, "submission_id": p.SubmissionID, "case_id": p.CaseID, "reply_channel": p.Metadata["replyChannel"]}})
	addr, err := fitconnect.ReplyAddress(meta)
	if err != nil || addr.FitConnect == nil {
		e.t.Fatalf("ReplyAddress: %+v, %v", addr, err)
	}
	return p, addr
}

var bescheidPDF = []byte("%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n% Bescheid über die Gewerbeanmeldung\n%%EOF\n")

func document(seq int, name string, content []byte) replies.Document {
	return replies.Document{Seq: seq, Name: name, MediaType: "application/pdf", Size: int64(len(content)),
		Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(content)), nil }}
}

func outgoing(id string, addr replies.Address, docs ...replies.Document) *replies.Outgoing {
	return &replies.Outgoing{ReplyID: id, SubmissionID: "amtsbote-" + id, Kind: replies.KindBescheid, Status: replies.StatusDecided,
		Subject: "Ihre Gewerbeanmeldung", Text: "Die Anmeldung ist eingetragen.", Reference: "GA-2024-17",
		RepliedAt: time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC), Documents: docs,
		Message: []byte(`<?xml version="1.0" encoding="UTF-8"?><bescheid/>`), MessageType: "gewerbe.bescheid", Address: addr, Attempt: 1}
}

func TestReplyReachesTheSender(t *testing.T) {
	e := newReplyEnv(t)
	ctx := context.Background()
	p, addr := e.application(senderKeys().EncryptionPublic, true)
	if got := addr.FitConnect.ProcessStandards; len(got) != 1 || got[0] != replyStandard {
		t.Fatalf("process standards %v", got)
	}
	o := outgoing("reply-1", addr, document(0, "Bescheid.pdf", bescheidPDF))
	art, err := e.rs.Send(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	ids := e.sim.Replies(p.SubmissionID)
	if len(ids) != 1 || !strings.Contains(art, ids[0]) || e.sim.ReplyState(ids[0]) != simulator.ReplySubmitted {
		t.Fatalf("artefact %q, replies %v", art, ids)
	}

	// The online service fetches, decrypts and checks it.
	waiting, err := e.snd.Replies(ctx)
	if err != nil || len(waiting) != 1 || waiting[0].ReplyID != ids[0] || waiting[0].CaseID != p.CaseID {
		t.Fatalf("waiting %+v, %v", waiting, err)
	}
	r, err := e.snd.FetchReply(ctx, waiting[0].ReplyID, e.checker)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if len(r.Problems) > 0 {
		t.Fatalf("problems %v", r.Problems)
	}
	d, err := r.ReplyData()
	if err != nil {
		t.Fatal(err)
	}
	if d.Kind != "bescheid" || d.Status != "decided" || d.Subject != o.Subject || d.Text != o.Text || d.Reference != "GA-2024-17" ||
		d.RepliedAt != "2024-05-06T07:08:09Z" || d.Message == nil || string(d.Message.Content) != string(o.Message) ||
		d.Message.Type != "gewerbe.bescheid" || d.Message.MediaType != "application/xml" {
		t.Fatalf("data %+v", d)
	}
	if len(r.Attachments) != 1 {
		t.Fatalf("attachments %+v", r.Attachments)
	}
	a := r.Attachments[0]
	content, err := sender.Content(a)
	if err != nil || !bytes.Equal(content, bescheidPDF) || a.Filename != "Bescheid.pdf" || a.MimeType != "application/pdf" ||
		a.AttachmentID != fitconnect.ReplyAttachmentID("reply-1", 0) || a.SHA512 != fitconnect.SHA512Hex(bescheidPDF) {
		t.Fatalf("attachment %+v %q %v", a.AttachmentMetadata, content, err)
	}
	if ref := r.Metadata.AdditionalReferenceInfo; ref == nil || ref.SenderReference != "GA-2024-17" {
		t.Fatalf("metadata %+v", r.Metadata)
	}
	if err := e.snd.Accept(ctx, r); err != nil {
		t.Fatal(err)
	}
	if got := e.sim.ReplyState(ids[0]); got != simulator.ReplyAccepted {
		t.Fatalf("state %q", got)
	}
	events := e.sim.Events(p.CaseID)
	var names []string
	for _, ev := range events {
		set, err := fitconnect.ParseSETPayload(payloadOf(t, ev), false)
		if err != nil {
			t.Fatal(err)
		}
		name, _ := set.Event()
		names = append(names, strings.TrimPrefix(name, fitconnect.EventBase))
	}
	if got := strings.Join(names, " "); got != "create-submission submit-submission accept-submission create-reply submit-reply accept-reply" {
		t.Fatalf("event log %s", got)
	}
	// A retry of a reply that arrived sends nothing again.
	if art2, err := e.rs.Send(ctx, o); err != nil || !strings.Contains(art2, ids[0]) || len(e.sim.Replies(p.SubmissionID)) != 1 {
		t.Fatalf("again: %q %v", art2, err)
	}
}

func payloadOf(t *testing.T, token string) []byte {
	t.Helper()
	parts := strings.Split(token, ".")
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestReplyAfterACrash(t *testing.T) {
	e := newReplyEnv(t)
	ctx := context.Background()
	p, addr := e.application(senderKeys().EncryptionPublic, true)

	// The service submitted the reply, amtsbote never heard: the retry finds the submit-reply
	// event naming its attachment ids and sends nothing again.
	e.sim.LoseAnswer(simulator.OpSubmitReply, 1)
	o := outgoing("reply-lost-submit", addr, document(0, "Bescheid.pdf", bescheidPDF))
	if _, err := e.rs.Send(ctx, o); err == nil || adapters.IsPermanent(err) {
		t.Fatalf("lost answer: %v, want a transient error", err)
	}
	art, err := e.rs.Send(ctx, o)
	if err != nil || !strings.Contains(art, "submitted before") {
		t.Fatalf("retry: %q %v", art, err)
	}
	if ids := e.sim.Replies(p.SubmissionID); len(ids) != 1 {
		t.Fatalf("%d replies after the retry, want 1", len(ids))
	}

	// Stopped after the reply was created: the retry makes a new one; the first stays
	// incomplete and never reaches the sender.
	e.sim.LoseAnswer(simulator.OpCreateReply, 1)
	o = outgoing("reply-lost-create", addr, document(0, "Nachforderung.pdf", bescheidPDF))
	if _, err := e.rs.Send(ctx, o); err == nil || adapters.IsPermanent(err) {
		t.Fatalf("lost answer: %v", err)
	}
	if _, err := e.rs.Send(ctx, o); err != nil {
		t.Fatal(err)
	}
	ids := e.sim.Replies(p.SubmissionID)
	if len(ids) != 3 || e.sim.ReplyState(ids[1]) != simulator.ReplyIncomplete || e.sim.ReplyState(ids[2]) != simulator.ReplySubmitted {
		t.Fatalf("replies %v", ids)
	}
	waiting, err := e.snd.Replies(ctx)
	if err != nil || len(waiting) != 2 {
		t.Fatalf("the sender sees %d replies (%v), want 2", len(waiting), err)
	}

	// Without documents a reply has no id of amtsbote's choosing at the service: a lost answer
	// to its submit makes the retry send it twice (docs/fitconnect.md).
	e.sim.LoseAnswer(simulator.OpSubmitReply, 1)
	o = outgoing("reply-without-documents", addr)
	if _, err := e.rs.Send(ctx, o); err == nil {
		t.Fatal("lost answer: no error")
	}
	if _, err := e.rs.Send(ctx, o); err != nil {
		t.Fatal(err)
	}
	if waiting, _ := e.snd.Replies(ctx); len(waiting) != 4 {
		t.Fatalf("the sender sees %d replies, want 4 (the documentless one twice)", len(waiting))
	}
}

func TestReplyErrors(t *testing.T) {
	e := newReplyEnv(t)
	ctx := context.Background()
	_, addr := e.application(senderKeys().EncryptionPublic, true)
	_, notAccepted := e.application(senderKeys().EncryptionPublic, false)
	doc := document(0, "Bescheid.pdf", bescheidPDF)
	with := func(change func(a *replies.FitConnectAddress)) replies.Address {
		c := *addr.FitConnect
		change(&c)
		return replies.Address{FitConnect: &c}
	}
	unknownCase := with(func(a *replies.FitConnectAddress) { a.CaseID = "0f1e2d3c-4b5a-4968-8776-655443322110" })
	small, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	smallJWK, _ := jwk.Import(&small.PublicKey)
	_ = smallJWK.Set(jwk.KeyIDKey, "small-key-1")
	_ = smallJWK.Set(jwk.KeyOpsKey, jwk.KeyOperationList{jwk.KeyOpWrapKey})
	smallRaw, _ := json.Marshal(smallJWK)
	smallKey := with(func(a *replies.FitConnectAddress) { a.EncryptionKey = smallRaw })
	tests := []struct {
		name      string
		addr      replies.Address
		fault     func()
		permanent bool
		want      string
		wait      time.Duration
	}{
		{"no reply channel", replies.Address{Email: "a@example.org"}, nil, true, "the application named no FIT-Connect reply channel", 0},
		{"a bad key", smallKey, nil, true, "encryptionPublicKey): the RSA key has 2048 bits; FIT-Connect requires at least 4096", 0},
		{"no key", with(func(a *replies.FitConnectAddress) { a.EncryptionKey = nil }), nil, true, "no encryptionPublicKey", 0},
		{"unknown subscription", with(func(a *replies.FitConnectAddress) { a.Subscription = "gone" }), nil, true, `subscription "gone" is not configured`, 0},
		{"unknown case", unknownCase, nil, true, "HTTP 404", 0},
		{"submission not accepted", notAccepted, nil, false, "not accepted yet", 0},
		{"refused", addr, func() { e.sim.Fail(simulator.OpCreateReply, http.StatusForbidden, 1) }, true, `HTTP 403: Forbidden: injected fault for operation "reply-create"`, 0},
		{"service unavailable", addr, func() { e.sim.FailRetryAfter(simulator.OpUploadReply, http.StatusServiceUnavailable, 1, 7*time.Second) }, false, "HTTP 503", 7 * time.Second},
		{"event log unavailable", addr, func() { e.sim.Fail(simulator.OpEventLog, http.StatusBadGateway, 1) }, false, "HTTP 502", 0},
		{"timeout", addr, func() { e.sim.Stall(simulator.OpSubmitReply, time.Second, 1) }, false, "deadline exceeded", 0},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.fault != nil {
				tt.fault()
			}
			ctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
			defer cancel()
			_, err := e.rs.Send(ctx, outgoing("err-"+strings.Repeat("x", i), tt.addr, doc))
			if err == nil || adapters.IsPermanent(err) != tt.permanent || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v (permanent %t), want %q (permanent %t)", err, adapters.IsPermanent(err), tt.want, tt.permanent)
			}
			if got := adapters.RetryAfter(err); got != tt.wait {
				t.Fatalf("retry after %v, want %v", got, tt.wait)
			}
		})
	}

	if _, err := e.rs.Send(ctx, outgoing("", addr, doc)); !adapters.IsPermanent(err) || !strings.Contains(err.Error(), "no id") {
		t.Fatalf("no reply id: %v", err)
	}

	// 409: the service has it already.
	e.sim.Fail(simulator.OpSubmitReply, http.StatusConflict, 1)
	if art, err := e.rs.Send(ctx, outgoing("conflict", addr, doc)); err != nil || !strings.Contains(art, "had it already") {
		t.Fatalf("409: %q %v", art, err)
	}

	// A rejected submission takes no reply.
	p, rejected := e.application(senderKeys().EncryptionPublic, false)
	set, _ := fitconnect.NewDecision(e.dest, p.SubmissionID, p.CaseID, fitconnect.AuthenticationTags{},
		[]fitconnect.Problem{fitconnect.NewProblem("technical-error", "submission", "test")}, time.Now())
	token, _ := fitconnect.Sign(e.sigKey, set)
	if err := e.sub.Client.PostEvent(ctx, p.CaseID, token); err != nil {
		t.Fatal(err)
	}
	if _, err := e.rs.Send(ctx, outgoing("rejected", rejected, doc)); !adapters.IsPermanent(err) || !strings.Contains(err.Error(), "was rejected") {
		t.Fatalf("rejected submission: %v", err)
	}

	// A document that changed since it was stored.
	bad := document(0, "Bescheid.pdf", bescheidPDF)
	bad.SHA256 = strings.Repeat("0", 64)
	if _, err := e.rs.Send(ctx, outgoing("changed", addr, bad)); !adapters.IsPermanent(err) || !strings.Contains(err.Error(), "SHA-256") {
		t.Fatalf("changed document: %v", err)
	}
}

// TestReplyTheSenderCannotRead: a reply encrypted for a key the sender does not hold is rejected
// by the sender (encryption-issue), and the service records the reject.
func TestReplyTheSenderCannotRead(t *testing.T) {
	e := newReplyEnv(t)
	ctx := context.Background()
	raw, err := os.ReadFile(demoDir + "keys/encryption.public.jwk")
	if err != nil {
		t.Fatal(err)
	}
	other, err := jwk.ParseKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	p, addr := e.application(other, true)
	if _, err := e.rs.Send(ctx, outgoing("unreadable", addr, document(0, "Bescheid.pdf", bescheidPDF))); err != nil {
		t.Fatal(err)
	}
	id := e.sim.Replies(p.SubmissionID)[0]
	r, err := e.snd.FetchReply(ctx, id, e.checker)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if len(r.Problems) == 0 || r.Problems[0].Name() != "encryption-issue" || r.Problems[0].Instance != "metadata" {
		t.Fatalf("problems %v", r.Problems)
	}
	if err := e.snd.Accept(ctx, r); err == nil {
		t.Fatal("accepted a reply with problems")
	}
	if err := e.snd.Reject(ctx, id, r.Problems); err != nil {
		t.Fatal(err)
	}
	if ev, payload, ok := e.sim.ReplyDecision(id); !ok || ev != simulator.EventRejectReply || !strings.Contains(string(payload), "encryption-issue") {
		t.Fatalf("decision %s %s", ev, payload)
	}
	var apiErr *fitconnect.APIError
	if err := e.snd.Reject(ctx, id, r.Problems); !errors.As(err, &apiErr) || apiErr.Status != http.StatusConflict {
		t.Fatalf("second reject: %v", err)
	}
}
