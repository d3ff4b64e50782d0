// Package simulator is a strict, in-process test double of an E-Payment platform's
// XBezahldienste interface (version 1.0.0), written from FITKO's public API description.
//
// It serves what an online service and an authority use:
//
//	POST /paymenttransaction/{originatorId}/{endPointId}                  start a payment (PaymentRequest)
//	GET  /paymenttransaction/{originatorId}/{endPointId}/{transactionId}  read it (PaymentTransaction)
//	GET  /status/{originatorId}/{endPointId}                              is the mandant configured
//	POST /token                                                           OAuth 2.0 client credentials
//	GET  /paypage/{transactionId}                                         a pay page for trying it out
//
// It refuses what a platform refuses — missing or wrong credentials (401), an unknown
// originator or endpoint (403 NO_VALID_ORIGINATOR_OR_ENDPOINT), a client not allowed there
// (403 FORBIDDEN), an unknown transaction (404), a wrong content type (415) or Accept (406),
// malformed ids and requests (400 VALIDATION_ERROR, CALCULATION_ERROR), a repeated requestId
// (409 PAYMENT_EXISTS) — with application/problem+json bodies. Tests control it: transaction
// states (SetStatus, which also notifies the authority like a platform that can), faults
// (Fail, Stall, Malform) and what was asked (Reads). Everything is in memory.
//
// A control API for trying amtsbote out without Go is under /simulator/ (see Handler).
package simulator

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	json "github.com/go-json-experiment/json"
	"github.com/google/uuid"

	"github.com/amtsbote/amtsbote/payment"
)

