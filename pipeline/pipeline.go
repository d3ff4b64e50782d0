package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"runtime/debug"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wmsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"

	"github.com/amtsbote/amtsbote/adapters"
	"github.com/amtsbote/amtsbote/config"
	"github.com/amtsbote/amtsbote/metrics"
	"github.com/amtsbote/amtsbote/payment"
	"github.com/amtsbote/amtsbote/priority"
	"github.com/amtsbote/amtsbote/snapshot"
	"github.com/amtsbote/amtsbote/store"
	"github.com/amtsbote/amtsbote/store/queue"
	"github.com/amtsbote/amtsbote/tracing"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// TopicSubmissions is the queue of accepted submissions waiting to be routed and mapped.
const TopicSubmissions = "submissions"

// DeliveryTopic is the queue of one destination.
func DeliveryTopic(destination string) string { return "deliver_" + destination }

// Deps is what the pipeline works with.
type Deps struct {
	Store *store.Store
	// Config holds what cannot change without a restart: destinations and pipeline settings.
	Config *config.Config
	// Current returns the configuration snapshot in force, acquired; the caller releases it.
	// Each message is handled on the snapshot it started with, even if a reload swaps it.
	Current  func() *snapshot.Snapshot
	Adapters map[string]adapters.Adapter
	Logger   *slog.Logger
	// Metrics records stage durations and delivery attempts; default: a private registry.
	Metrics *metrics.Metrics
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Stages are further stages other packages add (FIT-Connect intake): each runs under the
	// same poison protection, in a durable transaction, on its own queue.
	Stages []Stage
	// Payments are the payment platforms submissions of routes that require payment are held
	// for (payment.go).
	Payments payment.Providers
	// Replies are the channels replies to applicants travel by (pipeline/replies.go).
	Replies ReplyDeps
	// Priority makes the handlers take turns while intake has a burst of requests; nil: never.
	Priority *priority.Intake
}

// Stage is a queue and the handler of its messages.
type Stage struct {
	// Name names the stage's handlers and its metrics.
	Name string
	// Topic is the queue; Workers how many handlers take from it at once (default 1).
	Topic   string
	Workers int
	// Handle handles one message in the queue's transaction; an error rolls the transaction
	// back and the message is tried again.
	Handle func(*message.Message, wmsql.Tx) error
	// GiveUp records a message whose handler kept failing (HandlerAttempts), in the transaction
	// that acks it.
	GiveUp func(*message.Message, wmsql.Tx, error) error
}

// Pipeline runs the stages.
type Pipeline struct {
	Deps
	router *message.Router

	mu       sync.Mutex
	failures map[string]failures // per queue message, for poison protection

	deliverers map[string]*deliverer // by destination id; fixed after New
	handoff    *handoff              // packages the process stage made, for the deliveries it queued
}

