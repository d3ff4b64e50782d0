package email_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"github.com/amtsbote/amtsbote/adapters"
	"github.com/amtsbote/amtsbote/adapters/smtptest"
	"github.com/amtsbote/amtsbote/replies"
	"github.com/amtsbote/amtsbote/replies/email"
)

// pdf is a document with binary bytes, long lines and lines that start with a dot.
var pdf = func() []byte {
	b := []byte("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
	noise := make([]byte, 70000)
	rand.Read(noise)
	b = append(b, noise...)
	b = append(b, "\r\n.\r\n..\n\x00\xff\n%%EOF\n"...)
	return b
}()

func document(name string, content []byte) replies.Document {
	return replies.Document{Seq: 1, Name: name, MediaType: "application/pdf", Size: int64(len(content)),
		Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(content)), nil }}
}

// outgoing is a Bescheid with one PDF, to max@example.de.
func outgoing() *replies.Outgoing {
	received := time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)
	return &replies.Outgoing{
		ReplyID: "0b6f8f0e-6d1c-4a53-9f5e-6a3c2f1d7e01", SubmissionID: "sub-1", Kind: replies.KindBescheid, Status: replies.StatusDecided,
		Subject: "Gaststättenerlaubnis für Max Mustermann", Text: "Sehr geehrter Herr Mustermann,\nanbei Ihr Bescheid.",
		Source: "gewerbeamt", Reference: "PORTAL-2026-000123", Leistung: "99050012104000", AGS: "05315000", Route: "gewerbe",
		Portal: "portal", ReceivedAt: received, RepliedAt: received.Add(14 * 24 * time.Hour).Add(14 * time.Hour), // 16.03. 23:30 UTC: 17.03. in Berlin
		Documents: []replies.Document{document("Bescheid Gaststättenerlaubnis Max Mustermann – Ausfertigung für den Antragsteller.pdf", pdf)},
		Address:   replies.Address{Email: "max@example.de"},
		Attempt:   1,
	}
}

func options(ms *smtptest.Server, extra map[string]any) map[string]any {
	o := map[string]any{
		"host": ms.Host, "port": ms.Port, "tls": "starttls", "ca_file": ms.CAFile, "timeout": "10s",
		"from": "Stadt Musterstadt <noreply@kommune.test>",
	}
	for k, v := range extra {
		o[k] = v
	}
	return o
}

func newSender(t testing.TB, o map[string]any) *email.Sender {
	t.Helper()
	s, err := email.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// part is a MIME part, decoded.
type part struct {
	header   mail.Header
	filename string
	body     []byte
}

// readEntity reads a MIME entity (a mail, or the decrypted content of one): its headers and,
// for a multipart, its parts, or else its single body, decoded.
func readEntity(t testing.TB, raw []byte) (mail.Header, []part) {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("unreadable entity: %v\n%s", err, raw)
	}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil {
		t.Fatalf("Content-Type %q: %v", m.Header.Get("Content-Type"), err)
	}
	if !strings.HasPrefix(mt, "multipart/") {
		body, _ := io.ReadAll(m.Body)
		return m.Header, []part{{header: m.Header, body: decode(t, m.Header.Get("Content-Transfer-Encoding"), body)}}
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	var parts []part
	for {
		p, err := mr.NextRawPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(p)
		parts = append(parts, part{header: mail.Header(p.Header), filename: p.FileName(), body: decode(t, p.Header.Get("Content-Transfer-Encoding"), b)})
	}
	return m.Header, parts
}

func decode(t testing.TB, cte string, b []byte) []byte {
	t.Helper()
	var r io.Reader
	switch strings.ToLower(cte) {
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, bytes.NewReader(b))
	case "quoted-printable":
		r = quotedprintable.NewReader(bytes.NewReader(b))
	default:
		return b
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("%s: %v", cte, err)
	}
	return out
}

