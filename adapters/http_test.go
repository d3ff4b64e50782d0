package adapters_test

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"math/big"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/amtsbote/amtsbote/adapters"
	"github.com/amtsbote/amtsbote/adapters/adaptertest"
)

// receiver is an HTTP endpoint that keeps every request and, like a real receiver, stores a
// message once however often it arrives (by X-Amtsbote-Message-Id).
type receiver struct {
	mu       sync.Mutex
	requests []received
	stored   map[string][]byte
	answer   func(w http.ResponseWriter) bool // answers instead of storing, when it returns true
}

type received struct {
	method string
	header http.Header
	body   []byte
	tls    *tls.ConnectionState
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.requests = append(rc.requests, received{method: r.Method, header: r.Header.Clone(), body: body, tls: r.TLS})
	if rc.answer != nil && rc.answer(w) {
		return
	}
	id := r.Header.Get("X-Amtsbote-Message-Id")
	if _, dup := rc.stored[id]; dup {
		w.WriteHeader(http.StatusOK)
		return
	}
	rc.stored[id] = body
	w.WriteHeader(http.StatusCreated)
}

func (rc *receiver) setAnswer(f func(w http.ResponseWriter) bool) {
	rc.mu.Lock()
	rc.answer = f
	rc.mu.Unlock()
}

func (rc *receiver) last(t *testing.T) received {
	t.Helper()
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.requests) == 0 {
		t.Fatal("the server received no request")
	}
	return rc.requests[len(rc.requests)-1]
}

func (rc *receiver) storedFor(id string) [][]byte {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if b, ok := rc.stored[id]; ok {
		return [][]byte{b}
	}
	return nil
}

