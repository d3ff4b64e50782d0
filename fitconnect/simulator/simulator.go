// Package simulator is a strict, in-process simulator of the FIT-Connect delivery service
// ("Zustelldienst", Submission API v1, OpenAPI 1.1.3) of FITKO.
//
// It implements the OAuth2 client-credentials token endpoint, the subscriber endpoints
// (destinations, keys, submission pick-up, attachments, event log, posting accept/reject
// Security Event Tokens), the sender endpoints (create submission, upload attachments,
// submit), replies (the subscriber creates, uploads and submits them; the sender lists,
// fetches, accepts or rejects them) and the new-submissions callback with its HMAC-SHA512
// authentication. Everything is kept in memory.
//
// The simulator is an independent implementation of the public specification: it checks
// what the real service checks (key requirements, SET headers, signatures, claims,
// authentication tags, state transitions) and answers with precise application/problem+json
// errors, so that a subscriber tested against it fails loudly where the real service would
// refuse it. It never decrypts anything; JWEs are only checked for compact syntax and their
// authentication tags (the fifth segment) are compared.
//
// Tests use it like this:
//
//	srv, err := simulator.New(simulator.Config{Clients: …, Destinations: …})
//	ts := httptest.NewServer(srv.Handler())
//	defer ts.Close()
//	defer srv.Close()
//
// The token URL is ts.URL+"/token", the API base URL is ts.URL (paths /v1/…), the
// delivery service's keys are at ts.URL+"/.well-known/jwks.json".
package simulator

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/lestrrat-go/jwx/v3/jwk"
)

// Client roles.
const (
	RoleSubscriber = "subscriber"
	RoleSender     = "sender"
)

// Submission states as reported by [Server.State].
const (
	StateCreated   = "created"
	StateSubmitted = "submitted"
	StateAccepted  = "accepted"
	StateRejected  = "rejected"
)

// Event URIs of the FIT-Connect event catalogue used by the simulator. [Server.Decision]
// reports EventAccept or EventReject.
const (
	EventPrefix = "https://schema.fitko.de/fit-connect/events/"
	EventCreate = EventPrefix + "create-submission"
	EventSubmit = EventPrefix + "submit-submission"
	EventAccept = EventPrefix + "accept-submission"
	EventReject = EventPrefix + "reject-submission"
)

// Other URIs the simulator emits.
const (
	// SETSchema is the $schema claim of the SETs the simulator signs itself.
	SETSchema = "https://schema.fitko.de/fit-connect/set-payload/1.0.1/set-payload.schema.json"
	// CallbackNewSubmissions is the type of the callback sent when a submission was submitted.
	CallbackNewSubmissions = "https://schema.fitko.de/fit-connect/submission-api/callbacks/new-submissions"
	// ProblemTechnicalError is the problem type of the simulator's own (auto-)reject SETs.
	ProblemTechnicalError = "https://schema.fitko.de/fit-connect/events/problems/technical-error"
	// DefaultIssuer is the iss of the simulator's SETs when Config.Issuer is empty.
	DefaultIssuer = "http://fitconnect-simulator"
)

// Operation names for [Server.Requests], [Server.Fail] and [Server.Stall].
const (
	OpToken       = "token"       // POST /token
	OpList        = "list"        // GET /v1/submissions
	OpGet         = "get"         // GET /v1/submissions/{id}
	OpAttachment  = "attachment"  // GET /v1/submissions/{id}/attachments/{aid}
	OpEvent       = "event"       // POST /v1/cases/{caseId}/events
	OpEventLog    = "eventlog"    // GET /v1/cases/{caseId}/events
	OpJWKS        = "jwks"        // GET /.well-known/jwks.json
	OpDestination = "destination" // GET /v1/destinations/{id}
	OpKey         = "key"         // GET /v1/destinations/{id}/keys/{kid}
	OpInfo        = "info"        // GET /v1/info
	OpCreate      = "create"      // POST /v1/submissions
	OpUpload      = "upload"      // PUT /v1/submissions/{id}/attachments/{aid}
	OpSubmit      = "submit"      // PUT /v1/submissions/{id}
)