// Config is what the simulated platform knows.
type Config struct {
	// BaseURL is the platform's own URL, for the transactionUrl and the pay page's URL it
	// hands out. Default: taken from each request's Host.
	BaseURL string
	// TokenTTL is how long an access token lives. Default: 5m.
	TokenTTL time.Duration
	// Clients may call the API.
	Clients []Client
	// Endpoints are the mandants: originator (online service) and endpoint (authority) pairs.
	Endpoints []Endpoint
	// Transactions exist from the start (for demos and tests that skip the payment request).
	Transactions []Transaction
	// Logger logs notifications sent; default: none.
	Logger *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Client is an API user.
type Client struct {
	// ID and Secret: HTTP Basic credentials, and the OAuth client credentials.
	ID, Secret string
	// CertCN lets a request authenticate with a verified client certificate of this common
	// name instead (the server must verify client certificates). Optional.
	CertCN string
	// Endpoints are the mandants the client may use, as "originatorId/endPointId".
	Endpoints []string
}

// Endpoint is a mandant, and where its payments' changes are notified.
type Endpoint struct {
	OriginatorID, EndpointID string
	// CallbackURL receives a signed notification (payment.SignNotification) of every status
	// change; CallbackSecret signs it. Optional.
	CallbackURL, CallbackSecret string
}

// Transaction is a payment as the simulator holds it.
type Transaction struct {
	ID, OriginatorID, EndpointID string
	Status                       payment.Status
	// Reference is the Kassenzeichen; PaymentMethod is set when paid.
	Reference, PaymentMethod, StatusDetail string
	PaidAt                                 time.Time
	Request                                *payment.Request
}

// Server is the simulated platform.
type Server struct {
	cfg      Config
	clients  map[string]Client
	mandants map[string]Endpoint // originator/endpoint → endpoint

	mu       sync.Mutex
	txs      map[string]*Transaction
	requests map[string]string // mandant + requestId → transaction id
	tokens   map[string]token
	faults   []fault
	reads    map[string]int
	serial   int
	closed   chan struct{}
}

type token struct {
	client  string
	expires time.Time
}

// fault changes the answer of the next API calls.
type fault struct {
	status    int           // answer this status
	stall     time.Duration // wait this long first
	malformed bool          // answer 200 with a body that is no PaymentTransaction
	left      int
}

var (
	pathID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,36}$`)
	txID   = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
)

// New checks the configuration and makes the simulator.
func New(cfg Config) (*Server, error) {
	if cfg.TokenTTL == 0 {
		cfg.TokenTTL = 5 * time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, clients: map[string]Client{}, mandants: map[string]Endpoint{}, txs: map[string]*Transaction{},
		requests: map[string]string{}, tokens: map[string]token{}, reads: map[string]int{}, closed: make(chan struct{})}
	for _, e := range cfg.Endpoints {
		if !pathID.MatchString(e.OriginatorID) || !pathID.MatchString(e.EndpointID) {
			return nil, fmt.Errorf("endpoint %s/%s: ids are 1 to 36 letters, digits, _ or -", e.OriginatorID, e.EndpointID)
		}
		if e.CallbackURL != "" && len(e.CallbackSecret) < 32 {
			return nil, fmt.Errorf("endpoint %s/%s: a callback needs a callback secret of at least 32 characters", e.OriginatorID, e.EndpointID)
		}
		s.mandants[e.OriginatorID+"/"+e.EndpointID] = e
	}
	for _, c := range cfg.Clients {
		if c.ID == "" || (c.Secret == "" && c.CertCN == "") {
			return nil, fmt.Errorf("client %q: needs an id and a secret or a certificate's common name", c.ID)
		}
		for _, m := range c.Endpoints {
			if _, ok := s.mandants[m]; !ok {
				return nil, fmt.Errorf("client %s: endpoint %q is not among the endpoints", c.ID, m)
			}
		}
		s.clients[c.ID] = c
	}
	for _, t := range cfg.Transactions {
		if !txID.MatchString(t.ID) {
			return nil, fmt.Errorf("transaction %q: 1 to 64 letters, digits, _ or -", t.ID)
		}
		if _, ok := s.mandants[t.OriginatorID+"/"+t.EndpointID]; !ok {
			return nil, fmt.Errorf("transaction %s: endpoint %s/%s is not among the endpoints", t.ID, t.OriginatorID, t.EndpointID)
		}
		if t.Status == "" {
			t.Status = payment.StatusInitial
		}
		if !t.Status.Valid() {
			return nil, fmt.Errorf("transaction %s: status %q is not one of INITIAL, PAYED, FAILED, CANCELED", t.ID, t.Status)
		}
		if t.Reference == "" {
			t.Reference = s.nextReference()
		}
		t := t
		s.txs[t.ID] = &t
	}
	return s, nil
}

// Close ends notifications in flight.
func (s *Server) Close() {
	select {
	case <-s.closed:
	default:
		close(s.closed)
	}
}

func (s *Server) nextReference() string {
	s.serial++
	return fmt.Sprintf("KZ-%06d", s.serial)
}

// AddTransaction makes a payment of a mandant in state INITIAL (as if an online service had
// started it) and returns it.
func (s *Server) AddTransaction(originatorID, endpointID, id string) (Transaction, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.mandants[originatorID+"/"+endpointID]; !ok {
		return Transaction{}, fmt.Errorf("endpoint %s/%s is not configured", originatorID, endpointID)
	}
	if id == "" {
		id = uuid.NewString()
	}
	if !txID.MatchString(id) {
		return Transaction{}, fmt.Errorf("transaction id %q: 1 to 64 letters, digits, _ or -", id)
	}
	if _, dup := s.txs[id]; dup {
		return Transaction{}, fmt.Errorf("transaction %s exists already", id)
	}
	t := &Transaction{ID: id, OriginatorID: originatorID, EndpointID: endpointID, Status: payment.StatusInitial, Reference: s.nextReference()}
	s.txs[id] = t
	return *t, nil
}

// Transaction returns a payment's state.
func (s *Server) Transaction(id string) (Transaction, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.txs[id]
	if !ok {
		return Transaction{}, false
	}
	return *t, true
}

// SetStatus changes a payment's state, as the payer's actions at the pay page do, and notifies
// the mandant's callback URL (if it has one) before it returns; the error is the
// notification's. method is the payment method of a PAYED transaction (default CREDITCARD).
func (s *Server) SetStatus(id string, status payment.Status, method string) error {
	if !status.Valid() {
		return fmt.Errorf("status %q is not one of INITIAL, PAYED, FAILED, CANCELED", status)
	}
	s.mu.Lock()
	t, ok := s.txs[id]
	if !ok {
		s.mu.Unlock()
		return fmt.Errorf("no transaction %s", id)
	}
	t.Status, t.PaymentMethod, t.StatusDetail, t.PaidAt = status, "", "", time.Time{}
	switch status {
	case payment.StatusPayed:
		if method == "" {
			method = "CREDITCARD"
		}
		t.PaymentMethod, t.PaidAt = method, s.cfg.Now()
	case payment.StatusFailed:
		t.StatusDetail = "payment refused by the payment service provider"
	}
	e := s.mandants[t.OriginatorID+"/"+t.EndpointID]
	body, _ := json.Marshal(payment.Notification{TransactionID: t.ID, Status: status})
	s.mu.Unlock()
	if e.CallbackURL == "" {
		return nil
	}
	return s.notify(e, body)
}

// notify POSTs a signed notification; a failure is returned (and logged), not retried.
func (s *Server) notify(e Endpoint, body []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go func() {
		select {
		case <-s.closed:
			cancel()
		case <-ctx.Done():
		}
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.CallbackURL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	for k, v := range payment.SignNotification([]byte(e.CallbackSecret), s.cfg.Now(), body) {
		req.Header[k] = v
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		s.cfg.Logger.Warn("notification failed", "url", e.CallbackURL, "error", err)
		return fmt.Errorf("notify %s: %w", e.CallbackURL, err)
	}
	defer res.Body.Close()
	if res.StatusCode/100 != 2 {
		s.cfg.Logger.Warn("notification refused", "url", e.CallbackURL, "status", res.Status)
		return fmt.Errorf("notify %s: %s", e.CallbackURL, res.Status)
	}
	s.cfg.Logger.Info("notification sent", "url", e.CallbackURL, "status", res.Status)
	return nil
}

// Fail makes the next n API calls answer status (e.g. 503) with a problem.
func (s *Server) Fail(n, status int) { s.addFault(fault{status: status, left: n}) }

// Stall makes the next n API calls wait d before they answer (a timeout for a client that
// gives up sooner).
func (s *Server) Stall(n int, d time.Duration) { s.addFault(fault{stall: d, left: n}) }

// Malform makes the next n API calls answer 200 with JSON that is no PaymentTransaction.
func (s *Server) Malform(n int) { s.addFault(fault{malformed: true, left: n}) }

func (s *Server) addFault(f fault) {
	s.mu.Lock()
	s.faults = append(s.faults, f)
	s.mu.Unlock()
}

// takeFault returns the fault the current call suffers, if any.
func (s *Server) takeFault() (fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.faults) > 0 {
		f := &s.faults[0]
		if f.left <= 0 {
			s.faults = s.faults[1:]
			continue
		}
		f.left--
		return *f, true
	}
	return fault{}, false
}

// Reads counts the GETs of a transaction (answered, failed or refused).
func (s *Server) Reads(id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reads[id]
}

// Handler serves the XBezahldienste interface, the token endpoint, the pay page and the
// control API:
//
//	GET  /simulator/transactions                 every transaction (JSON)
//	POST /simulator/transactions                 {"originatorId", "endPointId", "transactionId"?}: a new INITIAL one
//	POST /simulator/transactions/{id}/status     {"status": "PAYED", "paymentMethod"?}: change it and notify
//	POST /simulator/faults                       {"status": 503, "count": 2} | {"delay": "5s", "count": 1} | {"malformed": true, "count": 1}
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/paymenttransaction/", s.paymentTransaction)
	mux.HandleFunc("/status/", s.status)
	mux.HandleFunc("/token", s.token)
	mux.HandleFunc("/paypage/", s.paypage)
	mux.HandleFunc("/simulator/", s.control)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		problem(w, http.StatusNotFound, "", "no such resource: "+r.URL.Path)
	})
	return mux
}

// problem answers with an XBezahldienste problem document.
func problem(w http.ResponseWriter, status int, code, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	p := payment.Problem{Type: "about:blank", Status: status, Title: http.StatusText(status), Detail: detail, FunctionalCode: code}
	b, _ := json.Marshal(p)
	_, _ = w.Write(b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	b, _ := json.Marshal(v)
	_, _ = w.Write(b)
}

// acceptsJSON tells whether the Accept header (if any) allows a JSON answer.
func acceptsJSON(r *http.Request) bool {
	accept := r.Header.Values("Accept")
	if len(accept) == 0 {
		return true
	}
	for _, a := range accept {
		for _, part := range strings.Split(a, ",") {
			mt, _, _ := strings.Cut(strings.TrimSpace(part), ";")
			switch strings.ToLower(strings.TrimSpace(mt)) {
			case "*/*", "application/*", "application/json", "application/problem+json":
				return true
			}
		}
	}
	return false
}

// authenticate finds the client of a request: HTTP Basic, a bearer token from /token, or a
// verified client certificate. "" and an answer already written if none.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) string {
	h := r.Header.Get("Authorization")
	switch {
	case strings.HasPrefix(h, "Basic "):
		id, secret, ok := r.BasicAuth()
		if c, known := s.clients[id]; ok && known && c.Secret != "" && subtle.ConstantTimeCompare([]byte(secret), []byte(c.Secret)) == 1 {
			return id
		}
	case strings.HasPrefix(h, "Bearer "):
		s.mu.Lock()
		t, ok := s.tokens[strings.TrimPrefix(h, "Bearer ")]
		s.mu.Unlock()
		if ok && s.cfg.Now().Before(t.expires) {
			return t.client
		}
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		problem(w, http.StatusUnauthorized, payment.CodeForbidden, "the access token is unknown or expired")
		return ""
	case h == "" && r.TLS != nil && len(r.TLS.VerifiedChains) > 0:
		cn := r.TLS.VerifiedChains[0][0].Subject.CommonName
		for _, c := range s.clients {
			if c.CertCN != "" && c.CertCN == cn {
				return c.ID
			}
		}
	}
	w.Header().Set("WWW-Authenticate", `Basic realm="xbezahldienste"`)
	problem(w, http.StatusUnauthorized, payment.CodeForbidden, "missing or wrong credentials")
	return ""
}

// mandant checks the path's originator and endpoint and the client's right to them.
func (s *Server) mandant(w http.ResponseWriter, client, originator, endpoint string) (Endpoint, bool) {
	if !pathID.MatchString(originator) || !pathID.MatchString(endpoint) {
		problem(w, http.StatusBadRequest, payment.CodeValidationError, "originatorId and endPointId are 1 to 36 letters, digits, _ or -")
		return Endpoint{}, false
	}
	key := originator + "/" + endpoint
	e, ok := s.mandants[key]
	if !ok {
		problem(w, http.StatusForbidden, payment.CodeNoValidOriginatorOrEndpoint, "no mandant for this originatorId and endPointId")
		return Endpoint{}, false
	}
	if !slices.Contains(s.clients[client].Endpoints, key) {
		problem(w, http.StatusForbidden, payment.CodeForbidden, "the client may not use this mandant")
		return Endpoint{}, false
	}
	return e, true
}

// apiCall applies the common checks and faults of an API call; false if it answered.
func (s *Server) apiCall(w http.ResponseWriter, r *http.Request) (client string, ok bool) {
	if f, hit := s.takeFault(); hit {
		if f.stall > 0 {
			select {
			case <-time.After(f.stall):
			case <-r.Context().Done():
				return "", false
			case <-s.closed:
				return "", false
			}
		}
		if f.status != 0 {
			problem(w, f.status, payment.CodeUnspecified, "injected fault")
			return "", false
		}
		if f.malformed {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"paymentInformation": {"transactionId": "4711", "status": `))
			return "", false
		}
	}
	if !acceptsJSON(r) {
		problem(w, http.StatusNotAcceptable, payment.CodeValidationError, "the answer is application/json; Accept does not allow it")
		return "", false
	}
	client = s.authenticate(w, r)
	return client, client != ""
}

