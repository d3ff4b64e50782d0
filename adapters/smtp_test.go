package adapters_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/mail"
	"net/textproto"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/amtsbote/amtsbote/adapters"
	"github.com/amtsbote/amtsbote/adapters/adaptertest"
	"github.com/amtsbote/amtsbote/adapters/smtptest"
)

// serverOptions are the adapter's options for the server ms.
func serverOptions(ms *smtptest.Server, extra map[string]any) map[string]any {
	o := map[string]any{
		"host": ms.Host, "port": ms.Port, "tls": "starttls", "ca_file": ms.CAFile,
		"from": "Amtsbote <amtsbote@kommune.test>", "to": []any{"poststelle@kommune.test"}, "timeout": "10s",
	}
	for k, v := range extra {
		o[k] = v
	}
	return o
}

// parsedMail is a stored mail taken apart.
type parsedMail struct {
	header      mail.Header
	parts       []mimePart // base64 parts decoded
	contentType string
}

func parseMail(t testing.TB, raw []byte) parsedMail {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("unreadable mail: %v\n%s", err, raw)
	}
	body, _ := io.ReadAll(m.Body)
	mt, _, parts := readMultipart(t, m.Header.Get("Content-Type"), body)
	for i, p := range parts {
		if textproto.MIMEHeader(p.header).Get("Content-Transfer-Encoding") == "base64" {
			decoded, err := io.ReadAll(base64.NewDecoder(base64.StdEncoding, bytes.NewReader(p.body)))
			if err != nil {
				t.Fatalf("part %d: %v", i, err)
			}
			parts[i].body = decoded
		}
	}
	return parsedMail{header: m.Header, parts: parts, contentType: mt}
}

// received is what a mailbox that drops duplicate Message-IDs shows for the message: one
// entry per distinct Message-ID, holding the decoded XML attachment.
func receivedMails(t testing.TB, ms *smtptest.Server, messageID string) [][]byte {
	seen := map[string]bool{}
	var out [][]byte
	for _, m := range ms.Stored() {
		pm := parseMail(t, m.Content(t))
		if pm.header.Get("X-Amtsbote-Message-Id") != messageID || seen[pm.header.Get("Message-Id")] {
			continue
		}
		seen[pm.header.Get("Message-Id")] = true
		for _, p := range pm.parts {
			if strings.HasSuffix(p.filename, ".xml") {
				out = append(out, p.body)
			}
		}
	}
	return out
}