// startReceiver runs a receiver on 127.0.0.1: plain HTTP when tlsConfig is nil.
func startReceiver(t *testing.T, tlsConfig *tls.Config) (*receiver, *httptest.Server) {
	t.Helper()
	rc := &receiver{stored: map[string][]byte{}}
	srv := httptest.NewUnstartedServer(rc)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are expected here
	if tlsConfig != nil {
		srv.TLS = tlsConfig
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	return rc, srv
}

func newHTTPAdapter(t *testing.T, options map[string]any) adapters.Adapter {
	t.Helper()
	a, err := adapters.New("http", options)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

// objectStore is an HTTP receiver that stores each package as one object named by its
// X-Amtsbote-Message-Id, on disk, as a document store would: the same body again is a
// redelivery (200), a different one under a stored id is refused (409). It spools what it
// receives to disk, so that the conformance suite's heap measurement sees the adapter alone.
type objectStore struct {
	dir, spool string
	mu         sync.Mutex
	answer     func(w http.ResponseWriter) bool // answers instead of storing, when it returns true
}

func startObjectStore(t testing.TB) (*objectStore, string) {
	t.Helper()
	s := &objectStore{dir: t.TempDir(), spool: t.TempDir()}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return s, srv.URL
}

func (s *objectStore) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	answer := s.answer
	s.mu.Unlock()
	if answer != nil && answer(w) {
		return
	}
	id := r.Header.Get("X-Amtsbote-Message-Id")
	if id == "" || adapters.SafeName(id) != id {
		http.Error(w, "X-Amtsbote-Message-Id missing or unusable", http.StatusBadRequest)
		return
	}
	tmp, err := os.CreateTemp(s.spool, "body-*")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	defer os.Remove(tmp.Name())
	_, err = io.Copy(tmp, r.Body)
	tmp.Close()
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	target := filepath.Join(s.dir, id)
	if err := os.Link(tmp.Name(), target); err == nil {
		w.WriteHeader(http.StatusCreated)
		return
	} else if !errors.Is(err, os.ErrExist) {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	ours, _ := os.ReadFile(tmp.Name())
	stored, _ := os.ReadFile(target)
	if !bytes.Equal(ours, stored) {
		http.Error(w, "a different package is stored under this id", http.StatusConflict)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (s *objectStore) setAnswer(f func(w http.ResponseWriter) bool) {
	s.mu.Lock()
	s.answer = f
	s.mu.Unlock()
}

func TestHTTPConformance(t *testing.T) {
	var store *objectStore
	adaptertest.Run(t, adaptertest.Harness{
		Factory: func(o map[string]any) (adapters.Adapter, error) { return adapters.New("http", o) },
		Options: func(t testing.TB) map[string]any {
			var url string
			store, url = startObjectStore(t)
			return map[string]any{"url": url + "/messages", "package": "zip"}
		},
		InvalidOptions: map[string]map[string]any{
			"no url":                        {"url": nil},
			"a url that is not http":        {"url": "ftp://127.0.0.1/"},
			"plain http to a remote host":   {"url": "http://fachverfahren.example/"},
			"an unknown method":             {"method": "DELETE"},
			"an unknown package":            {"package": "tar"},
			"a zip in SOAP":                 {"soap": "1.2"},
			"a reserved header":             {"headers": map[string]any{"Idempotency-Key": "x"}},
			"a password without a user":     {"basic_password": "geheim"},
			"a CA file that does not exist": {"url": "https://127.0.0.1/", "ca_file": "/nonexistent/ca.pem"},
			"a negative timeout":            {"timeout": "-1s"},
		},
		Received: func(t testing.TB, messageID string) [][]byte {
			zipped, err := os.ReadFile(filepath.Join(store.dir, messageID))
			if err != nil {
				return nil
			}
			for name := range zipEntries(zipped) {
				if strings.HasSuffix(name, ".xml") {
					xml, _ := adaptertest.ZipEntry(zipped, name)
					return [][]byte{xml}
				}
			}
			return [][]byte{[]byte("a stored object without the message")}
		},
		Attachment: func(t testing.TB, messageID, name string) ([]byte, bool) {
			zipped, err := os.ReadFile(filepath.Join(store.dir, messageID))
			if err != nil {
				return nil, false
			}
			return adaptertest.ZipEntry(zipped, name)
		},
		Files: func(t testing.TB) map[string][]byte { return adaptertest.DirFiles(t, store.dir) },
		BreakTransiently: func(t testing.TB) func() {
			store.setAnswer(func(w http.ResponseWriter) bool {
				w.Header().Set("Retry-After", "2")
				w.WriteHeader(http.StatusServiceUnavailable)
				return true
			})
			return func() { store.setAnswer(nil) }
		},
		// Another package under the message's id: the receiver refuses to replace it.
		BreakPermanently: func(t testing.TB, p *adapters.Package) func() {
			name := filepath.Join(store.dir, p.MessageID)
			if err := os.WriteFile(name, []byte("another package"), 0o600); err != nil {
				t.Fatal(err)
			}
			return func() { os.Remove(name) }
		},
	})
}

// zipEntries lists the names in a zip held in memory.
func zipEntries(zipped []byte) map[string]bool {
	out := map[string]bool{}
	zr, err := zip.NewReader(bytes.NewReader(zipped), int64(len(zipped)))
	if err != nil {
		return out
	}
	for _, f := range zr.File {
		out[f.Name] = true
	}
	return out
}

func TestHTTPSendsDeduplicationHeaders(t *testing.T) {
	rc, srv := startReceiver(t, nil)
	a := newHTTPAdapter(t, map[string]any{"url": srv.URL + "/in", "method": "put", "headers": map[string]any{"X-Api-Key": "k1"}})
	p := adaptertest.Package()
	artefact, err := a.Deliver(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	if want := "HTTP 201 " + srv.URL + "/in"; artefact != want {
		t.Errorf("artefact %q, want %q", artefact, want)
	}
	got := rc.last(t)
	for name, want := range map[string]string{
		"X-Amtsbote-Message-Id": p.MessageID, "Idempotency-Key": p.MessageID, "X-Amtsbote-Message-Type": p.MessageType,
		"X-Amtsbote-Submission-Id": p.SubmissionID, "Content-Type": "application/xml", "X-Api-Key": "k1",
	} {
		if v := got.header.Get(name); v != want {
			t.Errorf("%s: %q, want %q", name, v, want)
		}
	}
	if got.method != http.MethodPut || !bytes.Equal(got.body, p.XML) {
		t.Errorf("%s with body %q, want PUT with the message XML", got.method, got.body)
	}
}

func TestHTTPClassifiesAnswers(t *testing.T) {
	httpDate := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	tests := []struct {
		name       string
		status     int
		retryAfter string
		body       string
		permanent  bool
		wait       [2]time.Duration // bounds of the Retry-After the error carries
		inError    string
	}{
		{"503 with seconds", 503, "2", "", false, [2]time.Duration{2 * time.Second, 2 * time.Second}, "503"},
		{"503 with a date", 503, httpDate, "", false, [2]time.Duration{85 * time.Second, 90 * time.Second}, "503"},
		{"503 with garbage", 503, "soon", "", false, [2]time.Duration{}, "503"},
		{"500", 500, "", "NullPointerException", false, [2]time.Duration{}, "NullPointerException"},
		{"429", 429, "30", "", false, [2]time.Duration{30 * time.Second, 30 * time.Second}, "429"},
		{"408", 408, "", "", false, [2]time.Duration{}, "408"},
		{"401", 401, "", "Anmeldung erforderlich", true, [2]time.Duration{}, "Anmeldung erforderlich"},
		{"404", 404, "", "no such endpoint", true, [2]time.Duration{}, "no such endpoint"},
		{"422", 422, "", `{"error":"Schema: Element Kopf fehlt"}`, true, [2]time.Duration{}, `{"error":"Schema: Element Kopf fehlt"}`},
		{"control characters and length", 400, "", "\x1b[31mrot\x1b[0m\r\nzeile 2\x00" + strings.Repeat("x", 1000), true, [2]time.Duration{}, "[31mrot[0m zeile 2xxx"},
	}
	rc, srv := startReceiver(t, nil)
	a := newHTTPAdapter(t, map[string]any{"url": srv.URL})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc.setAnswer(func(w http.ResponseWriter) bool {
				if tt.retryAfter != "" {
					w.Header().Set("Retry-After", tt.retryAfter)
				}
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
				return true
			})
			_, err := a.Deliver(context.Background(), adaptertest.Package())
			if err == nil || adapters.IsPermanent(err) != tt.permanent {
				t.Fatalf("got %v, want permanent=%v", err, tt.permanent)
			}
			if wait := adapters.RetryAfter(err); wait < tt.wait[0] || wait > tt.wait[1] {
				t.Errorf("Retry-After %v, want within %v", wait, tt.wait)
			}
			if !strings.Contains(err.Error(), tt.inError) || !strings.Contains(err.Error(), srv.URL) {
				t.Errorf("error %q should name the URL and contain %q", err, tt.inError)
			}
			if strings.ContainsAny(err.Error(), "\x1b\x00\r\n") || strings.Contains(err.Error(), strings.Repeat("x", 300)) {
				t.Errorf("error carries control characters or too much of the body: %q", err)
			}
		})
	}
}

// TestHTTPDoesNotFollowRedirects: a redirect would carry the package and the credentials
// wherever the receiver points (plain http://, another host) while the artefact names
// options.url, so none is followed, 307 and 308 included.
func TestHTTPDoesNotFollowRedirects(t *testing.T) {
	var plainHits, otherHits, redirectorHits atomic.Int32
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		plainHits.Add(1)
		w.WriteHeader(http.StatusCreated)
	}))
	t.Cleanup(plain.Close)
	other := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		otherHits.Add(1)
		w.WriteHeader(http.StatusCreated)
	}))
	t.Cleanup(other.Close)
	var location atomic.Value
	redirector := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		redirectorHits.Add(1)
		if loc := location.Load().(string); loc != "" {
			w.Header().Set("Location", loc)
		}
		status, _ := strconv.Atoi(r.URL.Query().Get("status"))
		w.WriteHeader(status)
	}))
	t.Cleanup(redirector.Close)
	plainWithPassword := strings.Replace(plain.URL, "http://", "http://amtsbote:geheim@", 1) + "/new"
	tests := []struct {
		name     string
		status   int
		location string
		inError  string
	}{
		{"307 to plain http with a password", http.StatusTemporaryRedirect, plainWithPassword,
			"answered 307 Temporary Redirect to " + strings.Replace(plain.URL, "http://", "http://xxxxx@", 1) + "/new"},
		{"308 to another host", http.StatusPermanentRedirect, other.URL + "/new", "answered 308 Permanent Redirect to " + other.URL + "/new"},
		{"302 would turn POST into GET", http.StatusFound, plain.URL + "/new", "answered 302 Found to " + plain.URL + "/new"},
		{"relative location", http.StatusTemporaryRedirect, "/elsewhere", "answered 307 Temporary Redirect to " + redirector.URL + "/elsewhere"},
		{"no location", http.StatusTemporaryRedirect, "", "307 Temporary Redirect without a Location"},
	}
	// httptest's TLS servers share one certificate, so trusting it would let the adapter
	// reach other, too, if it followed.
	caFile := filepath.Join(t.TempDir(), "httptest.pem")
	writePEM(t, caFile, "CERTIFICATE", redirector.Certificate().Raw)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plainHits.Store(0)
			otherHits.Store(0)
			redirectorHits.Store(0)
			location.Store(tt.location)
			a := newHTTPAdapter(t, map[string]any{
				"url": redirector.URL + "/in?status=" + strconv.Itoa(tt.status), "ca_file": caFile,
				"bearer_token": "tok-123", "headers": map[string]any{"X-Api-Key": "k1"},
			})
			_, err := a.Deliver(context.Background(), adaptertest.Package())
			if n := plainHits.Load() + otherHits.Load(); n != 0 {
				t.Fatalf("the redirect target received %d requests, want none", n)
			}
			if n := redirectorHits.Load(); n != 1 {
				t.Fatalf("the receiver got %d requests, want 1 (a relative redirect must not be followed either)", n)
			}
			if !adapters.IsPermanent(err) {
				t.Fatalf("want a permanent error, got %v", err)
			}
			for _, want := range []string{tt.inError, "does not follow redirects", "options.url", redirector.URL + "/in"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q should contain %q", err, want)
				}
			}
			if strings.Contains(err.Error(), "geheim") {
				t.Errorf("error %q shows the password from the Location", err)
			}
		})
	}
}