func (s *Server) paymentTransaction(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/paymenttransaction/"), "/")
	switch {
	case len(parts) == 2 && r.Method == http.MethodPost:
		s.startPayment(w, r, parts[0], parts[1])
	case len(parts) == 3 && r.Method == http.MethodGet:
		s.readPayment(w, r, parts[0], parts[1], parts[2])
	case len(parts) == 2:
		w.Header().Set("Allow", http.MethodPost)
		problem(w, http.StatusMethodNotAllowed, "", "a payment request is a POST")
	case len(parts) == 3:
		w.Header().Set("Allow", http.MethodGet)
		problem(w, http.StatusMethodNotAllowed, "", "a payment transaction is read with GET")
	default:
		problem(w, http.StatusNotFound, "", "no such resource: "+r.URL.Path)
	}
}

func (s *Server) readPayment(w http.ResponseWriter, r *http.Request, originator, endpoint, id string) {
	s.mu.Lock()
	s.reads[id]++
	s.mu.Unlock()
	client, ok := s.apiCall(w, r)
	if !ok {
		return
	}
	if _, ok := s.mandant(w, client, originator, endpoint); !ok {
		return
	}
	if !txID.MatchString(id) {
		problem(w, http.StatusBadRequest, payment.CodeValidationError, "transactionId is 1 to 64 letters, digits, _ or -")
		return
	}
	s.mu.Lock()
	t, found := s.txs[id]
	var view payment.Transaction
	if found && t.OriginatorID == originator && t.EndpointID == endpoint {
		view = s.view(r, t)
	} else {
		found = false
	}
	s.mu.Unlock()
	if !found {
		problem(w, http.StatusNotFound, "", "no payment transaction "+id+" for this mandant")
		return
	}
	writeJSON(w, http.StatusOK, view)
}

