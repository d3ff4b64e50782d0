// Package admin is the operators' HTTP API, on its own listener (loopback by default) with its
// own bearer token: dead letters — list, inspect with every attempt, replay — dead replies, and the
// replies of Fachverfahren that were filed instead of taken.
package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/amtsbote/amtsbote/config"
	"github.com/amtsbote/amtsbote/pipeline"
	"github.com/amtsbote/amtsbote/snapshot"
	"github.com/amtsbote/amtsbote/store"
)

// Server serves the admin API.
type Server struct {
	Store  *store.Store
	Logger *slog.Logger
	Now    func() time.Time
	// Ready reports why the daemon cannot serve, or nil.
	Ready func(ctx context.Context) error
	// Metrics serves /metrics.
	Metrics http.Handler
	// Runtime tells what only the running daemon knows: the configuration in force and the last
	// reload, and each destination's circuit. Nil outside a daemon (tests, the CLI).
	Runtime Runtime
	// UI is the operator console, served at / on the admin listener; nil: none.
	UI http.Handler
	// users may use the token-protected routes; none: those routes answer 403.
	users []adminUser
}

// Runtime is the running daemon as the admin API sees it.
type Runtime interface {
	// Status is the daemon's state now.
	Status() RuntimeStatus
	// Snapshot is the configuration in force, acquired: the caller calls release when done.
	Snapshot() (snap *snapshot.Snapshot, release func())
}

// RuntimeStatus is what the running daemon knows of itself.
type RuntimeStatus struct {
	// ConfigVersion identifies the configuration in force: a hash of its files' content.
	ConfigVersion string    `json:"config_version"`
	ConfigFile    string    `json:"config_file"`
	LoadedAt      time.Time `json:"loaded_at"`
	// Reloads counts reloads since the start; LastReload is the latest one (nil: none yet).
	ReloadsOK     int           `json:"reloads_ok"`
	ReloadsFailed int           `json:"reloads_failed"`
	LastReload    *ReloadResult `json:"last_reload,omitempty"`
	// Destinations are in configuration order.
	Destinations []DestinationStatus `json:"destinations"`
}

// ReloadResult is one configuration reload's outcome.
type ReloadResult struct {
	At    time.Time `json:"at"`
	OK    bool      `json:"ok"`
	Error string    `json:"error,omitempty"`
}

// DestinationStatus is a destination's circuit and the last error its transport reported.
type DestinationStatus struct {
	ID   string `json:"id"`
	Type string `json:"type"`
	// Circuit is closed (delivering), open (paused after failures) or half-open (one delivery
	// probes).
	Circuit     string     `json:"circuit"`
	LastError   string     `json:"last_error,omitempty"`
	LastErrorAt *time.Time `json:"last_error_at,omitempty"`
	// LastSuccessAt is when the transport last accepted a delivery (a success keeps LastError).
	LastSuccessAt *time.Time `json:"last_success_at,omitempty"`
}

// New builds the admin API for these users (config.Admin.AdminUsers).
func New(st *store.Store, users []config.AdminUser, log *slog.Logger) *Server {
	return &Server{Store: st, users: adminUsers(users), Logger: log, Now: time.Now}
}

