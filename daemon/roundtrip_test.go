package daemon_test

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto"
	"encoding/base64"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"github.com/amtsbote/amtsbote/adapters/smtptest"
	"github.com/amtsbote/amtsbote/config"
	"github.com/amtsbote/amtsbote/fitconnect"
	"github.com/amtsbote/amtsbote/fitconnect/sender"
	"github.com/amtsbote/amtsbote/store"
)

// The citizen's round trip by e-mail: an application names an e-mail address and an OpenPGP
// key; it is delivered; the Fachverfahren drops a Bescheid into the inbox; the applicant's mail
// arrives at a real SMTP server, encrypted, and decrypts with the private key to the Bescheid;
// the portal sees decided and downloads the same document.
func TestCitizenRoundTripByMail(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		mailServer := smtptest.Start(t, smtptest.Config{TLS: "none"})
		cfg := backendConfig(t, backend)
		cfg.Receipts.Directory = t.TempDir()
		cfg.Replies.Email = map[string]any{"host": mailServer.Host, "port": mailServer.Port, "tls": "none",
			"from": "bescheide@demo-stadt.example"}
		cfg.Replies.Retry = config.Retry{MaxAttempts: 5, InitialInterval: 50 * time.Millisecond, MaxInterval: 200 * time.Millisecond,
			Multiplier: 2, MaxAge: time.Minute}
		h := start(t, cfg)
		ctx := context.Background()

		entity, publicKey, privateKey := pgpKey(t)
		sub := demoSubmission(t)
		sub["reply_channel"] = map[string]any{"email": "anna.mueller@example.org", "pgp_public_key": publicKey}
		accepted := h.submit(sub, demoToken, nil)
		if accepted.Status != http.StatusAccepted {
			t.Fatalf("submit: %d %s", accepted.Status, accepted.Raw)
		}
		id := accepted.Body["id"].(string)
		h.waitStatus(id, "delivered")
		msg, err := h.d.Store().Message(ctx, id, "gewerbe-fachverfahren")
		if err != nil {
			t.Fatal(err)
		}

		// The mail server refuses for a while (421 at RCPT): the reply is retried, not lost.
		restore := mailServer.SetFailure("rcpt", 421)

		// The Fachverfahren drops its Bescheid as a reply package into the inbox.
		dropReply(t, cfg.Receipts.Directory, "bescheid-1.zip", `{"prozess_id": "`+msg.MessageID+`", "source": "gewerbe-fachverfahren",
			"id": "GA-2026-0001", "kind": "bescheid", "subject": "Ihre Gewerbeanmeldung", "text": "Ihre Gewerbeanmeldung ist eingetragen.",
			"documents": [{"filename": "Bescheid.pdf", "media_type": "application/pdf"}]}`, map[string][]byte{"Bescheid.pdf": []byte(bescheidPDF)})
		if _, err := h.d.PollReceipts(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(cfg.Receipts.Directory, "processed", "bescheid-1.zip")); err != nil {
			t.Fatalf("the reply package was not processed: %v", err)
		}

		waitFor(t, "a failed attempt to mail the reply", func() bool {
			return contains(eventTypes(h.detail(id)), "reply_failed")
		})
		if n := len(mailServer.Stored()); n != 0 {
			t.Fatalf("%d mails while the server refused", n)
		}
		restore()

		// The applicant's mail: PGP/MIME, nothing of the case in the clear.
		raw := waitMail(t, mailServer, "anna.mueller@example.org")
		outer, err := mail.ReadMessage(bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		if ct := outer.Header.Get("Content-Type"); !strings.HasPrefix(ct, "multipart/encrypted") {
			t.Fatalf("the mail is not encrypted: Content-Type %q", ct)
		}
		if bytes.Contains(raw, []byte("Gewerbeanmeldung")) || bytes.Contains(raw, []byte(bescheidPDF[:20])) {
			t.Fatal("the encrypted mail shows the case in the clear")
		}
		inner := decryptPGPMIME(t, outer, entity, privateKey)
		doc := attachment(t, inner, "Bescheid.pdf")
		if string(doc) != bescheidPDF {
			t.Fatalf("the mail's Bescheid differs: %q", doc)
		}

		// The portal sees decided and downloads the document.
		st := h.waitStatus(id, "decided")
		if !contains(eventTypes(st), "reply_received") {
			t.Fatalf("history: %s", st.Raw)
		}
		list := h.do("GET", "/v1/submissions/"+id+"/replies", demoToken, nil, nil)
		items, _ := list.Body["replies"].([]any)
		if list.Status != http.StatusOK || len(items) != 1 {
			t.Fatalf("replies: %d %s", list.Status, list.Raw)
		}
		replyID := items[0].(map[string]any)["id"].(string)
		res, body := h.get("/v1/submissions/"+id+"/replies/"+replyID+"/documents/0", demoToken)
		if res.StatusCode != http.StatusOK || string(body) != bescheidPDF {
			t.Fatalf("download: %d %q", res.StatusCode, body)
		}
		deliveries, err := h.d.Store().ReplyDeliveries(ctx, replyID)
		if err != nil || len(deliveries) != 1 || deliveries[0].Channel != "email" || deliveries[0].Status != store.ReplySent {
			t.Fatalf("reply deliveries: %+v %v", deliveries, err)
		}
		// Dropped again (an inbox read twice after a crash): stored once, mailed once.
		dropReply(t, cfg.Receipts.Directory, "bescheid-1-again.zip", `{"prozess_id": "`+msg.MessageID+`", "source": "gewerbe-fachverfahren",
			"id": "GA-2026-0001", "kind": "bescheid", "subject": "Ihre Gewerbeanmeldung", "text": "Ihre Gewerbeanmeldung ist eingetragen.",
			"documents": [{"filename": "Bescheid.pdf", "media_type": "application/pdf"}]}`, map[string][]byte{"Bescheid.pdf": []byte(bescheidPDF)})
		if _, err := h.d.PollReceipts(ctx); err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond)
		if n := len(mailServer.Stored()); n != 1 {
			t.Fatalf("%d mails, want 1", n)
		}
	})
}