// Client is an OAuth2 client of the simulated service.
type Client struct {
	ID, Secret string
	// Role is RoleSubscriber or RoleSender.
	Role string
	// Destinations lists the destination ids the client may use. A subscriber needs at least
	// one; for a sender an empty list means all destinations.
	Destinations []string
}

// Service is an administrative service (Verwaltungsleistung) a destination accepts.
type Service struct {
	Identifier        string
	SubmissionSchemas []SchemaRef
	Regions           []string
}

// SchemaRef names a schema of the submission data (Fachdaten).
type SchemaRef struct {
	SchemaURI string `json:"schemaUri"`
	MimeType  string `json:"mimeType"`
}

// Destination is a Zustellpunkt of a subscriber.
type Destination struct {
	ID string
	// EncryptionKey is the public key senders encrypt for. Checked like the real service:
	// RSA, at least 4096 bit, e AQAB, kid of 8-64 characters, alg RSA-OAEP-256, key_ops
	// exactly ["wrapKey"], x5c with at least one certificate (the first one certifying this
	// key), no private part.
	EncryptionKey jwk.Key
	// SigningKey is the public key the subscriber's SETs are verified with. Same rules,
	// but alg PS512 and key_ops exactly ["verify"].
	SigningKey       jwk.Key
	Services         []Service
	MetadataVersions []string // e.g. ["1.0.0"]
	// CallbackURL, if set, receives the new-submissions callback, authenticated with
	// CallbackSecret (32-512 characters).
	CallbackURL, CallbackSecret string
}

// Config configures a simulator.
type Config struct {
	Clients      []Client
	Destinations []Destination
	// Issuer is the iss of the simulator's own SETs, normally its base URL.
	// Default DefaultIssuer.
	Issuer string
	// TokenTTL is how long access tokens are valid. Default 30 minutes.
	TokenTTL time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Logger receives one line per refused request and per state change. Default: discard.
	Logger *slog.Logger
	// HTTPClient sends callbacks. Default: a client with a 10 s timeout.
	HTTPClient *http.Client
}

// Server is a running simulator. It is safe for concurrent use.
type Server struct {
	issuer     string
	ttl        time.Duration
	now        func() time.Time
	log        *slog.Logger
	httpClient *http.Client

	clients map[string]*Client
	dests   map[string]*destination

	svc     *serviceKey
	handler http.Handler

	mu       sync.Mutex
	tokens   map[string]token
	subs     map[string]*submission
	deleted  map[string]bool
	cases    map[string]*caseRec
	jtis     map[string]bool
	seq      uint64
	requests map[string]int
	fails    map[string]*fault
	stalls   map[string]*fault
	losses   map[string]*fault
	replies  map[string]*reply
	closed   bool
	cbWG     sync.WaitGroup
}

type destination struct {
	Destination
	encKid, sigKid string
	encJSON        []byte // public JWK as served
	sigJSON        []byte
}

type token struct {
	client  string
	expires time.Time
}

type serviceType struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	Identifier  string `json:"identifier"`
}

type submission struct {
	id, caseID, destID string
	owner              string // client id of the sender
	serviceType        serviceType
	announced          []string
	attachments        map[string][]byte
	encMetadata        string
	encData            string
	state              string
	created, submitted time.Time
	submitSeq          uint64
	decisionEvent      string
	decisionPayload    json.RawMessage
}

type caseRec struct {
	id, destID string
	events     []string
	subs       []string
}

type fault struct {
	status     int
	delay      time.Duration
	retryAfter time.Duration
	n          int
}

// generateServiceKey creates the service's signing key; tests may replace it to avoid
// generating an RSA 4096 key per server.
var generateServiceKey = newServiceKey

var (
	uuidRE    = regexp.MustCompile(`^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$`)
	semverRE  = regexp.MustCompile(`^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$`)
	regionRE  = regexp.MustCompile(`^DE[0-9]{0,12}$`)
	serviceRE = regexp.MustCompile(`^urn:[a-z0-9][a-z0-9-]{0,31}:[a-z0-9()+,.:=@;$_!*'%/?#-]+$`)
)

