package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	wmsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/amtsbote/amtsbote/config"
	"github.com/amtsbote/amtsbote/payment"
	"github.com/amtsbote/amtsbote/routes"
	"github.com/amtsbote/amtsbote/store"
	"github.com/amtsbote/amtsbote/store/queue"
)

// paymentRef is the payment a submission names: its transaction, the platform to read it from,
// and what the channel said of it when the submission came.
type paymentRef struct {
	Provider, TransactionID string
	// ChannelStatus is the FIT-Connect metadata's paymentInformation.status ("" if none).
	ChannelStatus string
}

// paymentOf finds a submission's payment in what its channel sent: a portal's payment object
// (meta payment.transaction_id, payment.provider) or FIT-Connect's paymentInformation (meta
// fitconnect.payment). The provider is the submission's, else the route's.
func paymentOf(sub store.Submission, route *routes.Route) paymentRef {
	var meta struct {
		Payment *struct {
			Provider      string `json:"provider"`
			TransactionID string `json:"transaction_id"`
		} `json:"payment"`
		FitConnect *struct {
			Payment *struct {
				TransactionID any `json:"transactionId"`
				Status        any `json:"status"`
			} `json:"payment"`
		} `json:"fitconnect"`
	}
	_ = json.Unmarshal(sub.Meta, &meta) // stored by amtsbote: a JSON object
	var ref paymentRef
	if m := meta.Payment; m != nil {
		ref.Provider, ref.TransactionID = m.Provider, m.TransactionID
	} else if fc := meta.FitConnect; fc != nil && fc.Payment != nil {
		ref.TransactionID, _ = fc.Payment.TransactionID.(string)
		ref.ChannelStatus, _ = fc.Payment.Status.(string)
	}
	if ref.Provider == "" && route.Payment != nil {
		ref.Provider = route.Payment.Provider
	}
	return ref
}

// holdForPayment runs before mapping for a route that requires payment: the submission goes on
// once its transaction is paid. It reports done when it has concluded the message itself — the
// submission is held (its check scheduled again in this transaction, which acks the message)
// or failed for its payment.
func (p *Pipeline) holdForPayment(msg *message.Message, tx wmsql.Tx, sub store.Submission, route *routes.Route, log *slog.Logger) (bool, error) {
	ctx := msg.Context()
	if !route.RequiresPayment() {
		if sub.Status == store.StatusAwaitingPayment {
			return false, store.AddEvent(ctx, tx, sub.ID, store.Event{At: p.Now(), Type: "payment_released",
				Detail: fmt.Sprintf("route %s no longer requires payment", route.ID)})
		}
		return false, nil
	}
	ref := paymentOf(sub, route)
	switch {
	case ref.TransactionID == "":
		p.paymentOutcome(ref.Provider, "missing")
		log.Info("submission names no payment transaction; its route requires one")
		return true, p.fail(msg, tx, sub, []store.Event{{Type: "payment_missing", Detail: fmt.Sprintf(
			"route %s requires payment, but the submission names no payment transaction "+
				"(payment.transaction_id of the portal's submission, paymentInformation.transactionId of FIT-Connect's metadata)", route.ID)}})
	case ref.Provider == "":
		return p.channelPayment(msg, tx, sub, route, ref, log)
	}
	prov, ok := p.Payments[ref.Provider]
	if !ok {
		return true, p.fail(msg, tx, sub, []store.Event{{Type: "payment_missing", Detail: fmt.Sprintf(
			"payment provider %q is not configured (payment.providers); an operator can reprocess the submission once it is", ref.Provider)}})
	}
	hold, err := p.Store.PaymentHold(ctx, sub.ID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		hold = store.PaymentHold{SubmissionID: sub.ID, HeldSince: p.Now()}
	case err != nil:
		return true, err
	case sub.Status == store.StatusAwaitingPayment && hold.QueueMessage != "" && hold.QueueMessage != msg.UUID:
		log.Warn("dropping a second queue message of a held submission", "queue_message", msg.UUID, "expected", hold.QueueMessage)
		return true, nil
	}
	return p.checkPayment(msg, tx, sub, prov, ref, hold, log)
}