// Handler returns the admin API's routes: health, readiness and metrics for monitoring, and
// — with the admin token — dead letters and pprof.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", s.ready)
	if s.Metrics != nil {
		mux.Handle("GET /metrics", s.Metrics)
	}
	mux.Handle("GET /v1/dead-letters", s.viewer(http.HandlerFunc(s.list)))
	mux.Handle("GET /v1/dead-letters/{submission}/{destination}", s.viewer(http.HandlerFunc(s.show)))
	mux.Handle("POST /v1/dead-letters/{submission}/{destination}/replay", s.operator(http.HandlerFunc(s.replayOne)))
	mux.Handle("POST /v1/dead-letters/replay", s.operator(http.HandlerFunc(s.replayAll)))
	mux.Handle("GET /v1/audit", s.viewer(http.HandlerFunc(s.audit)))
	mux.Handle("GET /v1/replies/dead", s.viewer(http.HandlerFunc(s.deadReplies)))
	mux.Handle("POST /v1/replies/{reply}/channels/{channel}/replay", s.operator(http.HandlerFunc(s.replayReply)))
	mux.Handle("GET /v1/overview", s.viewer(http.HandlerFunc(s.overview)))
	mux.Handle("GET /v1/submissions", s.viewer(http.HandlerFunc(s.search)))
	mux.Handle("GET /v1/submissions/{id}", s.viewer(http.HandlerFunc(s.submission)))
	mux.Handle("GET /v1/submissions/{id}/messages/{destination}", s.viewer(http.HandlerFunc(s.messageDownload)))
	mux.Handle("GET /v1/submissions/failed", s.viewer(http.HandlerFunc(s.failedList)))
	mux.Handle("GET /v1/runtime", s.viewer(http.HandlerFunc(s.runtimeStatus)))
	mux.Handle("GET /v1/config", s.viewer(http.HandlerFunc(s.configView)))
	mux.Handle("POST /v1/playground", s.viewer(http.HandlerFunc(s.playground)))
	mux.Handle("POST /v1/submissions/{id}/reprocess", s.operator(http.HandlerFunc(s.reprocessOne)))
	mux.Handle("POST /v1/submissions/reprocess", s.operator(http.HandlerFunc(s.reprocessFailed)))
	mux.Handle("GET /v1/replies/filed", s.viewer(http.HandlerFunc(s.filedReplies)))
	mux.Handle("GET /v1/replies/filed/{id}/content", s.viewer(http.HandlerFunc(s.filedReplyContent)))
	mux.Handle("GET /debug/pprof/", s.operator(http.HandlerFunc(pprof.Index)))
	mux.Handle("GET /debug/pprof/profile", s.operator(http.HandlerFunc(pprof.Profile)))
	mux.Handle("GET /debug/pprof/trace", s.operator(http.HandlerFunc(pprof.Trace)))
	mux.Handle("GET /debug/pprof/symbol", s.operator(http.HandlerFunc(pprof.Symbol)))
	if s.UI != nil {
		mux.Handle("/", s.ui())
	}
	return mux
}

// ui hands the console every path the API does not own; the API's own paths that match no route
// (an unknown /v1/ path, a wrong method) keep a JSON answer.
func (s *Server) ui() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch p := r.URL.Path; {
		case strings.HasPrefix(p, "/v1/") || strings.HasPrefix(p, "/debug/"):
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "no admin API route " + r.Method + " " + p})
		case p == "/healthz" || p == "/readyz" || p == "/metrics":
			w.Header().Set("Allow", "GET, HEAD")
			writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "only GET"})
		default:
			s.UI.ServeHTTP(w, r)
		}
	})
}

