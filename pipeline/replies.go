package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	wmsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/amtsbote/amtsbote/adapters"
	"github.com/amtsbote/amtsbote/config"
	"github.com/amtsbote/amtsbote/replies"
	"github.com/amtsbote/amtsbote/routes"
	"github.com/amtsbote/amtsbote/store"
)

// ReplyDeps is what the reply stages need besides the pipeline's own dependencies.
type ReplyDeps struct {
	// Senders are the reply channels by name (replies.Channel*). A channel without a sender is
	// never chosen; a reply queued for it (by a replay, or before a restart that removed it)
	// is dead.
	Senders map[string]replies.Sender
	// AddressOf reads the reply channel an application named from its submission's metadata
	// (a portal's reply_channel, FIT-Connect's replyChannel: each written by its intake). nil:
	// no application names one.
	AddressOf func(store.Submission) (replies.Address, error)
}

// ReplyTopics are the queues of the reply stages: planning, then one per channel.
func ReplyTopics() []string {
	topics := []string{store.TopicReplies}
	for _, ch := range replies.Channels {
		topics = append(topics, store.ReplyTopic(ch))
	}
	return topics
}

// Reasons a reply is dead without an attempt.
var (
	errNoChannel   = errors.New("no channel reaches the applicant")
	errReplyPurged = errors.New("data purged before the reply was sent")
	errGaveUp      = errors.New("internal error, gave up after repeated attempts")
)

// addReplyStages registers the reply stages: planning on the replies queue (durable: it decides
// the channels once), and max_in_flight handlers per channel on its own queue (relaxed, as
// deliveries: sending a stored reply again is harmless where the channel can tell, and the
// channels carry the reply id for that).
func (p *Pipeline) addReplyStages(router *message.Router, durable, relaxed *wmsql.Subscriber) {
	router.AddConsumerHandler("reply-plan", store.TopicReplies, durable, p.guard(p.timed("reply_plan", p.planReply), p.planGaveUp))
	for _, ch := range replies.Channels {
		s := &replySender{p: p, channel: ch, sender: p.Replies.Senders[ch]}
		for i := 0; i < max(p.Config.Replies.MaxInFlight, 1); i++ {
			router.AddConsumerHandler(fmt.Sprintf("reply-%s-%d", ch, i), store.ReplyTopic(ch), relaxed,
				p.guard(p.timed("reply_send", s.handle), s.gaveUp))
		}
	}
}

// planReply picks the channels of a stored reply by its route's policy, and in the transaction
// that acks the message creates a pending delivery per channel and queues it. A reply planned
// before (a duplicate message, or a crash after the commit) is left as it is; a reply whose
// only delivery is a replayed ChannelNone is planned again.
func (p *Pipeline) planReply(msg *message.Message, tx wmsql.Tx) error {
	ctx := msg.Context()
	id := string(msg.Payload)
	reply, err := store.ReadReply(ctx, tx, id)
	if errors.Is(err, store.ErrNotFound) {
		p.Logger.Error("queued reply does not exist; dropping the queue message", "reply_id", id)
		return nil
	}
	if err != nil {
		return err
	}
	existing, err := store.ReadReplyDeliveries(ctx, tx, id)
	if err != nil {
		return err
	}
	replan := len(existing) == 1 && existing[0].Channel == store.ChannelNone && existing[0].Status == store.ReplyPending
	if len(existing) > 0 && !replan {
		return nil // planned before
	}
	sub, err := store.ReadSubmission(ctx, tx, reply.SubmissionID)
	if err != nil {
		return err
	}
	if !sub.PurgedAt.IsZero() || !reply.PurgedAt.IsZero() {
		return p.replyUnreachable(ctx, tx, reply, existing, errReplyPurged.Error())
	}
	docs, err := p.Store.ReplyDocuments(ctx, id)
	if err != nil {
		return err
	}
	policy, postbox := p.replyPolicy(sub)
	addr, aerr := p.replyAddress(sub)
	channels := PlanChannels(policy, Reach{Address: addr, Postbox: postbox, Kind: reply.Kind, Documents: len(docs),
		Configured: func(ch string) bool { return p.Replies.Senders[ch] != nil }})
	if len(channels) == 0 {
		reason := errNoChannel.Error()
		if aerr != nil {
			reason += fmt.Sprintf(" (the reply channel the application named cannot be read: %v)", aerr)
		}
		return p.replyUnreachable(ctx, tx, reply, existing, reason)
	}
	if aerr != nil {
		p.Logger.Warn("the reply channel the application named cannot be read; planned without it", "reply_id", id,
			"submission_id", sub.ID, "error", aerr)
	}
	now := p.Now()
	if replan {
		if _, err := store.DeleteReplyDelivery(ctx, tx, id, store.ChannelNone); err != nil {
			return err
		}
	}
	for _, ch := range channels {
		if err := store.InsertReplyDelivery(ctx, tx, id, ch, now); err != nil {
			return err
		}
		if err := Publish(tx, store.ReplyTopic(ch), NewWork(ctx, id, now)); err != nil {
			return err
		}
	}
	p.Logger.Info("reply planned", "reply_id", id, "submission_id", sub.ID, "route", sub.Route, "kind", reply.Kind, "channels", channels)
	return store.AddEvent(ctx, tx, sub.ID, store.Event{At: now, Type: "reply_planned",
		Detail: fmt.Sprintf("reply %s (%s): %s", id, reply.Kind, strings.Join(channels, ", "))})
}