// isUUID reports whether s is a UUID as the API's path and body ids are (32-36 characters,
// hex with optional dashes).
func isUUID(s string) bool {
	if !uuidRE.MatchString(s) {
		return false
	}
	_, err := uuid.Parse(s)
	return err == nil
}

// New validates cfg (clients, destinations and their keys) and returns a simulator with a
// freshly generated RSA 4096 signing key of its own.
func New(cfg Config) (*Server, error) {
	s := &Server{
		issuer:     cfg.Issuer,
		ttl:        cfg.TokenTTL,
		now:        cfg.Now,
		log:        cfg.Logger,
		httpClient: cfg.HTTPClient,
		clients:    map[string]*Client{},
		dests:      map[string]*destination{},
		tokens:     map[string]token{},
		subs:       map[string]*submission{},
		deleted:    map[string]bool{},
		cases:      map[string]*caseRec{},
		jtis:       map[string]bool{},
		requests:   map[string]int{},
		fails:      map[string]*fault{},
		stalls:     map[string]*fault{},
		losses:     map[string]*fault{},
		replies:    map[string]*reply{},
	}
	if s.issuer == "" {
		s.issuer = DefaultIssuer
	}
	if s.ttl == 0 {
		s.ttl = 30 * time.Minute
	}
	if s.ttl < 0 {
		return nil, fmt.Errorf("simulator: TokenTTL %v is negative", s.ttl)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.httpClient == nil {
		s.httpClient = &http.Client{Timeout: 10 * time.Second}
	}
	if len(cfg.Destinations) == 0 {
		return nil, errors.New("simulator: no destinations configured")
	}
	for i := range cfg.Destinations {
		d, err := checkDestination(cfg.Destinations[i])
		if err != nil {
			name := cfg.Destinations[i].ID
			if name == "" {
				name = fmt.Sprintf("#%d", i)
			}
			return nil, fmt.Errorf("simulator: destination %s: %w", name, err)
		}
		if _, dup := s.dests[d.ID]; dup {
			return nil, fmt.Errorf("simulator: destination %s is configured twice", d.ID)
		}
		s.dests[d.ID] = d
	}
	for i := range cfg.Clients {
		c := cfg.Clients[i]
		c.Destinations = slices.Clone(c.Destinations)
		name := c.ID
		if name == "" {
			name = fmt.Sprintf("#%d", i)
		}
		if err := s.checkClient(&c); err != nil {
			return nil, fmt.Errorf("simulator: client %s: %w", name, err)
		}
		if _, dup := s.clients[c.ID]; dup {
			return nil, fmt.Errorf("simulator: client %s is configured twice", c.ID)
		}
		s.clients[c.ID] = &c
	}
	svc, err := generateServiceKey()
	if err != nil {
		return nil, fmt.Errorf("simulator: service signing key: %w", err)
	}
	s.svc = svc
	s.handler = s.routes()
	return s, nil
}

func (s *Server) checkClient(c *Client) error {
	if c.ID == "" {
		return errors.New("id is empty")
	}
	if c.Secret == "" {
		return errors.New("secret is empty")
	}
	switch c.Role {
	case RoleSubscriber:
		if len(c.Destinations) == 0 {
			return errors.New("a subscriber needs at least one destination")
		}
	case RoleSender:
	default:
		return fmt.Errorf("role %q is neither %q nor %q", c.Role, RoleSubscriber, RoleSender)
	}
	for _, id := range c.Destinations {
		if _, ok := s.dests[id]; !ok {
			return fmt.Errorf("destination %s is not configured", id)
		}
	}
	return nil
}

func checkDestination(in Destination) (*destination, error) {
	d := &destination{Destination: in}
	d.Services = slices.Clone(in.Services)
	d.MetadataVersions = slices.Clone(in.MetadataVersions)
	if !isUUID(d.ID) {
		return nil, fmt.Errorf("id %q is not a UUID", d.ID)
	}
	var err error
	if d.encKid, d.encJSON, err = checkPublicKey(in.EncryptionKey, keyRule{alg: "RSA-OAEP-256", op: "wrapKey"}); err != nil {
		return nil, fmt.Errorf("encryption key: %w", err)
	}
	if d.sigKid, d.sigJSON, err = checkPublicKey(in.SigningKey, keyRule{alg: "PS512", op: "verify"}); err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	if d.encKid == d.sigKid {
		return nil, fmt.Errorf("encryption and signing key have the same kid %q", d.encKid)
	}
	if len(d.Services) == 0 {
		return nil, errors.New("no services: a destination needs at least one")
	}
	seen := map[string]bool{}
	for i, svc := range d.Services {
		if !serviceRE.MatchString(svc.Identifier) || len(svc.Identifier) < 7 || len(svc.Identifier) > 255 {
			return nil, fmt.Errorf("services[%d]: identifier %q is not a service URN (e.g. urn:de:fim:leika:leistung:99010003001006)", i, svc.Identifier)
		}
		if seen[svc.Identifier] {
			return nil, fmt.Errorf("services[%d]: identifier %q is listed twice", i, svc.Identifier)
		}
		seen[svc.Identifier] = true
		if len(svc.SubmissionSchemas) == 0 {
			return nil, fmt.Errorf("services[%d] (%s): no submission schemas", i, svc.Identifier)
		}
		for j, sch := range svc.SubmissionSchemas {
			if !isAbsURI(sch.SchemaURI) {
				return nil, fmt.Errorf("services[%d].submissionSchemas[%d]: schemaUri %q is not an absolute URI", i, j, sch.SchemaURI)
			}
			if sch.MimeType != "application/json" && sch.MimeType != "application/xml" {
				return nil, fmt.Errorf("services[%d].submissionSchemas[%d]: mimeType %q is neither application/json nor application/xml", i, j, sch.MimeType)
			}
		}
		if len(svc.Regions) == 0 {
			return nil, fmt.Errorf("services[%d] (%s): no regions", i, svc.Identifier)
		}
		for _, r := range svc.Regions {
			if !regionRE.MatchString(r) {
				return nil, fmt.Errorf("services[%d] (%s): region %q does not match ^DE[0-9]{0,12}$", i, svc.Identifier, r)
			}
		}
	}
	if len(d.MetadataVersions) == 0 {
		return nil, errors.New("no metadata versions: a destination needs at least one (e.g. 1.0.0)")
	}
	for _, v := range d.MetadataVersions {
		if !semverRE.MatchString(v) {
			return nil, fmt.Errorf("metadata version %q is not a semantic version like 1.0.0", v)
		}
	}
	if d.CallbackURL != "" {
		if !strings.HasPrefix(d.CallbackURL, "http://") && !strings.HasPrefix(d.CallbackURL, "https://") || !isAbsURI(d.CallbackURL) {
			return nil, fmt.Errorf("callback URL %q is not an absolute http(s) URL", d.CallbackURL)
		}
		if n := len(d.CallbackSecret); n < 32 || n > 512 {
			return nil, fmt.Errorf("callback secret has %d characters, FIT-Connect requires 32-512", n)
		}
	} else if d.CallbackSecret != "" {
		return nil, errors.New("callback secret given without a callback URL")
	}
	return d, nil
}

// Handler returns the whole API: /token, /v1/…, /.well-known/jwks.json.
func (s *Server) Handler() http.Handler { return s.handler }

// Close waits for the callbacks in flight; no new callbacks are sent afterwards.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cbWG.Wait()
}

