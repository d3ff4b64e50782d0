package inbound

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/amtsbote/amtsbote/config"
	"github.com/amtsbote/amtsbote/metrics"
	"github.com/amtsbote/amtsbote/priority"
	"github.com/amtsbote/amtsbote/replies"
	"github.com/amtsbote/amtsbote/snapshot"
	"github.com/amtsbote/amtsbote/store"
)

// Server serves the inbound API.
type Server struct {
	Store *store.Store
	// Current returns the configuration snapshot in force, acquired; the caller releases it.
	Current func() *snapshot.Snapshot
	Logger  *slog.Logger
	// MaxBodyBytes limits request bodies (413 beyond).
	MaxBodyBytes int64
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Metrics counts accepted and refused submissions.
	Metrics *metrics.Metrics
	// Limits on one submission.
	MaxAttachments     int
	MaxAttachmentBytes int64
	MaxJSONDepth       int
	// Rate and Burst limit the requests of each portal (Rate 0: no limit).
	Rate  rate.Limit
	Burst int
	// SpoolDir receives large uploads while they are read (OpenSpool); "": the system's
	// temporary directory.
	SpoolDir string
	// Replies takes the replies of Fachverfahren (POST /v1/replies); nil: the endpoint is off.
	Replies *replies.Intake
	// Priority counts the submissions being handed in, so that the pipeline yields to a burst.
	Priority *priority.Intake

	draining atomic.Bool
	limitMu  sync.Mutex
	limiters map[string]*rate.Limiter
}

// NewServer builds the API for the configured portals.
func NewServer(cfg *config.Config, st *store.Store, current func() *snapshot.Snapshot, logger *slog.Logger) *Server {
	sc := cfg.Server
	return &Server{Store: st, Current: current, Logger: logger, MaxBodyBytes: sc.MaxBodyBytes, Now: time.Now,
		Metrics: metrics.New(nil, nil), MaxAttachments: sc.MaxAttachments, MaxAttachmentBytes: sc.MaxAttachmentBytes,
		MaxJSONDepth: sc.MaxJSONDepth, Rate: rate.Limit(sc.RatePerSecond), Burst: sc.RateBurst,
		limiters: map[string]*rate.Limiter{}}
}

// Handler returns the API's routes.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/submissions", s.authenticated(s.counted(s.postSubmission)))
	mux.HandleFunc("GET /v1/submissions/{id}", s.authenticated(s.getSubmission))
	mux.HandleFunc("GET /v1/submissions/{id}/replies", s.authenticated(s.getReplies))
	mux.HandleFunc("GET /v1/submissions/{id}/replies/{reply}/documents/{seq}", s.authenticated(s.getReplyDocument))
	if s.Replies != nil {
		mux.HandleFunc("POST /v1/replies", s.replyAuthenticated(s.postReply))
	}
	mux.HandleFunc("GET /openapi.yaml", serveOpenAPI)
	return s.refuseWhileDraining(mux)
}

// Drain makes every further request fail with 503, so that clients retry elsewhere or later
// while in-flight work finishes.
func (s *Server) Drain() { s.draining.Store(true) }

// Draining tells whether Drain was called.
func (s *Server) Draining() bool { return s.draining.Load() }

func (s *Server) refuseWhileDraining(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.draining.Load() {
			w.Header().Set("Connection", "close")
			w.Header().Set("Retry-After", "5")
			writeError(w, http.StatusServiceUnavailable, "amtsbote is shutting down; retry shortly", nil)
			return
		}
		next.ServeHTTP(w, r)
	})
}

type portalHandler func(w http.ResponseWriter, r *http.Request, portalID string)