func newSMTPAdapter(t *testing.T, options map[string]any) adapters.Adapter {
	t.Helper()
	a, err := adapters.New("smtp", options)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

// attachment is the named attachment of the first mail for the message.
func mailAttachment(t testing.TB, ms *smtptest.Server, messageID, name string) ([]byte, bool) {
	for _, m := range ms.Stored() {
		pm := parseMail(t, m.Content(t))
		if pm.header.Get("X-Amtsbote-Message-Id") != messageID {
			continue
		}
		for _, p := range pm.parts {
			if p.filename == name {
				return p.body, true
			}
		}
		return nil, false
	}
	return nil, false
}

// mailbox lists the mails received, each named by its number and Message-ID.
func mailbox(t testing.TB, ms *smtptest.Server) map[string][]byte {
	out := map[string][]byte{}
	for i, m := range ms.Stored() {
		raw := m.Content(t)
		msg, err := mail.ReadMessage(bytes.NewReader(raw))
		if err != nil {
			t.Fatalf("unreadable mail: %v", err)
		}
		out[fmt.Sprintf("%03d %s", i+1, msg.Header.Get("Message-Id"))] = raw
	}
	return out
}

func TestSMTPConformance(t *testing.T) {
	var ms *smtptest.Server
	adaptertest.Run(t, adaptertest.Harness{
		Factory: func(o map[string]any) (adapters.Adapter, error) { return adapters.New("smtp", o) },
		Options: func(t testing.TB) map[string]any {
			ms = smtptest.Start(t, smtptest.Config{TLS: "starttls", RequireTLS: true, Spool: t.TempDir()})
			// The 32 MiB attachment takes a while under the race detector on a busy machine.
			return serverOptions(ms, map[string]any{"timeout": "2m"})
		},
		InvalidOptions: map[string]map[string]any{
			"no host":                        {"host": nil},
			"a port out of range":            {"port": 0x10000},
			"an unknown tls mode":            {"tls": "maybe"},
			"no sender":                      {"from": nil},
			"a sender that is no address":    {"from": "Amtsbote"},
			"no recipient":                   {"to": nil},
			"a user without a password":      {"username": "amtsbote"},
			"an unknown subject placeholder": {"subject": "{nope}"},
			"a CA file that does not exist":  {"ca_file": "/nonexistent/ca.pem"},
			"plain text to a remote host":    {"host": "mail.example", "tls": "none", "ca_file": nil},
		},
		Received: func(t testing.TB, messageID string) [][]byte { return receivedMails(t, ms, messageID) },
		Attachment: func(t testing.TB, messageID, name string) ([]byte, bool) {
			return mailAttachment(t, ms, messageID, name)
		},
		Files: func(t testing.TB) map[string][]byte { return mailbox(t, ms) },
		BreakTransiently: func(t testing.TB) func() {
			return ms.SetFailure("rcpt", 451)
		},
		BreakPermanently: func(t testing.TB, p *adapters.Package) func() {
			return ms.SetFailure("rcpt", 550)
		},
	})
}

func TestSMTPRepliesAreClassified(t *testing.T) {
	tests := []struct {
		at        string
		code      int
		permanent bool
	}{
		{"rcpt", 451, false}, {"rcpt", 550, true}, {"data", 452, false}, {"data", 554, true},
	}
	ms := smtptest.Start(t, smtptest.Config{TLS: "starttls"})
	a := newSMTPAdapter(t, serverOptions(ms, nil))
	for _, tt := range tests {
		restore := ms.SetFailure(tt.at, tt.code)
		_, err := a.Deliver(context.Background(), adaptertest.Package())
		restore()
		want := strconv.Itoa(tt.code) + " " + strconv.Itoa(tt.code/100) + ".0.0 Postfach " + strconv.Itoa(tt.code)
		if err == nil || adapters.IsPermanent(err) != tt.permanent || !strings.Contains(err.Error(), want) ||
			!strings.Contains(err.Error(), ms.Host+":"+ms.Port) {
			t.Errorf("%d at %s: got %v, want permanent=%v with the server's reply %q and the address", tt.code, tt.at, err, tt.permanent, want)
		}
	}
	if n := len(ms.Stored()); n != 0 {
		t.Errorf("refused mails were stored: %d", n)
	}
}

func TestSMTPStartTLSIsRequiredAndUsed(t *testing.T) {
	ms := smtptest.Start(t, smtptest.Config{TLS: "starttls", RequireTLS: true})
	artefact, err := newSMTPAdapter(t, serverOptions(ms, nil)).Deliver(context.Background(), adaptertest.Package())
	if err != nil {
		t.Fatal(err)
	}
	if got := ms.Stored(); len(got) != 1 || !got[0].TLS {
		t.Fatalf("mail not received over TLS: %+v", got)
	}
	if !strings.HasPrefix(artefact, "smtp://"+ms.Host+":"+ms.Port+" <") || !strings.HasSuffix(artefact, "@amtsbote>") {
		t.Errorf("artefact %q", artefact)
	}

	plain := smtptest.Start(t, smtptest.Config{TLS: "none"})
	_, err = newSMTPAdapter(t, serverOptions(plain, nil)).Deliver(context.Background(), adaptertest.Package())
	if !adapters.IsPermanent(err) || !strings.Contains(err.Error(), "STARTTLS") {
		t.Fatalf("a server without STARTTLS: want a permanent error, got %v", err)
	}
	if len(plain.Stored()) != 0 {
		t.Fatal("the mail went out unencrypted")
	}
	if _, err := newSMTPAdapter(t, serverOptions(plain, map[string]any{"tls": "none", "ca_file": ""})).Deliver(context.Background(), adaptertest.Package()); err != nil {
		t.Fatalf("tls none: %v", err)
	}
	if got := plain.Stored(); len(got) != 1 || got[0].TLS {
		t.Fatalf("tls none: %+v", got)
	}
}

func TestSMTPImplicitTLS(t *testing.T) {
	ms := smtptest.Start(t, smtptest.Config{TLS: "implicit", Users: map[string]string{"amtsbote": "geheim"}})
	a := newSMTPAdapter(t, serverOptions(ms, map[string]any{"tls": "implicit", "username": "amtsbote", "password": "geheim"}))
	if _, err := a.Deliver(context.Background(), adaptertest.Package()); err != nil {
		t.Fatal(err)
	}
	if got := ms.Stored(); len(got) != 1 || !got[0].TLS || got[0].User != "amtsbote" {
		t.Fatalf("stored %+v, want one mail over TLS from amtsbote", got)
	}
	// STARTTLS spoken to an SMTPS port, or the other way round, must say what is wrong.
	_, err := newSMTPAdapter(t, serverOptions(ms, map[string]any{"timeout": "500ms"})).Deliver(context.Background(), adaptertest.Package())
	if err == nil {
		t.Fatal("starttls against an implicit TLS port delivered")
	}
	plain := smtptest.Start(t, smtptest.Config{TLS: "starttls"})
	_, err = newSMTPAdapter(t, serverOptions(plain, map[string]any{"tls": "implicit"})).Deliver(context.Background(), adaptertest.Package())
	if !adapters.IsPermanent(err) || !strings.Contains(err.Error(), "options.tls") {
		t.Fatalf("implicit TLS against a plain port: want a permanent error naming options.tls, got %v", err)
	}
}

func TestSMTPAuthentication(t *testing.T) {
	ms := smtptest.Start(t, smtptest.Config{TLS: "starttls", Users: map[string]string{"amtsbote": "geheim"}})
	if _, err := newSMTPAdapter(t, serverOptions(ms, map[string]any{"username": "amtsbote", "password": "geheim"})).Deliver(context.Background(), adaptertest.Package()); err != nil {
		t.Fatal(err)
	}
	if got := ms.Stored(); len(got) != 1 || got[0].User != "amtsbote" {
		t.Fatalf("stored %+v, want one mail sent as amtsbote", got)
	}
	_, err := newSMTPAdapter(t, serverOptions(ms, map[string]any{"username": "amtsbote", "password": "falsch"})).Deliver(context.Background(), adaptertest.Package())
	if !adapters.IsPermanent(err) || !strings.Contains(err.Error(), "535") || !strings.Contains(err.Error(), "options.password") {
		t.Fatalf("wrong password: want a permanent 535 error pointing at options.password, got %v", err)
	}
	_, err = newSMTPAdapter(t, serverOptions(ms, nil)).Deliver(context.Background(), adaptertest.Package())
	if !adapters.IsPermanent(err) || !strings.Contains(err.Error(), "530") {
		t.Fatalf("no login: want a permanent 530 error, got %v", err)
	}
}

func TestSMTPUntrustedCertificateIsPermanent(t *testing.T) {
	ms := smtptest.Start(t, smtptest.Config{TLS: "starttls"})
	other := newTestCA(t, "other")
	for name, options := range map[string]map[string]any{
		"another CA": serverOptions(ms, map[string]any{"ca_file": other.file}),
		"system CAs": serverOptions(ms, map[string]any{"ca_file": ""}),
	} {
		_, err := newSMTPAdapter(t, options).Deliver(context.Background(), adaptertest.Package())
		if !adapters.IsPermanent(err) || !strings.Contains(err.Error(), "options.ca_file") {
			t.Errorf("%s: want a permanent error pointing at options.ca_file, got %v", name, err)
		}
	}
}

func TestSMTPMailCarriesMessageAndAttachments(t *testing.T) {
	ms := smtptest.Start(t, smtptest.Config{TLS: "starttls"})
	a := newSMTPAdapter(t, serverOptions(ms, map[string]any{"to": []any{"a@kommune.test", "Bürgerbüro <b@kommune.test>"}}))
	p := adaptertest.Package()
	p.Files[0].Name = "Antrag für Müller.pdf"
	big := bytes.Repeat([]byte("0123456789\x00\xff\r\n."), 5000) // binary, long lines, dots at line starts
	p.Files = append(p.Files, adapters.File{Name: "scan.tif", MediaType: "image/tiff", Size: int64(len(big)),
		Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(big)), nil }})
	if _, err := a.Deliver(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	got := ms.Stored()
	if len(got) != 1 || strings.Join(got[0].To, ",") != "a@kommune.test,b@kommune.test" {
		t.Fatalf("stored %d mails to %v", len(got), got)
	}
	for i, line := range strings.Split(string(got[0].Raw), "\r\n") {
		if len(line) > 78 {
			t.Errorf("line %d is %d characters long", i, len(line))
		}
	}
	m := parseMail(t, got[0].Raw)
	for name, want := range map[string]string{
		"Message-Id": "<" + p.MessageID + "@amtsbote>", "X-Amtsbote-Message-Id": p.MessageID,
		"X-Amtsbote-Message-Type": p.MessageType, "Subject": p.MessageType + " " + p.MessageID,
		"From": `"Amtsbote" <amtsbote@kommune.test>`, "Date": "Sun, 29 Nov 2026 10:00:00 +0000", "Mime-Version": "1.0",
	} {
		if v := m.header.Get(name); v != want {
			t.Errorf("%s: %q, want %q", name, v, want)
		}
	}
	if to, err := m.header.AddressList("To"); err != nil || len(to) != 2 || to[1].Name != "Bürgerbüro" {
		t.Errorf("To: %v %v", to, err)
	}
	if m.contentType != "multipart/mixed" || len(m.parts) != 2+len(p.Files) {
		t.Fatalf("%s with %d parts, want multipart/mixed with text, XML and %d attachments", m.contentType, len(m.parts), len(p.Files))
	}
	if ct := m.parts[0].header["Content-Type"][0]; !strings.HasPrefix(ct, "text/plain") || !bytes.Contains(m.parts[0].body, []byte(p.MessageID)) {
		t.Errorf("first part %s %q: want a short text naming the message", ct, m.parts[0].body)
	}
	xmlPart := m.parts[1]
	if xmlPart.filename != p.MessageID+"_"+p.MessageType+".xml" || !bytes.Equal(xmlPart.body, p.XML) {
		t.Errorf("XML part %q: %q", xmlPart.filename, xmlPart.body)
	}
	for i, f := range p.Files {
		part := m.parts[i+2]
		mt, _, _ := mime.ParseMediaType(part.header["Content-Type"][0])
		if part.filename != f.Name || mt != f.MediaType || !bytes.Equal(part.body, fileContent(t, f)) {
			t.Errorf("attachment %d: %q %s (%d bytes), want %q %s (%d bytes)", i, part.filename, mt, len(part.body), f.Name, f.MediaType, f.Size)
		}
	}
	// A redelivery is the same mail, so the mailbox can drop it by Message-ID.
	if _, err := a.Deliver(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	if again := ms.Stored(); len(again) != 2 || !bytes.Equal(again[0].Raw, again[1].Raw) {
		t.Error("the redelivered mail differs from the first")
	}
}

func TestSMTPSubjectTemplate(t *testing.T) {
	ms := smtptest.Start(t, smtptest.Config{TLS: "starttls"})
	a := newSMTPAdapter(t, serverOptions(ms, map[string]any{"subject": "Gewerbeanmeldung für {ags} – {leistung} ({message_id})"}))
	p := adaptertest.Package()
	p.AGS = "Köln\r\nBcc: evil@example.test"
	if _, err := a.Deliver(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	m := parseMail(t, ms.Stored()[0].Raw)
	if bcc, ok := m.header["Bcc"]; ok {
		t.Errorf("the AGS injected a header: Bcc: %q", bcc)
	}
	subject := m.header.Get("Subject")
	if !strings.HasPrefix(subject, "=?utf-8?") || strings.ContainsFunc(subject, func(r rune) bool { return r > 0x7e }) {
		t.Errorf("Subject %q is not RFC 2047 encoded ASCII", subject)
	}
	decoded, err := new(mime.WordDecoder).DecodeHeader(subject)
	if want := "Gewerbeanmeldung für KölnBcc: evil@example.test – 99050012104000 (" + p.MessageID + ")"; err != nil || decoded != want {
		t.Errorf("Subject decodes to %q (%v), want %q", decoded, err, want)
	}
}

func TestSMTPTimeoutIsTransient(t *testing.T) {
	// A server that accepts the connection and never greets.
	host, port := smtptest.Silent(t)
	a := newSMTPAdapter(t, map[string]any{"host": host, "port": port, "tls": "none", "from": "a@b.test", "to": "c@d.test", "timeout": "300ms"})
	start := time.Now()
	_, err := a.Deliver(context.Background(), adaptertest.Package())
	if err == nil || adapters.IsPermanent(err) || !strings.Contains(err.Error(), "options.timeout") {
		t.Fatalf("want a transient timeout error naming options.timeout, got %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("gave up after %v", d)
	}
}

func TestSMTPConnectionRefusedIsTransient(t *testing.T) {
	host, port := smtptest.ClosedPort(t)
	_, err := newSMTPAdapter(t, map[string]any{"host": host, "port": port, "from": "a@b.test", "to": "c@d.test"}).Deliver(context.Background(), adaptertest.Package())
	var te *adapters.TransientError
	if !errors.As(err, &te) || !strings.Contains(err.Error(), host+":"+port) {
		t.Fatalf("want a transient error naming the server, got %v", err)
	}
}

func TestSMTPOptions(t *testing.T) {
	base := func(change map[string]any) map[string]any {
		o := map[string]any{"host": "mail.kommune.test", "from": "amtsbote@kommune.test", "to": []any{"poststelle@kommune.test"}}
		return adaptertest.With(o, change)
	}
	tests := []struct {
		name    string
		options map[string]any
		want    string
	}{
		{"missing host", base(map[string]any{"host": nil}), "options.host"},
		{"missing from", base(map[string]any{"from": nil}), "options.from"},
		{"missing to", base(map[string]any{"to": nil}), "options.to"},
		{"bad from", base(map[string]any{"from": "kein adresse"}), "options.from"},
		{"bad to", base(map[string]any{"to": []any{"ok@kommune.test", "@"}}), "options.to"},
		{"port", base(map[string]any{"port": 70000}), "options.port"},
		{"tls", base(map[string]any{"tls": "ssl"}), "options.tls"},
		{"unknown key", base(map[string]any{"user": "x"}), "user"},
		{"username without password", base(map[string]any{"username": "u"}), "options.password"},
		{"password in clear text", base(map[string]any{"tls": "none", "username": "u", "password": "p"}), "options.tls"},
		{"placeholder", base(map[string]any{"subject": "{submission}"}), "options.subject"},
		{"subject with line break", base(map[string]any{"subject": "a\r\nBcc: x@y"}), "options.subject"},
		{"missing ca file", base(map[string]any{"ca_file": "/nonexistent/ca.pem"}), "options.ca_file"},
		{"ca without tls", base(map[string]any{"tls": "none", "ca_file": "x.pem"}), "options.ca_file"},
		{"timeout", base(map[string]any{"timeout": "-5s"}), "options.timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := adapters.New("smtp", tt.options)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error naming %s", err, tt.want)
			}
		})
	}
	for _, ok := range []map[string]any{
		base(map[string]any{"to": "single@kommune.test", "tls": "implicit", "subject": "{ags}: {leistung}"}),
		base(map[string]any{"host": "127.0.0.1", "tls": "none", "username": "u", "password": "p"}),
	} {
		a, err := adapters.New("smtp", ok)
		if err != nil {
			t.Errorf("options %v: %v", ok, err)
			continue
		}
		a.Close()
	}
}