// checkPayment reads the transaction and concludes: paid (go on), failed or cancelled (final),
// or not yet (held, checked again after the poll backoff — or at once if the platform notified
// during the check).
func (p *Pipeline) checkPayment(msg *message.Message, tx wmsql.Tx, sub store.Submission, prov *payment.Provider,
	ref paymentRef, hold store.PaymentHold, log *slog.Logger) (bool, error) {
	ctx := msg.Context()
	cfg := prov.Config
	log = log.With("payment_provider", cfg.ID, "transaction_id", ref.TransactionID)
	readWakeups := hold.Wakeups
	previous := checkState(hold)
	t, err := prov.Client.Transaction(ctx, ref.TransactionID)
	if err != nil && ctx.Err() != nil {
		return true, err // shutting down: the message stays queued
	}
	now := p.Now()
	hold.Provider, hold.TransactionID, hold.UpdatedAt = cfg.ID, ref.TransactionID, now
	hold.Checks++
	hold.Status, hold.LastError = "", ""
	where := fmt.Sprintf("provider %s, transaction %s", cfg.ID, ref.TransactionID)
	switch {
	case errors.Is(err, payment.ErrUnknownTransaction):
		p.Metrics.PaymentChecks.WithLabelValues(cfg.ID, "unknown").Inc()
		hold.LastError = err.Error()
		return true, p.endHold(msg, tx, sub, hold, store.StatusPaymentFailed, "failed",
			store.Event{Type: "payment_failed", Detail: where + ": the payment platform does not know the transaction"}, log)
	case err != nil:
		p.Metrics.PaymentChecks.WithLabelValues(cfg.ID, "error").Inc()
		hold.LastError = err.Error()
		if payment.Temporary(err) {
			log.Warn("payment platform could not be read; the submission stays held", "error", err)
		} else {
			log.Error("payment platform refuses or gives an unusable answer; the submission stays held — check the provider's configuration", "error", err)
		}
	default:
		hold.Status = string(t.Information.Status)
		p.Metrics.PaymentChecks.WithLabelValues(cfg.ID, hold.Status).Inc()
	}
	info := transactionInfo(t)
	switch payment.Status(hold.Status) {
	case payment.StatusPayed:
		other, err := store.PaidFor(ctx, tx, cfg.ID, ref.TransactionID, sub.ID)
		if err != nil {
			return true, err
		}
		if other != "" {
			log.Warn("the transaction has paid for another submission already", "other_submission_id", other)
			hold.Status, hold.LastError = "", "the transaction has paid for submission "+other+" already"
			return true, p.endHold(msg, tx, sub, hold, store.StatusPaymentFailed, "failed", store.Event{Type: "payment_failed",
				Detail: where + ": PAYED, but for another submission already (a payment counts for one submission)"}, log)
		}
		// The unique index refuses a second submission paid by the same transaction at the same
		// moment: its handler fails, tries again and finds this one.
		if _, err := store.SavePaymentHold(ctx, tx, hold); err != nil {
			return true, err
		}
		p.paymentOutcome(cfg.ID, "paid")
		log.Info("payment complete; the submission goes on")
		return false, store.AddEvent(ctx, tx, sub.ID, store.Event{At: now, Type: "payment_paid", Detail: where + ": PAYED" + info})
	case payment.StatusFailed:
		return true, p.endHold(msg, tx, sub, hold, store.StatusPaymentFailed, "failed",
			store.Event{Type: "payment_failed", Detail: where + ": FAILED (the payment platform ended the payment)" + info}, log)
	case payment.StatusCanceled:
		return true, p.endHold(msg, tx, sub, hold, store.StatusPaymentCanceled, "canceled",
			store.Event{Type: "payment_canceled", Detail: where + ": CANCELED (the payer cancelled the payment)" + info}, log)
	}
	// Not paid yet (INITIAL), or the platform could not be read.
	deadline := hold.HeldSince.Add(cfg.HoldTimeout)
	if !now.Before(deadline) {
		p.Metrics.PaymentOutcomes.WithLabelValues(cfg.ID, "timeout").Inc()
		last := "INITIAL"
		if hold.LastError != "" {
			last = "the payment platform could not be read"
		}
		return true, p.endHold(msg, tx, sub, hold, store.StatusPaymentFailed, "",
			store.Event{Type: "payment_failed", Detail: fmt.Sprintf("%s: payment not completed within %s (last check: %s)",
				where, humanDuration(cfg.HoldTimeout), last)}, log)
	}
	return true, p.holdOn(msg, tx, sub, hold, cfg, deadline, previous, readWakeups, err, where, log)
}