// authenticated finds the portal by its bearer token — compared as SHA-256 hashes in constant
// time, over all portals, so timing reveals nothing about which portal nearly matched — or by
// the verified client certificate of a mutual-TLS connection.
func (s *Server) authenticated(next portalHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		token, hasToken := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		hasToken = hasToken && strings.TrimSpace(token) != ""
		cn := verifiedClientCN(r)
		if !hasToken && cn == "" {
			s.Metrics.SubmissionsRejected.WithLabelValues("", "unauthorized").Inc()
			w.Header().Set("WWW-Authenticate", `Bearer realm="amtsbote"`)
			writeError(w, http.StatusUnauthorized, "missing bearer token: send Authorization: Bearer <portal token>", nil)
			return
		}
		sum := sha256.Sum256([]byte(strings.TrimSpace(token)))
		found := ""
		snap := s.Current()
		for _, p := range snap.Config.Portals {
			hash, _ := hex.DecodeString(p.TokenSHA256) // checked by config.Validate
			if hasToken && len(hash) == 32 && subtle.ConstantTimeCompare(sum[:], hash) == 1 {
				found = p.ID
			}
			if !hasToken && p.ClientCertCN != "" && p.ClientCertCN == cn {
				found = p.ID
			}
		}
		snap.Release()
		if found == "" {
			s.Metrics.SubmissionsRejected.WithLabelValues("", "unauthorized").Inc()
			w.Header().Set("WWW-Authenticate", `Bearer realm="amtsbote", error="invalid_token"`)
			msg := "unknown portal token"
			if !hasToken {
				msg = "no portal has the client certificate " + cn
			}
			writeError(w, http.StatusUnauthorized, msg, nil)
			return
		}
		if wait := s.throttle(found); wait > 0 {
			s.Metrics.SubmissionsRejected.WithLabelValues(found, "rate_limited").Inc()
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
			writeError(w, http.StatusTooManyRequests, "too many requests from this portal; retry after the time in Retry-After", nil)
			return
		}
		next(w, r, found)
	}
}

// verifiedClientCN is the common name of a client certificate the TLS layer verified against
// server.client_ca_file, or "".
func verifiedClientCN(r *http.Request) string {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
		return ""
	}
	return r.TLS.VerifiedChains[0][0].Subject.CommonName
}

// throttle applies the portal's rate limit: 0 if the request may pass, else how long to wait.
func (s *Server) throttle(portal string) time.Duration {
	if s.Rate <= 0 {
		return 0
	}
	s.limitMu.Lock()
	lim, ok := s.limiters[portal]
	if !ok {
		lim = rate.NewLimiter(s.Rate, s.Burst)
		s.limiters[portal] = lim
	}
	s.limitMu.Unlock()
	res := lim.Reserve()
	if d := res.Delay(); d > 0 {
		res.Cancel()
		return d
	}
	return 0
}

// Problem names one thing wrong with a request.
type Problem struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

type errorBody struct {
	Error    string    `json:"error"`
	Problems []Problem `json:"problems,omitempty"`
}

