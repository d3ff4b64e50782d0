package fitconnect

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	wmsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/amtsbote/amtsbote/adapters"
	"github.com/amtsbote/amtsbote/config"
	"github.com/amtsbote/amtsbote/metrics"
	"github.com/amtsbote/amtsbote/pipeline"
	"github.com/amtsbote/amtsbote/routes"
	"github.com/amtsbote/amtsbote/snapshot"
	"github.com/amtsbote/amtsbote/store"
	"github.com/amtsbote/amtsbote/trust"
)

// Queues of FIT-Connect intake: submissions to fetch and check, decisions to send.
const (
	TopicFetch  = "fitconnect_fetch"
	TopicDecide = "fitconnect_decide"
)

// Receiver is amtsbote as a FIT-Connect subscriber. Callbacks and polls note new submissions
// in the inbox (one row per FIT-Connect submission, however often it is announced) and queue
// them; the fetch stage fetches, decrypts and checks each, stores an accepted one as an
// amtsbote submission — in the transaction that records the signed decision — and queues the
// decision; the decide stage sends it, again and again until the delivery service has it.
type Receiver struct {
	Store *store.Store
	// Subscriptions by id.
	Subscriptions map[string]*Subscription
	// Current returns the configuration snapshot in force, acquired (routes).
	Current func() *snapshot.Snapshot
	Logger  *slog.Logger
	Metrics *metrics.Metrics
	// TempDir holds downloaded attachments while a submission is checked.
	TempDir string
	// Now is the clock; default time.Now.
	Now func() time.Time

	keysMu sync.Mutex
}

func (r *Receiver) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// Stages are the receiver's queues and handlers, run by the pipeline.
func (r *Receiver) Stages() []pipeline.Stage {
	return []pipeline.Stage{
		{Name: "fitconnect-fetch", Topic: TopicFetch, Workers: 2, Handle: r.fetch, GiveUp: r.giveUp},
		{Name: "fitconnect-decide", Topic: TopicDecide, Workers: 2, Handle: r.decide, GiveUp: r.giveUp},
	}
}

