package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	wmsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/amtsbote/amtsbote/callbacks"
	"github.com/amtsbote/amtsbote/config"
	"github.com/amtsbote/amtsbote/store"
	"github.com/amtsbote/amtsbote/store/queue"
)

// TopicCallbacks is the queue of status changes to tell portals about.
const TopicCallbacks = "callbacks"

const callbackAttemptKey = "amtsbote_attempt"

type statusChange struct {
	SubmissionID   string `json:"submission_id"`
	Status         string `json:"status"`
	PreviousStatus string `json:"previous_status"`
	At             int64  `json:"at"`
}

// CallbackBody is what a portal receives.
type CallbackBody struct {
	ID             string    `json:"id"`
	Reference      string    `json:"reference"`
	Status         string    `json:"status"`
	PreviousStatus string    `json:"previous_status,omitempty"`
	At             time.Time `json:"at"`
	Links          struct {
		Self string `json:"self"`
	} `json:"links"`
}

// callback POSTs one status change to the submitting portal's callback URL, if it has one.
func (p *Pipeline) callback(msg *message.Message, tx wmsql.Tx) error {
	ctx := msg.Context()
	var ch statusChange
	if err := json.Unmarshal(msg.Payload, &ch); err != nil {
		p.Logger.Error("malformed status change in the callback queue; dropped", "error", err)
		return nil
	}
	sub, err := p.Store.Submission(ctx, ch.SubmissionID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	snap := p.Current()
	var portal *config.Portal
	for i := range snap.Config.Portals {
		if snap.Config.Portals[i].ID == sub.Portal {
			portal = &snap.Config.Portals[i]
		}
	}
	snap.Release()
	if portal == nil || portal.CallbackURL == "" {
		return nil
	}
	body := CallbackBody{ID: sub.ID, Reference: sub.Reference, Status: ch.Status, PreviousStatus: ch.PreviousStatus,
		At: time.UnixMilli(ch.At).UTC()}
	body.Links.Self = "/v1/submissions/" + sub.ID
	raw, _ := json.Marshal(body)
	err = p.postCallback(ctx, *portal, msg.UUID, raw)
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return err
	}
	attempt, _ := strconv.Atoi(msg.Metadata.Get(callbackAttemptKey))
	attempt++
	now := p.Now()
	callbackRetry := p.Config.Pipeline.CallbackRetry
	log := p.Logger.With("submission_id", sub.ID, "route", sub.Route, "portal", sub.Portal, "attempt", attempt)
	if attempt >= callbackRetry.MaxAttempts || now.Sub(time.UnixMilli(ch.At)) > callbackRetry.MaxAge {
		log.Warn("portal callback given up", "error", err)
		return store.AddEvent(ctx, tx, sub.ID, store.Event{At: now, Type: "callback_failed",
			Detail: fmt.Sprintf("status %s not told to the portal after %d attempts: %v", ch.Status, attempt, err)})
	}
	retry := message.NewMessage(msg.UUID, msg.Payload) // same id: the portal can de-duplicate
	retry.Metadata.Set(callbackAttemptKey, strconv.Itoa(attempt))
	retry.Metadata.Set(queue.NotBeforeKey, now.Add(Backoff(callbackRetry, attempt)).UTC().Format(time.RFC3339Nano))
	log.Info("portal callback failed, retry scheduled", "error", err)
	return Publish(tx, TopicCallbacks, retry)
}

func (p *Pipeline) postCallback(ctx context.Context, portal config.Portal, eventID string, body []byte) error {
	secret, err := portal.Secret()
	if err != nil {
		return err
	}
	return callbacks.Post(ctx, callbacks.Client, portal.CallbackURL, secret, eventID, callbacks.EventStatus, body)
}