func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	if s.Ready != nil {
		if err := s.Ready(r.Context()); err != nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready", "reason": err.Error()})
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// DeadLetterView is a dead letter as the API and the CLI show it.
type DeadLetterView struct {
	SubmissionID string        `json:"submission_id"`
	Destination  string        `json:"destination"`
	MessageID    string        `json:"message_id"`
	MessageType  string        `json:"message_type"`
	Portal       string        `json:"portal"`
	Reference    string        `json:"reference"`
	Route        string        `json:"route"`
	Attempts     int           `json:"attempts"`
	LastError    string        `json:"last_error"`
	DeadSince    time.Time     `json:"dead_since"`
	History      []store.Event `json:"history,omitempty"`
}

// View turns a dead letter into its API form.
func View(dl store.DeadLetter) DeadLetterView {
	return DeadLetterView{SubmissionID: dl.SubmissionID, Destination: dl.Destination, MessageID: dl.MessageID,
		MessageType: dl.MessageType, Portal: dl.Portal, Reference: dl.Reference, Route: dl.Route,
		Attempts: dl.Attempts, LastError: dl.LastError, DeadSince: dl.UpdatedAt}
}

// Find returns one dead letter with the history of its destination: every attempt's time and error.
func Find(ctx context.Context, st *store.Store, submission, destination string) (*DeadLetterView, error) {
	all, err := st.DeadLetters(ctx, destination)
	if err != nil {
		return nil, err
	}
	for _, dl := range all {
		if dl.SubmissionID == submission {
			v := View(dl)
			events, err := st.Events(ctx, submission)
			if err != nil {
				return nil, err
			}
			for _, e := range events {
				if e.Destination == destination || e.Destination == "" {
					v.History = append(v.History, e)
				}
			}
			return &v, nil
		}
	}
	return nil, nil
}

// SubmissionView is a submission as operators see it: every delivery with its artefact and last
// error as the transport reported them, and every event's full detail (portals see neutral
// summaries).
type SubmissionView struct {
	ID         string           `json:"id"`
	Portal     string           `json:"portal"`
	Reference  string           `json:"reference"`
	Status     string           `json:"status"`
	Leistung   string           `json:"leistung"`
	AGS        string           `json:"ags"`
	ARS        string           `json:"ars,omitempty"`
	Route      string           `json:"route"`
	ReceivedAt time.Time        `json:"received_at"`
	UpdatedAt  time.Time        `json:"updated_at"`
	PurgedAt   *time.Time       `json:"purged_at,omitempty"`
	Deliveries []DeliveryDetail `json:"deliveries"`
	// ReplyDeliveries are the deliveries of the Fachverfahren's replies to the applicant, per
	// reply and channel.
	ReplyDeliveries []ReplyDeliveryDetail `json:"reply_deliveries"`
	Events          []EventDetail         `json:"events"`
	// Messages are the generated messages, each with the link that downloads it.
	Messages []MessageDetail `json:"messages"`
	// Receipts are the receiving systems' receipts matched to the submission, oldest first.
	Receipts []ReceiptDetail `json:"receipts"`
	// Failure is why the submission failed (only while it is failed).
	Failure *FailureDetail `json:"failure,omitempty"`
	// PurgedNote says what retention deleted, once it did.
	PurgedNote string `json:"purged_note,omitempty"`
}

// EventDetail is one step of a submission's history, with its full detail.
type EventDetail struct {
	At          time.Time `json:"at"`
	Type        string    `json:"type"`
	Destination string    `json:"destination,omitempty"`
	Detail      string    `json:"detail,omitempty"`
}

// DeliveryDetail is one delivery with what the transport reported.
type DeliveryDetail struct {
	Destination   string     `json:"destination"`
	Status        string     `json:"status"`
	Attempts      int        `json:"attempts"`
	LastError     string     `json:"last_error,omitempty"`
	NextAttemptAt *time.Time `json:"next_attempt_at,omitempty"`
	Artefact      string     `json:"artefact,omitempty"`
	// RemoteID is the id the receiving system gave the object (from its receipt).
	RemoteID  string    `json:"remote_id,omitempty"`
	UpdatedAt time.Time `json:"updated_at"`
}

// find loads the submission of the request's {id}; if there is none, it has answered.
func (s *Server) find(w http.ResponseWriter, r *http.Request) (store.Submission, bool) {
	sub, err := s.Store.Submission(r.Context(), r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no submission with this id"})
		return sub, false
	}
	if err != nil {
		s.fail(w, err)
		return sub, false
	}
	return sub, true
}

func (s *Server) submission(w http.ResponseWriter, r *http.Request) {
	sub, ok := s.find(w, r)
	if !ok {
		return
	}
	v, err := s.SubmissionDetail(r.Context(), sub)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// SubmissionDetail is everything operators see of a submission: its deliveries, reply
// deliveries and history.
func (s *Server) SubmissionDetail(ctx context.Context, sub store.Submission) (*SubmissionView, error) {
	id := sub.ID
	events, err := s.Store.Events(ctx, id)
	if err != nil {
		return nil, err
	}
	deliveries, err := s.Store.Deliveries(ctx, id)
	if err != nil {
		return nil, err
	}
	replyDeliveries, err := s.Store.SubmissionReplyDeliveries(ctx, id)
	if err != nil {
		return nil, err
	}
	v := &SubmissionView{ID: sub.ID, Portal: sub.Portal, Reference: sub.Reference, Status: sub.Status, Leistung: sub.Leistung,
		AGS: sub.AGS, ARS: sub.ARS, Route: sub.Route, ReceivedAt: sub.ReceivedAt, UpdatedAt: sub.UpdatedAt,
		Deliveries: []DeliveryDetail{}, ReplyDeliveries: replyDeliveryDetails(replyDeliveries), Events: []EventDetail{}}
	if !sub.PurgedAt.IsZero() {
		v.PurgedAt = &sub.PurgedAt
	}
	for _, e := range events {
		v.Events = append(v.Events, EventDetail(e))
	}
	for _, d := range deliveries {
		dd := DeliveryDetail{Destination: d.Destination, Status: d.Status, Attempts: d.Attempts, LastError: d.LastError,
			Artefact: d.Artefact, RemoteID: d.RemoteID, UpdatedAt: d.UpdatedAt}
		if !d.NextAttemptAt.IsZero() {
			next := d.NextAttemptAt
			dd.NextAttemptAt = &next
		}
		v.Deliveries = append(v.Deliveries, dd)
	}
	if err := s.extendDetail(ctx, sub, v, events); err != nil {
		return nil, err
	}
	return v, nil
}

func (s *Server) list(w http.ResponseWriter, r *http.Request) {
	q, err := deadLetterQuery(r)
	if err != nil {
		s.answerError(w, err)
		return
	}
	out, err := s.DeadLetters(r.Context(), q)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"dead_letters": out})
}

