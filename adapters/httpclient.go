package adapters

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// HTTPClientOptions are the options every adapter that speaks HTTP shares: where, as whom, whom
// to trust, how long to wait. Embed them with `mapstructure:",squash"`, call Validate (or
// Client, which validates) when the adapter is built.
type HTTPClientOptions struct {
	// URL is the receiver's endpoint, https://; http:// only to a loopback address (localhost,
	// 127.0.0.0/8, ::1) or with AllowUnencryptedPersonalData. Required.
	URL string `mapstructure:"url"`
	// Headers are sent with every request, e.g. an API key. They cannot replace the headers
	// amtsbote sets itself (Content-Type, Idempotency-Key, X-Amtsbote-*, …). Default: none.
	Headers map[string]string `mapstructure:"headers"`
	// BasicUser and BasicPassword log in with HTTP Basic authentication. Default: none.
	BasicUser     string `mapstructure:"basic_user"`
	BasicPassword string `mapstructure:"basic_password"`
	// BearerToken is sent as "Authorization: Bearer <token>" (not together with Basic).
	// Default: none.
	BearerToken string `mapstructure:"bearer_token"`
	// CAFile is a PEM bundle of the CAs that may issue the server's certificate, used instead of
	// the system's. Default: the system's CAs.
	CAFile string `mapstructure:"ca_file"`
	// ClientCertFile and ClientKeyFile are the certificate and its key (PEM, the key without
	// passphrase) amtsbote shows to servers that require one (mutual TLS). Default: none.
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

// Validate sets the defaults and checks the options; it returns the parsed URL.
func (o *HTTPClientOptions) Validate() (*url.URL, error) {
	if o.Timeout == 0 {
		o.Timeout = 30 * time.Second
	}
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

// HTTPClient is one destination's HTTP client: one pool of kept-alive connections, the
// configured credentials and extra headers on every request, redirects never followed, and
// failures classified.
type HTTPClient struct {
	// URL is options.url; Target the same without credentials, for errors and artefacts.
	URL    *url.URL
	Target string
	name   string
	client *http.Client
	header http.Header
}

// Client validates the options, reads the TLS files now (so that a missing or broken file is a
// configuration error instead of a dead letter for every package) and builds the client. name
// (the adapter type) starts every error message.
func (o *HTTPClientOptions) Client(name string) (*HTTPClient, error) {
	u, err := o.Validate()
	if err != nil {
		return nil, err
	}
	tlsConfig, err := o.tlsConfig()
	if err != nil {
		return nil, err
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.TLSClientConfig = tlsConfig
	// max_in_flight allows up to 64 deliveries at once; each keeps its connection for the next.
	transport.MaxIdleConnsPerHost = 64
	c := &HTTPClient{URL: u, Target: u.Redacted(), name: name, header: http.Header{},
		client: &http.Client{Transport: transport, Timeout: o.Timeout, CheckRedirect: noRedirects}}
	c.header.Set("User-Agent", "amtsbote")
	for k, v := range o.Headers {
		c.header.Set(k, v)
	}
	switch {
	case o.BearerToken != "":
		c.header.Set("Authorization", "Bearer "+o.BearerToken)
	case o.BasicUser != "":
		c.header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(o.BasicUser+":"+o.BasicPassword)))
	}
	return c, nil
}

// NewRequest builds a request to target (a URL) with the credentials and configured headers.
func (c *HTTPClient) NewRequest(ctx context.Context, method, target string, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return nil, Permanent(fmt.Errorf("%s: %s: %w", c.name, c.Target, err))
	}
	for k, v := range c.header {
		req.Header[k] = v
	}
	return req, nil
}

// Do sends the request. A request that got no answer comes back as a classified error: the
// network is worth retrying, a server that cannot be trusted is a configuration to fix first.
// The caller closes the answer's body (Discard).
func (c *HTTPClient) Do(req *http.Request) (*http.Response, error) {
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, c.requestError(req, err)
	}
	return resp, nil
}

// Discard reads a little of the rest of an answer, so the connection can be reused, and closes it.
func Discard(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
}

