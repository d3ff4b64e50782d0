package fitconnect

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// CallbackPath is where FIT-Connect callbacks of a subscription arrive on the inbound listener;
// the URL registered at FITKO is https://<amtsbote>/fitconnect/<subscription>/callback.
func CallbackPath(subscription string) string { return "/fitconnect/" + subscription + "/callback" }

// CallbackHandler verifies callbacks and notes the submissions they announce; it answers 200 as
// soon as they are durably queued. A callback that does not verify is refused (401) with a log
// line saying why; polling finds its submissions anyway.
func (r *Receiver) CallbackHandler() http.Handler {
	verifiers := map[string]*CallbackVerifier{}
	for id, sub := range r.Subscriptions {
		verifiers[id] = &CallbackVerifier{Secrets: sub.CallbackSecrets, Now: r.Now}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /fitconnect/{subscription}/callback", func(w http.ResponseWriter, req *http.Request) {
		id := req.PathValue("subscription")
		sub, ok := r.Subscriptions[id]
		if !ok {
			http.Error(w, "no such FIT-Connect subscription", http.StatusNotFound)
			return
		}
		log := r.Logger.With("subscription", id, "remote", req.RemoteAddr)
		body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, 1<<20))
		if err != nil {
			r.Metrics.FitConnectErrors.WithLabelValues("callback").Inc()
			log.Warn("FIT-Connect callback refused: the body could not be read", "error", err)
			http.Error(w, "body too large or unreadable", http.StatusBadRequest)
			return
		}
		if err := verifiers[id].Verify(req.Header.Get(HeaderCallbackTimestamp), req.Header.Get(HeaderCallbackAuthentication), body); err != nil {
			r.Metrics.FitConnectErrors.WithLabelValues("callback").Inc()
			log.Warn("FIT-Connect callback refused", "reason", err)
			http.Error(w, "callback refused: "+err.Error(), http.StatusUnauthorized)
			return
		}
		var cb CallbackBody
		if err := json.Unmarshal(body, &cb); err != nil {
			log.Warn("FIT-Connect callback refused: the body is not the expected JSON", "error", err)
			http.Error(w, "not a callback body: "+err.Error(), http.StatusBadRequest)
			return
		}
		if cb.Type != CallbackNewSubmissions {
			// New events, new replies: nothing for intake; answer so FITKO does not retry.
			log.Info("FIT-Connect callback of another kind ignored", "type", cb.Type)
			w.WriteHeader(http.StatusOK)
			return
		}
		var refs []SubmissionRef
		for _, s := range cb.Submissions {
			if _, ok := sub.Destination(s.DestinationID); !ok {
				log.Warn("FIT-Connect callback names a destination this subscription does not have; ignored", "destination", s.DestinationID)
				continue
			}
			if !uuidLike(s.SubmissionID) {
				log.Warn("FIT-Connect callback names a submission id that is not a UUID; ignored", "submission", s.SubmissionID)
				continue
			}
			refs = append(refs, s)
		}
		if _, err := r.Note(req.Context(), sub, refs, "callback"); err != nil {
			log.Error("FIT-Connect callback could not be queued; polling will find its submissions", "error", err)
			http.Error(w, "could not queue the submissions", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	return mux
}

func uuidLike(s string) bool { return jtiRE.MatchString(s) }

// Poll polls every subscription's destinations on its poll interval until ctx ends: the fallback
// for callbacks that never came. On PostgreSQL one instance polls a subscription at a time.
func (r *Receiver) Poll(ctx context.Context) {
	var wg sync.WaitGroup
	for _, sub := range r.Subscriptions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTimer(0)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
				if _, err := r.PollOnce(ctx, sub); err != nil && ctx.Err() == nil {
					r.Logger.Warn("FIT-Connect poll failed; next poll as scheduled", "subscription", sub.Config.ID, "error", err)
				}
				t.Reset(sub.Config.PollInterval)
			}
		}()
	}
	wg.Wait()
}

// PollOnce lists the waiting submissions of a subscription's destinations and notes the new
// ones; it returns how many were new.
func (r *Receiver) PollOnce(ctx context.Context, sub *Subscription) (int, error) {
	total := 0
	var errs []error
	_, err := r.Store.Exclusive(ctx, "fitconnect-poll-"+sub.Config.ID, func() error {
		for _, d := range sub.Config.Destinations {
			refs, err := sub.Client.Waiting(ctx, d.ID)
			if err != nil {
				r.Metrics.FitConnectErrors.WithLabelValues(operation(err, "list")).Inc()
				errs = append(errs, err)
			}
			var mine []SubmissionRef
			for _, ref := range refs {
				if strings.EqualFold(ref.DestinationID, d.ID) && uuidLike(ref.SubmissionID) {
					mine = append(mine, ref)
				}
			}
			if len(mine) == 0 {
				continue
			}
			n, err := r.Note(ctx, sub, mine, "poll")
			if err != nil {
				errs = append(errs, fmt.Errorf("note the submissions of destination %s: %w", d.ID, err))
			}
			total += n
		}
		return nil
	})
	if err != nil {
		errs = append(errs, err)
	}
	return total, errors.Join(errs...)
}

// operation names a failed API call for the errors metric: a token failure, or op.
func operation(err error, op string) string {
	var ae *APIError
	if errors.As(err, &ae) && strings.HasPrefix(ae.Op, "get an access token") {
		return "token"
	}
	return op
}