// holdOn keeps the submission held and schedules its next check in this transaction.
func (p *Pipeline) holdOn(msg *message.Message, tx wmsql.Tx, sub store.Submission, hold store.PaymentHold, cfg config.PaymentProvider,
	deadline time.Time, previous string, readWakeups int, readErr error, where string, log *slog.Logger) error {
	ctx := msg.Context()
	now := hold.UpdatedAt
	wait := Backoff(config.Retry{InitialInterval: cfg.Poll.InitialInterval, MaxInterval: cfg.Poll.MaxInterval,
		Multiplier: cfg.Poll.Multiplier}, hold.Checks)
	var asked time.Duration
	var pe *payment.Error
	if errors.As(readErr, &pe) {
		asked = pe.RetryAfter
	}
	next := now.Add(max(wait, min(asked, cfg.Poll.MaxInterval)))
	if next.After(deadline) {
		next = deadline // the last check is at the hold timeout
	}
	work := NewWork(ctx, sub.ID, next)
	hold.QueueMessage, hold.NextCheckAt = work.UUID, next
	wakeups, err := store.SavePaymentHold(ctx, tx, hold)
	if err != nil {
		return err
	}
	if wakeups != readWakeups {
		// The platform notified while this check ran: what it read may be older than the
		// payment. Check again at once.
		next = now
		work.Metadata.Set(queue.NotBeforeKey, now.UTC().Format(time.RFC3339Nano))
		if _, err := tx.ExecContext(ctx, `UPDATE payment_holds SET next_check_at = $1 WHERE submission_id = $2`,
			now.UnixMilli(), sub.ID); err != nil {
			return fmt.Errorf("schedule the payment check of %s now: %w", sub.ID, err)
		}
	}
	if err := Publish(tx, TopicSubmissions, work); err != nil {
		return err
	}
	var events []store.Event
	if state := checkState(hold); state != previous {
		detail := where + ": INITIAL (not paid yet)"
		if hold.LastError != "" {
			detail = where + ": the payment platform could not be read"
		}
		events = append(events, store.Event{At: now, Type: "payment_checked",
			Detail: fmt.Sprintf("%s; held until %s at the latest, next check at %s", detail,
				deadline.UTC().Format(time.RFC3339), next.UTC().Format(time.RFC3339))})
	}
	if sub.Status != store.StatusAwaitingPayment {
		p.paymentOutcome(cfg.ID, "held")
		log.Info("submission held until its payment is complete", "next_check_at", next)
		if err := store.SetStatus(ctx, tx, sub.ID, store.StatusAwaitingPayment, now); err != nil {
			return err
		}
	} else {
		log.Debug("payment not complete yet; checked again later", "next_check_at", next)
	}
	return store.AddEvents(ctx, tx, sub.ID, events...)
}

// endHold concludes a hold for good: the submission's status is final, the reason in its
// history. outcome counts it ("" when counted already).
func (p *Pipeline) endHold(msg *message.Message, tx wmsql.Tx, sub store.Submission, hold store.PaymentHold,
	status, outcome string, e store.Event, log *slog.Logger) error {
	ctx := msg.Context()
	now := hold.UpdatedAt
	hold.QueueMessage, hold.NextCheckAt = "", time.Time{}
	if _, err := store.SavePaymentHold(ctx, tx, hold); err != nil {
		return err
	}
	if outcome != "" {
		p.paymentOutcome(hold.Provider, outcome)
	}
	log.Info("submission not delivered: "+strings.ReplaceAll(status, "_", " "), "reason", e.Detail)
	e.At = now
	if err := store.AddEvent(ctx, tx, sub.ID, e); err != nil {
		return err
	}
	return store.SetStatus(ctx, tx, sub.ID, status, now)
}