// replyUnreachable records a reply that no channel can carry as dead on ChannelNone, where
// operators see it with the reason (and can replay it once a channel is configured).
func (p *Pipeline) replyUnreachable(ctx context.Context, tx wmsql.Tx, reply store.Reply, existing []store.ReplyDelivery, reason string) error {
	now := p.Now()
	d := store.ReplyDelivery{ReplyID: reply.ID, Channel: store.ChannelNone}
	if len(existing) == 1 && existing[0].Channel == store.ChannelNone {
		d = existing[0]
	} else if err := store.InsertReplyDelivery(ctx, tx, reply.ID, store.ChannelNone, now); err != nil {
		return err
	}
	read := d.Attempts
	d.Status, d.LastError, d.UpdatedAt, d.NextAttemptAt = store.ReplyDead, reason, now, time.Time{}
	if ok, err := store.UpdateReplyDelivery(ctx, tx, d, read); err != nil || !ok {
		return err
	}
	p.Logger.Warn("reply is dead: no channel", "reply_id", reply.ID, "submission_id", reply.SubmissionID, "reason", reason)
	p.Metrics.ReplyDeliveries.WithLabelValues(store.ChannelNone, "dead").Inc()
	return store.AddEvent(ctx, tx, reply.SubmissionID, store.Event{At: now, Type: "reply_dead",
		Detail: fmt.Sprintf("reply %s (%s): %s", reply.ID, reply.Kind, reason)})
}

// planGaveUp records a reply whose planning keeps failing internally as dead on ChannelNone.
func (p *Pipeline) planGaveUp(msg *message.Message, tx wmsql.Tx, cause error) error {
	ctx := msg.Context()
	reply, err := store.ReadReply(ctx, tx, string(msg.Payload))
	if err != nil {
		return err
	}
	existing, err := store.ReadReplyDeliveries(ctx, tx, reply.ID)
	if err != nil {
		return err
	}
	if len(existing) > 0 && !(len(existing) == 1 && existing[0].Channel == store.ChannelNone) {
		return nil
	}
	return p.replyUnreachable(ctx, tx, reply, existing, fmt.Sprintf("%v: %v", errGaveUp, cause))
}

// replyPolicy is the reply policy of the submission's route (the default if the route is gone)
// and whether the submission came from a portal with a postbox, in the configuration in force.
func (p *Pipeline) replyPolicy(sub store.Submission) (routes.ReplyPolicy, bool) {
	snap := p.Current()
	defer snap.Release()
	policy := routes.DefaultReplyPolicy()
	if r, ok := snap.Routes.Route(sub.Route); ok {
		policy = r.ReplyPolicy()
	}
	postbox := false
	if sub.Channel == store.ChannelPortal {
		for _, pc := range snap.Config.Portals {
			if pc.ID == sub.Portal {
				postbox = pc.Postbox
			}
		}
	}
	return policy, postbox
}

func (p *Pipeline) replyAddress(sub store.Submission) (replies.Address, error) {
	if p.Replies.AddressOf == nil {
		return replies.Address{}, nil
	}
	return p.Replies.AddressOf(sub)
}

// replyRetry is how a channel's attempts are retried: the portal's reply event as the status
// callbacks (pipeline.callback_retry), every other channel by replies.retry.
func (p *Pipeline) replyRetry(channel string) config.Retry {
	if channel == replies.ChannelPortal {
		return p.Config.Pipeline.CallbackRetry
	}
	return p.Config.Replies.Retry
}