func (s *Server) show(w http.ResponseWriter, r *http.Request) {
	v, err := Find(r.Context(), s.Store, r.PathValue("submission"), r.PathValue("destination"))
	if err != nil {
		s.fail(w, err)
		return
	}
	if v == nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no dead letter for this submission and destination"})
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// replayAll replays the dead letters of a selection (a JSON body {"items": [...]}) or, without
// a body, all of them, or those ?destination=, ?route= and ?since= select.
func (s *Server) replayAll(w http.ResponseWriter, r *http.Request) {
	keys, selected, err := replaySelection(w, r)
	if err != nil {
		s.answerError(w, err)
		return
	}
	if !selected {
		q, err := deadLetterQuery(r)
		if err != nil {
			s.answerError(w, err)
			return
		}
		all, err := s.DeadLetters(r.Context(), q)
		if err != nil {
			s.fail(w, err)
			return
		}
		for _, dl := range all {
			keys = append(keys, pipeline.DeliveryKey{SubmissionID: dl.SubmissionID, Destination: dl.Destination})
		}
	}
	revived, err := s.ReplayDeadLetters(r.Context(), Actor(r), keys)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"replayed": revived, "skipped": skipped(keys, revived)})
}

func (s *Server) replayOne(w http.ResponseWriter, r *http.Request) {
	keys := []pipeline.DeliveryKey{{SubmissionID: r.PathValue("submission"), Destination: r.PathValue("destination")}}
	revived, err := s.ReplayDeadLetters(r.Context(), Actor(r), keys)
	if err != nil {
		s.fail(w, err)
		return
	}
	if len(revived) == 0 {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no dead letter for this submission and destination"})
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"replayed": revived})
}

func (s *Server) reprocessOne(w http.ResponseWriter, r *http.Request) {
	sub, ok := s.find(w, r)
	if !ok {
		return
	}
	if sub.Status != store.StatusFailed || !sub.PurgedAt.IsZero() {
		writeJSON(w, http.StatusConflict, map[string]string{"error": fmt.Sprintf(
			"the submission is %s, not failed (or retention purged its data): nothing to reprocess; dead deliveries are replayed", sub.Status)})
		return
	}
	s.reprocess(w, r, []string{sub.ID})
}