// channelPayment decides by what the channel said when no provider is there to ask: FIT-Connect's
// metadata status, BOOKED (or PAYED) meaning paid.
func (p *Pipeline) channelPayment(msg *message.Message, tx wmsql.Tx, sub store.Submission, route *routes.Route,
	ref paymentRef, log *slog.Logger) (bool, error) {
	ctx := msg.Context()
	const provider = "none"
	where := fmt.Sprintf("transaction %s, status %q as the submission's channel sent it (route %s names no payment provider to ask)",
		ref.TransactionID, ref.ChannelStatus, route.ID)
	switch strings.ToUpper(ref.ChannelStatus) {
	case "BOOKED", string(payment.StatusPayed):
		p.paymentOutcome(provider, "paid")
		return false, store.AddEvent(ctx, tx, sub.ID, store.Event{At: p.Now(), Type: "payment_paid", Detail: where})
	case string(payment.StatusCanceled):
		p.paymentOutcome(provider, "canceled")
		return true, p.finalStatus(msg, tx, sub, store.StatusPaymentCanceled, store.Event{Type: "payment_canceled", Detail: where})
	}
	p.paymentOutcome(provider, "failed")
	log.Info("payment not complete when submitted and no provider to ask", "channel_status", ref.ChannelStatus)
	return true, p.finalStatus(msg, tx, sub, store.StatusPaymentFailed, store.Event{Type: "payment_failed",
		Detail: where + ": not paid, and nothing to check later"})
}

// finalStatus records an event and a final status.
func (p *Pipeline) finalStatus(msg *message.Message, tx wmsql.Tx, sub store.Submission, status string, e store.Event) error {
	ctx := msg.Context()
	e.At = p.Now()
	if err := store.AddEvent(ctx, tx, sub.ID, e); err != nil {
		return err
	}
	return store.SetStatus(ctx, tx, sub.ID, status, e.At)
}

func (p *Pipeline) paymentOutcome(provider, outcome string) {
	p.Metrics.PaymentOutcomes.WithLabelValues(provider, outcome).Inc()
}

// checkState is what a check saw, as far as the history tells it: the status, or that the
// platform could not be read.
func checkState(h store.PaymentHold) string {
	if h.LastError != "" {
		return "error"
	}
	return h.Status
}

// transactionInfo is what a clerk needs to find the payment: the reference (Kassenzeichen),
// the method and the platform's detail.
func transactionInfo(t *payment.Transaction) string {
	if t == nil {
		return ""
	}
	var parts []string
	in := t.Information
	for _, kv := range [][2]string{{"reference", in.TransactionReference}, {"method", in.PaymentMethod},
		{"paid at", in.TransactionTimestamp}, {"detail", in.StatusDetail}} {
		if v := strings.TrimSpace(kv[1]); v != "" {
			parts = append(parts, kv[0]+" "+truncateDetail(v))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

func truncateDetail(s string) string {
	if r := []rune(s); len(r) > 100 {
		return string(r[:100]) + "…"
	}
	return s
}

// humanDuration writes 72h rather than 72h0m0s.
func humanDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// PaymentTopic is the queue a held submission's checks wait in (the process stage's).
const PaymentTopic = TopicSubmissions

// WakePayment makes the submissions held for a transaction be checked now (a platform's
// notification).
func WakePayment(st *store.Store, now func() time.Time) func(ctx context.Context, provider, transactionID string) (int, error) {
	return func(ctx context.Context, provider, transactionID string) (int, error) {
		return st.WakePaymentHolds(ctx, PaymentTopic, provider, transactionID, now())
	}
}