// view is a transaction as the API shows it: the pay page only while INITIAL, method and time
// only when paid.
func (s *Server) view(r *http.Request, t *Transaction) payment.Transaction {
	base := s.base(r)
	info := payment.Information{
		TransactionURL: base + "/paymenttransaction/" + t.OriginatorID + "/" + t.EndpointID + "/" + t.ID,
		TransactionID:  t.ID, TransactionReference: t.Reference, Status: t.Status, StatusDetail: t.StatusDetail,
	}
	if t.Status == payment.StatusInitial {
		info.TransactionRedirectURL = base + "/paypage/" + t.ID
	}
	if t.Status == payment.StatusPayed {
		info.PaymentMethod = t.PaymentMethod
		info.TransactionTimestamp = t.PaidAt.UTC().Format(time.RFC3339)
	}
	return payment.Transaction{Request: t.Request, Information: info}
}

func (s *Server) base(r *http.Request) string {
	if s.cfg.BaseURL != "" {
		return strings.TrimRight(s.cfg.BaseURL, "/")
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

var (
	purposePattern = regexp.MustCompile(`^[\p{L}\p{N}_\s-]+$`)
	descPattern    = regexp.MustCompile(`^[\p{L}\p{N}_\s\-,.\x{00C0}-\x{017F}]+$`)
)

func (s *Server) startPayment(w http.ResponseWriter, r *http.Request, originator, endpoint string) {
	client, ok := s.apiCall(w, r)
	if !ok {
		return
	}
	if _, ok := s.mandant(w, client, originator, endpoint); !ok {
		return
	}
	if mt, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";"); !strings.EqualFold(strings.TrimSpace(mt), "application/json") {
		problem(w, http.StatusUnsupportedMediaType, payment.CodeValidationError, "a PaymentRequest is application/json")
		return
	}
	var req payment.Request
	dec := http.MaxBytesReader(w, r.Body, 1<<20)
	if err := json.UnmarshalRead(dec, &req, json.RejectUnknownMembers(true)); err != nil {
		problem(w, http.StatusBadRequest, payment.CodeValidationError, "not a PaymentRequest: "+err.Error())
		return
	}
	if code, msg := checkRequest(req); code != "" {
		problem(w, http.StatusBadRequest, code, msg)
		return
	}
	s.mu.Lock()
	key := originator + "/" + endpoint + "/" + req.RequestID
	if _, dup := s.requests[key]; dup {
		s.mu.Unlock()
		problem(w, http.StatusConflict, payment.CodePaymentExists, "a payment request with this requestId exists already")
		return
	}
	t := &Transaction{ID: uuid.NewString(), OriginatorID: originator, EndpointID: endpoint, Status: payment.StatusInitial,
		Reference: s.nextReference(), Request: &req}
	s.txs[t.ID], s.requests[key] = t, t.ID
	view := s.view(r, t)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, view)
}

