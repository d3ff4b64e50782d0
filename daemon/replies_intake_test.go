package daemon_test

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/amtsbote/amtsbote/daemon"
	"github.com/amtsbote/amtsbote/replies"
	"github.com/amtsbote/amtsbote/store"
)

const (
	fvToken       = "demo-fachverfahren-token" // gewerbe-fachverfahren's reply token (demo config)
	parkraumToken = "parkraum-reply-token"
	parkraumHash  = "2fe991a48e71e2974de4554011b9b9465499e13677c8f734b29aa411b1dbd541"
)

const bescheidPDF = "%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"

type replyFile struct {
	name    string
	content []byte
}

// postReply sends a reply as multipart/form-data: the manifest as part "reply", then the files.
func (h *harness) postReply(token string, manifest string, files ...replyFile) response {
	h.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	p, _ := mw.CreatePart(textproto.MIMEHeader{"Content-Disposition": {`form-data; name="reply"`}, "Content-Type": {"application/json"}})
	p.Write([]byte(manifest))
	for _, f := range files {
		p, _ := mw.CreatePart(textproto.MIMEHeader{"Content-Disposition": {`form-data; name="file"; filename="` + f.name + `"`},
			"Content-Type": {"application/octet-stream"}})
		p.Write(f.content)
	}
	mw.Close()
	return h.do("POST", "/v1/replies", token, buf.Bytes(), map[string]string{"Content-Type": mw.FormDataContentType()})
}