// New prepares the queues and the router; Run starts it.
func New(d Deps) (*Pipeline, error) {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Metrics == nil {
		d.Metrics = metrics.New(nil, nil)
	}
	p := &Pipeline{Deps: d, failures: map[string]failures{}, deliverers: map[string]*deliverer{}, handoff: newHandoff()}
	wlog := quietOnShutdown{watermill.NewSlogLoggerWithLevelMapping(d.Logger, map[slog.Level]slog.Level{slog.LevelInfo: slog.LevelDebug})}

	topics := Topics(d.Config)
	for _, st := range d.Stages {
		topics = append(topics, st.Topic)
	}
	if err := d.Store.PrepareQueues(context.Background(), topics, TopicCallbacks); err != nil {
		return nil, err
	}
	queues := d.Store.Queues(d.Now)

	ackDeadline := 10 * time.Minute
	subscriber := func(b wmsql.Beginner) (*wmsql.Subscriber, error) {
		return wmsql.NewSubscriber(b, wmsql.SubscriberConfig{
			PollInterval:   d.Config.Pipeline.PollInterval,
			ResendInterval: d.Config.Pipeline.PollInterval,
			RetryInterval:  time.Second,
			AckDeadline:    &ackDeadline,
			SchemaAdapter:  queues.Schema,
			OffsetsAdapter: queues.Offsets,
		}, wlog)
	}
	// Mapping creates the message ids every delivery carries: its commits are durable. Delivering
	// a stored message and telling a portal a status are idempotent: their commits need not wait
	// for the disk (store.Queues).
	sub, err := subscriber(queues.Beginner)
	if err != nil {
		return nil, fmt.Errorf("create queue subscriber: %w", err)
	}
	relaxed, err := subscriber(queues.RelaxedBeginner)
	if err != nil {
		return nil, fmt.Errorf("create queue subscriber: %w", err)
	}
	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: d.Config.Server.ShutdownTimeout}, wlog)
	if err != nil {
		return nil, fmt.Errorf("create router: %w", err)
	}
	router.AddMiddleware(middleware.Recoverer)
	// Mapping and validation are CPU work: one handler per core (the queue's claims keep them
	// from taking the same submission).
	for i := 0; i < ProcessWorkers(d.Config); i++ {
		router.AddConsumerHandler(fmt.Sprintf("process-%d", i), TopicSubmissions, sub, p.guard(p.timed("process", p.process), p.processGaveUp))
	}
	for _, st := range d.Stages {
		for i := 0; i < max(st.Workers, 1); i++ {
			router.AddConsumerHandler(fmt.Sprintf("%s-%d", st.Name, i), st.Topic, sub, p.guard(p.timed(st.Name, st.Handle), st.GiveUp))
		}
	}
	router.AddConsumerHandler("callbacks", TopicCallbacks, relaxed, p.guard(p.callback, func(*message.Message, wmsql.Tx, error) error { return nil }))
	for _, dest := range d.Config.Destinations {
		h := newDeliverer(p, dest, d.Adapters[dest.ID])
		p.deliverers[dest.ID] = h
		// max_in_flight handlers share the destination's queue; the queue's claims keep them
		// from taking the same message.
		for i := 0; i < dest.MaxInFlight; i++ {
			router.AddConsumerHandler(fmt.Sprintf("deliver-%s-%d", dest.ID, i), DeliveryTopic(dest.ID), relaxed, p.guard(p.timed("deliver", h.handle), h.gaveUp))
		}
	}
	p.addReplyStages(router, sub, relaxed)
	p.router = router
	return p, nil
}

// ProcessWorkers is how many handlers map and validate submissions at once.
func ProcessWorkers(cfg *config.Config) int {
	if n := cfg.Pipeline.ProcessWorkers; n > 0 {
		return n
	}
	return runtime.GOMAXPROCS(0)
}

// Topics lists the queues of this pipeline.
func Topics(cfg *config.Config) []string {
	topics := []string{TopicSubmissions, TopicCallbacks}
	for _, dest := range cfg.Destinations {
		topics = append(topics, DeliveryTopic(dest.ID))
	}
	// Replies handed in by Fachverfahren wait in store.TopicReplies for the reply stages.
	return append(topics, ReplyTopics()...)
}

// timed records how long a stage's handler takes, as a metric and as a span in the
// submission's trace (continued from the queue message).
func (p *Pipeline) timed(stage string, h func(*message.Message, wmsql.Tx) error) func(*message.Message, wmsql.Tx) error {
	return func(msg *message.Message, tx wmsql.Tx) error {
		defer p.Metrics.ObserveStage(stage, time.Now())
		ctx, span := tracing.Tracer().Start(tracing.Extract(msg.Context(), msg), stage,
			trace.WithAttributes(attribute.String("amtsbote.submission_id", string(msg.Payload))))
		defer span.End()
		msg.SetContext(ctx)
		err := h(msg, tx)
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		}
		return err
	}
}

// Run processes messages until ctx ends or Close is called.
func (p *Pipeline) Run(ctx context.Context) error { return p.router.Run(ctx) }

// Running is closed once all stages run.
func (p *Pipeline) Running() chan struct{} { return p.router.Running() }

// Close stops taking new messages and waits (up to the shutdown timeout) for handlers in
// flight; whatever did not finish stays in its queue.
func (p *Pipeline) Close() error { return p.router.Close() }

// Publish adds messages to a queue inside the caller's transaction: they become visible exactly
// when the caller's other writes do.
func Publish(ex wmsql.ContextExecutor, topic string, msgs ...*message.Message) error {
	return queue.Publish(ex, topic, msgs...)
}

// NewWork is a queue message about one submission, due at notBefore (zero: now). It carries
// the trace of ctx, so the next stage continues it.
func NewWork(ctx context.Context, submissionID string, notBefore time.Time) *message.Message {
	return queue.NewWork(ctx, submissionID, notBefore)
}