// checkRequest applies the API description's rules to a payment request.
func checkRequest(req payment.Request) (code, msg string) {
	switch {
	case !pathID.MatchString(req.RequestID):
		return payment.CodeValidationError, "requestId: 1 to 36 letters, digits, _ or -"
	case req.Currency != "EUR":
		return payment.CodeValidationError, "currency: only EUR is supported"
	case req.GrosAmount <= 0 || req.GrosAmount > 999999:
		return payment.CodeValidationError, "grosAmount: more than 0, at most 999999"
	case len([]rune(req.Purpose)) > 27 || (req.Purpose != "" && !purposePattern.MatchString(req.Purpose)):
		return payment.CodeValidationError, "purpose: at most 27 letters, digits, spaces and -"
	case len([]rune(req.Description)) > 250 || (req.Description != "" && !descPattern.MatchString(req.Description)):
		return payment.CodeValidationError, "description: at most 250 letters, digits, spaces and -,."
	case req.RedirectURL == "" || len(req.RedirectURL) > 2082:
		return payment.CodeValidationError, "redirectUrl: required, at most 2082 characters"
	case len(req.Items) < 1 || len(req.Items) > 99:
		return payment.CodeValidationError, "items: 1 to 99 positions"
	}
	if u, err := url.Parse(req.RedirectURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return payment.CodeValidationError, "redirectUrl: an absolute http(s) URL"
	}
	sum := 0.0
	for i, it := range req.Items {
		if !pathID.MatchString(it.ID) {
			return payment.CodeValidationError, fmt.Sprintf("items[%d].id: 1 to 36 letters, digits, _ or -", i)
		}
		sum += it.TotalNetAmount + it.TotalTaxAmount
	}
	if math.Abs(sum-req.GrosAmount) >= 0.005 {
		return payment.CodeCalculationError, fmt.Sprintf("grosAmount %.2f is not the sum of the items' totalNetAmount and totalTaxAmount (%.2f)", req.GrosAmount, sum)
	}
	return "", ""
}

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/status/"), "/")
	if len(parts) != 2 {
		problem(w, http.StatusNotFound, "", "no such resource: "+r.URL.Path)
		return
	}
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		problem(w, http.StatusMethodNotAllowed, "", "the status is read with GET")
		return
	}
	client, ok := s.apiCall(w, r)
	if !ok {
		return
	}
	if _, ok := s.mandant(w, client, parts[0], parts[1]); !ok {
		return
	}
	problem(w, http.StatusOK, "", "the mandant is configured")
}

