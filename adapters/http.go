package adapters

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

func init() {
	Register("http", newHTTP)
}

// HTTPOptions configure the http adapter, which sends each package in one request.
type HTTPOptions struct {
	// URL is the receiver's endpoint, http:// or https://. Required.
	URL string `mapstructure:"url"`
	// Method is POST or PUT. Default: POST.
	Method string `mapstructure:"method"`
	// SOAP wraps the message XML in a SOAP envelope: "1.1" or "1.2". Default: "" (plain XML).
	SOAP string `mapstructure:"soap"`
	// SOAPAction is the action sent with SOAP (SOAPAction header for 1.1, the action parameter
	// of the Content-Type for 1.2). Default: none.
	SOAPAction string `mapstructure:"soap_action"`
	// Package is what the body holds: "xml" or its synonym "message" (the message only: XML, or
	// the JSON or CSV a mapping made, with its media type), "zip" (the xdomea zip filedrop
	// writes, message and attachments) or "multipart" (the message part first, then one part per
	// attachment). Default: xml.
	Package string `mapstructure:"package"`
	// Headers are sent with every request, e.g. an API key. They cannot replace the headers
	// amtsbote sets itself (Content-Type, Idempotency-Key, X-Amtsbote-*, …). Default: none.
	Headers map[string]string `mapstructure:"headers"`
	// BasicUser and BasicPassword log in with HTTP Basic authentication. Default: none.
	BasicUser     string `mapstructure:"basic_user"`
	BasicPassword string `mapstructure:"basic_password"`
	// BearerToken is sent as "Authorization: Bearer <token>". Default: none.
	BearerToken string `mapstructure:"bearer_token"`
	// CAFile is a PEM bundle of the CAs that may issue the server's certificate, used instead of
	// the system's. Default: the system's CAs.
	CAFile string `mapstructure:"ca_file"`
	// ClientCertFile and ClientKeyFile (PEM) are the certificate amtsbote shows to servers that
	// require one (mutual TLS). Default: none.
	ClientCertFile string `mapstructure:"client_cert_file"`
	ClientKeyFile  string `mapstructure:"client_key_file"`
	// InsecureSkipVerify accepts any server certificate. For tests only: anyone who can
	// intercept the connection receives the packages and the credentials. Default: false.
	InsecureSkipVerify bool `mapstructure:"insecure_skip_verify"`
	// Timeout bounds one request: connecting, sending the body and reading the answer.
	// Default: 30s.
	Timeout time.Duration `mapstructure:"timeout"`
	// AllowUnencryptedPersonalData permits a plain http:// URL to a host other than a loopback
	// address, for networks protected otherwise (a VPN, an encrypting gateway). Without it such
	// a URL is refused: the packages hold personal data. Credentials over such a URL stay
	// refused even with it. Default: false.
	AllowUnencryptedPersonalData bool `mapstructure:"allow_unencrypted_personal_data"`
}

func (o *HTTPOptions) setDefaults() {
	o.Method = strings.ToUpper(o.Method)
	if o.Method == "" {
		o.Method = http.MethodPost
	}
	if o.Package == "" {
		o.Package = "xml"
	}
	if o.Timeout == 0 {
		o.Timeout = 30 * time.Second
	}
}

