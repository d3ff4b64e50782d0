package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"sync"
	"time"

	wmsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/sony/gobreaker/v2"

	"github.com/amtsbote/amtsbote/adapters"
	"github.com/amtsbote/amtsbote/config"
	"github.com/amtsbote/amtsbote/routes"
	"github.com/amtsbote/amtsbote/schedule"
	"github.com/amtsbote/amtsbote/store"
)

// deliverer is the stage of one destination; its handlers (max_in_flight of them) share it.
type deliverer struct {
	p       *Pipeline
	dest    config.Destination
	adapter adapters.Adapter
	breaker *gobreaker.CircuitBreaker[string]
	window  *schedule.Schedule // nil: any time
	batch   *schedule.Schedule // nil: at once

	mu            sync.Mutex
	lastError     string    // the adapter's last error ("" if none since the start)
	lastErrorAt   time.Time // when it happened
	lastSuccessAt time.Time // the last delivery the adapter accepted
}

// DestinationState is what a destination's deliverer knows of its transport: its circuit
// breaker's state and the last error the adapter reported. A success keeps the last error
// (operators want to see what went wrong last) and sets LastSuccessAt.
type DestinationState struct {
	// Circuit is closed (delivering), open (paused after failures) or half-open (one delivery
	// probes).
	Circuit       string
	LastError     string
	LastErrorAt   time.Time
	LastSuccessAt time.Time
}

// DestinationStates is the state of each destination's transport, by destination id. The
// deliverers live as long as the pipeline: a reload keeps them (destinations change only with a
// restart), so the states survive reloads.
func (p *Pipeline) DestinationStates() map[string]DestinationState {
	out := make(map[string]DestinationState, len(p.deliverers))
	for id, d := range p.deliverers {
		out[id] = d.state()
	}
	return out
}

func (d *deliverer) state() DestinationState {
	d.mu.Lock()
	defer d.mu.Unlock()
	return DestinationState{Circuit: d.breaker.State().String(), LastError: d.lastError, LastErrorAt: d.lastErrorAt,
		LastSuccessAt: d.lastSuccessAt}
}

// record keeps the outcome of one call of the adapter.
func (d *deliverer) record(err error, at time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err == nil {
		d.lastSuccessAt = at
		return
	}
	d.lastError, d.lastErrorAt = err.Error(), at
}

// batchReleasedKey marks a queue message that a batch time has released for delivery.
const batchReleasedKey = "amtsbote_batch_released"

func newDeliverer(p *Pipeline, dest config.Destination, a adapters.Adapter) *deliverer {
	d := &deliverer{p: p, dest: dest, adapter: a}
	loc := p.Config.Location()
	d.window, _ = parseCron(dest.Window, loc) // checked by config.Validate
	d.batch, _ = parseCron(dest.Batch, loc)
	d.breaker = gobreaker.NewCircuitBreaker[string](gobreaker.Settings{
		Name:        dest.ID,
		MaxRequests: 1,
		Timeout:     dest.Breaker.Pause,
		ReadyToTrip: func(c gobreaker.Counts) bool { return int(c.ConsecutiveFailures) >= dest.Breaker.Failures },
		// A permanent error is the message's fault, not a sign the destination is down.
		IsSuccessful: func(err error) bool { return err == nil || adapters.IsPermanent(err) },
		OnStateChange: func(name string, from, to gobreaker.State) {
			p.Logger.Warn("circuit breaker", "destination", name, "from", from.String(), "to", to.String())
		},
	})
	return d
}

func parseCron(spec string, loc *time.Location) (*schedule.Schedule, error) {
	if spec == "" {
		return nil, nil
	}
	return schedule.Parse(spec, loc)
}

// hold tells whether a message must wait before delivery — for its batch time or for the
// destination's window — and until when.
func (d *deliverer) hold(msg *message.Message, now time.Time) (time.Time, string, bool) {
	if d.batch != nil && msg.Metadata.Get(batchReleasedKey) == "" {
		if at := d.batch.Next(now); !at.IsZero() { // never zero: config.Validate refuses such a batch
			return at, "collected for the batch at " + at.UTC().Format(time.RFC3339), true
		}
	}
	if d.window != nil && !d.window.Contains(now) {
		if at := d.window.Next(now); !at.IsZero() {
			return at, "outside the delivery window; next window opens " + at.UTC().Format(time.RFC3339), true
		}
	}
	return time.Time{}, "", false
}