// Note records submissions amtsbote learnt of (from a callback or a poll) and queues those it
// did not know for fetching; it returns how many were new. It commits durably before it
// returns: a callback is answered only once its submissions are safe.
func (r *Receiver) Note(ctx context.Context, sub *Subscription, refs []SubmissionRef, source string) (int, error) {
	now := r.now()
	var noted []string
	err := r.Store.InGroupTx(ctx, func(ctx context.Context, tx wmsql.Tx) error {
		noted = noted[:0]
		for _, ref := range refs {
			isNew, err := store.NoteInbox(ctx, tx, store.InboxEntry{SubmissionID: strings.ToLower(ref.SubmissionID),
				CaseID: ref.CaseID, Subscription: sub.Config.ID, DestinationID: strings.ToLower(ref.DestinationID), SeenAt: now})
			if err != nil {
				return err
			}
			if !isNew {
				continue
			}
			if err := pipeline.Publish(tx, TopicFetch, pipeline.NewWork(ctx, strings.ToLower(ref.SubmissionID), time.Time{})); err != nil {
				return err
			}
			noted = append(noted, ref.SubmissionID)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	for _, id := range noted {
		r.Logger.Info("FIT-Connect submission noted", "subscription", sub.Config.ID, "fitconnect_submission", id, "source", source)
	}
	return len(noted), nil
}

// fetch fetches, decrypts and checks one submission and decides on it.
func (r *Receiver) fetch(msg *message.Message, tx wmsql.Tx) error {
	ctx := msg.Context()
	id := string(msg.Payload)
	e, err := store.ReadInbox(ctx, tx, id)
	if errors.Is(err, store.ErrNotFound) {
		r.Logger.Error("queued FIT-Connect submission is not in the inbox; dropping the queue message", "fitconnect_submission", id)
		return nil
	}
	if err != nil {
		return err
	}
	if e.State != store.InboxNew {
		return nil // fetched before (a duplicate queue message)
	}
	log := r.Logger.With("fitconnect_submission", id, "subscription", e.Subscription, "destination", e.DestinationID)
	sub, dest, err := r.configured(e)
	if err != nil {
		return r.retry(ctx, tx, e, TopicFetch, "fetch", err, log)
	}
	api, err := sub.Client.Submission(ctx, id)
	if StatusOf(err) == http.StatusNotFound {
		log.Warn("FIT-Connect submission is gone from the delivery service (deleted, or decided elsewhere); nothing to decide")
		e.State, e.LastError, e.UpdatedAt = store.InboxGone, err.Error(), r.now()
		_, err := store.UpdateInbox(ctx, tx, e, store.InboxNew)
		return err
	}
	if err != nil {
		return r.retry(ctx, tx, e, TopicFetch, "fetch", err, log)
	}
	if !strings.EqualFold(api.DestinationID, e.DestinationID) {
		return r.retry(ctx, tx, e, TopicFetch, "fetch", fmt.Errorf("the delivery service says the submission is for destination %s, not %s", api.DestinationID, e.DestinationID), log)
	}
	e.CaseID = api.CaseID
	events, err := sub.Client.Events(ctx, api.CaseID)
	if err != nil {
		return r.retry(ctx, tx, e, TopicFetch, "events", err, log)
	}
	if t := SubmitTime(events, id); t > 0 {
		e.SubmittedAt = time.Unix(t, 0).UTC()
	}
	tags, tagProblem, err := SubmitTags(events, id, func(kid string) (jwk.Key, error) { return r.serviceKey(ctx, sub, kid) })
	if err != nil {
		return r.retry(ctx, tx, e, TopicFetch, "events", err, log)
	}
	checker := *sub.Checker
	checker.TempDir = r.TempDir
	rec, err := checker.Check(ctx, api, tags, tagProblem, func(ctx context.Context, aid string, w io.Writer, limit int64) (int64, error) {
		return sub.Client.Attachment(ctx, id, aid, w, limit)
	})
	if err != nil {
		return r.retry(ctx, tx, e, TopicFetch, "fetch", err, log)
	}
	defer rec.Close()
	if len(rec.UnknownKIDs) > 0 {
		// Encrypted for a key amtsbote lacks. If it is the destination's own current key, the
		// configuration misses it (a key rotation half done): not the sender's fault, so the
		// submission waits for the operator instead of being rejected.
		d, err := sub.Client.Destination(ctx, e.DestinationID)
		if err != nil {
			return r.retry(ctx, tx, e, TopicFetch, "fetch", err, log)
		}
		if slices.Contains(rec.UnknownKIDs, d.EncryptionKid) {
			return r.retry(ctx, tx, e, TopicFetch, "keys", fmt.Errorf("the submission is encrypted for the destination's current key %q, "+
				"which is not among decryption_keys: add its private key (docs/fitconnect.md, key rotation)", d.EncryptionKid), log)
		}
	}
	r.Metrics.FitConnectReceived.WithLabelValues(e.DestinationID).Inc()

	problems := rec.Problems
	now := r.now()
	// The amtsbote submission, made once a route takes it: checked, then stored if accepted.
	var made store.Submission
	var atts []store.Attachment
	if len(problems) == 0 {
		snap := r.Current()
		defer snap.Release()
		route, why := r.route(snap, sub, dest, rec)
		if route == nil {
			// amtsbote cannot place it: an operator must add a route. Not the citizen's fault,
			// so no reject; it waits (FITKO rejects it itself after 14 days) and says so.
			return r.retry(ctx, tx, e, TopicFetch, "route", errors.New(why), log)
		}
		if made, atts, err = newSubmission(sub, dest, route, e, rec, now); err != nil {
			return err
		}
		if ok, why := route.Admits(rec.Trust); !ok {
			problems = append(problems, Problem{Type: TrustLevelProblem, Title: "Vertrauensniveau zu niedrig",
				Detail: why, Instance: InstanceMetadata})
		} else if route.Schema != nil || route.CheckAtIntake {
			// The route's JSON Schema, and with check_at_intake a dry run of the mapping: what
			// would fail later is rejected now, as the portal intake refuses it.
			checked, err := pipeline.Check(made, atts, route, snap, r.now)
			if err != nil {
				return err
			}
			if len(checked) > 0 {
				problems = append(problems, checkProblem(checked))
			}
		}
	}
	var accepted string
	if len(problems) == 0 {
		if err := r.store(ctx, tx, sub, e, rec, made, atts, now); err != nil {
			return err
		}
		accepted = made.ID
	}
	set, err := NewDecision(e.DestinationID, id, e.CaseID, rec.Tags, problems, now)
	if err != nil {
		return err
	}
	token, err := Sign(sub.Signing, set)
	if err != nil {
		return err
	}
	e.State, e.SETToken, e.AmtsboteID, e.DecidedAt, e.UpdatedAt = store.InboxDeciding, token, accepted, now, now
	e.Attempts, e.LastError = 0, ""
	e.Decision = store.DecisionAccept
	if len(problems) > 0 {
		e.Decision = store.DecisionReject
		raw, _ := json.Marshal(problems)
		e.Problems = string(raw)
	}
	saved, err := store.UpdateInbox(ctx, tx, e, store.InboxNew)
	if err != nil {
		return err
	}
	if !saved {
		return fmt.Errorf("FIT-Connect submission %s was decided by another handler meanwhile", id)
	}
	if err := pipeline.Publish(tx, TopicDecide, pipeline.NewWork(ctx, id, time.Time{})); err != nil {
		return err
	}
	if len(problems) > 0 {
		names := make([]string, len(problems))
		for i, p := range problems {
			names[i] = p.String()
		}
		log.Info("FIT-Connect submission fails its checks; it will be rejected", "problems", strings.Join(names, "; "))
	} else {
		log.Info("FIT-Connect submission accepted into amtsbote", "submission_id", accepted, "route", made.Route,
			"attachments", len(rec.Attachments), "trust_level", rec.Trust)
	}
	return nil
}

// configured finds an inbox entry's subscription and destination in the configuration.
func (r *Receiver) configured(e store.InboxEntry) (*Subscription, config.FitConnectDestination, error) {
	sub, ok := r.Subscriptions[e.Subscription]
	if !ok {
		return nil, config.FitConnectDestination{}, fmt.Errorf("subscription %s is no longer configured (fitconnect.subscriptions)", e.Subscription)
	}
	dest, ok := sub.Destination(e.DestinationID)
	if !ok {
		return nil, config.FitConnectDestination{}, fmt.Errorf("destination %s is not configured for subscription %s", e.DestinationID, e.Subscription)
	}
	return sub, dest, nil
}

// serviceKey returns the delivery service's key with the kid, fetching its key set again once
// if the kid is new (the service rotated its key); nil if it publishes no such key.
func (r *Receiver) serviceKey(ctx context.Context, sub *Subscription, kid string) (jwk.Key, error) {
	r.keysMu.Lock()
	defer r.keysMu.Unlock()
	for _, refresh := range []bool{false, true} {
		set, err := sub.Client.ServiceKeys(ctx, refresh)
		if err != nil {
			return nil, err
		}
		if k, ok := set.LookupKeyID(kid); ok {
			return k, nil
		}
	}
	return nil, nil
}

// route finds the route of a checked submission: the destination's service mapping, else the
// routes' matching with the destination's AGS and ARS. It says why when there is none.
func (r *Receiver) route(snap *snapshot.Snapshot, sub *Subscription, dest config.FitConnectDestination, rec *Received) (*routes.Route, string) {
	for _, s := range dest.Services {
		if s.Leistung == rec.ServiceID || s.Leistung == rec.Leistung {
			if rt, ok := snap.Routes.Route(s.Route); ok {
				return rt, ""
			}
			return nil, fmt.Sprintf("route %q of service %s (destination %s) is not in the routes", s.Route, s.Leistung, dest.ID)
		}
	}
	var data any
	if rec.DataType == "application/json" {
		_ = json.Unmarshal(rec.Data, &data)
	}
	rt, ok := snap.Routes.Match(routes.Submission{Leistung: rec.Leistung, AGS: dest.AGS, ARS: dest.ARS, Portal: sub.Config.ID,
		Reference: reference(rec), Channel: store.ChannelFITConnect, TrustLevel: rec.Trust.String(), Data: data})
	if !ok {
		return nil, fmt.Sprintf("no route accepts service %s (leistung %q) for ags %s from %s; add one, or map the service in fitconnect destinations[].services",
			rec.ServiceID, rec.Leistung, dest.AGS, sub.Config.ID)
	}
	return rt, ""
}

func reference(rec *Received) string {
	if ref := rec.Metadata.AdditionalReferenceInfo; ref != nil && strings.TrimSpace(ref.SenderReference) != "" {
		return truncate(ref.SenderReference, 200)
	}
	return ""
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// newSubmission is a checked FIT-Connect submission as an amtsbote submission.
func newSubmission(sub *Subscription, dest config.FitConnectDestination, route *routes.Route,
	e store.InboxEntry, rec *Received, now time.Time) (store.Submission, []store.Attachment, error) {
	ref := reference(rec)
	if ref == "" {
		ref = e.CaseID
	}
	meta, err := json.Marshal(submissionMeta(sub, e, rec))
	if err != nil {
		return store.Submission{}, nil, err
	}
	data, dataType := rec.Data, rec.DataType
	if data == nil {
		data, dataType = []byte("{}"), "application/json" // attachments only
	}
	s := store.Submission{
		ID: newUUID(), Portal: sub.Config.ID, Reference: ref, Leistung: rec.Leistung, AGS: dest.AGS, ARS: dest.ARS,
		Route: route.ID, Status: store.StatusReceived, Data: data, IdempotencyKey: e.SubmissionID, ReceivedAt: now,
		Channel: store.ChannelFITConnect, DataType: dataType, TrustLevel: levelName(rec), Meta: meta,
	}
	atts := make([]store.Attachment, len(rec.Attachments))
	for i, a := range rec.Attachments {
		name := filename(a)
		atts[i] = store.Attachment{Seq: i, Filename: name, PackageName: adapters.PackageName(newUUID(), name), MediaType: a.MimeType,
			Title: title(a), Content: a.File, Format: a.Format.Name, FormatVersion: a.Format.Version, PDFA: a.Format.PDFA}
	}
	return s, atts, nil
}

// store makes the accepted submission an amtsbote submission in the fetch transaction.
func (r *Receiver) store(ctx context.Context, tx wmsql.Tx, sub *Subscription, e store.InboxEntry, rec *Received,
	s store.Submission, atts []store.Attachment, now time.Time) error {
	if err := store.InsertSubmission(ctx, tx, s, atts); err != nil {
		return err
	}
	detail := fmt.Sprintf("FIT-Connect submission %s (case %s, destination %s)", e.SubmissionID, e.CaseID, e.DestinationID)
	if rec.TrustNote != "" {
		detail += "; " + rec.TrustNote
	}
	if err := store.AddEvent(ctx, tx, s.ID, store.Event{At: now, Type: "fitconnect_received", Detail: detail}); err != nil {
		return err
	}
	if err := store.Audit(ctx, tx, store.AuditEntry{At: now, Actor: "fitconnect:" + sub.Config.ID, Action: "submit", Subject: s.ID,
		Detail: "FIT-Connect submission " + e.SubmissionID}); err != nil {
		return err
	}
	return pipeline.Publish(tx, pipeline.TopicSubmissions, pipeline.NewWork(ctx, s.ID, now))
}

// checkProblem is what a route's check at intake found, as one schema-violation of the data:
// FIT-Connect's catalogue has no finer type, and the detail names every field and rule.
func checkProblem(checked []pipeline.Problem) Problem {
	lines := make([]string, len(checked))
	for i, c := range checked {
		lines[i] = c.Message
		if c.Field != "" {
			lines[i] = c.Field + ": " + lines[i]
		}
		if c.Rule != "" {
			lines[i] += " (" + c.Rule + ")"
		}
	}
	return NewProblem("schema-violation", InstanceData, "the data would not make valid messages for the receiving authority: %s", strings.Join(lines, "; "))
}

func levelName(rec *Received) string {
	if rec.Trust == trust.None {
		return ""
	}
	return rec.Trust.String()
}

// submissionMeta is what routes and mappings see of a FIT-Connect submission besides its data
// (mapping: fitconnect.*).
func submissionMeta(sub *Subscription, e store.InboxEntry, rec *Received) map[string]any {
	md := rec.Metadata
	fc := map[string]any{
		"subscription": sub.Config.ID, "destination_id": e.DestinationID, "submission_id": e.SubmissionID, "case_id": e.CaseID,
		"service":         map[string]any{"identifier": rec.ServiceID, "name": serviceName(md)},
		"metadata_schema": metadataSchema(md), "trust_level": rec.Trust.String(),
	}
	if md.PaymentInformation != nil {
		fc["payment"] = md.PaymentInformation
	}
	if md.ReplyChannel != nil {
		fc["reply_channel"] = md.ReplyChannel
	}
	if ref := md.AdditionalReferenceInfo; ref != nil {
		fc["sender_reference"], fc["application_date"] = ref.SenderReference, ref.ApplicationDate
	}
	var auth []any
	for _, a := range md.AuthenticationInformation {
		auth = append(auth, map[string]any{"type": a.Type, "version": a.Version})
	}
	fc["authentication"] = auth
	var atts []any
	for _, a := range rec.Attachments {
		atts = append(atts, map[string]any{"attachment_id": a.AttachmentID, "purpose": a.Purpose, "filename": a.Filename,
			"media_type": a.MimeType, "description": a.Description})
	}
	fc["attachments"] = atts
	return map[string]any{"fitconnect": fc}
}

func serviceName(md Metadata) string {
	if md.PublicServiceType != nil {
		return md.PublicServiceType.Name
	}
	return ""
}

func metadataSchema(md Metadata) string {
	if md.Schema != "" {
		return md.Schema
	}
	return MetadataVersion1
}

// filename is an attachment's name: as the sender named it, else its id with an extension for
// its media type.
func filename(a ReceivedAttachment) string {
	if name := strings.TrimSpace(filepath.Base(a.Filename)); a.Filename != "" && name != "." && name != "/" {
		return a.Filename
	}
	ext := ""
	if exts, _ := mime.ExtensionsByType(a.MimeType); len(exts) > 0 {
		ext = exts[0]
		if slices.Contains(exts, ".pdf") {
			ext = ".pdf"
		}
	}
	return a.AttachmentID + ext
}

// title says what an attachment is: its description, or for the online service's rendering of
// the form, that.
func title(a ReceivedAttachment) string {
	switch {
	case a.Description != "":
		return truncate(a.Description, 500)
	case a.Purpose == "form":
		return "Antragsformular (vom Onlinedienst erzeugt)"
	case a.Purpose == "report":
		return "Nachgereichte Unterlage des Onlinedienstes"
	}
	return ""
}

// decide sends a stored decision until the delivery service has it. Accepting after delivery,
// an accept waits until every delivery of the submission succeeded.
func (r *Receiver) decide(msg *message.Message, tx wmsql.Tx) error {
	ctx := msg.Context()
	id := string(msg.Payload)
	e, err := store.ReadInbox(ctx, tx, id)
	if errors.Is(err, store.ErrNotFound) {
		r.Logger.Error("queued FIT-Connect decision is not in the inbox; dropping the queue message", "fitconnect_submission", id)
		return nil
	}
	if err != nil {
		return err
	}
	if e.State != store.InboxDeciding {
		return nil
	}
	log := r.Logger.With("fitconnect_submission", id, "subscription", e.Subscription, "destination", e.DestinationID,
		"decision", e.Decision)
	sub, _, err := r.configured(e)
	if err != nil {
		return r.retry(ctx, tx, e, TopicDecide, "decide", err, log)
	}
	if e.Decision == store.DecisionAccept && sub.Config.Accept == config.AcceptDelivered {
		s, err := r.Store.Submission(ctx, e.AmtsboteID)
		if err != nil {
			return err
		}
		if s.Status != store.StatusDelivered && s.Status != store.StatusAcknowledged {
			// Not yet (or failed: an operator's replay delivers it, then it is accepted).
			return pipeline.Publish(tx, TopicDecide, pipeline.NewWork(ctx, id, r.now().Add(min(sub.Config.PollInterval, 30*time.Second))))
		}
	}
	// The submission this accepts must be on disk before the delivery service hears of it.
	if err := r.Store.WaitDurable(); err != nil {
		return err
	}
	err = sub.Client.PostEvent(ctx, e.CaseID, e.SETToken)
	now := r.now()
	event := "fitconnect_" + e.Decision + "ed"
	detail := "the delivery service has the " + e.Decision + " decision"
	switch {
	case err == nil:
		log.Info("FIT-Connect decision sent")
		r.Metrics.FitConnectDecisions.WithLabelValues(e.DestinationID, e.Decision, problemNames(e.Problems)).Inc()
	case StatusOf(err) == http.StatusConflict:
		log.Warn("the delivery service has a decision on this submission already (409); recorded as decided", "error", err)
		event, detail = "fitconnect_already_decided", "the delivery service had a decision already (409): "+err.Error()
	case ctx.Err() != nil:
		return err // shutting down: the message stays queued
	default:
		// Refused: perhaps because the service has this very decision already (sent before a
		// crash, its answer lost) and takes a repeated jti for a replay. The event log says.
		if !Temporary(err) {
			if found, ours := decidedInLog(ctx, sub, e); found {
				if ours {
					log.Info("the delivery service has this decision already (sent before); recorded as decided", "answer", err)
				} else {
					log.Warn("the delivery service has another decision on this submission; recorded as decided", "answer", err)
					event, detail = "fitconnect_already_decided", "the delivery service had another decision already: "+err.Error()
				}
				break
			}
		}
		return r.retry(ctx, tx, e, TopicDecide, "decide", err, log)
	}
	e.State, e.SentAt, e.UpdatedAt, e.LastError = store.InboxDecided, now, now, ""
	if _, err := store.UpdateInbox(ctx, tx, e, store.InboxDeciding); err != nil {
		return err
	}
	if e.AmtsboteID != "" {
		return store.AddEvent(ctx, tx, e.AmtsboteID, store.Event{At: now, Type: event, Detail: detail})
	}
	return nil
}

// decidedInLog looks in the case's event log for a decision on the submission: this one (by
// its jti) or another (the service's own reject after 14 days, say).
func decidedInLog(ctx context.Context, sub *Subscription, e store.InboxEntry) (found, ours bool) {
	payload, err := unverifiedPayload(e.SETToken)
	if err != nil {
		return false, false
	}
	var mine SET
	if json.Unmarshal(payload, &mine) != nil {
		return false, false
	}
	events, err := sub.Client.Events(ctx, e.CaseID)
	if err != nil {
		return false, false
	}
	for _, token := range events {
		raw, err := unverifiedPayload(token)
		if err != nil {
			continue
		}
		var set SET
		if json.Unmarshal(raw, &set) != nil || set.Sub != "submission:"+e.SubmissionID {
			continue
		}
		if set.JTI == mine.JTI {
			return true, true
		}
		if _, ok := set.Events[EventAcceptSubmission]; ok {
			found = true
		}
		if _, ok := set.Events[EventRejectSubmission]; ok {
			found = true
		}
	}
	return found, false
}

func problemNames(raw string) string {
	var ps []Problem
	if json.Unmarshal([]byte(raw), &ps) != nil || len(ps) == 0 {
		return ""
	}
	names := make([]string, 0, len(ps))
	for _, p := range ps {
		if !slices.Contains(names, p.Name()) {
			names = append(names, p.Name())
		}
	}
	slices.Sort(names)
	return strings.Join(names, ",")
}

// retry records a failed try of a step and queues the next one after the subscription's
// backoff (or what the service asked for with Retry-After).
func (r *Receiver) retry(ctx context.Context, tx wmsql.Tx, e store.InboxEntry, topic, op string, cause error, log *slog.Logger) error {
	if ctx.Err() != nil {
		return cause // shutting down: the message stays queued as it is
	}
	r.Metrics.FitConnectErrors.WithLabelValues(operation(cause, op)).Inc()
	retry := config.Retry{InitialInterval: 10 * time.Second, MaxInterval: 15 * time.Minute, Multiplier: 2}
	if sub, ok := r.Subscriptions[e.Subscription]; ok {
		retry = sub.Config.Retry
	}
	if !Temporary(cause) && StatusOf(cause) != 0 {
		retry.InitialInterval = retry.MaxInterval // an answer that will not change soon: an operator must act
	}
	e.Attempts++
	wait := pipeline.Backoff(retry, e.Attempts)
	var ae *APIError
	if errors.As(cause, &ae) && ae.RetryAfter > wait {
		wait = ae.RetryAfter
	}
	next := r.now().Add(wait)
	e.LastError, e.UpdatedAt = cause.Error(), r.now()
	level := slog.LevelWarn
	if !Temporary(cause) || op == "route" || op == "keys" {
		level = slog.LevelError // an operator must act
	}
	log.Log(ctx, level, "FIT-Connect step failed, will retry", "step", op, "attempt", e.Attempts, "error", cause, "next_attempt_at", next.UTC().Format(time.RFC3339))
	if _, err := store.UpdateInbox(ctx, tx, e, e.State); err != nil {
		return err
	}
	return pipeline.Publish(tx, topic, pipeline.NewWork(ctx, e.SubmissionID, next))
}

// giveUp handles a queue message whose handler keeps failing with an internal error: it is
// tried again in an hour, so that nothing a citizen submitted is dropped.
func (r *Receiver) giveUp(msg *message.Message, tx wmsql.Tx, cause error) error {
	ctx := msg.Context()
	id := string(msg.Payload)
	e, err := store.ReadInbox(ctx, tx, id)
	if err != nil {
		return err
	}
	r.Logger.Error("FIT-Connect submission keeps failing; trying again in an hour", "fitconnect_submission", id, "error", cause)
	e.LastError, e.UpdatedAt = "internal error: "+cause.Error(), r.now()
	if _, err := store.UpdateInbox(ctx, tx, e, e.State); err != nil {
		return err
	}
	topic := TopicFetch
	if e.State == store.InboxDeciding {
		topic = TopicDecide
	}
	return pipeline.Publish(tx, topic, pipeline.NewWork(ctx, id, r.now().Add(time.Hour)))
}