// Close closes the kept-alive connections.
func (c *HTTPClient) Close() { c.client.CloseIdleConnections() }

// StatusError turns an answer that is not 2xx into an error: a redirect (never followed) and
// the statuses StatusTransient does not name are permanent, with hint saying what to do; the
// others transient, asking to wait Retry-After.
func (c *HTTPClient) StatusError(resp *http.Response, hint string) error {
	method, code := resp.Request.Method, resp.StatusCode
	if code >= 300 && code < 400 {
		// A configuration problem: every retry would be redirected the same way.
		return Permanent(fmt.Errorf("%s: %s %s: the receiver answered %s%s; amtsbote does not follow redirects: configure the final URL in options.url",
			c.name, method, c.Target, resp.Status, redirectTarget(resp)))
	}
	detail := ""
	if ex := bodyExcerpt(resp.Body); ex != "" {
		detail = ": " + ex
	}
	failure := fmt.Errorf("%s: %s %s answered %s%s", c.name, method, c.Target, resp.Status, detail)
	if StatusTransient(code) {
		return Transient(failure, ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now()))
	}
	return Permanent(fmt.Errorf("%w (%s)", failure, hint))
}

// StatusTransient tells whether an HTTP status is worth retrying: 408, 423 (a WebDAV lock,
// held for a while), 429 and 5xx.
func StatusTransient(code int) bool {
	return code == http.StatusRequestTimeout || code == http.StatusLocked || code == http.StatusTooManyRequests || code >= 500
}

// checkCleartext keeps personal data and credentials from crossing a network unencrypted.
// Loopback traffic never leaves the machine, so http:// to it stays allowed (a local gateway
// or a test server). Credentials are refused even with allow_unencrypted_personal_data: a
// protected network path is a claim about the packages' route, and a leaked token would let
// anyone on it act as amtsbote.
func (o *HTTPClientOptions) checkCleartext(u *url.URL) error {
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
func (o *HTTPClientOptions) credentialOption() string {
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

// noRedirects hands every redirect back to classify instead of following it. Following one
// would send the package, and the Authorization and options.headers with it, wherever the
// receiver points: another host or plain http://, past every check of options.url, while the
// artefact names options.url. (301, 302 and 303 would also turn the POST into a GET, whose 200
// would pass for a delivery.)
func noRedirects(*http.Request, []*http.Request) error {
	return http.ErrUseLastResponse
}

func (o *HTTPClientOptions) tlsConfig() (*tls.Config, error) {
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

// readCAFile loads options.ca_file .
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

// requestError classifies a request that got no answer: the network is worth retrying, a
// server that cannot be trusted is a configuration to fix first.
func (c *HTTPClient) requestError(req *http.Request, err error) error {
	if ctxErr := req.Context().Err(); ctxErr != nil {
		return fmt.Errorf("%s: %s %s: %w", c.name, req.Method, c.Target, ctxErr)
	}
	if isTLSVerifyError(err) {
		return Permanent(fmt.Errorf("%s: %w (the server's certificate is not trusted: set options.ca_file to the CA that issued it, or correct the host name in options.url)", c.name, err))
	}
	var recordErr tls.RecordHeaderError
	if errors.As(err, &recordErr) {
		return Permanent(fmt.Errorf("%s: %w (the server does not speak TLS there: check the scheme and port of options.url)", c.name, err))
	}
	if alert := tlsRemoteAlert(err); alert != "" {
		return Permanent(fmt.Errorf("%s: %w (the server refused the TLS handshake; if it requires a client certificate, set options.client_cert_file and options.client_key_file to one it accepts)", c.name, err))
	}
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return Transient(fmt.Errorf("%s: %w (no answer within options.timeout %s)", c.name, err, c.client.Timeout), 0)
	}
	return Transient(fmt.Errorf("%s: %w", c.name, err), 0)
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

// ParseRetryAfter reads an HTTP Retry-After header: Retry-After as seconds or as an HTTP date; anything else is no wish.
func ParseRetryAfter(v string, now time.Time) time.Duration {
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