// token is the OAuth 2.0 client-credentials endpoint (RFC 6749 4.4): the client authenticates
// with HTTP Basic or with client_id and client_secret in the form.
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	oauthError := func(status int, code, desc string) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(status)
		b, _ := json.Marshal(map[string]string{"error": code, "error_description": desc})
		_, _ = w.Write(b)
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		oauthError(http.StatusMethodNotAllowed, "invalid_request", "the token endpoint takes POST")
		return
	}
	if mt, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";"); !strings.EqualFold(strings.TrimSpace(mt), "application/x-www-form-urlencoded") {
		oauthError(http.StatusBadRequest, "invalid_request", "the body is application/x-www-form-urlencoded")
		return
	}
	if err := r.ParseForm(); err != nil {
		oauthError(http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	if gt := r.PostForm.Get("grant_type"); gt != "client_credentials" {
		oauthError(http.StatusBadRequest, "unsupported_grant_type", fmt.Sprintf("grant_type %q: only client_credentials", gt))
		return
	}
	id, secret, basic := r.BasicAuth()
	if basic {
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
	} else {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	c, ok := s.clients[id]
	if !ok || c.Secret == "" || subtle.ConstantTimeCompare([]byte(secret), []byte(c.Secret)) != 1 {
		oauthError(http.StatusUnauthorized, "invalid_client", "unknown client or wrong secret")
		return
	}
	tok := base64.RawURLEncoding.EncodeToString([]byte(uuid.NewString() + uuid.NewString()))
	s.mu.Lock()
	s.tokens[tok] = token{client: id, expires: s.cfg.Now().Add(s.cfg.TokenTTL)}
	s.mu.Unlock()
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": int(s.cfg.TokenTTL.Seconds())})
}