func TestHTTPTimeoutIsTransient(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	a := newHTTPAdapter(t, map[string]any{"url": srv.URL, "timeout": "200ms"})
	_, err := a.Deliver(context.Background(), adaptertest.Package())
	if err == nil || adapters.IsPermanent(err) || !strings.Contains(err.Error(), "options.timeout") {
		t.Fatalf("want a transient timeout error naming options.timeout, got %v", err)
	}
}

func TestHTTPConnectionRefusedIsTransient(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, err = newHTTPAdapter(t, map[string]any{"url": "http://" + addr + "/"}).Deliver(context.Background(), adaptertest.Package())
	if err == nil || adapters.IsPermanent(err) {
		t.Fatalf("want a transient error, got %v", err)
	}
}

func TestHTTPSOAPEnvelopes(t *testing.T) {
	tests := []struct {
		version, action                 string
		namespace, contentType          string
		soapActionHeader, contentAction string
	}{
		{"1.1", "urn:xdomea:Abgabe", "http://schemas.xmlsoap.org/soap/envelope/", "text/xml", `"urn:xdomea:Abgabe"`, ""},
		{"1.1", "", "http://schemas.xmlsoap.org/soap/envelope/", "text/xml", `""`, ""},
		{"1.2", "urn:xdomea:Abgabe", "http://www.w3.org/2003/05/soap-envelope", "application/soap+xml", "", "urn:xdomea:Abgabe"},
	}
	rc, srv := startReceiver(t, nil)
	for _, tt := range tests {
		t.Run(tt.version+" "+tt.action, func(t *testing.T) {
			options := map[string]any{"url": srv.URL, "soap": tt.version}
			if tt.action != "" {
				options["soap_action"] = tt.action
			}
			p := adaptertest.Package()
			if _, err := newHTTPAdapter(t, options).Deliver(context.Background(), p); err != nil {
				t.Fatal(err)
			}
			got := rc.last(t)
			mt, params, err := mime.ParseMediaType(got.header.Get("Content-Type"))
			if err != nil || mt != tt.contentType || params["charset"] != "utf-8" || params["action"] != tt.contentAction {
				t.Errorf("Content-Type %q, want %s; charset=utf-8 with action %q", got.header.Get("Content-Type"), tt.contentType, tt.contentAction)
			}
			if v, ok := got.header["Soapaction"]; tt.soapActionHeader != "" && (!ok || v[0] != tt.soapActionHeader) || tt.soapActionHeader == "" && ok {
				t.Errorf("SOAPAction header %q, want %q", v, tt.soapActionHeader)
			}
			body := string(got.body)
			inner := strings.TrimPrefix(string(p.XML), `<?xml version="1.0" encoding="UTF-8"?>`)
			if !strings.Contains(body, `<soap:Envelope xmlns:soap="`+tt.namespace+`"><soap:Body>`+inner+`</soap:Body></soap:Envelope>`) {
				t.Errorf("body %s does not wrap the message in a %s envelope", body, tt.namespace)
			}
			if strings.Count(body, "<?xml") != 1 {
				t.Errorf("body has %d XML declarations, want 1", strings.Count(body, "<?xml"))
			}
		})
	}
	p := adaptertest.Package()
	p.XML = []byte(`<?xml version="1.0" encoding="ISO-8859-1"?><m/>`)
	_, err := newHTTPAdapter(t, map[string]any{"url": srv.URL, "soap": "1.2"}).Deliver(context.Background(), p)
	if !adapters.IsPermanent(err) || !strings.Contains(err.Error(), "ISO-8859-1") {
		t.Fatalf("a non-UTF-8 message must fail permanently, got %v", err)
	}
}