// WaitCallbacks waits until all callbacks sent so far were delivered or given up.
func (s *Server) WaitCallbacks() {
	s.cbWG.Wait()
}

// ServiceKeys returns the public JWKS of the delivery service, as served at
// /.well-known/jwks.json.
func (s *Server) ServiceKeys() jwk.Set {
	set := jwk.NewSet()
	k, err := s.svc.public.Clone()
	if err == nil {
		_ = set.AddKey(k)
	}
	return set
}

// State returns the state of a submission: "", "created", "submitted", "accepted" or
// "rejected". Unknown and deleted submissions are "".
func (s *Server) State(submissionID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sub, ok := s.subs[submissionID]; ok {
		return sub.state
	}
	return ""
}

// Decision returns the event URI (EventAccept or EventReject) and the event payload of the
// accept or reject SET that decided the submission.
func (s *Server) Decision(submissionID string) (event string, payload json.RawMessage, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sub, found := s.subs[submissionID]
	if !found || sub.decisionEvent == "" {
		return "", nil, false
	}
	return sub.decisionEvent, slices.Clone(sub.decisionPayload), true
}

// EventCount returns the length of a case's event log (0 for unknown cases).
func (s *Server) EventCount(caseID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.cases[caseID]; ok {
		return len(c.events)
	}
	return 0
}