// reschedule puts the message back in the queue for later without counting an attempt.
func (d *deliverer) reschedule(msg *message.Message, tx wmsql.Tx, del store.Delivery, at time.Time, why string) error {
	ctx := msg.Context()
	now := d.p.Now()
	del.NextAttemptAt, del.UpdatedAt = at, now
	if ok, err := store.UpdateDelivery(ctx, tx, del, del.Attempts); err != nil || !ok {
		return err // concluded meanwhile (a receipt): nothing to schedule
	}
	work := NewWork(msg.Context(), del.SubmissionID, at)
	if d.batch != nil {
		work.Metadata.Set(batchReleasedKey, "1")
	}
	if err := Publish(tx, DeliveryTopic(d.dest.ID), work); err != nil {
		return err
	}
	return store.AddEvent(ctx, tx, del.SubmissionID, store.Event{At: now, Type: "scheduled", Destination: d.dest.ID, Detail: why})
}

// errPurged is a delivery whose submission's data retention has deleted.
var errPurged = errors.New("retention has deleted the submission's data: there is nothing left to deliver")

func (d *deliverer) handle(msg *message.Message, tx wmsql.Tx) error {
	ctx := msg.Context()
	p := d.p
	id := string(msg.Payload)
	// Read in the queue transaction: one whose session was lost fails here, before the adapter
	// is called (queue.Broken).
	del, err := store.ReadDelivery(ctx, tx, id, d.dest.ID)
	if errors.Is(err, store.ErrNotFound) {
		p.Logger.Error("queued delivery does not exist; dropping the queue message", "submission_id", id, "destination", d.dest.ID)
		return nil
	}
	if err != nil {
		return err
	}
	if del.Status != store.DeliveryPending {
		return nil // already delivered or dead: a duplicate queue message
	}
	if at, why, wait := d.hold(msg, p.Now()); wait {
		return d.reschedule(msg, tx, del, at, why)
	}
	pkg, retry, err := d.prepare(msg, id)
	if errors.Is(err, errPurged) {
		return d.conclude(msg, tx, del, "", "", err, config.Retry{})
	}
	if err != nil {
		return err
	}
	// The mapping that created this delivery and its ProzessID must be on disk before the
	// message leaves: a power loss could otherwise undo it, and the submission would be mapped
	// and delivered again under a second ProzessID.
	if err := p.Store.WaitDurable(); err != nil {
		return err
	}
	artefact, derr := d.deliver(ctx, pkg)
	if derr != nil && ctx.Err() != nil {
		return derr // shutting down: not an attempt; the message stays queued
	}
	return d.conclude(msg, tx, del, pkg.Route, artefact, derr, retry)
}

// conclude records the outcome of an attempt: delivered, dead, or failed with a retry queued.
// If something else concluded or attempted the delivery meanwhile (a receipt, a handler of a
// duplicate queue message), that outcome stands and this attempt is only recorded in the history.
func (d *deliverer) conclude(msg *message.Message, tx wmsql.Tx, del store.Delivery, route, artefact string, derr error, retry config.Retry) error {
	ctx := msg.Context()
	p := d.p
	id := del.SubmissionID
	readAttempts := del.Attempts
	now := p.Now()
	del.Attempts++
	del.UpdatedAt = now
	del.NextAttemptAt = time.Time{}
	log := p.Logger.With("submission_id", id, "route", route, "destination", d.dest.ID, "attempt", del.Attempts)
	var event store.Event
	var retryWork *message.Message
	switch {
	case derr == nil:
		del.Status, del.Artefact, del.LastError = store.DeliveryDelivered, artefact, ""
		event = store.Event{At: now, Type: "delivered", Destination: d.dest.ID, Detail: artefact}
	case errors.Is(derr, errPurged) || adapters.IsPermanent(derr) || del.Attempts >= retry.MaxAttempts || now.Sub(del.CreatedAt) >= retry.MaxAge:
		del.Status, del.LastError = store.DeliveryDead, derr.Error()
		event = store.Event{At: now, Type: "dead", Destination: d.dest.ID,
			Detail: fmt.Sprintf("%s after %d attempt(s): %v", deadReason(derr), del.Attempts, derr)}
	default:
		del.LastError = derr.Error()
		del.NextAttemptAt = now.Add(max(Backoff(retry, del.Attempts), adapters.RetryAfter(derr)))
		event = store.Event{At: now, Type: "delivery_failed", Destination: d.dest.ID,
			Detail: fmt.Sprintf("attempt %d: %v; next attempt at %s", del.Attempts, derr, del.NextAttemptAt.UTC().Format(time.RFC3339))}
		retryWork = NewWork(ctx, id, del.NextAttemptAt)
		retryWork.Metadata.Set(batchReleasedKey, msg.Metadata.Get(batchReleasedKey))
	}
	saved, err := store.UpdateDelivery(ctx, tx, del, readAttempts)
	if err != nil {
		return err
	}
	if !saved {
		log.Info("attempt ended after the delivery was concluded elsewhere; its outcome stands", "error", derr)
		return store.AddEvent(ctx, tx, id, store.Event{At: now, Type: "attempt_superseded", Destination: d.dest.ID,
			Detail: "an attempt ended (" + event.Type + ") after the delivery had been concluded or attempted by another; that outcome stands"})
	}
	if retryWork != nil {
		if err := Publish(tx, DeliveryTopic(d.dest.ID), retryWork); err != nil {
			return err
		}
	}
	switch event.Type {
	case "delivered":
		log.Info("delivered", "artefact", artefact)
	case "dead":
		log.Warn("delivery is dead", "error", derr)
	default:
		log.Info("delivery failed, retry scheduled", "error", derr, "next_attempt_at", del.NextAttemptAt)
	}
	if err := store.AddEvent(ctx, tx, id, event); err != nil {
		return err
	}
	outcome := map[string]string{"delivered": "delivered", "dead": "dead", "delivery_failed": "failed"}[event.Type]
	p.Metrics.DeliveryAttempts.WithLabelValues(d.dest.ID, outcome).Inc()
	return p.Store.RefreshStatus(ctx, tx, id, now)
}

