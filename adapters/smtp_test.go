package adapters_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log"
	"mime"
	"net"
	"net/mail"
	"net/textproto"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/amtsbote/amtsbote/adapters"
	"github.com/amtsbote/amtsbote/adapters/adaptertest"
)

// mailServer is a real SMTP server (go-smtp) on 127.0.0.1 that keeps the mails it accepts.
type mailServer struct {
	host, port string
	ca         *testCA

	mu     sync.Mutex
	mails  []storedMail
	failAt string // "rcpt" or "data": answer failure there
	fail   *smtp.SMTPError
}

type storedMail struct {
	raw  []byte // or, with a spool directory, in the file path
	path string
	tls  bool
	user string
	to   []string
}

type mailServerConfig struct {
	tls        string            // "starttls", "implicit" or "none"
	requireTLS bool              // refuse MAIL FROM before STARTTLS
	users      map[string]string // when set, AUTH PLAIN is required
	spool      string            // when set, mails are kept in files there, not in memory
}

// content is the mail as received.
func (m storedMail) content(t testing.TB) []byte {
	if m.path == "" {
		return m.raw
	}
	raw, err := os.ReadFile(m.path)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func startMailServer(t testing.TB, cfg mailServerConfig) *mailServer {
	t.Helper()
	ms := &mailServer{ca: newTestCA(t, "mail-ca")}
	cert, _, _ := ms.ca.issue(t, "mail", x509.ExtKeyUsageServerAuth)
	tlsConfig := &tls.Config{Certificates: []tls.Certificate{cert}}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &mailSession{server: ms, conn: c, cfg: cfg}, nil
	}))
	srv.Domain = "mail.test"
	// Long enough for the conformance suite's 32 MiB mail under the race detector on a busy
	// machine: go-smtp's deadline covers a whole DATA transfer.
	srv.ReadTimeout, srv.WriteTimeout = 2*time.Minute, 2*time.Minute
	srv.ErrorLog = log.New(io.Discard, "", 0)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tracked := &trackingListener{Listener: ln}
	var l net.Listener = tracked
	switch cfg.tls {
	case "starttls":
		srv.TLSConfig = tlsConfig
	case "implicit":
		l = tls.NewListener(tracked, tlsConfig)
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		srv.Serve(l)
	}()
	t.Cleanup(func() {
		srv.Close()
		ln.Close() // Serve may not have taken the listener yet when the test is that quick
		<-served
		tracked.wait(t)
	})
	ms.host, ms.port, _ = net.SplitHostPort(ln.Addr().String())
	return ms
}

// trackingListener lets the cleanup wait until the server has closed every connection, so
// no connection handler outlives the test.
type trackingListener struct {
	net.Listener
	open sync.WaitGroup
}

func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.open.Add(1)
	return &trackedConn{Conn: c, done: l.open.Done}, nil
}

func (l *trackingListener) wait(t testing.TB) {
	closed := make(chan struct{})
	go func() { l.open.Wait(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Error("the SMTP server kept connections open after Close")
	}
}

type trackedConn struct {
	net.Conn
	once sync.Once
	done func()
}

func (c *trackedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.done)
	return err
}

func (ms *mailServer) setFailure(at string, code int) func() {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	ms.failAt = at
	ms.fail = &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCode{code / 100, 0, 0}, Message: "Postfach " + strconv.Itoa(code)}
	return func() {
		ms.mu.Lock()
		ms.failAt, ms.fail = "", nil
		ms.mu.Unlock()
	}
}

func (ms *mailServer) failure(at string) error {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if ms.failAt == at {
		return ms.fail
	}
	return nil
}

func (ms *mailServer) stored() []storedMail {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return append([]storedMail(nil), ms.mails...)
}

// options are the adapter's options for this server.
func (ms *mailServer) options(extra map[string]any) map[string]any {
	o := map[string]any{
		"host": ms.host, "port": ms.port, "tls": "starttls", "ca_file": ms.ca.file,
		"from": "Amtsbote <amtsbote@kommune.test>", "to": []any{"poststelle@kommune.test"}, "timeout": "10s",
	}
	for k, v := range extra {
		o[k] = v
	}
	return o
}

