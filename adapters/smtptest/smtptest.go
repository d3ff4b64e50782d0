// Package smtptest is a real SMTP server (go-smtp) on 127.0.0.1 for tests: it speaks STARTTLS,
// implicit TLS or plain text, may require a login, keeps the mails it accepts and answers a
// chosen error on request. Every server and connection ends with the test.
package smtptest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Config is how a Server behaves.
type Config struct {
	TLS        string            // "starttls", "implicit" or "none"
	RequireTLS bool              // refuse MAIL FROM before STARTTLS
	Users      map[string]string // when set, AUTH PLAIN is required
	Spool      string            // when set, mails are kept in files there, not in memory
	// MaxMessageBytes, when above 0, is announced (SIZE) and enforced (552 during DATA).
	MaxMessageBytes int64
}

// Server is a running SMTP server on 127.0.0.1.
type Server struct {
	Host, Port string
	// CAFile is the PEM file of the CA that issued the server's certificate (for 127.0.0.1 and
	// localhost).
	CAFile string

	mu     sync.Mutex
	mails  []Mail
	failAt string // "rcpt" or "data": answer failure there
	fail   *smtp.SMTPError
}

// Mail is a mail the server accepted.
type Mail struct {
	Raw  []byte // or, with a spool directory, in the file Path
	Path string
	TLS  bool   // received over TLS
	User string // the login, if any
	From string
	To   []string
}

// Content is the mail as received.
func (m Mail) Content(t testing.TB) []byte {
	t.Helper()
	if m.Path == "" {
		return m.Raw
	}
	raw, err := os.ReadFile(m.Path)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// Start starts a server that runs until the test ends; its cleanup waits until every
// connection is closed.
func Start(t testing.TB, cfg Config) *Server {
	t.Helper()
	s := &Server{}
	cert := s.makeCertificate(t)
	tlsConfig := &tls.Config{Certificates: []tls.Certificate{cert}}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &session{server: s, conn: c, cfg: cfg}, nil
	}))
	srv.Domain = "mail.test"
	srv.MaxMessageBytes = cfg.MaxMessageBytes
	// Long enough for a 32 MiB mail under the race detector on a busy machine: go-smtp's
	// deadline covers a whole DATA transfer.
	srv.ReadTimeout, srv.WriteTimeout = 2*time.Minute, 2*time.Minute
	srv.ErrorLog = log.New(io.Discard, "", 0)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tracked := &trackingListener{Listener: ln}
	var l net.Listener = tracked
	switch cfg.TLS {
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
	s.Host, s.Port, _ = net.SplitHostPort(ln.Addr().String())
	return s
}

// Addr is host:port.
func (s *Server) Addr() string { return net.JoinHostPort(s.Host, s.Port) }

// SetFailure makes the server answer code at "rcpt" or "data" (after reading the mail), with
// the message "Postfach <code>", until the returned function is called.
func (s *Server) SetFailure(at string, code int) (restore func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failAt = at
	s.fail = &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCode{code / 100, 0, 0}, Message: "Postfach " + strconv.Itoa(code)}
	return func() {
		s.mu.Lock()
		s.failAt, s.fail = "", nil
		s.mu.Unlock()
	}
}

func (s *Server) failure(at string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failAt == at {
		return s.fail
	}
	return nil
}

// Stored lists the mails accepted so far.
func (s *Server) Stored() []Mail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Mail(nil), s.mails...)
}

// makeCertificate makes a CA, writes it to CAFile and issues the server's certificate.
func (s *Server) makeCertificate(t testing.TB) tls.Certificate {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mail-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	s.CAFile = filepath.Join(t.TempDir(), "mail-ca.pem")
	if err := os.WriteFile(s.CAFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "mail"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
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

type session struct {
	server *Server
	conn   *smtp.Conn
	cfg    Config
	user   string
	from   string
	to     []string
}

func (s *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *session) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if want, ok := s.cfg.Users[username]; !ok || want != password {
			return smtp.ErrAuthFailed
		}
		s.user = username
		return nil
	}), nil
}

func (s *session) Mail(from string, opts *smtp.MailOptions) error {
	if _, isTLS := s.conn.TLSConnectionState(); s.cfg.RequireTLS && !isTLS {
		return &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "Must issue a STARTTLS command first"}
	}
	if s.cfg.Users != nil && s.user == "" {
		return &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "Authentication required"}
	}
	s.from = from
	return nil
}

func (s *session) Rcpt(to string, opts *smtp.RcptOptions) error {
	if err := s.server.failure("rcpt"); err != nil {
		return err
	}
	s.to = append(s.to, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	m := Mail{User: s.user, From: s.from, To: s.to}
	_, m.TLS = s.conn.TLSConnectionState()
	if s.cfg.Spool != "" {
		f, err := os.CreateTemp(s.cfg.Spool, "mail-*")
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
		m.Path = f.Name()
	} else {
		raw, err := io.ReadAll(r)
		if err != nil {
			return err
		}
		if err := s.server.failure("data"); err != nil {
			return err
		}
		m.Raw = raw
	}
	s.server.mu.Lock()
	s.server.mails = append(s.server.mails, m)
	s.server.mu.Unlock()
	return nil
}

func (s *session) Reset()        { s.from, s.to = "", nil }
func (s *session) Logout() error { return nil }

// Silent listens on 127.0.0.1 and accepts connections without ever greeting: a server that
// hangs. The listener and the connections close when the test ends.
func Silent(t testing.TB) (host, port string) {
	t.Helper()
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
	host, port, _ = net.SplitHostPort(ln.Addr().String())
	return host, port
}

// ClosedPort is a port on 127.0.0.1 nobody listens on (it was free a moment ago): a server
// that is down.
func ClosedPort(t testing.TB) (host, port string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ = net.SplitHostPort(ln.Addr().String())
	ln.Close()
	return host, port
}