func (h *harness) get(path, token string) (*http.Response, []byte) {
	h.t.Helper()
	req, _ := http.NewRequest("GET", h.base+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res, body
}

func problemFields(r response) []string {
	var out []string
	if ps, ok := r.Body["problems"].([]any); ok {
		for _, p := range ps {
			out = append(out, p.(map[string]any)["field"].(string)+": "+p.(map[string]any)["message"].(string))
		}
	}
	return out
}

// The return channel end to end: a portal submits with a reply channel, the submission is
// delivered, the Fachverfahren posts a Bescheid (PDF and an XÖV message) naming the ProzessID
// it got, the submission is decided, and the portal lists the reply and downloads the PDF.
// Repeats are answered with the stored reply; what cannot be taken is refused with the right
// status and filed; after retention purged the submission a reply is refused with 410 and the
// document is gone.
func TestRepliesEndToEnd(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		cfg := backendConfig(t, backend)
		cfg.Replies.MaxDocumentBytes = 64 << 10
		for i := range cfg.Destinations {
			if cfg.Destinations[i].ID == "parkraum-fachverfahren" {
				cfg.Destinations[i].ReplyTokenSHA256 = parkraumHash
			}
		}
		c := &clock{t: time.Now()}
		h := start(t, cfg, daemon.WithClock(c.Now))
		ctx := context.Background()

		sub := demoSubmission(t)
		sub["reply_channel"] = map[string]any{"email": "anna.mueller@example.org", "postal": []string{"Anna Müller", "Hauptstr. 1", "80331 München"}}
		accepted := h.submit(sub, demoToken, nil)
		if accepted.Status != http.StatusAccepted {
			t.Fatalf("submit: %d %s", accepted.Status, accepted.Raw)
		}
		id := accepted.Body["id"].(string)
		h.waitStatus(id, "delivered")
		stored, _ := h.d.Store().Submission(ctx, id)
		if a, err := replies.AddressFromMeta(stored.Meta); err != nil || a.Email != "anna.mueller@example.org" || len(a.Postal) != 3 {
			t.Fatalf("reply channel in meta: %+v %v (%s)", a, err, stored.Meta)
		}
		msg, err := h.d.Store().Message(ctx, id, "gewerbe-fachverfahren")
		if err != nil {
			t.Fatal(err)
		}
		xoevMessage := empfang("Geschaeftsgang.EmpfangBestaetigen.0202", "0202", msg.MessageID)
		manifest := `{"prozess_id": "` + msg.MessageID + `", "id": "GA-2026-0815", "kind": "bescheid", "subject": "Ihre Gewerbeanmeldung",
			"text": "Ihre Gewerbeanmeldung ist eingetragen.", "documents": [{"filename": "Bescheid.pdf", "media_type": "application/pdf"}],
			"message": {"filename": "nachricht.xml"}}`
		files := []replyFile{{"Bescheid.pdf", []byte(bescheidPDF)}, {"nachricht.xml", []byte(xoevMessage)}}
		r := h.postReply(fvToken, manifest, files...)
		if r.Status != http.StatusAccepted || r.Body["submission_id"] != id || r.Body["status"] != "decided" {
			t.Fatalf("bescheid: %d %s", r.Status, r.Raw)
		}
		replyID := r.Body["id"].(string)
		again := h.postReply(fvToken, manifest, files...)
		if again.Status != http.StatusOK || again.Body["id"] != replyID {
			t.Fatalf("the same reply again: %d %s", again.Status, again.Raw)
		}

		st := h.waitStatus(id, "decided")
		last := lastEvent(st)
		if last["type"] != "reply_received" || last["destination"] != "gewerbe-fachverfahren" || !strings.Contains(last["detail"].(string), "bescheid") {
			t.Fatalf("history: %s", st.Raw)
		}
		list := h.do("GET", "/v1/submissions/"+id+"/replies", demoToken, nil, nil)
		if list.Status != http.StatusOK {
			t.Fatalf("replies: %d %s", list.Status, list.Raw)
		}
		items := list.Body["replies"].([]any)
		if len(items) != 1 {
			t.Fatalf("replies: %s", list.Raw)
		}
		rp := items[0].(map[string]any)
		doc := rp["documents"].([]any)[0].(map[string]any)
		if rp["kind"] != "bescheid" || rp["status"] != "decided" || rp["subject"] != "Ihre Gewerbeanmeldung" ||
			rp["source"] != "gewerbe-fachverfahren" || doc["name"] != "Bescheid.pdf" {
			t.Fatalf("reply: %s", list.Raw)
		}
		if other := h.do("GET", "/v1/submissions/"+id+"/replies", otherToken, nil, nil); other.Status != http.StatusNotFound {
			t.Fatalf("another portal reads the replies: %d", other.Status)
		}
		download := doc["links"].(map[string]any)["download"].(string)
		res, body := h.get(download, demoToken)
		sum := sha256.Sum256([]byte(bescheidPDF))
		if res.StatusCode != http.StatusOK || string(body) != bescheidPDF || res.Header.Get("Content-Type") != "application/pdf" ||
			res.ContentLength != int64(len(bescheidPDF)) ||
			res.Header.Get("X-Content-SHA256") != hex.EncodeToString(sum[:]) ||
			res.Header.Get("Repr-Digest") != "sha-256=:"+base64.StdEncoding.EncodeToString(sum[:])+":" ||
			!strings.Contains(res.Header.Get("Content-Disposition"), "Bescheid.pdf") {
			t.Fatalf("download: %d %v %q", res.StatusCode, res.Header, body)
		}
		if res, _ := h.get(download, otherToken); res.StatusCode != http.StatusNotFound {
			t.Fatalf("another portal downloads: %d", res.StatusCode)
		}
		if res, _ := h.get("/v1/submissions/"+id+"/replies/"+replyID+"/documents/7", demoToken); res.StatusCode != http.StatusNotFound {
			t.Fatalf("a document that does not exist: %d", res.StatusCode)
		}

		// A Nachforderung as JSON after the Bescheid: taken, the submission stays decided.
		nf := `{"submission_id": "` + id + `", "kind": "nachforderung", "subject": "Bitte reichen Sie nach",
			"documents": [{"filename": "Nachforderung.pdf", "content_base64": "` + base64.StdEncoding.EncodeToString([]byte(bescheidPDF)) + `"}]}`
		if r := h.do("POST", "/v1/replies", fvToken, []byte(nf), nil); r.Status != http.StatusAccepted || r.Body["status"] != "decided" {
			t.Fatalf("nachforderung: %d %s", r.Status, r.Raw)
		}

		filedBefore := h.count("filed_replies")
		refusals := []struct {
			name   string
			token  string
			send   func(token string) response
			status int
			field  string // a problem names it
		}{
			{"no token", "", func(tok string) response { return h.postReply(tok, manifest, files...) }, http.StatusUnauthorized, ""},
			{"unknown token", "not-a-token", func(tok string) response { return h.postReply(tok, manifest, files...) }, http.StatusUnauthorized, ""},
			{"a portal's token", demoToken, func(tok string) response { return h.postReply(tok, manifest, files...) }, http.StatusUnauthorized, ""},
			{"a destination that did not get it", parkraumToken, func(tok string) response {
				return h.postReply(tok, `{"submission_id": "`+id+`", "kind": "abschluss"}`)
			}, http.StatusNotFound, ""},
			{"unknown submission", fvToken, func(tok string) response {
				return h.postReply(tok, `{"submission_id": "00000000-0000-0000-0000-000000000000", "kind": "abschluss"}`)
			}, http.StatusNotFound, ""},
			{"not a PDF", fvToken, func(tok string) response {
				return h.postReply(tok, `{"submission_id": "`+id+`", "kind": "bescheid", "documents": [{"filename": "b.pdf"}]}`,
					replyFile{"b.pdf", []byte("PK\x03\x04 a zip, not a PDF")})
			}, http.StatusUnprocessableEntity, "documents[0]"},
			{"too large", fvToken, func(tok string) response {
				return h.postReply(tok, `{"submission_id": "`+id+`", "kind": "bescheid", "documents": [{"filename": "b.pdf"}]}`,
					replyFile{"b.pdf", append([]byte(bescheidPDF), make([]byte, 65<<10)...)})
			}, http.StatusRequestEntityTooLarge, `file "b.pdf"`},
			{"invalid XÖV message", fvToken, func(tok string) response {
				return h.postReply(tok, `{"submission_id": "`+id+`", "kind": "bescheid", "message": {"filename": "m.xml"}}`,
					replyFile{"m.xml", []byte(strings.ReplaceAll(xoevMessage, "xdomea:ProzessID>", "xdomea:ProzessId>"))})
			}, http.StatusUnprocessableEntity, "message"},
			{"a file the manifest does not name", fvToken, func(tok string) response {
				return h.postReply(tok, `{"submission_id": "`+id+`", "kind": "abschluss"}`, replyFile{"x.pdf", []byte(bescheidPDF)})
			}, http.StatusBadRequest, `file "x.pdf"`},
			{"an invalid manifest", fvToken, func(tok string) response {
				return h.postReply(tok, `{"submission_id": "`+id+`", "kind": "widerruf"}`)
			}, http.StatusUnprocessableEntity, "kind"},
			{"id reused for another reply", fvToken, func(tok string) response {
				return h.postReply(tok, `{"submission_id": "`+id+`", "id": "GA-2026-0815", "kind": "abschluss"}`)
			}, http.StatusConflict, ""},
			{"neither JSON nor multipart", fvToken, func(tok string) response {
				return h.do("POST", "/v1/replies", tok, []byte("hello"), map[string]string{"Content-Type": "text/plain"})
			}, http.StatusUnsupportedMediaType, ""},
		}
		for _, tt := range refusals {
			r := tt.send(tt.token)
			if r.Status != tt.status || r.Body["error"] == nil {
				t.Fatalf("%s: %d %s, want %d", tt.name, r.Status, r.Raw, tt.status)
			}
			if tt.field != "" && !strings.Contains(strings.Join(problemFields(r), "\n"), tt.field) {
				t.Fatalf("%s: no problem names %s: %s", tt.name, tt.field, r.Raw)
			}
			if tt.name == "invalid XÖV message" && !strings.Contains(r.Raw, "not valid against xdomea-3.0.0") {
				t.Fatalf("the XSD problem is not named: %s", r.Raw)
			}
		}
		if n := h.count("filed_replies") - filedBefore; n != len(refusals) {
			t.Fatalf("%d refusals filed, want %d", n, len(refusals))
		}
		unauthorised := h.admin("GET", "/v1/replies/filed?outcome=unauthorised")
		filed := unauthorised.Body["filed_replies"].([]any)
		if len(filed) != 4 {
			t.Fatalf("filed unauthorised: %s", unauthorised.Raw)
		}
		anon := filed[len(filed)-1].(map[string]any) // the oldest: no token
		if anon["origin"] != "127.0.0.1" || anon["via"] != "http" || anon["content_bytes"].(float64) != 0 || anon["source"] != nil {
			t.Fatalf("an unauthenticated attempt is filed with what it sent: %v", anon)
		}
		if first := filed[0].(map[string]any); first["source"] != "parkraum-fachverfahren" || !strings.Contains(first["names"].(string), id) {
			t.Fatalf("the destination that did not get it: %v", first)
		}
		unmatched := h.admin("GET", "/v1/replies/filed?outcome=unmatched").Body["filed_replies"].([]any)[0].(map[string]any)
		content := h.admin("GET", unmatched["links"].(map[string]any)["content"].(string))
		if content.Status != http.StatusOK || !strings.Contains(content.Raw, "00000000-0000-0000-0000-000000000000") {
			t.Fatalf("filed content: %d %s", content.Status, content.Raw)
		}
		if r := h.admin("GET", "/v1/replies/filed?outcome=lost"); r.Status != http.StatusBadRequest {
			t.Fatalf("unknown outcome: %d", r.Status)
		}

		// Decided counts as finished: after retention.payloads the data goes, and with it the
		// replies' documents; a later reply is refused with 410 and filed.
		c.Set(c.Now().Add(cfg.Retention.Payloads + time.Hour))
		if n, err := h.d.RunRetention(ctx); err != nil || n < 1 {
			t.Fatalf("retention purged %d: %v", n, err)
		}
		if res, _ := h.get(download, demoToken); res.StatusCode != http.StatusGone {
			t.Fatalf("download after purge: %d", res.StatusCode)
		}
		gone := h.postReply(fvToken, `{"submission_id": "`+id+`", "kind": "abschluss"}`)
		if gone.Status != http.StatusGone {
			t.Fatalf("a reply after purge: %d %s", gone.Status, gone.Raw)
		}
		if f := h.admin("GET", "/v1/replies/filed?outcome=purged").Body["filed_replies"].([]any); len(f) != 1 {
			t.Fatalf("filed purged: %v", f)
		}
		after := h.do("GET", "/v1/submissions/"+id+"/replies", demoToken, nil, nil)
		if rp := after.Body["replies"].([]any)[0].(map[string]any); rp["subject"] != "" || rp["purged_at"] == nil {
			t.Fatalf("replies after purge: %s", after.Raw)
		}
	})
}

