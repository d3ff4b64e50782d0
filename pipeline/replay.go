package pipeline

import (
	"context"
	"fmt"
	"time"

	wmsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"

	"github.com/amtsbote/amtsbote/store"
)

// DeliveryKey names one delivery.
type DeliveryKey struct {
	SubmissionID string `json:"submission_id"`
	Destination  string `json:"destination"`
}

// Replay puts dead deliveries back into their destinations' queues: the same stored message,
// with the same ProzessID, is delivered again, with fresh attempts. Each replay is recorded in
// the submission's history with who asked for it. It returns the deliveries it revived; keys
// that are not dead are skipped.
func Replay(ctx context.Context, st *store.Store, keys []DeliveryKey, who string, now time.Time) ([]DeliveryKey, error) {
	var revived []DeliveryKey
	err := st.InTx(ctx, func(tx wmsql.Tx) error {
		revived = revived[:0]
		for _, k := range keys {
			// Checked in the transaction, with the row locked, so that a purge cannot slip in
			// between: retention deleted the message, nothing is left to deliver.
			if ok, err := store.LockUnpurged(ctx, tx, k.SubmissionID); err != nil {
				return err
			} else if !ok {
				continue
			}
			ok, err := store.Revive(ctx, tx, k.SubmissionID, k.Destination, now)
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
			if err := store.AddEvent(ctx, tx, k.SubmissionID, store.Event{At: now, Type: "replayed", Destination: k.Destination,
				Detail: "replayed by " + who}); err != nil {
				return err
			}
			if err := store.Audit(ctx, tx, store.AuditEntry{At: now, Actor: who, Action: "replay",
				Subject: k.SubmissionID + "/" + k.Destination}); err != nil {
				return err
			}
			work := NewWork(ctx, k.SubmissionID, now)
			work.Metadata.Set(batchReleasedKey, "1") // an operator's replay does not wait for the next batch
			if err := Publish(tx, DeliveryTopic(k.Destination), work); err != nil {
				return err
			}
			if err := st.RefreshStatus(ctx, tx, k.SubmissionID, now); err != nil {
				return err
			}
			revived = append(revived, k)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	return revived, nil
}