func (o *HTTPOptions) validate() (*url.URL, error) {
	if o.URL == "" {
		return nil, errors.New("options.url must name the receiver's endpoint, e.g. https://fachverfahren.example/api/messages")
	}
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("options.url %q: expected an absolute http:// or https:// URL", o.URL)
	}
	if u.User != nil {
		return nil, fmt.Errorf("options.url %s: put credentials into options.basic_user and options.basic_password, not into the URL", u.Redacted())
	}
	switch {
	case o.Method != http.MethodPost && o.Method != http.MethodPut:
		return nil, fmt.Errorf("options.method %q: expected POST or PUT", o.Method)
	case o.SOAP != "" && o.SOAP != "1.1" && o.SOAP != "1.2":
		return nil, fmt.Errorf("options.soap %q: expected \"1.1\" or \"1.2\" (or leave it out for plain XML)", o.SOAP)
	case o.SOAPAction != "" && o.SOAP == "":
		return nil, errors.New("options.soap_action needs options.soap (\"1.1\" or \"1.2\")")
	case strings.ContainsAny(o.SOAPAction, "\"\\") || hasControl(o.SOAPAction):
		return nil, fmt.Errorf("options.soap_action %q must not contain quotes, backslashes or control characters", o.SOAPAction)
	case o.Package != "xml" && o.Package != "message" && o.Package != "zip" && o.Package != "multipart":
		return nil, fmt.Errorf("options.package %q: expected xml (or message), zip or multipart", o.Package)
	case o.Package == "zip" && o.SOAP != "":
		return nil, errors.New("options.package zip cannot be wrapped in SOAP: use package xml or multipart with options.soap")
	case o.BearerToken != "" && (o.BasicUser != "" || o.BasicPassword != ""):
		return nil, errors.New("set either options.bearer_token or options.basic_user/basic_password, not both")
	case o.BasicPassword != "" && o.BasicUser == "":
		return nil, errors.New("options.basic_password needs options.basic_user")
	case hasControl(o.BearerToken) || hasControl(o.BasicUser) || strings.Contains(o.BasicUser, ":"):
		return nil, errors.New("options.bearer_token and options.basic_user must not contain control characters (nor basic_user a colon)")
	case (o.ClientCertFile == "") != (o.ClientKeyFile == ""):
		return nil, errors.New("options.client_cert_file and options.client_key_file go together: set both for mutual TLS, or neither")
	case o.InsecureSkipVerify && o.CAFile != "":
		return nil, errors.New("options.insecure_skip_verify and options.ca_file contradict each other: drop insecure_skip_verify")
	case o.Timeout < 0:
		return nil, fmt.Errorf("options.timeout %s: expected a positive duration such as 30s", o.Timeout)
	}
	tlsSet := o.CAFile != "" || o.ClientCertFile != "" || o.InsecureSkipVerify
	if u.Scheme == "http" && tlsSet {
		return nil, fmt.Errorf("options.url %s is plain http://, so options.ca_file, client_cert_file and insecure_skip_verify have no effect: use https://", u.Redacted())
	}
	for name, value := range o.Headers {
		if err := checkExtraHeader(name, value, o.BasicUser != "" || o.BearerToken != ""); err != nil {
			return nil, err
		}
	}
	if err := o.checkCleartext(u); err != nil {
		return nil, err
	}
	return u, nil
}

// checkCleartext keeps personal data and credentials from crossing a network unencrypted.
// Loopback traffic never leaves the machine, so http:// to it stays allowed (a local gateway
// or a test server). Credentials are refused even with allow_unencrypted_personal_data: a
// protected network path is a claim about the packages' route, and a leaked token would let
// anyone on it act as amtsbote.
func (o *HTTPOptions) checkCleartext(u *url.URL) error {
	if u.Scheme == "https" {
		if o.AllowUnencryptedPersonalData {
			return fmt.Errorf("options.allow_unencrypted_personal_data has no effect with https:// in options.url %s: remove it", u.Redacted())
		}
		return nil
	}
	host := u.Hostname()
	if isLoopback(host) {
		return nil
	}
	if cred := o.credentialOption(); cred != "" {
		return fmt.Errorf("options.url %s is plain http://: %s would cross the network to %s in clear text; use https:// (options.allow_unencrypted_personal_data does not lift this)", u.Redacted(), cred, host)
	}
	if !o.AllowUnencryptedPersonalData {
		return fmt.Errorf("options.url %s is plain http://: it would send personal data to %s in clear text; use https://, or set options.allow_unencrypted_personal_data: true if the network path is protected otherwise", u.Redacted(), host)
	}
	return nil
}

// credentialOption names the option that carries credentials, or returns "".
func (o *HTTPOptions) credentialOption() string {
	switch {
	case o.BearerToken != "":
		return "options.bearer_token"
	case o.BasicUser != "":
		return "options.basic_user/basic_password"
	}
	for name := range o.Headers {
		if canonical := textproto.CanonicalMIMEHeaderKey(name); credentialHeaders[canonical] {
			return "the " + canonical + " header in options.headers"
		}
	}
	return ""
}