func TestHTTPAuthentication(t *testing.T) {
	tests := []struct {
		options map[string]any
		want    string
	}{
		{map[string]any{"basic_user": "amtsbote", "basic_password": "geheim"}, "Basic YW10c2JvdGU6Z2VoZWlt"},
		{map[string]any{"bearer_token": "tok-123"}, "Bearer tok-123"},
	}
	rc, srv := startReceiver(t, nil)
	for _, tt := range tests {
		tt.options["url"] = srv.URL
		if _, err := newHTTPAdapter(t, tt.options).Deliver(context.Background(), adaptertest.Package()); err != nil {
			t.Fatal(err)
		}
		if got := rc.last(t).header.Get("Authorization"); got != tt.want {
			t.Errorf("Authorization %q, want %q", got, tt.want)
		}
	}
}

// testCA is a certificate authority made for one test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	file string // the CA certificate, PEM
	pool *x509.CertPool
}

func newTestCA(t testing.TB, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	ca := &testCA{cert: cert, key: key, file: filepath.Join(t.TempDir(), name+".pem"), pool: x509.NewCertPool()}
	ca.pool.AddCert(cert)
	writePEM(t, ca.file, "CERTIFICATE", der)
	return ca
}

// issue makes a certificate for 127.0.0.1 and localhost, for a server or a client, and writes
// it and its key into PEM files.
func (ca *testCA) issue(t testing.TB, name string, usage x509.ExtKeyUsage) (cert tls.Certificate, certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	writePEM(t, certFile, "CERTIFICATE", der)
	writePEM(t, keyFile, "EC PRIVATE KEY", keyDER)
	cert, err = tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	return cert, certFile, keyFile
}