func decodedSubject(t testing.TB, h mail.Header) string {
	t.Helper()
	s, err := new(mime.WordDecoder).DecodeHeader(h.Get("Subject"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// the only mail the server got.
func onlyMail(t testing.TB, ms *smtptest.Server) smtptest.Mail {
	t.Helper()
	got := ms.Stored()
	if len(got) != 1 {
		t.Fatalf("the server got %d mails, want 1", len(got))
	}
	return got[0]
}

func checkLines(t testing.TB, raw []byte) {
	t.Helper()
	for i, line := range strings.Split(string(raw), "\r\n") {
		if len(line) > 78 {
			t.Errorf("line %d is %d characters long: %q", i+1, len(line), line)
		}
		if strings.ContainsAny(line, "\r\n") {
			t.Errorf("line %d has a bare CR or LF", i+1)
		}
	}
}

func TestPlainMailCarriesTheDocument(t *testing.T) {
	ms := smtptest.Start(t, smtptest.Config{TLS: "starttls", RequireTLS: true})
	s := newSender(t, options(ms, map[string]any{"reply_to": "Gewerbeamt <gewerbe@kommune.test>"}))
	o := outgoing()
	artefact, err := s.Send(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	wantID := "<reply." + o.ReplyID + "@kommune.test>"
	if artefact != "smtp://"+ms.Addr()+" "+wantID {
		t.Errorf("artefact %q", artefact)
	}
	got := onlyMail(t, ms)
	if !got.TLS || got.From != "noreply@kommune.test" || strings.Join(got.To, ",") != "max@example.de" {
		t.Fatalf("envelope: TLS %v, from %q, to %v", got.TLS, got.From, got.To)
	}
	checkLines(t, got.Raw)
	h, parts := readEntity(t, got.Raw)
	for name, want := range map[string]string{
		"From": `"Stadt Musterstadt" <noreply@kommune.test>`, "To": "max@example.de", "Reply-To": `"Gewerbeamt" <gewerbe@kommune.test>`,
		"Message-Id": wantID, "Auto-Submitted": "auto-generated", "Date": "Tue, 17 Mar 2026 00:30:00 +0100", "Mime-Version": "1.0",
		"X-Amtsbote-Reply-Id": o.ReplyID,
	} {
		if v := h.Get(name); v != want {
			t.Errorf("%s: %q, want %q", name, v, want)
		}
	}
	if subject := decodedSubject(t, h); subject != "Bescheid zu Ihrem Antrag PORTAL-2026-000123" {
		t.Errorf("Subject %q", subject)
	}
	if mt, _, _ := mime.ParseMediaType(h.Get("Content-Type")); mt != "multipart/mixed" || len(parts) != 2 {
		t.Fatalf("%s with %d parts, want multipart/mixed with the text and the PDF", mt, len(parts))
	}
	if ct := parts[0].header.Get("Content-Type"); ct != "text/plain; charset=utf-8" || !bytes.Contains(parts[0].body, []byte("PORTAL-2026-000123")) {
		t.Errorf("text part %s: %q", ct, parts[0].body)
	}
	doc := parts[1]
	if doc.filename != o.Documents[0].Name || !bytes.Equal(doc.body, pdf) {
		t.Errorf("attachment %q of %d bytes, want %q of %d bytes", doc.filename, len(doc.body), o.Documents[0].Name, len(pdf))
	}
	if mt, params, _ := mime.ParseMediaType(doc.header.Get("Content-Type")); mt != "application/pdf" || params["name"] != o.Documents[0].Name {
		t.Errorf("attachment Content-Type %q", doc.header.Get("Content-Type"))
	}
	if !strings.Contains(doc.header.Get("Content-Disposition"), "filename*0*=utf-8''") {
		t.Errorf("the long non-ASCII file name is not RFC 2231 encoded in continuations: %q", doc.header.Get("Content-Disposition"))
	}

	// A retry (after a crash, say) is the same mail: same Message-ID, same bytes.
	if _, err := s.Send(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	if again := ms.Stored(); len(again) != 2 || !bytes.Equal(again[0].Raw, again[1].Raw) {
		t.Error("the retried mail differs from the first")
	}
}

func TestMailWithoutDocumentsIsPlainText(t *testing.T) {
	ms := smtptest.Start(t, smtptest.Config{TLS: "starttls"})
	o := outgoing()
	o.Documents = nil
	o.Kind, o.Status = replies.KindStatus, replies.StatusInProgress
	if _, err := newSender(t, options(ms, nil)).Send(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	h, parts := readEntity(t, onlyMail(t, ms).Raw)
	if ct := h.Get("Content-Type"); ct != "text/plain; charset=utf-8" || h.Get("Content-Transfer-Encoding") != "quoted-printable" {
		t.Fatalf("Content-Type %q", ct)
	}
	text := string(parts[0].body)
	if !strings.Contains(text, "Statusmitteilung vom 17.03.2026, Ihr Antrag ist in Bearbeitung") || strings.Contains(text, "Anhang") {
		t.Errorf("text %q", text)
	}
}

// key is a generated OpenPGP key: the entity, its public key armoured, its private key armoured.
type key struct {
	entity          *openpgp.Entity
	public, private string
}

func newKey(t testing.TB, config *packet.Config) key {
	t.Helper()
	if config == nil {
		config = &packet.Config{}
	}
	if config.Algorithm == 0 {
		config.Algorithm = packet.PubKeyAlgoEdDSA
	}
	e, err := openpgp.NewEntity("Max Mustermann", "", "max@example.de", config)
	if err != nil {
		t.Fatal(err)
	}
	return armoured(t, e)
}

func armoured(t testing.TB, e *openpgp.Entity) key {
	t.Helper()
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
	return key{entity: e, public: pub.String(), private: priv.String()}
}

// decrypt decrypts the content of an RFC 3156 mail with the private key.
func decrypt(t testing.TB, raw []byte, k key) (outer mail.Header, inner []byte) {
	t.Helper()
	h, parts := readEntity(t, raw)
	mt, params, _ := mime.ParseMediaType(h.Get("Content-Type"))
	if mt != "multipart/encrypted" || params["protocol"] != "application/pgp-encrypted" || len(parts) != 2 {
		t.Fatalf("Content-Type %q with %d parts, want multipart/encrypted; protocol=application/pgp-encrypted with 2", h.Get("Content-Type"), len(parts))
	}
	if ct := parts[0].header.Get("Content-Type"); ct != "application/pgp-encrypted" || !strings.Contains(string(parts[0].body), "Version: 1") {
		t.Errorf("version part %s %q", ct, parts[0].body)
	}
	if mt, _, _ := mime.ParseMediaType(parts[1].header.Get("Content-Type")); mt != "application/octet-stream" {
		t.Errorf("encrypted part %q", parts[1].header.Get("Content-Type"))
	}
	block, err := armor.Decode(bytes.NewReader(parts[1].body))
	if err != nil || block.Type != "PGP MESSAGE" {
		t.Fatalf("armour: %v (%v)", err, block)
	}
	keyring, err := openpgp.ReadArmoredKeyRing(strings.NewReader(k.private))
	if err != nil {
		t.Fatal(err)
	}
	md, err := openpgp.ReadMessage(block.Body, keyring, nil, nil)
	if err != nil {
		t.Fatalf("decrypting: %v", err)
	}
	if !md.IsEncrypted || md.DecryptedWith.PublicKey == nil {
		t.Fatal("the message was not encrypted to the key")
	}
	inner, err = io.ReadAll(md.UnverifiedBody)
	if err != nil {
		t.Fatalf("reading the decrypted content: %v", err)
	}
	if md.SignatureError != nil {
		t.Fatal(md.SignatureError)
	}
	return h, inner
}

func TestEncryptedMail(t *testing.T) {
	tests := []struct {
		name   string
		config *packet.Config
	}{
		{"Ed25519 with Curve25519 encryption subkey", nil},
		{"RSA 2048", &packet.Config{Algorithm: packet.PubKeyAlgoRSA, RSABits: 2048}},
		{"v6 Ed25519/X25519 with AEAD", &packet.Config{Algorithm: packet.PubKeyAlgoEd25519, V6Keys: true, AEADConfig: &packet.AEADConfig{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms := smtptest.Start(t, smtptest.Config{TLS: "starttls"})
			k := newKey(t, tt.config)
			o := outgoing()
			o.Address.PGPPublicKey = k.public
			o.Documents = append(o.Documents, document("Rechnung.pdf", []byte("%PDF-1.4 kurz")))
			artefact, err := newSender(t, options(ms, nil)).Send(context.Background(), o)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(artefact, " OpenPGP ") {
				t.Errorf("artefact %q does not say the mail was encrypted", artefact)
			}
			raw := onlyMail(t, ms).Raw
			checkLines(t, raw)
			// Nothing of the reply shows outside the encryption.
			for _, secret := range []string{"PORTAL-2026-000123", "Bescheid", "Mustermann", "Rechnung", "%PDF", "Gastst"} {
				if bytes.Contains(raw, []byte(secret)) {
					t.Errorf("the encrypted mail shows %q outside the encryption", secret)
				}
			}
			outer, inner := decrypt(t, raw, k)
			if subject := decodedSubject(t, outer); subject != "Nachricht zu Ihrem Antrag" {
				t.Errorf("outer Subject %q, want the generic one", subject)
			}
			if outer.Get("Message-Id") != "<reply."+o.ReplyID+"@kommune.test>" || outer.Get("Auto-Submitted") != "auto-generated" {
				t.Errorf("outer headers %v", outer)
			}
			ih, parts := readEntity(t, inner)
			if mt, params, _ := mime.ParseMediaType(ih.Get("Content-Type")); mt != "multipart/mixed" || params["protected-headers"] != "v1" {
				t.Errorf("inner Content-Type %q", ih.Get("Content-Type"))
			}
			if subject := decodedSubject(t, ih); subject != "Bescheid zu Ihrem Antrag PORTAL-2026-000123" {
				t.Errorf("protected Subject %q", subject)
			}
			if len(parts) != 3 {
				t.Fatalf("%d inner parts, want the text and 2 documents", len(parts))
			}
			if !bytes.Contains(parts[0].body, []byte("PORTAL-2026-000123")) || !bytes.Contains(parts[0].body, []byte("Die 2 Dokumente")) {
				t.Errorf("inner text %q", parts[0].body)
			}
			if parts[1].filename != o.Documents[0].Name || !bytes.Equal(parts[1].body, pdf) {
				t.Errorf("inner attachment %q of %d bytes, want the PDF of %d bytes", parts[1].filename, len(parts[1].body), len(pdf))
			}
			if parts[2].filename != "Rechnung.pdf" || string(parts[2].body) != "%PDF-1.4 kurz" {
				t.Errorf("second attachment %q %q", parts[2].filename, parts[2].body)
			}
		})
	}
}

func TestRouteTemplate(t *testing.T) {
	ms := smtptest.Start(t, smtptest.Config{TLS: "starttls"})
	dir := t.TempDir()
	path := filepath.Join(dir, "gewerbe.tmpl")
	write := func(text string, mtime time.Time) {
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(path, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	write("Subject: {{.Subject}} ({{.Reference}})\n\nGuten Tag,\n\n{{.Text}}\n\nLeistung {{.Leistung}}, AGS {{.AGS}}, Route {{.Route}}, von {{.Source}} über {{.Portal}}.\n"+
		"Eingang {{.ReceivedAt}}, Antwort {{.RepliedAt}}: {{.KindLabel}} ({{.Kind}}), {{.StatusLabel}} ({{.Status}}).\n"+
		"{{range .Documents}}- {{.Name}} ({{.SizeText}}, {{.MediaType}})\n{{end}}", time.Now().Add(-time.Hour))
	if err := email.CheckTemplate(path); err != nil {
		t.Fatal(err)
	}
	s := newSender(t, options(ms, nil))
	o := outgoing()
	o.Template = path
	o.Text = "Zeile 1\r\nZeile 2\x00\x1b[31m"
	o.Subject = "Ihr Antrag\r\nBcc: evil@example.de"
	if _, err := s.Send(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	h, parts := readEntity(t, onlyMail(t, ms).Raw)
	if _, ok := h["Bcc"]; ok {
		t.Error("the reply's subject injected a header")
	}
	if subject := decodedSubject(t, h); subject != "Ihr Antrag Bcc: evil@example.de (PORTAL-2026-000123)" {
		t.Errorf("Subject %q", subject)
	}
	want := "Guten Tag,\r\n\r\nZeile 1\r\nZeile 2[31m\r\n\r\nLeistung 99050012104000, AGS 05315000, Route gewerbe, von gewerbeamt über portal.\r\n" +
		"Eingang 02.03.2026, Antwort 17.03.2026: Bescheid (bescheid), entschieden (decided).\r\n" +
		"- " + o.Documents[0].Name + " (70 KB, application/pdf)\r\n"
	if got := string(parts[0].body); got != want {
		t.Errorf("text\n%q, want\n%q", got, want)
	}

	// An edited template is read again.
	write("Subject: Neu\n\nNeuer Text.\n", time.Now())
	if _, err := s.Send(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	h, parts = readEntity(t, ms.Stored()[1].Raw)
	if decodedSubject(t, h) != "Neu" || string(parts[0].body) != "Neuer Text.\r\n" {
		t.Errorf("after the edit: %q %q", decodedSubject(t, h), parts[0].body)
	}

	// A template that became broken fails the reply for good, naming the file and line.
	write("Subject: x\n\n{{.Nope}}\n", time.Now().Add(time.Hour))
	_, err := s.Send(context.Background(), o)
	if !adapters.IsPermanent(err) || !strings.Contains(err.Error(), path+":3") {
		t.Errorf("broken template: %v", err)
	}
	o.Template = filepath.Join(dir, "missing.tmpl")
	if _, err := s.Send(context.Background(), o); !adapters.IsPermanent(err) || !strings.Contains(err.Error(), "missing.tmpl") {
		t.Errorf("missing template: %v", err)
	}
}

// TestBuiltinTemplateHoldsNoPersonalData: the built-in template names the reference, the kind,
// the date and that documents are attached — nothing the Fachverfahren wrote, no names.
func TestBuiltinTemplateHoldsNoPersonalData(t *testing.T) {
	ms := smtptest.Start(t, smtptest.Config{TLS: "starttls"})
	s := newSender(t, options(ms, nil))
	for i, kind := range replies.Kinds {
		o := outgoing()
		o.ReplyID = fmt.Sprintf("reply-%d", i)
		o.Kind = kind
		o.Text = "GEHEIMER-TEXT Max Mustermann, geboren am 01.01.1970"
		o.Subject = "GEHEIMER-BETREFF"
		o.Leistung, o.AGS, o.Source, o.Route, o.Portal = "LEISTUNG-X", "AGS-X", "QUELLE-X", "ROUTE-X", "PORTAL-X"
		o.Documents = append(o.Documents, document("Anlage Mustermann.pdf", []byte("%PDF")))
		if _, err := s.Send(context.Background(), o); err != nil {
			t.Fatal(err)
		}
		raw := ms.Stored()[i].Raw
		h, parts := readEntity(t, raw)
		text := string(parts[0].body)
		visible := decodedSubject(t, h) + "\n" + text
		for _, secret := range []string{"GEHEIM", "Mustermann", "1970", "LEISTUNG-X", "AGS-X", "QUELLE-X", "ROUTE-X", "PORTAL-X", "Gastst"} {
			if strings.Contains(visible, secret) {
				t.Errorf("%s: the built-in template shows %q:\n%s", kind, secret, visible)
			}
		}
		for _, want := range []string{"PORTAL-2026-000123", email.KindLabels[kind], "17.03.2026", "Die 2 Dokumente", "Anh"} {
			if !strings.Contains(text, want) {
				t.Errorf("%s: the text lacks %q:\n%s", kind, want, text)
			}
		}
	}
}

func TestInvalidAddressesAreRefusedForGood(t *testing.T) {
	ms := smtptest.Start(t, smtptest.Config{TLS: "starttls"})
	s := newSender(t, options(ms, nil))
	tests := []struct {
		address string
		want    string
	}{
		{"", "the application named no e-mail address"},
		{"max.example.de", "not an e-mail address"},
		{"max@", "not an e-mail address"},
		{"Max Mustermann <max@example.de>", "display name"},
		{"<max@example.de>", "not a bare address"},
		{"max@example.de (Max)", "display name"},
		{" max@example.de", "not a bare address"},
		{"max@example.de\r\nBcc: evil@example.de", "line break"},
		{"max@example.de\n", "line break"},
		{"max@example.de\x00", "control characters"},
		{"max@example.de, moritz@example.de", "not an e-mail address"},
		{`"max mustermann"@example.de`, "quoted local part"},
		{`"max"@example.de`, "quoted local part"},
		{"mäx@example.de", "non-ASCII characters before the @"},
		{"max..m@example.de", "not an e-mail address"},
		{"max@[192.0.2.1]", "address literal"},
		{"max@192.0.2.1", "IP address"},
		{"max@localhost", "without a dot"},
		{"max@-example.de", "hyphen"},
		{"max@exa_mple.de", `character '_'`},
		{"max@example..de", "not an e-mail address"},
		{strings.Repeat("m", 65) + "@example.de", "more than 64"},
		{"max@" + strings.Repeat("a", 64) + ".de", "more than 63"},
		{"max@" + strings.Repeat("a.", 130) + "de", "more than the 254"},
		{"max@xn--a.de", "domain"},
	}
	for _, tt := range tests {
		t.Run(tt.address, func(t *testing.T) {
			o := outgoing()
			o.Address.Email = tt.address
			_, err := s.Send(context.Background(), o)
			if !adapters.IsPermanent(err) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want a permanent error containing %q", err, tt.want)
			}
			if tt.address != "" && !strings.Contains(err.Error(), fmt.Sprintf("reply channel e-mail address %q: ", tt.address)) {
				t.Errorf("the error %q does not name the address", err)
			}
		})
	}
	if n := len(ms.Stored()); n != 0 {
		t.Fatalf("%d mails went out to invalid addresses", n)
	}
}

func TestInternationalDomainGoesOutAsIDNA(t *testing.T) {
	ms := smtptest.Start(t, smtptest.Config{TLS: "starttls"})
	o := outgoing()
	o.Address.Email = "max@bücher.example"
	if _, err := newSender(t, options(ms, nil)).Send(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	got := onlyMail(t, ms)
	h, _ := readEntity(t, got.Raw)
	if strings.Join(got.To, ",") != "max@xn--bcher-kva.example" || h.Get("To") != "max@xn--bcher-kva.example" {
		t.Errorf("envelope %v, To %q", got.To, h.Get("To"))
	}
}

func TestKeyProblemsAreRefusedForGood(t *testing.T) {
	past := func() time.Time { return time.Now().Add(-48 * time.Hour) }
	expired := newKey(t, &packet.Config{Time: past, KeyLifetimeSecs: 3600})
	future := newKey(t, &packet.Config{Time: func() time.Time { return time.Now().Add(48 * time.Hour) }})

	revokedEntity := newKey(t, nil).entity
	if err := revokedEntity.RevokeKey(packet.KeyRetired, "ersetzt durch einen neuen Schlüssel", nil); err != nil {
		t.Fatal(err)
	}
	revokedSub := newKey(t, nil).entity
	if err := revokedSub.RevokeSubkey(&revokedSub.Subkeys[0], packet.KeySuperseded, "", nil); err != nil {
		t.Fatal(err)
	}
	signOnly := newKey(t, nil).entity
	signOnly.Subkeys = nil
	weak := newKey(t, &packet.Config{Algorithm: packet.PubKeyAlgoRSA, RSABits: 1024})
	good := newKey(t, nil)
	var both bytes.Buffer
	w, _ := armor.Encode(&both, openpgp.PublicKeyType, nil)
	good.entity.Serialize(w)
	newKey(t, nil).entity.Serialize(w)
	w.Close()
	var privateInPublicBlock bytes.Buffer
	w, _ = armor.Encode(&privateInPublicBlock, openpgp.PublicKeyType, nil)
	good.entity.SerializePrivate(w, nil)
	w.Close()
	var message bytes.Buffer
	w, _ = armor.Encode(&message, "PGP MESSAGE", nil)
	w.Write([]byte("hallo"))
	w.Close()

	tests := []struct {
		name string
		key  string
		want []string
	}{
		{"garbage", "das ist kein Schlüssel", []string{"not ASCII-armoured", "BEGIN PGP PUBLIC KEY BLOCK"}},
		{"armoured garbage", "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nAAAA\n-----END PGP PUBLIC KEY BLOCK-----\n", []string{"cannot be read"}},
		{"broken armour", "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n!!!!\n", []string{"OpenPGP key"}},
		{"a message instead of a key", message.String(), []string{`"PGP MESSAGE" block`}},
		{"private key", good.private, []string{"private key", "only the public key"}},
		{"private key in a public block", privateInPublicBlock.String(), []string{"private key instead of a public one"}},
		{"two keys", both.String(), []string{"holds 2 keys"}},
		{"expired", expired.public, []string{"expired on"}},
		{"created in the future", future.public, []string{"created in the future"}},
		{"revoked", armoured(t, revokedEntity).public, []string{"is revoked", "ersetzt durch einen neuen Schlüssel"}},
		{"revoked encryption subkey", armoured(t, revokedSub).public, []string{"no key that may encrypt", "is revoked"}},
		{"sign-only", armoured(t, signOnly).public, []string{"no key that may encrypt", "no encryption subkey"}},
		{"RSA 1024", weak.public, []string{"RSA with 1024 bits", "too weak", "2048"}},
	}
	ms := smtptest.Start(t, smtptest.Config{TLS: "starttls"})
	s := newSender(t, options(ms, nil))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := outgoing()
			o.Address.PGPPublicKey = tt.key
			_, err := s.Send(context.Background(), o)
			if !adapters.IsPermanent(err) || !strings.Contains(err.Error(), "reply channel OpenPGP key") {
				t.Fatalf("got %v, want a permanent error about the OpenPGP key", err)
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
		})
	}
	if n := len(ms.Stored()); n != 0 {
		t.Fatalf("%d mails went out despite a bad key (unencrypted?)", n)
	}
}

func TestServerDownIsTransient(t *testing.T) {
	host, port := smtptest.ClosedPort(t)
	silentHost, silentPort := smtptest.Silent(t)
	tests := []struct {
		name    string
		options map[string]any
		want    string
	}{
		{"connection refused", map[string]any{"host": host, "port": port, "tls": "none", "from": "noreply@kommune.test"}, "connect"},
		{"no greeting", map[string]any{"host": silentHost, "port": silentPort, "tls": "none", "from": "noreply@kommune.test", "timeout": "300ms"}, "options.timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := newSender(t, tt.options).Send(context.Background(), outgoing())
			if err == nil || adapters.IsPermanent(err) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want a transient error about %s", err, tt.want)
			}
		})
	}
	// The caller's context ends the attempt, too.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := newSender(t, map[string]any{"host": silentHost, "port": silentPort, "tls": "none", "from": "noreply@kommune.test"}).Send(ctx, outgoing()); err == nil || adapters.IsPermanent(err) {
		t.Fatalf("cancelled: %v", err)
	}
}

func TestServerRepliesAreClassified(t *testing.T) {
	tests := []struct {
		at        string
		code      int
		permanent bool
		want      string
	}{
		{"rcpt", 550, true, "the applicant's mail system refuses the address"},
		{"rcpt", 551, true, "RCPT TO:<max@example.de>"},
		{"rcpt", 450, false, "450"},
		{"rcpt", 451, false, "451"},
		{"data", 552, true, "552"},
		{"data", 554, true, "554"},
		{"data", 452, false, "452"},
	}
	ms := smtptest.Start(t, smtptest.Config{TLS: "starttls"})
	s := newSender(t, options(ms, nil))
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d at %s", tt.code, tt.at), func(t *testing.T) {
			defer ms.SetFailure(tt.at, tt.code)()
			_, err := s.Send(context.Background(), outgoing())
			if err == nil || adapters.IsPermanent(err) != tt.permanent || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), ms.Addr()) {
				t.Fatalf("got %v, want permanent=%v containing %q", err, tt.permanent, tt.want)
			}
		})
	}
	if n := len(ms.Stored()); n != 0 {
		t.Fatalf("refused mails were stored: %d", n)
	}
}

func TestOversizedMailIsRefusedForGood(t *testing.T) {
	big := make([]byte, 300<<10)
	rand.Read(big)
	k := newKey(t, nil)
	tests := []struct {
		name    string
		server  smtptest.Config
		options map[string]any
		change  func(*replies.Outgoing)
		want    []string
	}{
		{"over max_message_bytes", smtptest.Config{TLS: "starttls"}, map[string]any{"max_message_bytes": 200 << 10}, nil,
			[]string{"the mail would be", "bytes", "more than options.max_message_bytes 204800"}},
		{"encrypted, over max_message_bytes", smtptest.Config{TLS: "starttls"}, map[string]any{"max_message_bytes": 300 << 10},
			func(o *replies.Outgoing) { o.Address.PGPPublicKey = k.public }, []string{"and encrypted", "options.max_message_bytes 307200"}},
		{"over the server's SIZE", smtptest.Config{TLS: "starttls", MaxMessageBytes: 200 << 10}, nil, nil,
			[]string{"SIZE", "204800"}},
		{"a document larger than recorded", smtptest.Config{TLS: "starttls"}, map[string]any{"max_message_bytes": 350 << 10},
			func(o *replies.Outgoing) { o.Documents[0].Size = 1000 }, []string{"grew past options.max_message_bytes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms := smtptest.Start(t, tt.server)
			o := outgoing()
			o.Documents = []replies.Document{document("gross.pdf", big)}
			if tt.change != nil {
				tt.change(o)
			}
			_, err := newSender(t, options(ms, tt.options)).Send(context.Background(), o)
			if !adapters.IsPermanent(err) {
				t.Fatalf("got %v, want a permanent error", err)
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
			if n := len(ms.Stored()); n != 0 {
				t.Errorf("%d mails were stored", n)
			}
		})
	}
	// The estimate is exact for a plain mail and a little above the size for an encrypted one:
	// a mail of N bytes goes out with options.max_message_bytes N (plus 2% if encrypted) and
	// is refused with N-1.
	for _, encrypted := range []bool{false, true} {
		ms := smtptest.Start(t, smtptest.Config{TLS: "starttls"})
		o := outgoing()
		o.Documents = []replies.Document{document("gross.pdf", big)}
		if encrypted {
			o.Address.PGPPublicKey = k.public
		}
		send := func(max int) error {
			_, err := newSender(t, options(ms, map[string]any{"max_message_bytes": max})).Send(context.Background(), o)
			return err
		}
		if err := send(10 << 20); err != nil {
			t.Fatal(err)
		}
		n := len(onlyMail(t, ms).Raw)
		limit := n
		if encrypted {
			limit = n + n/50
		}
		if err := send(limit); err != nil {
			t.Errorf("encrypted %v: a mail of %d bytes with options.max_message_bytes %d: %v", encrypted, n, limit, err)
		}
		if err := send(n - 1); !adapters.IsPermanent(err) {
			t.Errorf("encrypted %v: a mail of %d bytes with options.max_message_bytes %d: %v", encrypted, n, n-1, err)
		}
	}
}

func TestOptions(t *testing.T) {
	base := func(change map[string]any) map[string]any {
		o := map[string]any{"host": "mail.kommune.test", "from": "noreply@kommune.test"}
		for k, v := range change {
			if v == nil {
				delete(o, k)
			} else {
				o[k] = v
			}
		}
		return o
	}
	tests := []struct {
		name    string
		options map[string]any
		want    string
	}{
		{"no from", base(map[string]any{"from": nil}), "options.from must name"},
		{"from no address", base(map[string]any{"from": "Stadt Musterstadt"}), "options.from"},
		{"from with a line break", base(map[string]any{"from": "noreply@kommune.test\r\nBcc: x@y.de"}), "options.from"},
		{"from without a domain", base(map[string]any{"from": "noreply@localhost"}), "options.from"},
		{"reply_to", base(map[string]any{"reply_to": "kein"}), "options.reply_to"},
		{"max_message_bytes", base(map[string]any{"max_message_bytes": -1}), "options.max_message_bytes"},
		{"unknown key", base(map[string]any{"to": "x@y.de"}), "to"},
		{"no host", base(map[string]any{"host": nil}), "options.host"},
		{"tls", base(map[string]any{"tls": "ssl"}), "options.tls"},
		{"clear text to a remote host", base(map[string]any{"tls": "none"}), "options.allow_unencrypted_personal_data"},
		{"password in clear text", base(map[string]any{"tls": "none", "allow_unencrypted_personal_data": true, "username": "u", "password": "p"}), "clear text"},
		{"ca file", base(map[string]any{"ca_file": "/nonexistent/ca.pem"}), "options.ca_file"},
		{"timeout", base(map[string]any{"timeout": "-1s"}), "options.timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := email.New(tt.options)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error naming %s", err, tt.want)
			}
		})
	}
	for _, ok := range []map[string]any{
		base(nil),
		base(map[string]any{"from": "Stadt Müsterstadt <noreply@kommune.test>", "reply_to": "gewerbe@kommune.test", "tls": "implicit", "max_message_bytes": 10 << 20}),
		base(map[string]any{"host": "127.0.0.1", "tls": "none", "username": "u", "password": "p"}),
	} {
		if _, err := email.New(ok); err != nil {
			t.Errorf("options %v: %v", ok, err)
		}
	}
}