// TestSMTPRefusesCleartextToRemoteHosts: tls: none only to loopback unless
// options.allow_unencrypted_personal_data says the path is protected otherwise; a password
// never crosses a network in clear text, with or without it.
func TestSMTPRefusesCleartextToRemoteHosts(t *testing.T) {
	const allow = "allow_unencrypted_personal_data"
	base := func(change map[string]any) map[string]any {
		o := map[string]any{"host": "mail.example.org", "tls": "none", "from": "amtsbote@kommune.test", "to": []any{"poststelle@kommune.test"}}
		return adaptertest.With(o, change)
	}
	tests := []struct {
		name    string
		options map[string]any
		want    []string // in the error; none: accepted
	}{
		{"remote name", base(nil), []string{"options.tls none", "personal data to mail.example.org in clear text",
			"tls: starttls or implicit", "options." + allow + ": true"}},
		{"remote address", base(map[string]any{"host": "192.0.2.25"}), []string{"192.0.2.25", "options." + allow}},
		{"a name is not loopback, whatever it resolves to", base(map[string]any{"host": "localhost.example.org"}), []string{"options." + allow}},
		{"remote with the option", base(map[string]any{allow: true}), nil},
		{"password with the option", base(map[string]any{allow: true, "username": "u", "password": "p"}),
			[]string{"options.tls none with options.username", "clear text", "does not lift this"}},
		{"the option with starttls", base(map[string]any{allow: true, "tls": "starttls"}), []string{"options." + allow, "no effect"}},
		{"the option with implicit TLS", base(map[string]any{allow: true, "tls": "implicit"}), []string{"options." + allow, "no effect"}},
		{"loopback address", base(map[string]any{"host": "127.0.0.1", "username": "u", "password": "p"}), nil},
		{"IPv6 loopback", base(map[string]any{"host": "::1"}), nil},
		{"localhost", base(map[string]any{"host": "localhost"}), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := adapters.New("smtp", tt.options)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				a.Close()
				return
			}
			if err == nil {
				a.Close()
				t.Fatalf("accepted, want an error containing %q", tt.want)
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q should contain %q", err, want)
				}
			}
		})
	}
}