// credentialHeaders are the headers HTTP defines for credentials (RFC 9110, 11.6.2 and 11.7.2).
var credentialHeaders = map[string]bool{"Authorization": true, "Proxy-Authorization": true}

// reservedHeaders are set by the adapter; letting configuration replace them would break
// de-duplication or the body's framing.
var reservedHeaders = map[string]bool{
	"Content-Type": true, "Content-Length": true, "Content-Disposition": true, "Transfer-Encoding": true,
	"Host": true, "Idempotency-Key": true, "Soapaction": true, "Connection": true,
}

func checkExtraHeader(name, value string, authSet bool) error {
	if name == "" || strings.IndexFunc(name, func(r rune) bool { return !isTokenRune(r) }) >= 0 {
		return fmt.Errorf("options.headers: %q is not a valid header name", name)
	}
	canonical := textproto.CanonicalMIMEHeaderKey(name)
	if reservedHeaders[canonical] || strings.HasPrefix(canonical, "X-Amtsbote-") {
		return fmt.Errorf("options.headers: %s is set by amtsbote and cannot be configured", canonical)
	}
	if canonical == "Authorization" && authSet {
		return errors.New("options.headers: Authorization conflicts with options.basic_user/bearer_token: keep one")
	}
	if hasControl(value) {
		return fmt.Errorf("options.headers: the value of %s must not contain control characters", canonical)
	}
	return nil
}

func isTokenRune(r rune) bool {
	return r < utf8.RuneSelf && (r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' ||
		strings.ContainsRune("!#$%&'*+-.^_`|~", r))
}

func hasControl(s string) bool {
	return strings.IndexFunc(s, unicode.IsControl) >= 0
}

// isLoopback tells whether host is a loopback address (127.0.0.0/8, ::1) or "localhost".
// Any other name counts as remote, whatever it resolves to now: DNS can change, and a check
// here cannot see it.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// httpAdapter sends each package in one request. One client, and so one pool of kept-alive
// connections, serves all deliveries of the destination.
type httpAdapter struct {
	url        *url.URL
	target     string // the URL for messages, without credentials
	method     string
	soap       string
	soapAction string
	pkg        string
	headers    http.Header
	client     *http.Client
	transport  *http.Transport

	mu       sync.Mutex
	closed   bool
	inflight sync.WaitGroup
}

func newHTTP(options map[string]any) (Adapter, error) {
	var o HTTPOptions
	if err := DecodeOptions(options, &o); err != nil {
		return nil, fmt.Errorf("http: %w", err)
	}
	o.setDefaults()
	u, err := o.validate()
	if err != nil {
		return nil, fmt.Errorf("http: %w", err)
	}
	tlsConfig, err := httpTLSConfig(o)
	if err != nil {
		return nil, fmt.Errorf("http: %w", err)
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.TLSClientConfig = tlsConfig
	// max_in_flight allows up to 64 deliveries at once; each keeps its connection for the next.
	transport.MaxIdleConnsPerHost = 64
	h := &httpAdapter{
		url: u, target: u.Redacted(), method: o.Method, soap: o.SOAP, soapAction: o.SOAPAction,
		pkg: o.Package, headers: http.Header{}, transport: transport,
	}
	h.client = &http.Client{Transport: transport, Timeout: o.Timeout, CheckRedirect: noRedirects}
	h.headers.Set("User-Agent", "amtsbote")
	for name, value := range o.Headers {
		h.headers.Set(name, value)
	}
	switch {
	case o.BearerToken != "":
		h.headers.Set("Authorization", "Bearer "+o.BearerToken)
	case o.BasicUser != "":
		h.headers.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(o.BasicUser+":"+o.BasicPassword)))
	}
	return h, nil
}