func TestCheckTemplate(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, text string
		want       string // "" = valid
	}{
		{"valid", "Subject: {{.KindLabel}}\n\nHallo {{.Reference}}\n", ""},
		{"CRLF and BOM", "\uFEFFSubject: x\r\n\r\nHallo\r\n", ""},
		{"lower-case header", "subject: x\n\nHallo\n", ""},
		{"no header block", "Hallo {{.Reference}}\n", ":1: "},
		{"no subject", "\nHallo\n", ":1: no Subject"},
		{"unknown header", "Subject: x\nFrom: a@b.de\n\nHallo\n", ":2: unknown header \"From\""},
		{"two subjects", "Subject: x\nSubject: y\n\nHallo\n", ":2: a second Subject"},
		{"continuation", "Subject: x\n  y\n\nHallo\n", ":2: a header continues"},
		{"empty subject", "Subject:   \n\nHallo\n", ":1: the Subject is empty"},
		{"no blank line", "Subject: x\n", ":2: the header block ends"},
		{"empty body", "Subject: x\n\n\n", ":3: the body after the blank line is empty"},
		{"subject syntax", "Subject: {{.Reference\n\nHallo\n", ":1: "},
		{"body syntax", "Subject: x\n\nHallo\n\n{{.Text | nope}}\n", ":5: function \"nope\" not defined"},
		{"unclosed action", "Subject: x\n\nHallo\n\n{{if .Text}}\n", "unexpected EOF"},
		{"unknown field", "Subject: x\n\nHallo\n{{.Vorname}}\n", ":4:"},
		{"unknown field in the subject", "Subject: {{.Vorname}}\n\nHallo\n", ":1:"},
		{"not UTF-8", "Subject: x\n\nHallo \xff\n", "not UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "-")+".tmpl")
			if err := os.WriteFile(path, []byte(tt.text), 0o600); err != nil {
				t.Fatal(err)
			}
			err := email.CheckTemplate(path)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error naming %s and %q", err, path, tt.want)
			}
		})
	}
	if err := email.CheckTemplate(filepath.Join(dir, "missing.tmpl")); err == nil {
		t.Error("a missing file passed")
	}
}