// replySender is the stage of one reply channel; its handlers (replies.max_in_flight) share it.
type replySender struct {
	p       *Pipeline
	channel string
	sender  replies.Sender // nil: the channel is not configured
}

// handle sends one reply over the channel and records the outcome in the transaction that acks
// the message, only over the pending state it read.
func (s *replySender) handle(msg *message.Message, tx wmsql.Tx) error {
	ctx := msg.Context()
	p := s.p
	id := string(msg.Payload)
	// Read in the queue transaction: one whose session was lost fails here, before the channel
	// is called (queue.Broken).
	del, err := store.ReadReplyDelivery(ctx, tx, id, s.channel)
	if errors.Is(err, store.ErrNotFound) {
		p.Logger.Error("queued reply delivery does not exist; dropping the queue message", "reply_id", id, "channel", s.channel)
		return nil
	}
	if err != nil {
		return err
	}
	if del.Status != store.ReplyPending {
		return nil // sent or dead: a duplicate queue message
	}
	reply, err := store.ReadReply(ctx, tx, id)
	if err != nil {
		return err
	}
	sub, err := store.ReadSubmission(ctx, tx, reply.SubmissionID)
	if err != nil {
		return err
	}
	retry := p.replyRetry(s.channel)
	if !sub.PurgedAt.IsZero() || !reply.PurgedAt.IsZero() {
		return s.conclude(msg, tx, reply, del, "", errReplyPurged, retry)
	}
	if s.sender == nil {
		return s.conclude(msg, tx, reply, del, "", adapters.Permanent(fmt.Errorf("channel %s is not configured", s.channel)), retry)
	}
	out, err := s.outgoing(ctx, reply, sub, del)
	if adapters.IsPermanent(err) {
		return s.conclude(msg, tx, reply, del, "", err, retry)
	}
	if err != nil {
		return err
	}
	// The plan that created this delivery must be on disk before the reply leaves: a power loss
	// could otherwise undo it, and the reply be planned again, perhaps over other channels.
	if err := p.Store.WaitDurable(); err != nil {
		return err
	}
	artefact, serr := s.sender.Send(ctx, out)
	if serr != nil && ctx.Err() != nil {
		return serr // shutting down: not an attempt; the message stays queued
	}
	return s.conclude(msg, tx, reply, del, artefact, serr, retry)
}

// outgoing is the reply as the channel gets it: documents read from the store as the channel
// reads them, the applicant's address, the route's e-mail template.
func (s *replySender) outgoing(ctx context.Context, reply store.Reply, sub store.Submission, del store.ReplyDelivery) (*replies.Outgoing, error) {
	p := s.p
	addr, err := p.replyAddress(sub)
	if err != nil {
		if s.channel == replies.ChannelEmail || s.channel == replies.ChannelFitConnect {
			return nil, adapters.Permanent(fmt.Errorf("the reply channel the application named cannot be read: %w", err))
		}
		addr = replies.Address{} // the portal and the print service do without it
	}
	policy, _ := p.replyPolicy(sub)
	docs, err := p.Store.ReplyDocuments(ctx, reply.ID)
	if err != nil {
		return nil, err
	}
	out := &replies.Outgoing{ReplyID: reply.ID, SubmissionID: sub.ID, Kind: reply.Kind, Status: reply.Status,
		Subject: reply.Subject, Text: reply.Text, Source: reply.Source, Reference: sub.Reference, Leistung: sub.Leistung,
		AGS: sub.AGS, Route: sub.Route, Portal: sub.Portal, ReceivedAt: sub.ReceivedAt, RepliedAt: reply.ReceivedAt,
		Message: reply.Message, MessageType: reply.MessageType, Address: addr, Template: policy.TemplateFile,
		Attempt: del.Attempts + 1}
	st, replyID := p.Store, reply.ID
	for _, d := range docs {
		seq, size := d.Seq, d.Size
		out.Documents = append(out.Documents, replies.Document{Seq: d.Seq, Name: d.Name, MediaType: d.MediaType, Size: d.Size,
			SHA256: d.SHA256,
			// A purge while the reply is sent cuts the content short: an error, never a shorter file.
			Open: func() (io.ReadCloser, error) { return st.OpenReplyDocument(ctx, replyID, seq, size), nil }})
	}
	return out, nil
}