type mailSession struct {
	server *mailServer
	conn   *smtp.Conn
	cfg    mailServerConfig
	user   string
	to     []string
}

func (s *mailSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *mailSession) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if want, ok := s.cfg.users[username]; !ok || want != password {
			return smtp.ErrAuthFailed
		}
		s.user = username
		return nil
	}), nil
}

func (s *mailSession) Mail(from string, opts *smtp.MailOptions) error {
	if _, isTLS := s.conn.TLSConnectionState(); s.cfg.requireTLS && !isTLS {
		return &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "Must issue a STARTTLS command first"}
	}
	if s.cfg.users != nil && s.user == "" {
		return &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "Authentication required"}
	}
	return nil
}

func (s *mailSession) Rcpt(to string, opts *smtp.RcptOptions) error {
	if err := s.server.failure("rcpt"); err != nil {
		return err
	}
	s.to = append(s.to, to)
	return nil
}

func (s *mailSession) Data(r io.Reader) error {
	m := storedMail{user: s.user, to: s.to}
	_, m.tls = s.conn.TLSConnectionState()
	if s.cfg.spool != "" {
		f, err := os.CreateTemp(s.cfg.spool, "mail-*")
		if err != nil {
			return err
		}
		_, err = io.Copy(f, r)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = s.server.failure("data")
		}
		if err != nil {
			os.Remove(f.Name())
			return err
		}
		m.path = f.Name()
	} else {
		raw, err := io.ReadAll(r)
		if err != nil {
			return err
		}
		if err := s.server.failure("data"); err != nil {
			return err
		}
		m.raw = raw
	}
	s.server.mu.Lock()
	s.server.mails = append(s.server.mails, m)
	s.server.mu.Unlock()
	return nil
}