func writePEM(t testing.TB, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestHTTPCustomCA(t *testing.T) {
	ca := newTestCA(t, "test-ca")
	serverCert, _, _ := ca.issue(t, "server", x509.ExtKeyUsageServerAuth)
	_, srv := startReceiver(t, &tls.Config{Certificates: []tls.Certificate{serverCert}})
	if _, err := newHTTPAdapter(t, map[string]any{"url": srv.URL, "ca_file": ca.file}).Deliver(context.Background(), adaptertest.Package()); err != nil {
		t.Fatalf("with the issuing CA in ca_file: %v", err)
	}
	other := newTestCA(t, "other-ca")
	for name, options := range map[string]map[string]any{
		"another CA": {"url": srv.URL, "ca_file": other.file},
		"system CAs": {"url": srv.URL},
	} {
		_, err := newHTTPAdapter(t, options).Deliver(context.Background(), adaptertest.Package())
		if !adapters.IsPermanent(err) || !strings.Contains(err.Error(), "options.ca_file") {
			t.Errorf("%s: want a permanent error pointing at options.ca_file, got %v", name, err)
		}
	}
	if _, err := newHTTPAdapter(t, map[string]any{"url": srv.URL, "insecure_skip_verify": true}).Deliver(context.Background(), adaptertest.Package()); err != nil {
		t.Errorf("insecure_skip_verify: %v", err)
	}
}

func TestHTTPMutualTLS(t *testing.T) {
	serverCA, clientCA := newTestCA(t, "server-ca"), newTestCA(t, "client-ca")
	serverCert, _, _ := serverCA.issue(t, "server", x509.ExtKeyUsageServerAuth)
	_, clientCert, clientKey := clientCA.issue(t, "amtsbote", x509.ExtKeyUsageClientAuth)
	_, strangerCert, strangerKey := serverCA.issue(t, "stranger", x509.ExtKeyUsageClientAuth)
	rc, srv := startReceiver(t, &tls.Config{
		Certificates: []tls.Certificate{serverCert}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: clientCA.pool,
	})
	base := map[string]any{"url": srv.URL, "ca_file": serverCA.file}
	with := func(extra map[string]any) map[string]any {
		out := map[string]any{}
		for k, v := range base {
			out[k] = v
		}
		for k, v := range extra {
			out[k] = v
		}
		return out
	}
	for name, options := range map[string]map[string]any{
		"without a client certificate":     base,
		"with a certificate of another CA": with(map[string]any{"client_cert_file": strangerCert, "client_key_file": strangerKey}),
	} {
		if _, err := newHTTPAdapter(t, options).Deliver(context.Background(), adaptertest.Package()); err == nil {
			t.Errorf("%s: delivered", name)
		} else {
			t.Logf("%s: %v (permanent: %v)", name, err, adapters.IsPermanent(err))
		}
	}
	p := adaptertest.Package()
	if _, err := newHTTPAdapter(t, with(map[string]any{"client_cert_file": clientCert, "client_key_file": clientKey})).Deliver(context.Background(), p); err != nil {
		t.Fatalf("with the client certificate: %v", err)
	}
	got := rc.last(t)
	if got.tls == nil || len(got.tls.PeerCertificates) == 0 || got.tls.PeerCertificates[0].Subject.CommonName != "amtsbote" {
		t.Fatal("the server did not see the client certificate")
	}
}

func TestHTTPZipPackage(t *testing.T) {
	rc, srv := startReceiver(t, nil)
	p := adaptertest.Package()
	if _, err := newHTTPAdapter(t, map[string]any{"url": srv.URL, "package": "zip"}).Deliver(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	got := rc.last(t)
	if ct := got.header.Get("Content-Type"); ct != "application/zip" {
		t.Errorf("Content-Type %q", ct)
	}
	zr, err := zip.NewReader(bytes.NewReader(got.body), int64(len(got.body)))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]byte{p.MessageID + "_" + p.MessageType + ".xml": p.XML}
	for _, f := range p.Files {
		want[f.Name] = fileContent(t, f)
	}
	if len(zr.File) != len(want) {
		t.Errorf("zip holds %d entries, want %d", len(zr.File), len(want))
	}
	for _, f := range zr.File {
		rc, _ := f.Open()
		b, _ := io.ReadAll(rc)
		rc.Close()
		if !bytes.Equal(b, want[f.Name]) {
			t.Errorf("zip entry %s: %q, want %q", f.Name, b, want[f.Name])
		}
	}
	// Redelivery sends the same bytes, which lets a receiver compare.
	if _, err := newHTTPAdapter(t, map[string]any{"url": srv.URL, "package": "zip"}).Deliver(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	if again := rc.last(t); !bytes.Equal(again.body, got.body) {
		t.Error("the zip differs between deliveries of the same package")
	}
}

func fileContent(t *testing.T, f adapters.File) []byte {
	t.Helper()
	r, err := f.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, _ := io.ReadAll(r)
	return b
}

type mimePart struct {
	header   map[string][]string
	filename string
	body     []byte
}

func readMultipart(t testing.TB, contentType string, body []byte) (string, map[string]string, []mimePart) {
	t.Helper()
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		t.Fatalf("Content-Type %q: %v", contentType, err)
	}
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	var parts []mimePart
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(part)
		parts = append(parts, mimePart{header: part.Header, filename: part.FileName(), body: b})
	}
	return mt, params, parts
}

