// Package retention deletes personal data on schedule: the form data, attachments and mapped
// messages of finished submissions after retention.payloads (or their route's retention), and of
// dead ones after retention.dead_letters. Metadata, delivery states, the history and the audit
// trail stay, so what happened stays provable.
package retention

import (
	"context"
	"log/slog"
	"time"

	wmsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"

	"github.com/amtsbote/amtsbote/config"
	"github.com/amtsbote/amtsbote/routes"
	"github.com/amtsbote/amtsbote/store"
)

// Finished statuses whose data may go after retention.payloads: delivered and answered by
// receipts, decided or closed by a Fachverfahren's reply, and payments that failed or were
// cancelled. A case in progress (a Nachforderung) is not finished: its data stays until a reply
// decides or closes it.
var finished = []string{store.StatusDelivered, store.StatusAcknowledged, store.StatusRejected, store.StatusFailed,
	store.StatusDecided, store.StatusClosed, store.StatusPaymentFailed, store.StatusPaymentCanceled}

// Job is one purge run.
type Job struct {
	Store  *store.Store
	Config config.Retention
	Routes *routes.Table
	Logger *slog.Logger
	Now    func() time.Time
}

// Run purges what is due and returns how many submissions it purged.
func (j *Job) Run(ctx context.Context) (int, error) {
	now := j.Now()
	purged := 0
	due := map[string]time.Duration{} // route → payload retention
	for _, r := range j.Routes.Routes {
		if r.Retention > 0 {
			due[r.ID] = r.Retention
		}
	}
	// Routes with their own retention first, then everything else with the default; a
	// submission of an overriding route is never purged by the default's cutoff.
	for route, keep := range due {
		n, err := j.purge(ctx, route, finished, now.Add(-keep), nil)
		purged += n
		if err != nil {
			return purged, j.forgetFreed(ctx, purged, err)
		}
	}
	n, err := j.purge(ctx, "", finished, now.Add(-j.Config.Payloads), due)
	purged += n
	if err != nil {
		return purged, j.forgetFreed(ctx, purged, err)
	}
	n, err = j.purge(ctx, "", []string{store.StatusDead}, now.Add(-j.Config.DeadLetters), nil)
	purged += n
	if err == nil {
		// FIT-Connect submissions that were rejected never became submissions: their problems
		// (which may quote the data) go after the payload retention too.
		err = j.Store.InTx(ctx, func(tx wmsql.Tx) error {
			cleared, err := store.PurgeInbox(ctx, tx, now.Add(-j.Config.Payloads))
			purged += cleared
			if err != nil {
				return err
			}
			// Replies that were filed, not taken, keep what they said no longer either.
			cleared, err = store.PurgeFiledReplies(ctx, tx, now.Add(-j.Config.Payloads))
			purged += cleared
			return err
		})
	}
	return purged, j.forgetFreed(ctx, purged, err)
}

// forgetFreed clears what the purges left on the disk (store.ForgetFreed) after a run that
// purged anything.
func (j *Job) forgetFreed(ctx context.Context, purged int, err error) error {
	if purged == 0 {
		return err
	}
	if ferr := j.Store.ForgetFreed(ctx); ferr != nil {
		j.Logger.Warn("purged data may stay on the disk until the next run", "error", ferr)
	}
	return err
}

func (j *Job) purge(ctx context.Context, route string, statuses []string, cutoff time.Time, skipRoutes map[string]time.Duration) (int, error) {
	ids, err := j.Store.PurgeCandidates(ctx, route, statuses, cutoff)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, id := range ids {
		if len(skipRoutes) > 0 {
			sub, err := j.Store.Submission(ctx, id)
			if err != nil {
				return n, err
			}
			if _, own := skipRoutes[sub.Route]; own {
				continue
			}
		}
		now := j.Now()
		var done bool
		err := j.Store.InTx(ctx, func(tx wmsql.Tx) error {
			// Purge checks again that the submission is due: a replay may have revived it since
			// it was listed, and its delivery must find its data.
			var err error
			if done, err = store.Purge(ctx, tx, id, now, store.PurgeDue{Statuses: statuses, Before: cutoff}); err != nil || !done {
				return err
			}
			return store.Audit(ctx, tx, store.AuditEntry{At: now, Actor: "system:retention", Action: "purge", Subject: id,
				Detail: "personal data deleted after its retention period"})
		})
		if err != nil {
			return n, err
		}
		if done {
			n++
		}
	}
	if n > 0 {
		j.Logger.Info("retention purged personal data", "submissions", n, "route", route)
	}
	return n, nil
}
