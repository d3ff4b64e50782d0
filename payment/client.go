package payment

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	json "github.com/go-json-experiment/json"
)

// Auth is how a client authenticates to a platform.
type Auth struct {
	// Type is basic, oauth2 or none (config.PaymentAuth*).
	Type string
	// Username and Password: HTTP Basic.
	Username, Password string
	// TokenURL, ClientID, ClientSecret, Scope: OAuth 2.0 client credentials.
	TokenURL, ClientID, ClientSecret, Scope string
}

// Options configure a Client.
type Options struct {
	// Provider names the platform in errors (payment.providers[].id).
	Provider string
	// BaseURL is the interface's base URL, up to and without /paymenttransaction.
	BaseURL string
	// OriginatorID and EndpointID are the path's originatorId and endPointId.
	OriginatorID, EndpointID string
	Auth                     Auth
	// Timeout bounds one request. Default: 30s.
	Timeout time.Duration
	// ClientCertFile and ClientKeyFile are a PEM client certificate and key (mutual TLS);
	// CAFile PEM CAs the platform's certificate is checked against. All optional.
	ClientCertFile, ClientKeyFile, CAFile string
	// Transport replaces the HTTP transport (tests). Optional.
	Transport http.RoundTripper
}

// Client reads (and starts) payment transactions at one platform for one originator and
// endpoint.
type Client struct {
	provider, base, originator, endpoint string
	auth                                 Auth
	http                                 *http.Client
	// Now is the clock of token expiry; default time.Now.
	Now func() time.Time

	mu      sync.Mutex
	token   string
	expires time.Time
}

// maxBody bounds an answer read into memory.
const maxBody = 1 << 20

