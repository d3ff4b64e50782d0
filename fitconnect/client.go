package fitconnect

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
)

// Client speaks the Submission API (v1) as a subscriber, with an OAuth token from the client
// credentials, fetched when needed and kept until shortly before it expires.
type Client struct {
	// BaseURL is the Submission API's base URL; Version its version (v1).
	BaseURL, Version string
	// TokenURL, ClientID, ClientSecret and Scope are the OAuth client credentials.
	TokenURL, ClientID, ClientSecret, Scope string
	// HTTP sends the requests; it must not follow redirects (NewClient's does not).
	HTTP *http.Client
	// Now is the clock; default time.Now.
	Now func() time.Time

	mu      sync.Mutex
	token   string
	expires time.Time
	jwks    jwk.Set
}

// NewClient makes a client whose requests time out after timeout and follow no redirects: a
// redirect would carry the token elsewhere.
func NewClient(baseURL, version, tokenURL, clientID, clientSecret, scope string, timeout time.Duration) *Client {
	return &Client{
		BaseURL: strings.TrimRight(baseURL, "/"), Version: version, TokenURL: tokenURL,
		ClientID: clientID, ClientSecret: clientSecret, Scope: scope,
		HTTP: &http.Client{Timeout: timeout, CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		}},
	}
}

// APIError is an answer of the delivery service or the token endpoint that is not a success.
type APIError struct {
	Op     string // what was asked, e.g. "fetch submission 8f…"
	Status int
	Detail string // the problem's title and detail, or the start of the body
	// RetryAfter is the Retry-After the service asked for, if any.
	RetryAfter time.Duration
}

func (e *APIError) Error() string {
	msg := fmt.Sprintf("%s: HTTP %d", e.Op, e.Status)
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	return msg
}

// Temporary reports whether trying again later may succeed: server errors, 408 and 429.
func (e *APIError) Temporary() bool {
	return e.Status >= 500 || e.Status == http.StatusRequestTimeout || e.Status == http.StatusTooManyRequests
}

// StatusOf returns the HTTP status of an *APIError in err's chain, or 0.
func StatusOf(err error) int {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Status
	}
	return 0
}

// Temporary reports whether an error is worth retrying: network errors and timeouts, and
// temporary API errors. An answer that will not change (400, 403, 404, 422…) is not.
func Temporary(err error) bool {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Temporary() || ae.Status == http.StatusUnauthorized
	}
	return err != nil && !errors.Is(err, ErrTooLarge)
}

// ErrTooLarge is returned when an attachment is larger than the limit.
var ErrTooLarge = errors.New("larger than the limit")