func writeError(w http.ResponseWriter, status int, msg string, problems []Problem) {
	writeJSON(w, status, errorBody{Error: msg, Problems: problems})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func (s *Server) getSubmission(w http.ResponseWriter, r *http.Request, portalID string) {
	ctx := r.Context()
	id := r.PathValue("id")
	// One state of the store: a status, history and deliveries that agree (and on SQLite one
	// read transaction instead of three).
	reads, err := s.Store.BeginReads(ctx)
	if err != nil {
		s.internalError(w, "read submission", err, "submission_id", id)
		return
	}
	defer reads.End()
	sub, err := reads.Submission(ctx, id)
	// Another portal's submission is answered exactly like a missing one.
	if errors.Is(err, store.ErrNotFound) || (err == nil && sub.Portal != portalID) {
		writeError(w, http.StatusNotFound, "submission not found", nil)
		return
	}
	if err != nil {
		s.internalError(w, "read submission", err, "submission_id", id)
		return
	}
	events, err := reads.Events(ctx, id)
	if err != nil {
		s.internalError(w, "read events", err, "submission_id", id)
		return
	}
	deliveries, err := reads.Deliveries(ctx, id)
	if err != nil {
		s.internalError(w, "read deliveries", err, "submission_id", id)
		return
	}
	reads.End() // before the answer is written to a client that may read it slowly
	writeJSON(w, http.StatusOK, statusView(sub, events, deliveries))
}

// storeUnavailable answers 503 when the store is broken (a failed sync to disk): nothing can be
// accepted until amtsbote is restarted.
func (s *Server) storeUnavailable(w http.ResponseWriter, what string, err error, args ...any) {
	s.Logger.Error(what+" failed: the store is broken, amtsbote must be restarted", append(args, "error", err)...)
	w.Header().Set("Retry-After", "30")
	writeError(w, http.StatusServiceUnavailable, "amtsbote cannot store submissions right now; the request was not accepted, retry later", nil)
}

func (s *Server) internalError(w http.ResponseWriter, what string, err error, args ...any) {
	s.Logger.Error(what+" failed", append(args, "error", err)...)
	writeError(w, http.StatusInternalServerError, "internal error; the request was not completed, it is safe to retry", nil)
}

type statusBody struct {
	ID         string         `json:"id"`
	Status     string         `json:"status"`
	Reference  string         `json:"reference"`
	Leistung   string         `json:"leistung"`
	AGS        string         `json:"ags"`
	ARS        string         `json:"ars,omitempty"`
	Route      string         `json:"route"`
	ReceivedAt time.Time      `json:"received_at"`
	UpdatedAt  time.Time      `json:"updated_at"`
	Deliveries []deliveryView `json:"deliveries"`
	Events     []eventView    `json:"events"`
	Links      links          `json:"links"`
}

type deliveryView struct {
	Destination   string     `json:"destination"`
	Status        string     `json:"status"`
	Attempts      int        `json:"attempts"`
	LastError     string     `json:"last_error,omitempty"`
	NextAttemptAt *time.Time `json:"next_attempt_at,omitempty"`
	UpdatedAt     time.Time  `json:"updated_at"`
}

type eventView struct {
	At          time.Time `json:"at"`
	Type        string    `json:"type"`
	Destination string    `json:"destination,omitempty"`
	Detail      string    `json:"detail,omitempty"`
}

type links struct {
	Self string `json:"self"`
}

func selfLink(id string) links { return links{Self: "/v1/submissions/" + id} }

// statusView is what a portal sees of its submission. It says what happened, not the internals
// behind it: no artefact paths or SFTP addresses, no receiver's error text (which names internal
// hosts and may quote the message); those are for operators (the admin API). What concerns the
// portal's own data — why it does not map or validate, which attachment looks odd — stays.
func statusView(sub store.Submission, events []store.Event, deliveries []store.Delivery) statusBody {
	b := statusBody{
		ID: sub.ID, Status: sub.Status, Reference: sub.Reference, Leistung: sub.Leistung, AGS: sub.AGS, ARS: sub.ARS,
		Route: sub.Route, ReceivedAt: sub.ReceivedAt, UpdatedAt: sub.UpdatedAt, Links: selfLink(sub.ID),
		Deliveries: []deliveryView{}, Events: []eventView{},
	}
	for _, d := range deliveries {
		v := deliveryView{Destination: d.Destination, Status: d.Status, Attempts: d.Attempts,
			LastError: portalError(d), UpdatedAt: d.UpdatedAt}
		if !d.NextAttemptAt.IsZero() {
			next := d.NextAttemptAt
			v.NextAttemptAt = &next
		}
		b.Deliveries = append(b.Deliveries, v)
	}
	for _, e := range events {
		v := eventView(e)
		if summary, ok := portalDetails[e.Type]; ok {
			v.Detail = summary
		}
		b.Events = append(b.Events, v)
	}
	return b
}

// portalDetails replace the details of events that carry internals (artefact paths, receivers'
// and transports' errors, operators' names) with a neutral summary.
var portalDetails = map[string]string{
	"delivered":          "",
	"delivery_failed":    "a delivery attempt failed; amtsbote tries again",
	"dead":               "the delivery failed for good; an operator can deliver it again",
	"rejected":           "the receiving system refused the message",
	"replayed":           "an operator started the delivery again",
	"processing_failed":  "an internal error stopped the processing; an operator has to look at it",
	"callback_failed":    "the status change could not be told to the portal",
	"attempt_superseded": "",
	// Replies to the applicant: their artefacts and errors may name the applicant's address.
	"reply_sent":               "a reply was sent to the applicant",
	"reply_failed":             "sending a reply failed; amtsbote tries again",
	"reply_dead":               "a reply could not be sent; an operator has to look at it",
	"reply_replayed":           "an operator started sending a reply again",
	"reply_attempt_superseded": "",
}

// portalError is the neutral summary of why a delivery is not (yet) delivered.
func portalError(d store.Delivery) string {
	if d.LastError == "" {
		return ""
	}
	switch d.Status {
	case store.DeliveryDead:
		return portalDetails["dead"]
	case store.DeliveryRejected:
		return portalDetails["rejected"]
	case store.DeliveryPending:
		return portalDetails["delivery_failed"]
	}
	return ""
}

func newID() string { return store.NewID() }

// counted counts an authenticated request as intake in flight (Priority) until it is answered.
func (s *Server) counted(h portalHandler) portalHandler {
	return func(w http.ResponseWriter, r *http.Request, portalID string) {
		defer s.Priority.Begin()()
		h(w, r, portalID)
	}
}