func (s *mailSession) Reset()        { s.to = nil }
func (s *mailSession) Logout() error { return nil }

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
func (ms *mailServer) received(t testing.TB, messageID string) [][]byte {
	seen := map[string]bool{}
	var out [][]byte
	for _, m := range ms.stored() {
		pm := parseMail(t, m.content(t))
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
func (ms *mailServer) attachment(t testing.TB, messageID, name string) ([]byte, bool) {
	for _, m := range ms.stored() {
		pm := parseMail(t, m.content(t))
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
func (ms *mailServer) mailbox(t testing.TB) map[string][]byte {
	out := map[string][]byte{}
	for i, m := range ms.stored() {
		raw := m.content(t)
		msg, err := mail.ReadMessage(bytes.NewReader(raw))
		if err != nil {
			t.Fatalf("unreadable mail: %v", err)
		}
		out[fmt.Sprintf("%03d %s", i+1, msg.Header.Get("Message-Id"))] = raw
	}
	return out
}

func TestSMTPConformance(t *testing.T) {
	var ms *mailServer
	adaptertest.Run(t, adaptertest.Harness{
		Factory: func(o map[string]any) (adapters.Adapter, error) { return adapters.New("smtp", o) },
		Options: func(t testing.TB) map[string]any {
			ms = startMailServer(t, mailServerConfig{tls: "starttls", requireTLS: true, spool: t.TempDir()})
			// The 32 MiB attachment takes a while under the race detector on a busy machine.
			return ms.options(map[string]any{"timeout": "2m"})
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
		Received:   func(t testing.TB, messageID string) [][]byte { return ms.received(t, messageID) },
		Attachment: func(t testing.TB, messageID, name string) ([]byte, bool) { return ms.attachment(t, messageID, name) },
		Files:      func(t testing.TB) map[string][]byte { return ms.mailbox(t) },
		BreakTransiently: func(t testing.TB) func() {
			return ms.setFailure("rcpt", 451)
		},
		BreakPermanently: func(t testing.TB, p *adapters.Package) func() {
			return ms.setFailure("rcpt", 550)
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
	ms := startMailServer(t, mailServerConfig{tls: "starttls"})
	a := newSMTPAdapter(t, ms.options(nil))
	for _, tt := range tests {
		restore := ms.setFailure(tt.at, tt.code)
		_, err := a.Deliver(context.Background(), adaptertest.Package())
		restore()
		want := strconv.Itoa(tt.code) + " " + strconv.Itoa(tt.code/100) + ".0.0 Postfach " + strconv.Itoa(tt.code)
		if err == nil || adapters.IsPermanent(err) != tt.permanent || !strings.Contains(err.Error(), want) ||
			!strings.Contains(err.Error(), ms.host+":"+ms.port) {
			t.Errorf("%d at %s: got %v, want permanent=%v with the server's reply %q and the address", tt.code, tt.at, err, tt.permanent, want)
		}
	}
	if n := len(ms.stored()); n != 0 {
		t.Errorf("refused mails were stored: %d", n)
	}
}

func TestSMTPStartTLSIsRequiredAndUsed(t *testing.T) {
	ms := startMailServer(t, mailServerConfig{tls: "starttls", requireTLS: true})
	artefact, err := newSMTPAdapter(t, ms.options(nil)).Deliver(context.Background(), adaptertest.Package())
	if err != nil {
		t.Fatal(err)
	}
	if got := ms.stored(); len(got) != 1 || !got[0].tls {
		t.Fatalf("mail not received over TLS: %+v", got)
	}
	if !strings.HasPrefix(artefact, "smtp://"+ms.host+":"+ms.port+" <") || !strings.HasSuffix(artefact, "@amtsbote>") {
		t.Errorf("artefact %q", artefact)
	}

	plain := startMailServer(t, mailServerConfig{tls: "none"})
	_, err = newSMTPAdapter(t, plain.options(nil)).Deliver(context.Background(), adaptertest.Package())
	if !adapters.IsPermanent(err) || !strings.Contains(err.Error(), "STARTTLS") {
		t.Fatalf("a server without STARTTLS: want a permanent error, got %v", err)
	}
	if len(plain.stored()) != 0 {
		t.Fatal("the mail went out unencrypted")
	}
	if _, err := newSMTPAdapter(t, plain.options(map[string]any{"tls": "none", "ca_file": ""})).Deliver(context.Background(), adaptertest.Package()); err != nil {
		t.Fatalf("tls none: %v", err)
	}
	if got := plain.stored(); len(got) != 1 || got[0].tls {
		t.Fatalf("tls none: %+v", got)
	}
}

func TestSMTPImplicitTLS(t *testing.T) {
	ms := startMailServer(t, mailServerConfig{tls: "implicit", users: map[string]string{"amtsbote": "geheim"}})
	a := newSMTPAdapter(t, ms.options(map[string]any{"tls": "implicit", "username": "amtsbote", "password": "geheim"}))
	if _, err := a.Deliver(context.Background(), adaptertest.Package()); err != nil {
		t.Fatal(err)
	}
	if got := ms.stored(); len(got) != 1 || !got[0].tls || got[0].user != "amtsbote" {
		t.Fatalf("stored %+v, want one mail over TLS from amtsbote", got)
	}
	// STARTTLS spoken to an SMTPS port, or the other way round, must say what is wrong.
	_, err := newSMTPAdapter(t, ms.options(map[string]any{"timeout": "500ms"})).Deliver(context.Background(), adaptertest.Package())
	if err == nil {
		t.Fatal("starttls against an implicit TLS port delivered")
	}
	plain := startMailServer(t, mailServerConfig{tls: "starttls"})
	_, err = newSMTPAdapter(t, plain.options(map[string]any{"tls": "implicit"})).Deliver(context.Background(), adaptertest.Package())
	if !adapters.IsPermanent(err) || !strings.Contains(err.Error(), "options.tls") {
		t.Fatalf("implicit TLS against a plain port: want a permanent error naming options.tls, got %v", err)
	}
}

func TestSMTPAuthentication(t *testing.T) {
	ms := startMailServer(t, mailServerConfig{tls: "starttls", users: map[string]string{"amtsbote": "geheim"}})
	if _, err := newSMTPAdapter(t, ms.options(map[string]any{"username": "amtsbote", "password": "geheim"})).Deliver(context.Background(), adaptertest.Package()); err != nil {
		t.Fatal(err)
	}
	if got := ms.stored(); len(got) != 1 || got[0].user != "amtsbote" {
		t.Fatalf("stored %+v, want one mail sent as amtsbote", got)
	}
	_, err := newSMTPAdapter(t, ms.options(map[string]any{"username": "amtsbote", "password": "falsch"})).Deliver(context.Background(), adaptertest.Package())
	if !adapters.IsPermanent(err) || !strings.Contains(err.Error(), "535") || !strings.Contains(err.Error(), "options.password") {
		t.Fatalf("wrong password: want a permanent 535 error pointing at options.password, got %v", err)
	}
	_, err = newSMTPAdapter(t, ms.options(nil)).Deliver(context.Background(), adaptertest.Package())
	if !adapters.IsPermanent(err) || !strings.Contains(err.Error(), "530") {
		t.Fatalf("no login: want a permanent 530 error, got %v", err)
	}
}

func TestSMTPUntrustedCertificateIsPermanent(t *testing.T) {
	ms := startMailServer(t, mailServerConfig{tls: "starttls"})
	other := newTestCA(t, "other")
	for name, options := range map[string]map[string]any{
		"another CA": ms.options(map[string]any{"ca_file": other.file}),
		"system CAs": ms.options(map[string]any{"ca_file": ""}),
	} {
		_, err := newSMTPAdapter(t, options).Deliver(context.Background(), adaptertest.Package())
		if !adapters.IsPermanent(err) || !strings.Contains(err.Error(), "options.ca_file") {
			t.Errorf("%s: want a permanent error pointing at options.ca_file, got %v", name, err)
		}
	}
}

func TestSMTPMailCarriesMessageAndAttachments(t *testing.T) {
	ms := startMailServer(t, mailServerConfig{tls: "starttls"})
	a := newSMTPAdapter(t, ms.options(map[string]any{"to": []any{"a@kommune.test", "Bürgerbüro <b@kommune.test>"}}))
	p := adaptertest.Package()
	p.Files[0].Name = "Antrag für Müller.pdf"
	big := bytes.Repeat([]byte("0123456789\x00\xff\r\n."), 5000) // binary, long lines, dots at line starts
	p.Files = append(p.Files, adapters.File{Name: "scan.tif", MediaType: "image/tiff", Size: int64(len(big)),
		Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(big)), nil }})
	if _, err := a.Deliver(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	got := ms.stored()
	if len(got) != 1 || strings.Join(got[0].to, ",") != "a@kommune.test,b@kommune.test" {
		t.Fatalf("stored %d mails to %v", len(got), got)
	}
	for i, line := range strings.Split(string(got[0].raw), "\r\n") {
		if len(line) > 78 {
			t.Errorf("line %d is %d characters long", i, len(line))
		}
	}
	m := parseMail(t, got[0].raw)
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
	if again := ms.stored(); len(again) != 2 || !bytes.Equal(again[0].raw, again[1].raw) {
		t.Error("the redelivered mail differs from the first")
	}
}

func TestSMTPSubjectTemplate(t *testing.T) {
	ms := startMailServer(t, mailServerConfig{tls: "starttls"})
	a := newSMTPAdapter(t, ms.options(map[string]any{"subject": "Gewerbeanmeldung für {ags} – {leistung} ({message_id})"}))
	p := adaptertest.Package()
	p.AGS = "Köln\r\nBcc: evil@example.test"
	if _, err := a.Deliver(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	m := parseMail(t, ms.stored()[0].raw)
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
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	var mu sync.Mutex
	accepted := make(chan struct{})
	go func() {
		defer close(accepted)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-accepted
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	a := newSMTPAdapter(t, map[string]any{"host": host, "port": port, "tls": "none", "from": "a@b.test", "to": "c@d.test", "timeout": "300ms"})
	start := time.Now()
	_, err = a.Deliver(context.Background(), adaptertest.Package())
	if err == nil || adapters.IsPermanent(err) || !strings.Contains(err.Error(), "options.timeout") {
		t.Fatalf("want a transient timeout error naming options.timeout, got %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("gave up after %v", d)
	}
}

func TestSMTPConnectionRefusedIsTransient(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	ln.Close()
	_, err = newSMTPAdapter(t, map[string]any{"host": host, "port": port, "from": "a@b.test", "to": "c@d.test"}).Deliver(context.Background(), adaptertest.Package())
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