func TestHTTPMultipartPackage(t *testing.T) {
	tests := []struct {
		soap           string
		mediaType      string
		rootType       string
		dispositionHas string
	}{
		{"", "multipart/form-data", "application/xml", `form-data; name="message"`},
		{"1.1", "multipart/related", "text/xml; charset=utf-8", "attachment"},
	}
	rc, srv := startReceiver(t, nil)
	for _, tt := range tests {
		t.Run(tt.mediaType, func(t *testing.T) {
			options := map[string]any{"url": srv.URL, "package": "multipart"}
			if tt.soap != "" {
				options["soap"] = tt.soap
			}
			p := adaptertest.Package()
			p.Files[0].Name = "Antrag für Müller.pdf"
			if _, err := newHTTPAdapter(t, options).Deliver(context.Background(), p); err != nil {
				t.Fatal(err)
			}
			got := rc.last(t)
			mt, params, parts := readMultipart(t, got.header.Get("Content-Type"), got.body)
			if mt != tt.mediaType {
				t.Fatalf("media type %s, want %s", mt, tt.mediaType)
			}
			if tt.soap != "" && (params["type"] != "text/xml" || params["start"] != parts[0].header["Content-Id"][0]) {
				t.Errorf("multipart/related parameters %v: want type text/xml and start naming the root part", params)
			}
			if len(parts) != 1+len(p.Files) {
				t.Fatalf("%d parts, want the message and %d attachments", len(parts), len(p.Files))
			}
			root := parts[0]
			if root.header["Content-Type"][0] != tt.rootType || !bytes.Contains(root.body, []byte(p.MessageID)) ||
				!strings.HasPrefix(root.header["Content-Disposition"][0], tt.dispositionHas) {
				t.Errorf("first part %v %q is not the message", root.header, root.body)
			}
			for i, f := range p.Files {
				part := parts[i+1]
				if part.filename != f.Name || part.header["Content-Type"][0] != f.MediaType || !bytes.Equal(part.body, fileContent(t, f)) {
					t.Errorf("part %d: %q %v %q, want %s", i+1, part.filename, part.header, part.body, f.Name)
				}
			}
		})
	}
}