// conclude records an attempt's outcome: sent, dead, or failed with a retry queued for the
// backoff time. If the delivery was concluded or attempted meanwhile (a duplicate message's
// handler), that outcome stands and this attempt is only recorded in the history.
func (s *replySender) conclude(msg *message.Message, tx wmsql.Tx, reply store.Reply, del store.ReplyDelivery, artefact string, serr error, retry config.Retry) error {
	ctx := msg.Context()
	p := s.p
	read := del.Attempts
	now := p.Now()
	del.Attempts++
	del.UpdatedAt, del.NextAttemptAt = now, time.Time{}
	log := p.Logger.With("reply_id", reply.ID, "submission_id", reply.SubmissionID, "channel", s.channel, "attempt", del.Attempts)
	what := fmt.Sprintf("reply %s (%s) by %s", reply.ID, reply.Kind, s.channel)
	var event store.Event
	var retryWork *message.Message
	switch {
	case serr == nil:
		del.Status, del.Artefact, del.LastError = store.ReplySent, artefact, ""
		event = store.Event{At: now, Type: "reply_sent", Detail: what + ": " + artefact}
	case errors.Is(serr, errReplyPurged) || adapters.IsPermanent(serr) || del.Attempts >= retry.MaxAttempts || now.Sub(del.CreatedAt) >= retry.MaxAge:
		del.Status, del.LastError = store.ReplyDead, serr.Error()
		event = store.Event{At: now, Type: "reply_dead",
			Detail: fmt.Sprintf("%s: %s after %d attempt(s): %v", what, replyDeadReason(serr), del.Attempts, serr)}
	default:
		del.LastError = serr.Error()
		del.NextAttemptAt = now.Add(max(Backoff(retry, del.Attempts), adapters.RetryAfter(serr)))
		event = store.Event{At: now, Type: "reply_failed", Detail: fmt.Sprintf("%s: attempt %d: %v; next attempt at %s",
			what, del.Attempts, serr, del.NextAttemptAt.UTC().Format(time.RFC3339))}
		retryWork = NewWork(ctx, reply.ID, del.NextAttemptAt)
	}
	saved, err := store.UpdateReplyDelivery(ctx, tx, del, read)
	if err != nil {
		return err
	}
	if !saved {
		log.Info("attempt ended after the reply's delivery was concluded elsewhere; its outcome stands", "error", serr)
		return store.AddEvent(ctx, tx, reply.SubmissionID, store.Event{At: now, Type: "reply_attempt_superseded",
			Detail: what + ": an attempt ended (" + event.Type + ") after the delivery had been concluded or attempted by another; that outcome stands"})
	}
	if retryWork != nil {
		if err := Publish(tx, store.ReplyTopic(s.channel), retryWork); err != nil {
			return err
		}
	}
	outcome := map[string]string{"reply_sent": "sent", "reply_dead": "dead", "reply_failed": "failed"}[event.Type]
	switch outcome {
	case "sent":
		log.Info("reply sent", "artefact", artefact)
	case "dead":
		log.Warn("reply delivery is dead", "error", serr)
	default:
		log.Info("sending the reply failed, retry scheduled", "error", serr, "next_attempt_at", del.NextAttemptAt)
	}
	p.Metrics.ReplyDeliveries.WithLabelValues(s.channel, outcome).Inc()
	return store.AddEvent(ctx, tx, reply.SubmissionID, event)
}

func replyDeadReason(err error) string {
	switch {
	case errors.Is(err, errReplyPurged):
		return "not sent"
	case adapters.IsPermanent(err):
		return "permanent failure"
	}
	return "gave up"
}

// gaveUp makes a reply delivery whose handling keeps failing internally dead, so the queue
// moves on.
func (s *replySender) gaveUp(msg *message.Message, tx wmsql.Tx, cause error) error {
	ctx := msg.Context()
	id := string(msg.Payload)
	del, err := store.ReadReplyDelivery(ctx, tx, id, s.channel)
	if err != nil {
		return err
	}
	if del.Status != store.ReplyPending {
		return nil
	}
	reply, err := store.ReadReply(ctx, tx, id)
	if err != nil {
		return err
	}
	now := s.p.Now()
	read := del.Attempts
	del.Status, del.LastError, del.UpdatedAt, del.NextAttemptAt = store.ReplyDead, cause.Error(), now, time.Time{}
	if ok, err := store.UpdateReplyDelivery(ctx, tx, del, read); err != nil || !ok {
		return err
	}
	s.p.Metrics.ReplyDeliveries.WithLabelValues(s.channel, "dead").Inc()
	return store.AddEvent(ctx, tx, reply.SubmissionID, store.Event{At: now, Type: "reply_dead",
		Detail: fmt.Sprintf("reply %s (%s) by %s: %v: %v", id, reply.Kind, s.channel, errGaveUp, cause)})
}