func (c *Client) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// accessToken returns a valid token, fetching one if needed.
func (c *Client) accessToken(ctx context.Context) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.token != "" && c.now().Before(c.expires) {
		return c.token, nil
	}
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {c.ClientID}, "client_secret": {c.ClientSecret}}
	if c.Scope != "" {
		form.Set("scope", c.Scope)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.TokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return "", fmt.Errorf("get an access token: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		e := apiError("get an access token", resp, body)
		if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusBadRequest {
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
		return "", fmt.Errorf("get an access token: the answer has no access_token")
	}
	if tok.ExpiresIn <= 0 {
		tok.ExpiresIn = 300
	}
	// Renew a minute early (or at half the lifetime of short tokens): a request must not carry
	// a token that expires on the way.
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

// do sends an authorised request; a 401 drops the token and tries once more with a new one.
func (c *Client) do(ctx context.Context, op, method, path, contentType string, body []byte) (*http.Response, error) {
	for try := 0; ; try++ {
		token, err := c.accessToken(ctx)
		if err != nil {
			return nil, err
		}
		var rd io.Reader
		if body != nil {
			rd = bytes.NewReader(body)
		}
		req, err := http.NewRequestWithContext(ctx, method, c.url(path), rd)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Accept", "application/json, application/problem+json, application/jose")
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		resp, err := c.HTTP.Do(req)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		if resp.StatusCode == http.StatusUnauthorized && try == 0 {
			drain(resp)
			c.dropToken(token)
			continue
		}
		return resp, nil
	}
}

func (c *Client) url(path string) string {
	if strings.HasPrefix(path, "/.well-known/") {
		return c.BaseURL + path
	}
	return c.BaseURL + "/" + c.Version + path
}

func drain(resp *http.Response) {
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
}

func apiError(op string, resp *http.Response, body []byte) *APIError {
	e := &APIError{Op: op, Status: resp.StatusCode}
	var p struct {
		Title, Detail string
	}
	if json.Unmarshal(body, &p) == nil && (p.Title != "" || p.Detail != "") {
		e.Detail = strings.TrimSpace(p.Title + ": " + p.Detail)
		e.Detail = strings.Trim(e.Detail, ": ")
	} else {
		e.Detail = strings.Join(strings.Fields(string(body[:min(len(body), 200)])), " ")
	}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		e.RetryAfter = time.Duration(s) * time.Second
	}
	return e
}

// getJSON fetches a JSON document into v.
func (c *Client) getJSON(ctx context.Context, op, path string, v any) error {
	resp, err := c.do(ctx, op, http.MethodGet, path, "", nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if resp.StatusCode != http.StatusOK {
		return apiError(op, resp, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("%s: the answer is not the expected JSON: %v", op, err)
	}
	return nil
}

// SubmissionRef names a waiting submission.
type SubmissionRef struct {
	DestinationID string `json:"destinationId"`
	SubmissionID  string `json:"submissionId"`
	CaseID        string `json:"caseId"`
}

// SubmissionsPage is one page of the waiting submissions.
type SubmissionsPage struct {
	Count       int             `json:"count"`
	Offset      int             `json:"offset"`
	TotalCount  int             `json:"totalCount"`
	Submissions []SubmissionRef `json:"submissions"`
}

// PageLimit is the most submissions one list request asks for (the API's maximum).
const PageLimit = 500

// ListSubmissions lists one page of the submissions waiting for a destination.
func (c *Client) ListSubmissions(ctx context.Context, destinationID string, offset, limit int) (SubmissionsPage, error) {
	var p SubmissionsPage
	q := url.Values{"destinationId": {destinationID}, "offset": {strconv.Itoa(offset)}, "limit": {strconv.Itoa(limit)}}
	err := c.getJSON(ctx, "list submissions of destination "+destinationID, "/submissions?"+q.Encode(), &p)
	return p, err
}

// Waiting lists every submission waiting for a destination, page by page.
func (c *Client) Waiting(ctx context.Context, destinationID string) ([]SubmissionRef, error) {
	var all []SubmissionRef
	for offset := 0; ; {
		p, err := c.ListSubmissions(ctx, destinationID, offset, PageLimit)
		if err != nil {
			return all, err
		}
		all = append(all, p.Submissions...)
		offset += len(p.Submissions)
		if len(p.Submissions) == 0 || (p.TotalCount > 0 && offset >= p.TotalCount) || len(p.Submissions) < PageLimit {
			return all, nil
		}
	}
}

// ServiceType names the service a submission is for.
type ServiceType struct {
	Name        string `json:"name,omitempty"`
	Description string `json:"description,omitempty"`
	Identifier  string `json:"identifier"`
}

// Submission is a submission as the subscriber fetches it.
type Submission struct {
	DestinationID     string      `json:"destinationId"`
	SubmissionID      string      `json:"submissionId"`
	CaseID            string      `json:"caseId"`
	Attachments       []string    `json:"attachments"`
	ServiceType       ServiceType `json:"serviceType"`
	EncryptedMetadata string      `json:"encryptedMetadata,omitempty"`
	EncryptedData     string      `json:"encryptedData,omitempty"`
}

// Submission fetches a submission with its encrypted metadata and data.
func (c *Client) Submission(ctx context.Context, submissionID string) (Submission, error) {
	var s Submission
	err := c.getJSON(ctx, "fetch submission "+submissionID, "/submissions/"+url.PathEscape(submissionID), &s)
	return s, err
}

// Attachment streams an encrypted attachment (a JWE) into w, refusing more than limit bytes.
func (c *Client) Attachment(ctx context.Context, submissionID, attachmentID string, w io.Writer, limit int64) (int64, error) {
	op := fmt.Sprintf("fetch attachment %s of submission %s", attachmentID, submissionID)
	return c.download(ctx, op, "/submissions/"+url.PathEscape(submissionID)+"/attachments/"+url.PathEscape(attachmentID), w, limit)
}

// ReplyAttachment streams an encrypted attachment of a reply into w, as its sender fetches it.
func (c *Client) ReplyAttachment(ctx context.Context, replyID, attachmentID string, w io.Writer, limit int64) (int64, error) {
	op := fmt.Sprintf("fetch attachment %s of reply %s", attachmentID, replyID)
	return c.download(ctx, op, "/replies/"+url.PathEscape(replyID)+"/attachments/"+url.PathEscape(attachmentID), w, limit)
}

func (c *Client) download(ctx context.Context, op, path string, w io.Writer, limit int64) (int64, error) {
	resp, err := c.do(ctx, op, http.MethodGet, path, "", nil)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		return 0, apiError(op, resp, body)
	}
	if resp.ContentLength > limit {
		return 0, fmt.Errorf("%s: %d bytes: %w of %d bytes", op, resp.ContentLength, ErrTooLarge, limit)
	}
	n, err := io.Copy(w, io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return n, fmt.Errorf("%s: %w", op, err)
	}
	if n > limit {
		return n, fmt.Errorf("%s: %w of %d bytes", op, ErrTooLarge, limit)
	}
	return n, nil
}

// PostEvent sends a signed SET (a decision) for a case. A 409 — the submission has a decision
// already — comes back as an *APIError with Status 409.
func (c *Client) PostEvent(ctx context.Context, caseID, token string) error {
	op := "send the decision on case " + caseID
	resp, err := c.do(ctx, op, http.MethodPost, "/cases/"+url.PathEscape(caseID)+"/events", "application/jose", []byte(token))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode == http.StatusNoContent || resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusCreated {
		return nil
	}
	return apiError(op, resp, body)
}

// EventLog is a case's event log.
type EventLog struct {
	Count      int      `json:"count"`
	Offset     int      `json:"offset"`
	TotalCount int      `json:"totalCount"`
	EventLog   []string `json:"eventLog"`
}

// Events fetches a case's whole event log (SETs, oldest first), page by page.
func (c *Client) Events(ctx context.Context, caseID string) ([]string, error) {
	var all []string
	for offset := 0; ; {
		var p EventLog
		q := url.Values{"offset": {strconv.Itoa(offset)}, "limit": {strconv.Itoa(PageLimit)}}
		if err := c.getJSON(ctx, "fetch the event log of case "+caseID, "/cases/"+url.PathEscape(caseID)+"/events?"+q.Encode(), &p); err != nil {
			return all, err
		}
		all = append(all, p.EventLog...)
		offset += len(p.EventLog)
		if len(p.EventLog) == 0 || len(p.EventLog) < PageLimit || (p.TotalCount > 0 && offset >= p.TotalCount) {
			return all, nil
		}
	}
}

// ServiceKeys fetches the delivery service's public signing keys (its JWKS), once.
func (c *Client) ServiceKeys(ctx context.Context, refresh bool) (jwk.Set, error) {
	c.mu.Lock()
	cached := c.jwks
	c.mu.Unlock()
	if cached != nil && !refresh {
		return cached, nil
	}
	op := "fetch the delivery service's keys"
	body, err := c.getPublic(ctx, op, "/.well-known/jwks.json")
	if err != nil {
		return nil, err
	}
	set, err := jwk.Parse(body)
	if err != nil {
		return nil, fmt.Errorf("%s: not a JWK set: %v", op, err)
	}
	c.mu.Lock()
	c.jwks = set
	c.mu.Unlock()
	return set, nil
}

// ServiceKey returns the delivery service's signing key with the kid, fetching its keys again
// once if the kid is new (the service rotated its key); nil if it publishes no such key.
func (c *Client) ServiceKey(ctx context.Context, kid string) (jwk.Key, error) {
	for _, refresh := range []bool{false, true} {
		set, err := c.ServiceKeys(ctx, refresh)
		if err != nil {
			return nil, err
		}
		if k, ok := set.LookupKeyID(kid); ok {
			return k, nil
		}
	}
	return nil, nil
}

// Destination is the public part of a destination.
type Destination struct {
	DestinationID    string   `json:"destinationId"`
	Status           string   `json:"status"`
	EncryptionKid    string   `json:"encryptionKid"`
	MetadataVersions []string `json:"metadataVersions"`
	Services         []struct {
		Identifier        string             `json:"identifier"`
		SubmissionSchemas []SubmissionSchema `json:"submissionSchemas"`
		Regions           []string           `json:"regions"`
	} `json:"services"`
}

// Destination fetches a destination.
func (c *Client) Destination(ctx context.Context, id string) (Destination, error) {
	var d Destination
	err := c.getJSON(ctx, "fetch destination "+id, "/destinations/"+url.PathEscape(id), &d)
	return d, err
}

// Call sends an authorised request with an optional body and decodes a JSON answer into out
// (if not nil); any status but the wanted ones is an *APIError.
func (c *Client) Call(ctx context.Context, op, method, path, contentType string, body []byte, out any, want ...int) error {
	resp, err := c.do(ctx, op, method, path, contentType, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	ok := false
	for _, w := range want {
		ok = ok || resp.StatusCode == w
	}
	if !ok {
		return apiError(op, resp, raw)
	}
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("%s: the answer is not the expected JSON: %v", op, err)
		}
	}
	return nil
}

// PublicKey fetches a destination's public key by kid (no authorisation needed).
func (c *Client) PublicKey(ctx context.Context, destinationID, kid string) (jwk.Key, error) {
	op := fmt.Sprintf("fetch key %s of destination %s", kid, destinationID)
	body, err := c.getPublic(ctx, op, "/destinations/"+url.PathEscape(destinationID)+"/keys/"+url.PathEscape(kid))
	if err != nil {
		return nil, err
	}
	return parseJWK(body)
}

// getPublic fetches a public document (no token) of at most 1 MiB.
func (c *Client) getPublic(ctx context.Context, op, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url(path), nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, apiError(op, resp, body)
	}
	return body, nil
}