// reprocessFailed reprocesses every failed submission, or those of ?route=R that failed at or
// after ?since=RFC3339 (?status=failed is the default and the only status that can be reprocessed).
func (s *Server) reprocessFailed(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if st := q.Get("status"); st != "" && st != store.StatusFailed {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "status: only failed submissions can be reprocessed; dead deliveries are replayed (/v1/dead-letters/replay)"})
		return
	}
	f, err := failedFilter(r)
	if err != nil {
		s.answerError(w, err)
		return
	}
	ids, err := s.Store.FailedSubmissions(r.Context(), f)
	if err != nil {
		s.fail(w, err)
		return
	}
	s.reprocess(w, r, ids)
}

func (s *Server) reprocess(w http.ResponseWriter, r *http.Request, ids []string) {
	queued, err := s.Reprocess(r.Context(), Actor(r), ids)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"reprocessed": queued})
}

// FiledReplyView is a reply that was not taken, as operators see it: its content is a download
// of its own.
type FiledReplyView struct {
	ID         int64     `json:"id"`
	ReceivedAt time.Time `json:"received_at"`
	Via        string    `json:"via"`
	Source     string    `json:"source,omitempty"`
	Origin     string    `json:"origin,omitempty"`
	Outcome    string    `json:"outcome"`
	Detail     string    `json:"detail,omitempty"`
	Names      string    `json:"names,omitempty"`
	// ContentBytes is the size of what was kept (the manifest); 0: nothing.
	ContentBytes int `json:"content_bytes"`
	Links        struct {
		Content string `json:"content,omitempty"`
	} `json:"links"`
}

// filedReplies lists the replies that were filed instead of taken, newest first:
// ?outcome=unmatched|malformed|unauthorised|purged, ?limit=N (default 1000).
func (s *Server) filedReplies(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	outcome := q.Get("outcome")
	switch outcome {
	case "", store.FiledUnmatched, store.FiledMalformed, store.FiledUnauthorised, store.FiledPurged:
	default:
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "outcome must be unmatched, malformed, unauthorised or purged"})
		return
	}
	limit := 1000
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 10000 {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "limit must be 1–10000"})
			return
		}
		limit = n
	}
	filed, err := s.Store.FiledReplies(r.Context(), outcome, limit)
	if err != nil {
		s.fail(w, err)
		return
	}
	out := make([]FiledReplyView, 0, len(filed))
	for _, f := range filed {
		v := FiledReplyView{ID: f.ID, ReceivedAt: f.ReceivedAt, Via: f.Via, Source: f.Source, Origin: f.Origin,
			Outcome: f.Outcome, Detail: f.Detail, Names: f.Names, ContentBytes: len(f.Content)}
		if len(f.Content) > 0 {
			v.Links.Content = fmt.Sprintf("/v1/replies/filed/%d/content", f.ID)
		}
		out = append(out, v)
	}
	writeJSON(w, http.StatusOK, map[string]any{"filed_replies": out})
}

// filedReplyContent downloads what was kept of a filed reply (its manifest, bounded).
func (s *Server) filedReplyContent(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	var f store.FiledReply
	if err == nil {
		f, err = s.Store.FiledReply(r.Context(), id)
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) && !errors.Is(err, strconv.ErrSyntax) && !errors.Is(err, strconv.ErrRange) {
		s.fail(w, err)
		return
	}
	if err != nil || len(f.Content) == 0 {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no filed reply with content under this id (retention may have deleted it)"})
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="filed-reply-%d.json"`, f.ID))
	w.Header().Set("Content-Length", strconv.Itoa(len(f.Content)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(f.Content)
}

func (s *Server) fail(w http.ResponseWriter, err error) {
	s.Logger.Error("admin API", "error", err)
	writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "internal error; see the daemon's log"})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