// Fachverfahren without an HTTP client drop replies into the receipts inbox: zip packages and
// bare manifests are replies, XML files stay receipts; what cannot be taken moves aside and
// is filed.
func TestRepliesThroughTheInbox(t *testing.T) {
	cfg := testConfig(t)
	inbox := filepath.Join(t.TempDir(), "inbox")
	cfg.Receipts.Directory = inbox
	cfg.Receipts.Schedule = "@every 1h" // polled by the test
	c := &clock{t: time.Now()}
	h := start(t, cfg, daemon.WithClock(c.Now))
	ctx := context.Background()
	ids := make([]string, 3)
	for i := range ids {
		ids[i] = h.submit(demoSubmission(t), demoToken, nil).Body["id"].(string)
		h.waitStatus(ids[i], "delivered")
	}
	eakte, _ := h.d.Store().Message(ctx, ids[0], "eakte")
	var pkg bytes.Buffer
	zw := zip.NewWriter(&pkg)
	w, _ := zw.Create("reply.json")
	w.Write([]byte(`{"submission_id": "` + ids[0] + `", "source": "gewerbe-fachverfahren", "id": "GA-1", "kind": "bescheid",
		"documents": [{"filename": "Bescheid.pdf"}]}`))
	w, _ = zw.Create("Bescheid.pdf")
	w.Write([]byte(bescheidPDF))
	zw.Close()
	files := map[string]string{
		"a-bescheid.zip":    pkg.String(),
		"b-abschluss.json":  `{"submission_id": "` + ids[1] + `", "source": "gewerbe-fachverfahren", "kind": "abschluss"}`,
		"c-unmatched.json":  `{"submission_id": "nope", "source": "gewerbe-fachverfahren", "kind": "abschluss"}`,
		"d-malformed.zip":   "not a zip",
		"e-no-source.json":  `{"submission_id": "` + ids[1] + `", "kind": "abschluss"}`,
		"f-empfang.xml":     empfang("Geschaeftsgang.EmpfangBestaetigen.0202", "0202", eakte.MessageID),
		"g-wrong-dest.json": `{"submission_id": "` + ids[1] + `", "source": "parkraum-fachverfahren", "kind": "abschluss"}`,
		"h-nachforderung.json": `{"submission_id": "` + ids[2] + `", "source": "gewerbe-fachverfahren", "kind": "nachforderung",
			"subject": "Bitte reichen Sie den Handelsregisterauszug nach"}`,
	}
	os.MkdirAll(inbox, 0o750)
	for name, content := range files {
		os.WriteFile(filepath.Join(inbox, name), []byte(content), 0o600)
	}
	res, err := h.d.PollReceipts(ctx)
	if err != nil || res.Replies != 3 || res.RepliesFiled != 4 || res.Acknowledged != 1 {
		t.Fatalf("poll: %+v %v", res, err)
	}
	for dir, want := range map[string][]string{
		"processed": {"a-bescheid.zip", "b-abschluss.json", "f-empfang.xml", "h-nachforderung.json"},
		"unmatched": {"c-unmatched.json", "g-wrong-dest.json"},
		"malformed": {"d-malformed.zip", "e-no-source.json"},
	} {
		for _, name := range want {
			if _, err := os.Stat(filepath.Join(inbox, dir, name)); err != nil {
				t.Errorf("%s not in %s/: %v", name, dir, err)
			}
		}
	}
	h.waitStatus(ids[0], "decided")
	h.waitStatus(ids[1], "closed")
	h.waitStatus(ids[2], "in_progress")
	if f, _ := h.d.Store().FiledReplies(ctx, "", 10); len(f) != 4 {
		t.Fatalf("filed: %+v", f)
	}
	var filed []store.FiledReply
	filed, _ = h.d.Store().FiledReplies(ctx, store.FiledUnauthorised, 10)
	if len(filed) != 1 || filed[0].Origin != "g-wrong-dest.json" || filed[0].Via != "inbox" {
		t.Fatalf("filed unauthorised: %+v", filed)
	}
	list := h.do("GET", "/v1/submissions/"+ids[0]+"/replies", demoToken, nil, nil)
	var body struct {
		Replies []struct {
			Kind      string `json:"kind"`
			Documents []struct {
				Size int64 `json:"size"`
			} `json:"documents"`
		} `json:"replies"`
	}
	json.Unmarshal([]byte(list.Raw), &body)
	if len(body.Replies) != 1 || body.Replies[0].Kind != "bescheid" || body.Replies[0].Documents[0].Size != int64(len(bescheidPDF)) {
		t.Fatalf("replies: %s", list.Raw)
	}

	// Decided and closed are finished: their data goes after retention.payloads; a case in
	// progress waits for the authority.
	c.Set(c.Now().Add(cfg.Retention.Payloads + time.Hour))
	if _, err := h.d.RunRetention(ctx); err != nil {
		t.Fatal(err)
	}
	for i, want := range []bool{true, true, false} {
		if purged, _ := h.d.Store().Purged(ctx, ids[i]); purged != want {
			t.Errorf("submission %d purged: %v, want %v", i, purged, want)
		}
	}
}