// TestConcurrentSends shares the template cache and the client between goroutines (run with
// -race), while the template changes.
func TestConcurrentSends(t *testing.T) {
	ms := smtptest.Start(t, smtptest.Config{TLS: "starttls"})
	s := newSender(t, options(ms, nil))
	path := filepath.Join(t.TempDir(), "t.tmpl")
	if err := os.WriteFile(path, []byte("Subject: a\n\nText a\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o := outgoing()
			o.ReplyID = fmt.Sprintf("r%d", i)
			o.Template = path
			if i == 4 {
				s.ResetTemplates()
			}
			_, err := s.Send(context.Background(), o)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if n := len(ms.Stored()); n != 8 {
		t.Errorf("%d mails, want 8", n)
	}
}

// TestDocsListEveryOption: the options table of docs/replies-email.md names every option of
// the channel, and no other.
func TestDocsListEveryOption(t *testing.T) {
	doc, err := os.ReadFile("../../docs/replies-email.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, _ := strings.Cut(string(doc), "\n## Options\n")
	section, _, _ = strings.Cut(section, "\n## ")
	documented := map[string]bool{}
	for _, line := range strings.Split(section, "\n") {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		keys, _, _ := strings.Cut(strings.TrimPrefix(line, "| "), " |")
		for _, k := range strings.Split(keys, ", ") {
			documented[strings.Trim(k, "`")] = true
		}
	}
	for _, key := range email.OptionKeys() {
		if !documented[key] {
			t.Errorf("the options table of docs/replies-email.md has no row for %s", key)
		}
		delete(documented, key)
	}
	for key := range documented {
		t.Errorf("the options table of docs/replies-email.md names %s, which is no option", key)
	}
}