// noRedirects hands every redirect back to classify instead of following it. Following one
// would send the package, and the Authorization and options.headers with it, wherever the
// receiver points: another host or plain http://, past every check of options.url, while the
// artefact names options.url. (301, 302 and 303 would also turn the POST into a GET, whose 200
// would pass for a delivery.)
func noRedirects(*http.Request, []*http.Request) error {
	return http.ErrUseLastResponse
}

// httpTLSConfig reads the files now, so that a missing or broken file is a configuration error
// instead of a dead letter for every package.
func httpTLSConfig(o HTTPOptions) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: o.InsecureSkipVerify}
	if o.CAFile != "" {
		pool, err := readCAFile(o.CAFile)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	if o.ClientCertFile != "" {
		cert, err := tls.LoadX509KeyPair(o.ClientCertFile, o.ClientKeyFile)
		if err != nil {
			return nil, fmt.Errorf("options.client_cert_file %s / options.client_key_file %s: %w (both PEM, the key without passphrase)", o.ClientCertFile, o.ClientKeyFile, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// readCAFile loads options.ca_file (also used by the smtp adapter).
func readCAFile(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("options.ca_file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("options.ca_file %s holds no PEM certificate (expected -----BEGIN CERTIFICATE-----)", path)
	}
	return pool, nil
}

// Deliver sends the package and classifies the answer. Every request carries the message id
// (X-Amtsbote-Message-Id and Idempotency-Key), so the receiver can recognise a redelivery.
func (h *httpAdapter) Deliver(ctx context.Context, p *Package) (string, error) {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return "", Transient(fmt.Errorf("http: delivery to %s after the adapter was closed", h.target), 0)
	}
	h.inflight.Add(1)
	h.mu.Unlock()
	defer h.inflight.Done()

	body, contentType, err := h.body(ctx, p)
	if err != nil {
		return "", err
	}
	defer body.close()
	// The body is built before it is sent rather than streamed: it gets a Content-Length,
	// which many SOAP stacks require.
	req, err := http.NewRequestWithContext(ctx, h.method, h.url.String(), body.open())
	if err != nil {
		return "", Permanent(fmt.Errorf("http: %s: %w", h.target, err))
	}
	req.ContentLength = body.size
	req.GetBody = func() (io.ReadCloser, error) { return body.open(), nil }
	h.setHeaders(req, p, contentType)
	resp, err := h.client.Do(req)
	if err != nil {
		return "", h.requestError(ctx, err)
	}
	defer func() {
		// Reading a little of the rest lets the connection be reused.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
	}()
	return h.classify(resp)
}

func (h *httpAdapter) setHeaders(req *http.Request, p *Package, contentType string) {
	for name, values := range h.headers {
		req.Header[name] = values
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("X-Amtsbote-Message-Id", headerSafe(p.MessageID))
	req.Header.Set("X-Amtsbote-Message-Type", headerSafe(p.MessageType))
	req.Header.Set("X-Amtsbote-Submission-Id", headerSafe(p.SubmissionID))
	req.Header.Set("Idempotency-Key", headerSafe(p.MessageID))
	if h.soap == "1.1" {
		// SOAP 1.1 over HTTP requires the header, even empty.
		req.Header.Set("SOAPAction", `"`+h.soapAction+`"`)
	}
	if h.pkg == "zip" {
		req.Header.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": xdomeaBase(p) + ".zip"}))
	}
}

// headerSafe keeps values that come from a submission from breaking a header.
func headerSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, s)
}

func xdomeaBase(p *Package) string { return SafeName(p.MessageID + "_" + p.MessageType) }

// requestBody is a built request body: the message in memory, or a package (zip or multipart,
// with its attachments) in a temporary file, so that a large attachment never has to fit in
// memory.
type requestBody struct {
	mem  []byte
	file *os.File
	size int64
}

func (b *requestBody) open() io.ReadCloser {
	if b.file != nil {
		return io.NopCloser(io.NewSectionReader(b.file, 0, b.size))
	}
	return io.NopCloser(bytes.NewReader(b.mem))
}

func (b *requestBody) close() {
	if b.file != nil {
		b.file.Close()
		_ = os.Remove(b.file.Name()) // if it could not be removed at once
	}
}

// spoolBody writes a package body into a temporary file (mode 0600). The file is removed at
// once where the system allows that for an open file, so that not even a crash leaves the
// package behind.
func spoolBody(ctx context.Context, write func(io.Writer) error) (*requestBody, error) {
	f, err := os.CreateTemp("", "amtsbote-http-*")
	if err != nil {
		return nil, err
	}
	_ = os.Remove(f.Name())
	b := &requestBody{file: f}
	if err := write(ctxWriter{ctx, f}); err != nil {
		b.close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	info, err := f.Stat()
	if err != nil {
		b.close()
		return nil, err
	}
	b.size = info.Size()
	return b, nil
}

// body builds the request body as options.package and options.soap ask.
func (h *httpAdapter) body(ctx context.Context, p *Package) (*requestBody, string, error) {
	xmlBody, xmlType := p.XML, p.MessageMediaType()
	if h.soap != "" && p.MessageExt() != ".xml" {
		return nil, "", Permanent(fmt.Errorf("http: %s: options.soap wraps XML messages; this destination gets %s", h.target, xmlType))
	}
	if h.soap != "" {
		env, err := soapEnvelope(h.soap, p.XML)
		if err != nil {
			return nil, "", Permanent(fmt.Errorf("http: %s: %w", h.target, err))
		}
		xmlBody, xmlType = env, soapContentType(h.soap, h.soapAction)
	}
	switch h.pkg {
	case "zip":
		body, err := spoolBody(ctx, func(w io.Writer) error { return writeZip(w, xdomeaBase(p)+p.MessageExt(), p) })
		if err != nil {
			return nil, "", h.buildError(ctx, "the zip", err)
		}
		return body, "application/zip", nil
	case "multipart":
		var contentType string
		body, err := spoolBody(ctx, func(w io.Writer) (err error) {
			contentType, err = h.writeMultipart(w, p, xmlBody, xmlType)
			return err
		})
		if err != nil {
			return nil, "", h.buildError(ctx, "the multipart body", err)
		}
		return body, contentType, nil
	}
	return &requestBody{mem: xmlBody, size: int64(len(xmlBody))}, xmlType, nil
}

func (h *httpAdapter) buildError(ctx context.Context, what string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("http: %s %s: %w", h.method, h.target, err)
	}
	return fmt.Errorf("http: build %s for %s: %w", what, h.target, err)
}

// writeMultipart writes the message part, then one part per attachment. Plain XML goes as
// multipart/form-data (fields "message" and "attachment"), what web frameworks parse out of
// the box; SOAP goes as multipart/related with the envelope as root part (SOAP with
// Attachments), what SOAP stacks expect.
func (h *httpAdapter) writeMultipart(w io.Writer, p *Package, xmlBody []byte, xmlType string) (string, error) {
	mw := multipart.NewWriter(w)
	related := h.soap != ""
	part := func(field, filename, mediaType, contentID string) (io.Writer, error) {
		hdr := textproto.MIMEHeader{"Content-Type": {mediaType}}
		if related {
			hdr.Set("Content-ID", contentID)
			hdr.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": filename}))
		} else {
			// RFC 7578 wants the plain file name in quotes, not RFC 2231's filename*.
			hdr.Set("Content-Disposition", fmt.Sprintf(`form-data; name="%s"; filename="%s"`, field, quoteEscaper.Replace(filename)))
		}
		return mw.CreatePart(hdr)
	}
	pw, err := part("message", xdomeaBase(p)+p.MessageExt(), xmlType, "<message@amtsbote>")
	if err != nil {
		return "", err
	}
	if _, err := pw.Write(xmlBody); err != nil {
		return "", err
	}
	for i, f := range p.Files {
		pw, err := part("attachment", SafeName(f.Name), mediaTypeOrDefault(f.MediaType), fmt.Sprintf("<attachment%d@amtsbote>", i+1))
		if err != nil {
			return "", err
		}
		if err := copyFile(pw, f); err != nil {
			return "", err
		}
	}
	if err := mw.Close(); err != nil {
		return "", err
	}
	if related {
		return mime.FormatMediaType("multipart/related", map[string]string{
			"boundary": mw.Boundary(), "type": strings.SplitN(xmlType, ";", 2)[0], "start": "<message@amtsbote>",
		}), nil
	}
	return mw.FormDataContentType(), nil
}

var quoteEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\r", "", "\n", "")

// mediaTypeOrDefault keeps a malformed media type from the submission out of the headers.
func mediaTypeOrDefault(mt string) string {
	if parsed, params, err := mime.ParseMediaType(mt); err == nil {
		return mime.FormatMediaType(parsed, params)
	}
	return "application/octet-stream"
}

const (
	soap11Namespace = "http://schemas.xmlsoap.org/soap/envelope/"
	soap12Namespace = "http://www.w3.org/2003/05/soap-envelope"
)

func soapContentType(version, action string) string {
	if version == "1.1" {
		return "text/xml; charset=utf-8"
	}
	params := map[string]string{"charset": "utf-8"}
	if action != "" {
		params["action"] = action
	}
	return mime.FormatMediaType("application/soap+xml", params)
}

var (
	xmlDeclaration = regexp.MustCompile(`^\s*<\?xml\s[^?]*\?>`)
	xmlEncoding    = regexp.MustCompile(`encoding\s*=\s*["']([^"']+)["']`)
)

// soapEnvelope puts the message into the SOAP body. The message's XML declaration has to go
// (it may only start a document); the envelope is UTF-8, so the message must be too.
func soapEnvelope(version string, msg []byte) ([]byte, error) {
	msg = bytes.TrimPrefix(msg, []byte("\xef\xbb\xbf"))
	if decl := xmlDeclaration.Find(msg); decl != nil {
		if m := xmlEncoding.FindSubmatch(decl); m != nil && !strings.EqualFold(string(m[1]), "utf-8") {
			return nil, fmt.Errorf("the message XML is encoded in %s; only UTF-8 can be put into a SOAP envelope", m[1])
		}
		msg = msg[len(decl):]
	}
	ns := soap11Namespace
	if version == "1.2" {
		ns = soap12Namespace
	}
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	b.WriteString(`<soap:Envelope xmlns:soap="` + ns + `"><soap:Body>`)
	b.Write(bytes.TrimSpace(msg))
	b.WriteString(`</soap:Body></soap:Envelope>`)
	return b.Bytes(), nil
}

// requestError classifies a request that got no answer: the network is worth retrying, a
// server that cannot be trusted is a configuration to fix first.
func (h *httpAdapter) requestError(ctx context.Context, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("http: %s %s: %w", h.method, h.target, ctxErr)
	}
	if isTLSVerifyError(err) {
		return Permanent(fmt.Errorf("http: %w (the server's certificate is not trusted: set options.ca_file to the CA that issued it, or correct the host name in options.url)", err))
	}
	var recordErr tls.RecordHeaderError
	if errors.As(err, &recordErr) {
		return Permanent(fmt.Errorf("http: %w (the server does not speak TLS there: check the scheme and port of options.url)", err))
	}
	if alert := tlsRemoteAlert(err); alert != "" {
		return Permanent(fmt.Errorf("http: %w (the server refused the TLS handshake; if it requires a client certificate, set options.client_cert_file and options.client_key_file to one it accepts)", err))
	}
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return Transient(fmt.Errorf("http: %w (no answer within options.timeout %s)", err, h.client.Timeout), 0)
	}
	return Transient(fmt.Errorf("http: %w", err), 0)
}