// deliver hands the package to the adapter through the circuit breaker. While the destination
// is known to be down (the circuit is open, or half-open with its one probe under way) it waits
// instead of counting an attempt or putting the message back: a long outage with a large
// backlog then costs sleeping handlers, not a stream of reschedules that would slow intake down.
func (d *deliverer) deliver(ctx context.Context, pkg *adapters.Package) (string, error) {
	step := min(max(d.dest.Breaker.Pause/10, 10*time.Millisecond), time.Second)
	for {
		artefact, err := d.breaker.Execute(func() (string, error) {
			artefact, err := d.adapter.Deliver(ctx, pkg)
			if err == nil || ctx.Err() == nil { // shutting down is not the transport's doing
				d.record(err, d.p.Now())
			}
			return artefact, err
		})
		if !errors.Is(err, gobreaker.ErrOpenState) && !errors.Is(err, gobreaker.ErrTooManyRequests) {
			return artefact, err
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(step):
		}
	}
}

func deadReason(err error) string {
	if errors.Is(err, errPurged) {
		return "not delivered"
	}
	if adapters.IsPermanent(err) {
		return "permanent failure"
	}
	return "gave up"
}

// prepare builds the package and finds the retry policy: the destination's, with the
// submission's route overriding what it sets.
func (d *deliverer) prepare(msg *message.Message, id string) (*adapters.Package, config.Retry, error) {
	ctx := msg.Context()
	s := d.p.Store
	retry := d.dest.Retry
	if h := d.p.handoff.take(msg.UUID, id, time.Now()); h != nil {
		return d.prepareHandedOff(ctx, h)
	}
	reads, err := s.BeginReads(ctx)
	if err != nil {
		return nil, retry, err
	}
	defer reads.End()
	sub, err := reads.Submission(ctx, id)
	if err != nil {
		return nil, retry, err
	}
	if !sub.PurgedAt.IsZero() {
		return nil, retry, errPurged
	}
	snap := d.p.Current()
	if route, ok := snap.Routes.Route(sub.Route); ok {
		retry = overrideRetry(retry, route.Retry)
	}
	snap.Release()
	m, err := reads.Message(ctx, id, d.dest.ID)
	if err != nil {
		return nil, retry, err
	}
	if len(m.XML) == 0 {
		return nil, retry, errPurged // purged since the submission was read
	}
	atts, err := reads.Attachments(ctx, id)
	if err != nil {
		return nil, retry, err
	}
	pkg := &adapters.Package{
		SubmissionID: id, Route: sub.Route, MessageID: m.MessageID, MessageType: m.MessageType, CreatedAt: m.CreatedAt,
		Leistung: sub.Leistung, AGS: sub.AGS, XML: m.XML, MediaType: m.MediaType,
	}
	if pkg.Files, err = d.packageFiles(ctx, reads, id, atts, nil); err != nil {
		return nil, retry, err
	}
	return pkg, retry, nil
}

