package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"

	wmsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"

	"github.com/amtsbote/amtsbote/store"
)

// ReplyKey names a reply's delivery on one channel.
type ReplyKey struct {
	ReplyID string `json:"reply_id"`
	Channel string `json:"channel"`
}

// ReplayReplies sends dead replies again over their channels, with fresh attempts; a reply
// dead on ChannelNone (no channel reached the applicant) is planned again, with the
// configuration in force when the daemon takes it. Each replay is recorded in the submission's
// history and in the audit trail with who asked for it, in the transaction that queues it. It
// returns the deliveries it revived; keys that are not dead, or whose submission's data
// retention purged, are skipped.
func ReplayReplies(ctx context.Context, st *store.Store, keys []ReplyKey, who string, now time.Time) ([]ReplyKey, error) {
	var revived []ReplyKey
	err := st.InTx(ctx, func(tx wmsql.Tx) error {
		revived = revived[:0]
		for _, k := range keys {
			reply, err := store.ReadReply(ctx, tx, k.ReplyID)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			// Checked in the transaction, with the row locked, so that a purge cannot slip in
			// between: retention deleted the reply's documents, nothing is left to send.
			if ok, err := store.LockUnpurged(ctx, tx, reply.SubmissionID); err != nil {
				return err
			} else if !ok {
				continue
			}
			ok, err := store.ReplayReplyDelivery(ctx, tx, k.ReplyID, k.Channel, now)
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
			if err := store.AddEvent(ctx, tx, reply.SubmissionID, store.Event{At: now, Type: "reply_replayed",
				Detail: fmt.Sprintf("reply %s (%s) by %s: replayed by %s", reply.ID, reply.Kind, k.Channel, who)}); err != nil {
				return err
			}
			if err := store.Audit(ctx, tx, store.AuditEntry{At: now, Actor: who, Action: "replay_reply",
				Subject: k.ReplyID + "/" + k.Channel}); err != nil {
				return err
			}
			topic := store.ReplyTopic(k.Channel)
			if k.Channel == store.ChannelNone {
				topic = store.TopicReplies
			}
			if err := Publish(tx, topic, NewWork(ctx, k.ReplyID, now)); err != nil {
				return err
			}
			revived = append(revived, k)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("replay replies: %w", err)
	}
	return revived, nil
}
