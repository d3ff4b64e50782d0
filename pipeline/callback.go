package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
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

// callbackClient follows no redirects: a portal's answer must not make amtsbote POST signed
// bodies to another address (an internal service, say). A 3xx is a failed callback.
var callbackClient = &http.Client{Timeout: 15 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

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
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, portal.CallbackURL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	now := time.Now()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(callbacks.EventIDHeader, eventID)
	req.Header.Set(callbacks.TimestampHeader, strconv.FormatInt(now.Unix(), 10))
	req.Header.Set(callbacks.SignatureHeader, callbacks.Sign(secret, now, body))
	res, err := callbackClient.Do(req)
	if err != nil {
		return errors.New(redactURLs(err.Error(), portal.CallbackURL))
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	if res.StatusCode/100 == 3 {
		return fmt.Errorf("%s answered %s; callbacks follow no redirects: configure the final URL", redactURL(portal.CallbackURL), res.Status)
	}
	if res.StatusCode/100 != 2 {
		return fmt.Errorf("%s answered %s", redactURL(portal.CallbackURL), res.Status)
	}
	return nil
}

// redactURL writes a URL without the password of its user information (as user:xxxxx), for
// logs and the history.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(callback_url)"
	}
	return u.Redacted()
}

// redactURLs removes the user information of raw from text, in the forms net/http quotes it.
func redactURLs(text, raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return text
	}
	if pw, ok := u.User.Password(); ok && pw != "" {
		text = strings.ReplaceAll(text, pw, "xxxxx")
	}
	return text
}