// isTLSVerifyError tells whether the peer's certificate failed verification (also used by the
// smtp adapter).
func isTLSVerifyError(err error) bool {
	var verifyErr *tls.CertificateVerificationError
	var unknownCA x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var invalid x509.CertificateInvalidError
	return errors.As(err, &verifyErr) || errors.As(err, &unknownCA) || errors.As(err, &hostErr) || errors.As(err, &invalid)
}

// tlsRemoteAlert returns the alert when the peer aborted the TLS handshake over certificates
// or protocol versions, which no retry changes; other alerts are left to the caller.
func tlsRemoteAlert(err error) string {
	var opErr *net.OpError
	if !errors.As(err, &opErr) || opErr.Op != "remote error" || opErr.Err == nil {
		return ""
	}
	alert := opErr.Err.Error()
	for _, s := range []string{"certificate", "unknown certificate authority", "access denied", "handshake failure", "protocol version"} {
		if strings.Contains(alert, s) {
			return alert
		}
	}
	return ""
}

// classify turns the answer into the result: 2xx delivered; 408, 429 and 5xx worth retrying
// (no sooner than Retry-After); anything else a refusal that retrying will not change.
func (h *httpAdapter) classify(resp *http.Response) (string, error) {
	code := resp.StatusCode
	if code >= 200 && code < 300 {
		return fmt.Sprintf("HTTP %d %s", code, h.target), nil
	}
	if code >= 300 && code < 400 {
		// A configuration problem: every retry would be redirected the same way.
		return "", Permanent(fmt.Errorf("http: %s %s: the receiver answered %s%s; amtsbote does not follow redirects: configure the final URL in options.url",
			h.method, h.target, resp.Status, redirectTarget(resp)))
	}
	detail := ""
	if ex := bodyExcerpt(resp.Body); ex != "" {
		detail = ": " + ex
	}
	failure := fmt.Errorf("http: %s %s answered %s%s", h.method, h.target, resp.Status, detail)
	if code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500 {
		return "", Transient(failure, parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()))
	}
	return "", Permanent(fmt.Errorf("%w (%s)", failure, refusalHint(resp)))
}