// Events returns a copy of a case's event log (compact SETs, oldest first).
func (s *Server) Events(caseID string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.cases[caseID]; ok {
		return slices.Clone(c.events)
	}
	return nil
}

// Requests returns how many requests of an operation (OpToken, OpList, …) arrived,
// including those answered by an injected fault.
func (s *Server) Requests(op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[op]
}

// Fail makes the next n requests of op be answered with status (and a problem+json body)
// instead of being handled. n < 0 applies until cleared; n == 0 clears.
func (s *Server) Fail(op string, status int, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n == 0 {
		delete(s.fails, op)
		return
	}
	s.fails[op] = &fault{status: status, n: n}
}

// FailRetryAfter is Fail with a Retry-After header (whole seconds) on the answers.
func (s *Server) FailRetryAfter(op string, status int, n int, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n == 0 {
		delete(s.fails, op)
		return
	}
	s.fails[op] = &fault{status: status, n: n, retryAfter: retryAfter}
}

// LoseAnswer makes the next n requests of op be handled in full, but answered with 502 Bad
// Gateway instead of their answer, as when a connection breaks or the client stops after the
// service acted. n < 0 applies until cleared; n == 0 clears.
func (s *Server) LoseAnswer(op string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n == 0 {
		delete(s.losses, op)
		return
	}
	s.losses[op] = &fault{status: http.StatusBadGateway, n: n}
}

// Stall makes the next n requests of op wait d before being handled (or until the request
// is cancelled). n < 0 applies until cleared; n == 0 clears.
func (s *Server) Stall(op string, d time.Duration, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n == 0 {
		delete(s.stalls, op)
		return
	}
	s.stalls[op] = &fault{delay: d, n: n}
}

// Delete lets a submission vanish, as if the service had deleted it: it is no longer
// listed, fetching it or its attachments gives 404 and State reports "". The case's event
// log stays.
func (s *Server) Delete(submissionID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.subs[submissionID]; ok {
		delete(s.subs, submissionID)
		s.deleted[submissionID] = true
		s.log.Info("fitconnect simulator: submission deleted", "submission", submissionID)
	}
}

// AutoReject rejects every submission that has been in state submitted for longer than
// olderThan, with a reject-submission SET signed by the service (like the real service does
// after 14 days). It returns how many submissions it rejected.
func (s *Server) AutoReject(olderThan time.Duration) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	var due []*submission
	for _, sub := range s.subs {
		if sub.state == StateSubmitted && now.Sub(sub.submitted) > olderThan {
			due = append(due, sub)
		}
	}
	slices.SortFunc(due, func(a, b *submission) int { return compareUint(a.submitSeq, b.submitSeq) })
	n := 0
	for _, sub := range due {
		payload := map[string]any{"problems": []map[string]string{{
			"type":     ProblemTechnicalError,
			"title":    "Zustellfrist abgelaufen",
			"detail":   fmt.Sprintf("Die Einreichung wurde nicht innerhalb von %v abgeholt und bestätigt und wurde daher automatisch zurückgewiesen.", olderThan),
			"instance": "submission",
		}}}
		set, raw, err := s.signSETLocked(sub, EventReject, payload)
		if err != nil {
			s.log.Error("fitconnect simulator: signing auto-reject SET", "submission", sub.id, "err", err)
			continue
		}
		s.cases[sub.caseID].events = append(s.cases[sub.caseID].events, set)
		sub.state = StateRejected
		sub.decisionEvent = EventReject
		sub.decisionPayload = raw
		n++
		s.log.Info("fitconnect simulator: submission auto-rejected", "submission", sub.id)
	}
	return n
}

func compareUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