// The round trip through FIT-Connect: the online service's application names a fitConnect
// reply channel with its key; the Fachverfahren answers over HTTP naming the caseId; the reply
// reaches the delivery service, and the online service fetches and decrypts the Bescheid.
func TestCitizenRoundTripByFitConnect(t *testing.T) {
	keys, err := fitconnect.GenerateKeys("Demo-Onlinedienst")
	if err != nil {
		t.Fatal(err)
	}
	e := startFitConnect(t, "sqlite", func(cfg *config.Config) {
		cfg.Replies.Retry = config.Retry{MaxAttempts: 10, InitialInterval: 50 * time.Millisecond, MaxInterval: 300 * time.Millisecond,
			Multiplier: 2, MaxAge: time.Minute}
	})
	ctx := context.Background()
	app := e.application(t)
	channel, err := sender.ReplyChannel(keys.EncryptionPublic, "urn:amtsbote:demo:bescheid")
	if err != nil {
		t.Fatal(err)
	}
	app.Metadata["replyChannel"] = channel
	p := e.submit(t, app, nil, nil)
	entry := e.waitInbox(t, p.SubmissionID)
	id := entry.AmtsboteID
	e.waitDone(t, id, "delivered")

	reply := `{"case_id": "` + p.CaseID + `", "id": "GA-FC-1", "kind": "bescheid", "subject": "Ihre Gewerbeanmeldung",
		"text": "Eingetragen.", "documents": [{"filename": "Bescheid.pdf", "media_type": "application/pdf"}]}`
	r := e.postReply(fvToken, reply, replyFile{"Bescheid.pdf", []byte(bescheidPDF)})
	if r.Status != http.StatusAccepted {
		t.Fatalf("reply: %d %s", r.Status, r.Raw)
	}
	deadline := time.Now().Add(20 * time.Second)
	for len(e.sim.Replies(p.SubmissionID)) == 0 {
		if time.Now().After(deadline) {
			ds, _ := e.d.Store().ReplyDeliveries(ctx, r.Body["id"].(string))
			t.Fatalf("no reply reached the delivery service: %+v", ds)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// The online service fetches it, decrypts it with its key, checks it and finds the Bescheid.
	ring, err := fitconnect.NewKeyRing(keys.EncryptionPrivate)
	if err != nil {
		t.Fatal(err)
	}
	schemas, err := fitconnect.LoadMetadataSchemas([]string{"../fixtures/demo/fitconnect/schemas/metadata.schema.v1.0.0.json"})
	if err != nil {
		t.Fatal(err)
	}
	data, err := fitconnect.LoadDataSchema(fitconnect.ReplyDataSchema, "../fixtures/fitconnect/reply-data.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	checker := &fitconnect.Checker{Ring: ring, Metadata: schemas, Data: map[string]*fitconnect.DataSchema{fitconnect.ReplyDataSchema: data},
		MaxAttachmentBytes: 16 << 20, TempDir: t.TempDir()}
	waiting, err := e.send.Replies(ctx)
	if err != nil || len(waiting) != 1 || waiting[0].CaseID != p.CaseID {
		t.Fatalf("replies waiting for the online service: %+v %v", waiting, err)
	}
	got, err := e.send.FetchReply(ctx, waiting[0].ReplyID, checker)
	if err != nil {
		t.Fatal(err)
	}
	defer got.Close()
	if len(got.Problems) > 0 {
		t.Fatalf("the reply fails the online service's checks: %v", got.Problems)
	}
	d, err := got.ReplyData()
	if err != nil || d.Kind != "bescheid" || d.Subject != "Ihre Gewerbeanmeldung" {
		t.Fatalf("reply data %+v, %v", d, err)
	}
	if len(got.Attachments) != 1 {
		t.Fatalf("attachments: %+v", got.Attachments)
	}
	content, err := sender.Content(got.Attachments[0])
	if err != nil || string(content) != bescheidPDF || got.Attachments[0].Filename != "Bescheid.pdf" {
		t.Fatalf("the Bescheid the online service decrypted: %q %v", content, err)
	}
	if err := e.send.Accept(ctx, got); err != nil {
		t.Fatal(err)
	}
	e.waitDone(t, id, "decided")
}

// waitFor waits until cond holds.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// dropReply writes a reply package (a zip with reply.json and files) into the inbox, as a
// Fachverfahren does: under a temporary name, then renamed.
func dropReply(t testing.TB, inbox, name, manifest string, files map[string][]byte) {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, _ := zw.Create("reply.json")
	w.Write([]byte(manifest))
	for n, c := range files {
		w, _ := zw.Create(n)
		w.Write(c)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(inbox, "."+name)
	if err := os.WriteFile(tmp, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(inbox, name)); err != nil {
		t.Fatal(err)
	}
}

// pgpKey makes the applicant's OpenPGP key: the entity, its armoured public and private keys.
func pgpKey(t testing.TB) (*openpgp.Entity, string, string) {
	t.Helper()
	e, err := openpgp.NewEntity("Anna Müller", "", "anna.mueller@example.org",
		&packet.Config{DefaultHash: crypto.SHA256, Algorithm: packet.PubKeyAlgoEdDSA})
	if err != nil {
		t.Fatal(err)
	}
	var pub, priv bytes.Buffer
	w, _ := armor.Encode(&pub, openpgp.PublicKeyType, nil)
	if err := e.Serialize(w); err != nil {
		t.Fatal(err)
	}
	w.Close()
	w, _ = armor.Encode(&priv, openpgp.PrivateKeyType, nil)
	if err := e.SerializePrivate(w, nil); err != nil {
		t.Fatal(err)
	}
	w.Close()
	return e, pub.String(), priv.String()
}

// waitMail waits for the first mail to a recipient at the SMTP server.
func waitMail(t testing.TB, s *smtptest.Server, to string) []byte {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		for _, m := range s.Stored() {
			for _, rcpt := range m.To {
				if rcpt == to {
					return m.Content(t)
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no mail to %s arrived", to)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// decryptPGPMIME decrypts a multipart/encrypted mail (RFC 3156) with the private key and returns
// the inner MIME entity.
func decryptPGPMIME(t testing.TB, outer *mail.Message, _ *openpgp.Entity, privateKey string) *mail.Message {
	t.Helper()
	_, params, err := mime.ParseMediaType(outer.Header.Get("Content-Type"))
	if err != nil || params["protocol"] != "application/pgp-encrypted" {
		t.Fatalf("Content-Type %q: %v", outer.Header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(outer.Body, params["boundary"])
	var armoured []byte
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if part.Header.Get("Content-Type") == "application/octet-stream" || strings.HasPrefix(part.Header.Get("Content-Type"), "application/octet-stream") {
			armoured, _ = io.ReadAll(part)
		}
	}
	block, err := armor.Decode(bytes.NewReader(armoured))
	if err != nil {
		t.Fatalf("the encrypted part: %v", err)
	}
	ring, err := openpgp.ReadArmoredKeyRing(strings.NewReader(privateKey))
	if err != nil {
		t.Fatal(err)
	}
	md, err := openpgp.ReadMessage(block.Body, ring, nil, nil)
	if err != nil {
		t.Fatalf("decrypt: %v", err)
	}
	plain, err := io.ReadAll(md.UnverifiedBody)
	if err != nil {
		t.Fatal(err)
	}
	inner, err := mail.ReadMessage(bytes.NewReader(plain))
	if err != nil {
		t.Fatalf("the decrypted entity: %v", err)
	}
	return inner
}

// attachment finds a file part by name in a MIME entity (nested multiparts included) and
// returns its decoded content.
func attachment(t testing.TB, m *mail.Message, name string) []byte {
	t.Helper()
	var walk func(header map[string][]string, body io.Reader) []byte
	walk = func(header map[string][]string, body io.Reader) []byte {
		h := http.Header(header)
		mt, params, _ := mime.ParseMediaType(h.Get("Content-Type"))
		if strings.HasPrefix(mt, "multipart/") {
			mr := multipart.NewReader(body, params["boundary"])
			for {
				part, err := mr.NextPart()
				if err != nil {
					return nil
				}
				if found := walk(part.Header, part); found != nil {
					return found
				}
			}
		}
		_, dp, _ := mime.ParseMediaType(h.Get("Content-Disposition"))
		if dp["filename"] != name && params["name"] != name {
			return nil
		}
		content, _ := io.ReadAll(body)
		if strings.EqualFold(h.Get("Content-Transfer-Encoding"), "base64") {
			decoded, err := base64.StdEncoding.DecodeString(strings.NewReplacer("\r", "", "\n", "").Replace(string(content)))
			if err != nil {
				t.Fatalf("attachment %s: %v", name, err)
			}
			return decoded
		}
		return content
	}
	found := walk(m.Header, m.Body)
	if found == nil {
		t.Fatalf("no attachment %s in the mail", name)
	}
	return found
}