// redirectTarget describes where a redirect points, for the error message: resolved against
// the request's URL, without userinfo (it may hold a password), shortened.
func redirectTarget(resp *http.Response) string {
	if resp.Header.Get("Location") == "" {
		return " without a Location"
	}
	loc, err := resp.Location()
	if err != nil {
		return " with an unreadable Location"
	}
	if loc.User != nil {
		loc.User = url.User("xxxxx")
	}
	s := loc.String()
	if len(s) > 300 {
		s = truncateUTF8(s, 300) + "…"
	}
	return " to " + s
}

func refusalHint(resp *http.Response) string {
	switch code := resp.StatusCode; {
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		return "check options.basic_user/basic_password, options.bearer_token or the client certificate, then replay the message"
	case code == http.StatusNotFound || code == http.StatusMethodNotAllowed:
		return "check options.url and options.method, then replay the message"
	case code == http.StatusUnsupportedMediaType:
		return "the receiver wants another format: check options.package and options.soap"
	case code == http.StatusRequestEntityTooLarge:
		return "the receiver does not accept a package this large"
	}
	return "the receiver refuses the message; replay it once the cause is fixed"
}

// bodyExcerpt returns the start of an error answer for the error message: enough to show what
// the receiver objected to, without terminal escapes or line breaks from the body.
func bodyExcerpt(r io.Reader) string {
	b, _ := io.ReadAll(io.LimitReader(r, 300))
	s := strings.ToValidUTF8(string(b), "")
	s = strings.Map(func(r rune) rune {
		switch {
		case unicode.IsSpace(r):
			return ' '
		case unicode.IsControl(r):
			return -1
		}
		return r
	}, s)
	return strings.Join(strings.Fields(s), " ")
}

// maxRetryAfter bounds what a receiver can ask for; beyond it the delivery would outlive the
// retry policy's max_age anyway.
const maxRetryAfter = 24 * time.Hour

// parseRetryAfter reads Retry-After as seconds or as an HTTP date; anything else is no wish.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs > int64(maxRetryAfter/time.Second) {
			return maxRetryAfter
		}
		d = time.Duration(secs) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now).Round(time.Second)
	}
	return max(0, min(d, maxRetryAfter))
}

// Close refuses new deliveries, waits for those in flight, then closes the kept-alive
// connections.
func (h *httpAdapter) Close() error {
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
	h.inflight.Wait()
	h.transport.CloseIdleConnections()
	return nil
}