// NewClient makes a client. It follows no redirects: a redirect would carry the credentials
// elsewhere.
func NewClient(o Options) (*Client, error) {
	u, err := url.Parse(o.BaseURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("payment provider %s: %q is not an http(s) URL", o.Provider, o.BaseURL)
	}
	for name, id := range map[string]string{"originator id": o.OriginatorID, "endpoint id": o.EndpointID} {
		if !idPattern.MatchString(id) || len(id) > 36 {
			return nil, fmt.Errorf("payment provider %s: %s %q must be 1 to 36 letters, digits, _ or -", o.Provider, name, id)
		}
	}
	switch o.Auth.Type {
	case "basic", "oauth2", "none":
	default:
		return nil, fmt.Errorf("payment provider %s: auth type %q: expected basic, oauth2 or none", o.Provider, o.Auth.Type)
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	transport := o.Transport
	if transport == nil {
		tc, err := tlsConfig(o)
		if err != nil {
			return nil, fmt.Errorf("payment provider %s: %w", o.Provider, err)
		}
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.TLSClientConfig = tc
		transport = t
	}
	return &Client{
		provider: o.Provider, base: strings.TrimRight(o.BaseURL, "/"), originator: o.OriginatorID, endpoint: o.EndpointID,
		auth: o.Auth,
		http: &http.Client{Timeout: o.Timeout, Transport: transport,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
	}, nil
}

// tlsConfig is TLS 1.2 or newer, with the client certificate and the CAs if configured.
func tlsConfig(o Options) (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if o.ClientCertFile != "" || o.ClientKeyFile != "" {
		cert, err := tls.LoadX509KeyPair(o.ClientCertFile, o.ClientKeyFile)
		if err != nil {
			return nil, fmt.Errorf("client certificate: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_file %s: no PEM certificates in it", o.CAFile)
		}
		c.RootCAs = pool
	}
	return c, nil
}

// Provider is the id the client was made for.
func (c *Client) Provider() string { return c.provider }

// Error is a failed call: the platform's answer that is not a success, or no usable answer.
type Error struct {
	// Op says what was asked, e.g. "read transaction 4711 at provider epay".
	Op string
	// Status is the HTTP status (0: no answer).
	Status int
	// Problem is the platform's problem document, if it sent one.
	Problem *Problem
	// Detail is the start of an answer that is no problem document.
	Detail string
	// RetryAfter is the wait the platform asked for, if any.
	RetryAfter time.Duration
	// Err is the cause without an answer (network, timeout) or with an unusable one (parse).
	Err error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Op)
	if e.Status != 0 {
		fmt.Fprintf(&b, ": HTTP %d", e.Status)
	}
	if e.Problem != nil {
		if s := e.Problem.String(); s != "" {
			b.WriteString(": " + s)
		}
	}
	if e.Detail != "" {
		b.WriteString(": " + e.Detail)
	}
	if e.Err != nil {
		b.WriteString(": " + e.Err.Error())
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Temporary tells whether asking again later may succeed: no answer, a timeout, 408, 429 or
// a server error.
func (e *Error) Temporary() bool {
	if e.Status == 0 {
		var pe *ParseError
		return !errors.As(e.Err, &pe)
	}
	return e.Status >= 500 || e.Status == http.StatusRequestTimeout || e.Status == http.StatusTooManyRequests
}

// ErrUnknownTransaction is the platform's answer that it has no such transaction (404).
var ErrUnknownTransaction = errors.New("the payment platform does not know this transaction")

// Temporary tells whether err is worth retrying soon (Error.Temporary).
func Temporary(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Temporary()
}

// Transaction reads a payment transaction: GET /paymenttransaction/{originatorId}/{endPointId}/
// {transactionId}. A transaction the platform does not know is ErrUnknownTransaction; an answer
// that is no valid PaymentTransaction, or one about another transaction, is an *Error with a
// *ParseError.
func (c *Client) Transaction(ctx context.Context, transactionID string) (*Transaction, error) {
	op := fmt.Sprintf("read transaction %s at payment provider %s", transactionID, c.provider)
	if !ValidTransactionID(transactionID) {
		return nil, &Error{Op: op, Err: &ParseError{Field: "transactionId", Msg: "must be 1 to 64 letters, digits, _ or -"}}
	}
	res, body, err := c.do(ctx, op, http.MethodGet, c.path(transactionID), nil)
	if err != nil {
		return nil, err
	}
	if res.StatusCode == http.StatusNotFound {
		e := failure(op, res, body)
		e.Err = ErrUnknownTransaction
		return nil, e
	}
	if res.StatusCode != http.StatusOK {
		return nil, failure(op, res, body)
	}
	if err := jsonAnswer(res); err != nil {
		return nil, &Error{Op: op, Status: res.StatusCode, Err: err}
	}
	tx, err := ParseTransaction(body)
	if err != nil {
		return nil, &Error{Op: op, Status: res.StatusCode, Err: err}
	}
	if tx.Information.TransactionID != transactionID {
		return nil, &Error{Op: op, Status: res.StatusCode, Err: &ParseError{Field: "paymentInformation.transactionId",
			Msg: fmt.Sprintf("%q is not the transaction asked for", truncate(tx.Information.TransactionID, 64))}}
	}
	return tx, nil
}

// Start makes a payment request, as an online service does: POST /paymenttransaction/
// {originatorId}/{endPointId}. The answer is the new transaction (INITIAL, with the pay page's
// URL).
func (c *Client) Start(ctx context.Context, req Request) (*Transaction, error) {
	op := fmt.Sprintf("start payment %s at payment provider %s", req.RequestID, c.provider)
	body, err := json.Marshal(req)
	if err != nil {
		return nil, &Error{Op: op, Err: err}
	}
	res, answer, err := c.do(ctx, op, http.MethodPost, c.path(""), body)
	if err != nil {
		return nil, err
	}
	if res.StatusCode != http.StatusOK && res.StatusCode != http.StatusCreated {
		return nil, failure(op, res, answer)
	}
	if err := jsonAnswer(res); err != nil {
		return nil, &Error{Op: op, Status: res.StatusCode, Err: err}
	}
	tx, err := ParseTransaction(answer)
	if err != nil {
		return nil, &Error{Op: op, Status: res.StatusCode, Err: err}
	}
	return tx, nil
}

// Ping asks the platform whether the originator and endpoint are configured there: GET
// /status/{originatorId}/{endPointId}.
func (c *Client) Ping(ctx context.Context) error {
	op := fmt.Sprintf("status of payment provider %s", c.provider)
	res, body, err := c.do(ctx, op, http.MethodGet, "/status/"+url.PathEscape(c.originator)+"/"+url.PathEscape(c.endpoint), nil)
	if err != nil {
		return err
	}
	if res.StatusCode != http.StatusOK {
		return failure(op, res, body)
	}
	return nil
}

func (c *Client) path(transactionID string) string {
	p := "/paymenttransaction/" + url.PathEscape(c.originator) + "/" + url.PathEscape(c.endpoint)
	if transactionID != "" {
		p += "/" + url.PathEscape(transactionID)
	}
	return p
}

// do sends an authenticated request and reads the answer (at most maxBody). With OAuth, a 401
// drops the token and tries once more with a new one.
func (c *Client) do(ctx context.Context, op, method, path string, body []byte) (*http.Response, []byte, error) {
	for try := 0; ; try++ {
		var rd io.Reader
		if body != nil {
			rd = bytes.NewReader(body)
		}
		req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
		if err != nil {
			return nil, nil, &Error{Op: op, Err: err}
		}
		req.Header.Set("Accept", "application/json, application/problem+json")
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		token := ""
		switch c.auth.Type {
		case "basic":
			req.SetBasicAuth(c.auth.Username, c.auth.Password)
		case "oauth2":
			if token, err = c.accessToken(ctx); err != nil {
				return nil, nil, err
			}
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := c.http.Do(req)
		if err != nil {
			return nil, nil, &Error{Op: op, Err: unwrapURLError(err)}
		}
		answer, err := io.ReadAll(io.LimitReader(res.Body, maxBody+1))
		res.Body.Close()
		if err != nil {
			return nil, nil, &Error{Op: op, Status: res.StatusCode, Err: fmt.Errorf("read the answer: %w", unwrapURLError(err))}
		}
		if len(answer) > maxBody {
			return nil, nil, &Error{Op: op, Status: res.StatusCode, Err: &ParseError{Msg: fmt.Sprintf("the answer is larger than %d bytes", maxBody)}}
		}
		if res.StatusCode == http.StatusUnauthorized && token != "" && try == 0 {
			c.dropToken(token)
			continue
		}
		return res, answer, nil
	}
}

// unwrapURLError drops net/http's "Get \"URL\":" prefix: the operation says what was asked.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		var ne net.Error
		if errors.As(ue.Err, &ne) && ne.Timeout() {
			return fmt.Errorf("no answer in time: %w", ue.Err)
		}
		return ue.Err
	}
	return err
}

// failure is the error of an answer that is not a success.
func failure(op string, res *http.Response, body []byte) *Error {
	e := &Error{Op: op, Status: res.StatusCode, Problem: ParseProblem(body)}
	if e.Problem == nil {
		e.Detail = truncate(strings.Join(strings.Fields(string(body)), " "), 200)
	}
	switch res.StatusCode {
	case http.StatusUnauthorized:
		e.Detail = strings.TrimSpace(e.Detail + " (check the provider's auth credentials)")
	case http.StatusForbidden:
		e.Detail = strings.TrimSpace(e.Detail + " (check originator_id, endpoint_id and the credentials' rights)")
	}
	if s := res.Header.Get("Retry-After"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n > 0 {
			e.RetryAfter = time.Duration(n) * time.Second
		} else if t, err := http.ParseTime(s); err == nil {
			e.RetryAfter = max(time.Until(t), 0)
		}
	}
	return e
}

// jsonAnswer checks that a success is JSON.
func jsonAnswer(res *http.Response) error {
	ct := res.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
		return &ParseError{Msg: fmt.Sprintf("Content-Type is %q, expected application/json", truncate(ct, 60))}
	}
	return nil
}

func (c *Client) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// accessToken returns a valid OAuth token, fetching one with the client credentials if needed.
func (c *Client) accessToken(ctx context.Context) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.token != "" && c.now().Before(c.expires) {
		return c.token, nil
	}
	op := fmt.Sprintf("get an access token for payment provider %s", c.provider)
	form := url.Values{"grant_type": {"client_credentials"}}
	if c.auth.Scope != "" {
		form.Set("scope", c.auth.Scope)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.auth.TokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", &Error{Op: op, Err: err}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	// RFC 6749 2.3.1: the client authenticates with HTTP Basic (form-encoded id and secret).
	req.SetBasicAuth(url.QueryEscape(c.auth.ClientID), url.QueryEscape(c.auth.ClientSecret))
	res, err := c.http.Do(req)
	if err != nil {
		return "", &Error{Op: op, Err: unwrapURLError(err)}
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	if res.StatusCode != http.StatusOK {
		e := failure(op, res, body)
		if res.StatusCode == http.StatusBadRequest || res.StatusCode == http.StatusUnauthorized {
			e.Detail = strings.TrimSpace(e.Detail + " (check client_id and client_secret)")
		}
		return "", e
	}
	var tok struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		ExpiresIn   int64  `json:"expires_in"`
	}
	if err := json.Unmarshal(body, &tok); err != nil || tok.AccessToken == "" {
		return "", &Error{Op: op, Status: res.StatusCode, Err: &ParseError{Msg: "the token answer has no access_token"}}
	}
	if tok.TokenType != "" && !strings.EqualFold(tok.TokenType, "bearer") {
		return "", &Error{Op: op, Status: res.StatusCode, Err: &ParseError{Msg: fmt.Sprintf("token_type %q: only bearer tokens are supported", truncate(tok.TokenType, 20))}}
	}
	if tok.ExpiresIn <= 0 {
		tok.ExpiresIn = 300
	}
	// Renewed a minute early (or at half the lifetime of short tokens): a request must not
	// carry a token that expires on the way.
	margin := min(time.Minute, time.Duration(tok.ExpiresIn)*time.Second/2)
	c.token, c.expires = tok.AccessToken, c.now().Add(time.Duration(tok.ExpiresIn)*time.Second-margin)
	return c.token, nil
}

func (c *Client) dropToken(token string) {
	c.mu.Lock()
	if c.token == token {
		c.token = ""
	}
	c.mu.Unlock()
}