// guard gives up on a message whose handler keeps failing with an internal error (a poison
// message) so it cannot block its queue: after handler_attempts tries giveUp records the failure
// and the message is acked. A failed try's writes are rolled back first.
//
// A message whose transaction is broken (its PostgreSQL session was lost) or whose store is
// broken (a failed sync to disk) is let go without acting on it: the handler is not called, and
// the transaction refuses the ack, so the subscriber rolls it back and the message is read again
// in a healthy transaction — or, with a broken store, after amtsbote restarts.
func (p *Pipeline) guard(h func(*message.Message, wmsql.Tx) error, giveUp func(*message.Message, wmsql.Tx, error) error) message.NoPublishHandlerFunc {
	return func(msg *message.Message) error {
		ctx := msg.Context()
		tx, ok := wmsql.TxFromContext(ctx)
		if !ok {
			return fmt.Errorf("message %s arrived without a transaction", msg.UUID)
		}
		if p.letGo(msg, tx) {
			return nil
		}
		p.mu.Lock()
		f := p.failures[msg.UUID]
		p.mu.Unlock()
		n, err := f.n, f.last
		if n < p.Config.Pipeline.HandlerAttempts {
			release, yerr := p.Priority.Yield(ctx)
			if yerr != nil {
				return yerr // shutting down: the message stays queued
			}
			err = p.callSafely(h, msg, tx)
			release()
			if err == nil {
				p.forget(msg.UUID)
				return nil
			}
			undo(tx)
			if ctx.Err() != nil || p.letGo(msg, tx) {
				return err // shutting down, or let go: the message stays queued
			}
			n++
			p.mu.Lock()
			p.failures[msg.UUID] = failures{n: n, last: err}
			p.mu.Unlock()
		}
		log := p.Logger.With("submission_id", string(msg.Payload), "queue_message", msg.UUID)
		if sub, err := p.Store.Submission(context.Background(), string(msg.Payload)); err == nil {
			log = log.With("route", sub.Route)
		}
		if n < p.Config.Pipeline.HandlerAttempts {
			log.Warn("stage failed, will retry", "attempt", n, "error", err)
			return err
		}
		log.Error("stage keeps failing, giving up on this message", "attempts", n, "error", err)
		if gerr := giveUp(msg, tx, err); gerr != nil {
			undo(tx)
			// The count stays: the next try records the failure again without running the
			// stage once more.
			return fmt.Errorf("record failure: %w (after %w)", gerr, err)
		}
		p.forget(msg.UUID)
		return nil
	}
}

// failures counts a queue message's failed tries and keeps the last one's error.
type failures struct {
	n    int
	last error
}

// letGo reports whether a message must be let go without acting on it (guard): its transaction
// or the store is broken.
func (p *Pipeline) letGo(msg *message.Message, tx wmsql.Tx) bool {
	err := queue.Broken(tx)
	if err == nil {
		err = p.Store.Broken()
	}
	if err == nil {
		return false
	}
	p.Logger.Warn("queue message let go without acting on it", "submission_id", string(msg.Payload),
		"queue_message", msg.UUID, "reason", err)
	return true
}

// undo discards a failed try's writes; the message stays claimed by its transaction.
func undo(tx wmsql.Tx) {
	if u, ok := tx.(queue.Undoer); ok {
		_ = u.Undo()
		return
	}
	_ = tx.Rollback()
}

func (p *Pipeline) forget(uuid string) {
	p.mu.Lock()
	delete(p.failures, uuid)
	p.mu.Unlock()
}

// callSafely turns a panic in a stage into an error, so that guard counts it like any failure.
// The stack goes to the log only: the error text reaches the portal's status view.
func (p *Pipeline) callSafely(h func(*message.Message, wmsql.Tx) error, msg *message.Message, tx wmsql.Tx) (err error) {
	defer func() {
		if r := recover(); r != nil {
			p.Logger.Error("stage panicked", "submission_id", string(msg.Payload), "panic", r, "stack", string(debug.Stack()))
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return h(msg, tx)
}

// quietOnShutdown logs watermill's "context canceled" errors — every subscriber reports one
// when the router stops — as debug, so a clean shutdown does not look like a failure.
type quietOnShutdown struct{ watermill.LoggerAdapter }

func (q quietOnShutdown) Error(msg string, err error, fields watermill.LogFields) {
	if errors.Is(err, context.Canceled) {
		q.Debug(msg+": "+err.Error(), fields)
		return
	}
	q.LoggerAdapter.Error(msg, err, fields)
}

func (q quietOnShutdown) With(fields watermill.LogFields) watermill.LoggerAdapter {
	return quietOnShutdown{q.LoggerAdapter.With(fields)}
}
