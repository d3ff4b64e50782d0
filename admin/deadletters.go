package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/amtsbote/amtsbote/pipeline"
	"github.com/amtsbote/amtsbote/store"
)

// DeadLetterQuery selects dead letters; zero fields select all.
type DeadLetterQuery struct {
	Destination string
	Route       string
	// Since selects the deliveries that died at or after this time.
	Since time.Time
}

// DeadLetters lists the dead letters the query selects, oldest first.
func (s *Server) DeadLetters(ctx context.Context, q DeadLetterQuery) ([]DeadLetterView, error) {
	all, err := s.Store.FindDeadLetters(ctx, store.DeadLetterFilter{Destination: q.Destination, Route: q.Route, Since: q.Since})
	if err != nil {
		return nil, err
	}
	out := make([]DeadLetterView, 0, len(all))
	for _, dl := range all {
		out = append(out, View(dl))
	}
	return out, nil
}

// ReplayDeadLetters delivers dead letters again (the same message, with fresh attempts),
// recording who asked in each submission's history and in the audit trail. It returns the
// deliveries it revived: keys that are not dead, or whose data retention deleted, are skipped.
func (s *Server) ReplayDeadLetters(ctx context.Context, who string, keys []pipeline.DeliveryKey) ([]pipeline.DeliveryKey, error) {
	revived, err := pipeline.Replay(ctx, s.Store, keys, who, s.Now())
	if err != nil {
		return nil, err
	}
	if revived == nil {
		revived = []pipeline.DeliveryKey{}
	}
	s.Logger.Info("dead letters replayed", "count", len(revived), "asked", len(keys), "by", who)
	return revived, nil
}

// FailedSubmissionView is a failed submission as a list shows it.
type FailedSubmissionView struct {
	ID        string    `json:"id"`
	Reference string    `json:"reference"`
	Portal    string    `json:"portal"`
	Route     string    `json:"route"`
	FailedAt  time.Time `json:"failed_at"`
	// FailureType is the failing event's type, Failure the first line of its detail.
	FailureType string `json:"failure_type"`
	Failure     string `json:"failure"`
	Links       struct {
		Submission string `json:"submission"`
		Reprocess  string `json:"reprocess"`
	} `json:"links"`
}

// FailedSubmissions lists the failed submissions the filter selects whose data is still there
// (they can be reprocessed), oldest failure first.
func (s *Server) FailedSubmissions(ctx context.Context, f store.FailedFilter) ([]FailedSubmissionView, error) {
	list, err := s.Store.FailedSubmissionList(ctx, f)
	if err != nil {
		return nil, err
	}
	out := make([]FailedSubmissionView, 0, len(list))
	for _, fs := range list {
		v := FailedSubmissionView{ID: fs.ID, Reference: fs.Reference, Portal: fs.Portal, Route: fs.Route, FailedAt: fs.FailedAt,
			FailureType: fs.FailureType, Failure: fs.Failure}
		v.Links.Submission = "/v1/submissions/" + fs.ID
		v.Links.Reprocess = "/v1/submissions/" + fs.ID + "/reprocess"
		out = append(out, v)
	}
	return out, nil
}

// Reprocess routes, maps and validates failed submissions again with the configuration in
// force; the old failure stays in their history. It returns the ids it queued: submissions
// that are not failed, or whose data retention deleted, are skipped.
func (s *Server) Reprocess(ctx context.Context, who string, ids []string) ([]string, error) {
	queued, err := pipeline.Reprocess(ctx, s.Store, ids, who, s.Now())
	if err != nil {
		return nil, err
	}
	if queued == nil {
		queued = []string{}
	}
	s.Logger.Info("failed submissions reprocessed", "count", len(queued), "asked", len(ids), "by", who)
	return queued, nil
}

// failedList answers GET /v1/submissions/failed.
func (s *Server) failedList(w http.ResponseWriter, r *http.Request) {
	f, err := failedFilter(r)
	if err != nil {
		s.answerError(w, err)
		return
	}
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 10000 {
			s.answerError(w, badRequest("limit", "must be 1–10000"))
			return
		}
		f.Limit = n
	}
	out, err := s.FailedSubmissions(r.Context(), f)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"failed_submissions": out})
}

// failedFilter reads ?route= and ?since= (RFC 3339).
func failedFilter(r *http.Request) (store.FailedFilter, error) {
	q := r.URL.Query()
	f := store.FailedFilter{Route: q.Get("route")}
	var err error
	f.Since, err = sinceParam(r)
	return f, err
}

// deadLetterQuery reads ?destination=, ?route= and ?since= (RFC 3339).
func deadLetterQuery(r *http.Request) (DeadLetterQuery, error) {
	q := r.URL.Query()
	dq := DeadLetterQuery{Destination: q.Get("destination"), Route: q.Get("route")}
	var err error
	dq.Since, err = sinceParam(r)
	return dq, err
}

func sinceParam(r *http.Request) (time.Time, error) {
	v := r.URL.Query().Get("since")
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, badRequest("since", "must be an RFC 3339 time, e.g. 2026-12-01T18:00:00Z")
	}
	return t, nil
}

// MaxReplaySelection is how many dead letters one selection may name.
const MaxReplaySelection = 1000

// replaySelection reads a replay's JSON body {"items": [{"submission_id", "destination"}, …]};
// selected is false without a body.
func replaySelection(w http.ResponseWriter, r *http.Request) (keys []pipeline.DeliveryKey, selected bool, err error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return nil, false, &RequestError{Status: http.StatusRequestEntityTooLarge, Field: "body", Message: "the selection is larger than 1 MiB"}
	}
	if err != nil {
		return nil, false, badRequest("body", "cannot read the request: "+err.Error())
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, false, nil
	}
	var sel struct {
		Items []json.RawMessage `json:"items"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&sel); err != nil {
		return nil, false, badRequest("body", `not a selection {"items": [{"submission_id": "…", "destination": "…"}, …]}: `+err.Error())
	}
	if sel.Items == nil {
		return nil, false, badRequest("items", "missing: list the dead letters to replay")
	}
	if len(sel.Items) > MaxReplaySelection {
		return nil, false, badRequest("items", fmt.Sprintf("%d dead letters; a selection names at most %d (replay all of a destination without a body)", len(sel.Items), MaxReplaySelection))
	}
	for i, raw := range sel.Items {
		var k pipeline.DeliveryKey
		d := json.NewDecoder(bytes.NewReader(raw))
		d.DisallowUnknownFields()
		field := fmt.Sprintf("items[%d]", i)
		if err := d.Decode(&k); err != nil {
			return nil, false, badRequest(field, "not {\"submission_id\": \"…\", \"destination\": \"…\"}: "+err.Error())
		}
		switch {
		case k.SubmissionID == "":
			return nil, false, badRequest(field+".submission_id", "missing")
		case k.Destination == "":
			return nil, false, badRequest(field+".destination", "missing")
		}
		keys = append(keys, k)
	}
	return keys, true, nil
}

// skipped are the keys a replay did not revive.
func skipped(keys, revived []pipeline.DeliveryKey) []pipeline.DeliveryKey {
	done := map[pipeline.DeliveryKey]bool{}
	for _, k := range revived {
		done[k] = true
	}
	out := []pipeline.DeliveryKey{}
	for _, k := range keys {
		if !done[k] {
			out = append(out, k)
		}
	}
	return out
}