// The reply channel a portal names is checked field by field: 422 naming the field, nothing
// stored.
func TestSubmissionReplyChannelIsChecked(t *testing.T) {
	h := start(t, testConfig(t))
	tests := []struct {
		name    string
		channel any
		field   string
	}{
		{"two addresses", map[string]any{"email": "a@example.org, b@example.org"}, "reply_channel.email"},
		{"not a key", map[string]any{"email": "a@example.org", "pgp_public_key": "ssh-rsa AAAA"}, "reply_channel.pgp_public_key"},
		{"seven lines", map[string]any{"postal": []string{"1", "2", "3", "4", "5", "6", "7"}}, "reply_channel.postal"},
		{"nothing", map[string]any{}, "reply_channel"},
	}
	before := h.count("submissions")
	for _, tt := range tests {
		sub := demoSubmission(t)
		sub["reply_channel"] = tt.channel
		r := h.submit(sub, demoToken, nil)
		if r.Status != http.StatusUnprocessableEntity || !strings.Contains(strings.Join(problemFields(r), "\n"), tt.field+": ") {
			t.Fatalf("%s: %d %s", tt.name, r.Status, r.Raw)
		}
	}
	sub := demoSubmission(t)
	sub["reply_channel"] = map[string]any{"e_mail": "a@example.org"}
	if r := h.submit(sub, demoToken, nil); r.Status != http.StatusBadRequest || !strings.Contains(r.Raw, "email, pgp_public_key, postal") {
		t.Fatalf("unknown field: %d %s", r.Status, r.Raw)
	}
	if n := h.count("submissions"); n != before {
		t.Fatalf("%d submissions stored", n-before)
	}
}