// prepareHandedOff is prepare for a delivery whose package the process stage handed over: only
// the files it did not make are read from the store.
func (d *deliverer) prepareHandedOff(ctx context.Context, h *handoffEntry) (*adapters.Package, config.Retry, error) {
	retry := d.dest.Retry
	snap := d.p.Current()
	if route, ok := snap.Routes.Route(h.pkg.Route); ok {
		retry = overrideRetry(retry, route.Retry)
	}
	snap.Release()
	pkg := h.pkg
	var err error
	if pkg.Files, err = d.packageFiles(ctx, nil, h.submissionID, h.files.atts, h.files); err != nil {
		return nil, retry, err
	}
	return &pkg, retry, nil
}

// packageFiles describes the package's files. Content in hand (in have, if not nil) is used as it
// is. Files that fit in memory together are read now, in reads (begun here if nil and needed), and
// kept in have; larger ones are streamed from the store while the adapter sends them.
func (d *deliverer) packageFiles(ctx context.Context, reads *store.Reads, id string, atts []store.Attachment, have *handoffFiles) ([]adapters.File, error) {
	s := d.p.Store
	var total int64
	for _, a := range atts {
		total += a.Size
	}
	var files []adapters.File
	for _, a := range atts {
		seq, size := a.Seq, a.Size
		f := adapters.File{Name: a.PackageName, MediaType: a.MediaType, Size: a.Size}
		content, ok := have.get(seq)
		switch {
		case ok:
		case total <= inMemoryPackage:
			if reads == nil {
				var err error
				if reads, err = s.BeginReads(ctx); err != nil {
					return nil, err
				}
				defer reads.End()
			}
			var err error
			if content, err = reads.AttachmentContent(ctx, id, seq, size); err != nil {
				return nil, err
			}
			have.keep(seq, content)
		default:
			// A purge while the package is built cuts the content short: an error, never a
			// shorter file.
			f.Open = func() (io.ReadCloser, error) { return s.OpenAttachment(ctx, id, seq, size), nil }
		}
		if f.Open == nil {
			f.Open = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(content)), nil }
		}
		files = append(files, f)
	}
	return files, nil
}

// inMemoryPackage is the most attachment content a delivery reads into memory before it is
// sent (per delivery in flight).
const inMemoryPackage = 1 << 20

func overrideRetry(r config.Retry, o routes.RetryOverride) config.Retry {
	if o.MaxAttempts > 0 {
		r.MaxAttempts = o.MaxAttempts
	}
	if o.InitialInterval > 0 {
		r.InitialInterval = o.InitialInterval
	}
	if o.MaxInterval > 0 {
		r.MaxInterval = o.MaxInterval
	}
	if o.MaxAge > 0 {
		r.MaxAge = o.MaxAge
	}
	if r.MaxInterval < r.InitialInterval {
		r.MaxInterval = r.InitialInterval
	}
	return r
}

// gaveUp makes a delivery whose handling keeps failing internally dead, so the queue moves on.
func (d *deliverer) gaveUp(msg *message.Message, tx wmsql.Tx, cause error) error {
	ctx := msg.Context()
	id := string(msg.Payload)
	del, err := store.ReadDelivery(ctx, tx, id, d.dest.ID)
	if err != nil {
		return err
	}
	if del.Status != store.DeliveryPending {
		return nil
	}
	now := d.p.Now()
	read := del.Attempts
	del.Status, del.LastError, del.UpdatedAt = store.DeliveryDead, cause.Error(), now
	if ok, err := store.UpdateDelivery(ctx, tx, del, read); err != nil || !ok {
		return err
	}
	if err := store.AddEvent(ctx, tx, id, store.Event{At: now, Type: "dead", Destination: d.dest.ID,
		Detail: "internal error, gave up after repeated attempts: " + cause.Error()}); err != nil {
		return err
	}
	return d.p.Store.RefreshStatus(ctx, tx, id, now)
}

// Backoff is the wait after the given number of failed attempts: exponential, capped, with
// ±20 % jitter so that many deliveries failing together do not retry together.
func Backoff(r config.Retry, attempts int) time.Duration {
	wait := float64(r.InitialInterval) * math.Pow(r.Multiplier, float64(attempts-1))
	if wait > float64(r.MaxInterval) {
		wait = float64(r.MaxInterval)
	}
	wait *= 0.8 + 0.4*rand.Float64()
	return time.Duration(wait)
}