func TestHTTPOptions(t *testing.T) {
	ca := newTestCA(t, "ca")
	tests := []struct {
		name    string
		options map[string]any
		want    string
	}{
		{"missing url", map[string]any{}, "options.url"},
		{"relative url", map[string]any{"url": "/in"}, "options.url"},
		{"ftp url", map[string]any{"url": "ftp://x/in"}, "options.url"},
		{"credentials in url", map[string]any{"url": "https://u:p@x/in"}, "options.basic_user"},
		{"unknown key", map[string]any{"url": "https://x", "methd": "PUT"}, "methd"},
		{"method", map[string]any{"url": "https://x", "method": "GET"}, "options.method"},
		{"soap version", map[string]any{"url": "https://x", "soap": "2.0"}, "options.soap"},
		{"soap action without soap", map[string]any{"url": "https://x", "soap_action": "a"}, "options.soap_action"},
		{"package", map[string]any{"url": "https://x", "package": "tar"}, "options.package"},
		{"zip in soap", map[string]any{"url": "https://x", "package": "zip", "soap": "1.1"}, "options.package"},
		{"two auth methods", map[string]any{"url": "https://x", "bearer_token": "t", "basic_user": "u"}, "options.bearer_token"},
		{"password without user", map[string]any{"url": "https://x", "basic_password": "p"}, "options.basic_user"},
		{"credentials over http", map[string]any{"url": "http://fachverfahren.example/in", "bearer_token": "t"}, "options.url"},
		{"cert without key", map[string]any{"url": "https://x", "client_cert_file": "c.pem"}, "options.client_key_file"},
		{"missing ca file", map[string]any{"url": "https://x", "ca_file": filepath.Join(t.TempDir(), "none.pem")}, "options.ca_file"},
		{"ca file without certificate", map[string]any{"url": "https://x", "ca_file": writeFile(t, "not a certificate")}, "options.ca_file"},
		{"unreadable client key", map[string]any{"url": "https://x", "client_cert_file": ca.file, "client_key_file": writeFile(t, "junk")}, "options.client_cert_file"},
		{"tls options on http", map[string]any{"url": "http://x", "ca_file": ca.file}, "options.url"},
		{"skip verify and ca", map[string]any{"url": "https://x", "ca_file": ca.file, "insecure_skip_verify": true}, "options.insecure_skip_verify"},
		{"reserved header", map[string]any{"url": "https://x", "headers": map[string]any{"idempotency-key": "x"}}, "Idempotency-Key"},
		{"amtsbote header", map[string]any{"url": "https://x", "headers": map[string]any{"X-Amtsbote-Message-Id": "x"}}, "X-Amtsbote-Message-Id"},
		{"bad header name", map[string]any{"url": "https://x", "headers": map[string]any{"X Key": "x"}}, "options.headers"},
		{"header injection", map[string]any{"url": "https://x", "headers": map[string]any{"X-Key": "a\r\nX-Evil: 1"}}, "options.headers"},
		{"timeout", map[string]any{"url": "https://x", "timeout": "-1s"}, "options.timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := adapters.New("http", tt.options)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error naming %s", err, tt.want)
			}
		})
	}
	for _, ok := range []map[string]any{
		{"url": "http://127.0.0.1:8080/in", "basic_user": "u", "basic_password": "p"},
		{"url": "https://x/in", "method": "put", "soap": "1.2", "package": "multipart", "timeout": "5s", "headers": map[string]any{"X-Api-Key": 42}},
	} {
		a, err := adapters.New("http", ok)
		if err != nil {
			t.Errorf("options %v: %v", ok, err)
			continue
		}
		a.Close()
	}
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestHTTPRefusesCleartextToRemoteHosts: packages hold personal data, so plain http:// is only
// for loopback unless options.allow_unencrypted_personal_data says the path is protected
// otherwise; credentials never cross a network in clear text, with or without it.
func TestHTTPRefusesCleartextToRemoteHosts(t *testing.T) {
	const allow = "allow_unencrypted_personal_data"
	tests := []struct {
		name    string
		options map[string]any
		want    []string // in the error; none: accepted
	}{
		{"remote name", map[string]any{"url": "http://fachverfahren.example/in"},
			[]string{"options.url", "personal data to fachverfahren.example in clear text", "options." + allow + ": true"}},
		{"remote address", map[string]any{"url": "http://192.0.2.10:8080/in"}, []string{"192.0.2.10", "options." + allow}},
		{"a name is not loopback, whatever it resolves to", map[string]any{"url": "http://127.0.0.1.nip.io/in"}, []string{"options." + allow}},
		{"unspecified address", map[string]any{"url": "http://0.0.0.0/in"}, []string{"options." + allow}},
		{"remote with the option", map[string]any{"url": "http://fachverfahren.example/in", allow: true}, nil},
		{"bearer token with the option", map[string]any{"url": "http://fachverfahren.example/in", allow: true, "bearer_token": "t"},
			[]string{"options.bearer_token", "clear text", "does not lift this"}},
		{"basic auth with the option", map[string]any{"url": "http://fachverfahren.example/in", allow: true, "basic_user": "u", "basic_password": "p"},
			[]string{"options.basic_user", "clear text"}},
		{"Authorization header", map[string]any{"url": "http://fachverfahren.example/in", "headers": map[string]any{"Authorization": "ApiKey k"}},
			[]string{"Authorization header in options.headers", "clear text"}},
		{"authorization header in lower case with the option", map[string]any{"url": "http://fachverfahren.example/in", allow: true, "headers": map[string]any{"authorization": "ApiKey k"}},
			[]string{"Authorization header in options.headers", "does not lift this"}},
		{"Proxy-Authorization header with the option", map[string]any{"url": "http://fachverfahren.example/in", allow: true, "headers": map[string]any{"proxy-authorization": "Basic x"}},
			[]string{"Proxy-Authorization header in options.headers"}},
		{"the option with https", map[string]any{"url": "https://fachverfahren.example/in", allow: true}, []string{"options." + allow, "no effect"}},
		{"Authorization header over https", map[string]any{"url": "https://fachverfahren.example/in", "headers": map[string]any{"Authorization": "ApiKey k"}}, nil},
		{"loopback address", map[string]any{"url": "http://127.0.0.1:8080/in", "headers": map[string]any{"Authorization": "ApiKey k"}}, nil},
		{"loopback network", map[string]any{"url": "http://127.5.6.7/in", "bearer_token": "t"}, nil},
		{"IPv6 loopback", map[string]any{"url": "http://[::1]:8080/in", "basic_user": "u", "basic_password": "p"}, nil},
		{"localhost", map[string]any{"url": "http://LocalHost:8080/in", "bearer_token": "t"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := adapters.New("http", tt.options)
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

// A JSON message goes as the body with its media type (package message, a synonym of xml), a
// CSV as the message part of a multipart request with its charset; SOAP refuses both.
func TestHTTPSendsJSONAndCSVMessages(t *testing.T) {
	rc, srv := startReceiver(t, nil)
	p := adaptertest.Package()
	p.XML, p.MediaType = []byte(`{"prozess_id": "`+p.MessageID+`"}`+"\n"), "application/json"
	if _, err := newHTTPAdapter(t, map[string]any{"url": srv.URL, "package": "message"}).Deliver(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	got := rc.last(t)
	if got.header.Get("Content-Type") != "application/json" || !bytes.Equal(got.body, p.XML) {
		t.Fatalf("JSON body: %s %q", got.header.Get("Content-Type"), got.body)
	}

	c := adaptertest.Package()
	c.XML, c.MediaType = []byte("Name;Ort\r\nJ\xfcrgen;K\xf6ln\r\n"), "text/csv; charset=windows-1252; header=present"
	if _, err := newHTTPAdapter(t, map[string]any{"url": srv.URL, "package": "multipart"}).Deliver(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	got = rc.last(t)
	_, _, parts := readMultipart(t, got.header.Get("Content-Type"), got.body)
	if len(parts) != 3 || parts[0].filename != c.MessageID+"_Abgabe.Abgabe.0401.csv" || !bytes.Equal(parts[0].body, c.XML) ||
		parts[0].header["Content-Type"][0] != "text/csv; charset=windows-1252; header=present" {
		t.Fatalf("CSV part: %q %v %q", parts[0].filename, parts[0].header, parts[0].body)
	}

	_, err := newHTTPAdapter(t, map[string]any{"url": srv.URL, "soap": "1.1"}).Deliver(context.Background(), p)
	if !adapters.IsPermanent(err) || !strings.Contains(err.Error(), "options.soap wraps XML messages") {
		t.Fatalf("SOAP with JSON: %v", err)
	}
}
