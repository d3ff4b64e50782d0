package replies

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/amtsbote/amtsbote/adapters"
	"github.com/amtsbote/amtsbote/callbacks"
	"github.com/amtsbote/amtsbote/config"
)

// ReplyEvent is what a portal with a postbox receives at its callback URL when a reply waits
// there: which reply, what kind, the status it moves the application to, and where to fetch
// it. It carries no text, no documents and nothing about the applicant: the portal fetches
// the reply with its own token.
type ReplyEvent struct {
	// Event is "reply" (status callbacks are "status").
	Event string `json:"event"`
	// ID is the submission's id, Reference the portal's reference of it.
	ID        string    `json:"id"`
	Reference string    `json:"reference"`
	ReplyID   string    `json:"reply_id"`
	Kind      string    `json:"kind"`
	Status    string    `json:"status"`
	At        time.Time `json:"at"`
	Links     struct {
		// Replies is the list of the submission's replies (GET, with the portal's token).
		Replies string `json:"replies"`
	} `json:"links"`
}

// RepliesPath is where a portal reads a submission's replies.
func RepliesPath(submissionID string) string { return "/v1/submissions/" + submissionID + "/replies" }

// PortalSender puts a reply into the portal's postbox: the portal reads replies from the
// inbound API, and one with a callback_url is told of each by a signed reply event. The event's
// id is the reply id, the same on every retry, so the portal can de-duplicate.
//
// The event is POSTed directly, and the reply's delivery on the portal channel stays pending
// until the portal answered 2xx: the stage records the outcome in the transaction that acks
// its queue message, so a crash before that sends the event again (at least once).
type PortalSender struct {
	// Portal returns a portal's configuration from the configuration in force.
	Portal func(id string) (config.Portal, bool)
	// Client sends the events; default callbacks.Client (no redirects).
	Client *http.Client
}

// Send tells the portal of the reply, or, for a portal without a callback URL, leaves it in the
// postbox, where the portal reads it when it asks.
func (s *PortalSender) Send(ctx context.Context, o *Outgoing) (string, error) {
	p, ok := s.Portal(o.Portal)
	switch {
	case !ok:
		return "", adapters.Permanent(fmt.Errorf("portal %s is no longer configured", o.Portal))
	case !p.Postbox:
		return "", adapters.Permanent(fmt.Errorf("portal %s has no postbox (portals[].postbox)", o.Portal))
	case p.CallbackURL == "":
		return "postbox of " + o.Portal + " (no callback_url: the portal reads " + RepliesPath(o.SubmissionID) + ")", nil
	}
	secret, err := p.Secret()
	if err != nil {
		return "", fmt.Errorf("portal %s: callback secret: %w", o.Portal, err)
	}
	ev := ReplyEvent{Event: callbacks.EventReply, ID: o.SubmissionID, Reference: o.Reference, ReplyID: o.ReplyID,
		Kind: o.Kind, Status: o.Status, At: o.RepliedAt.UTC()}
	ev.Links.Replies = RepliesPath(o.SubmissionID)
	body, err := json.Marshal(ev)
	if err != nil {
		return "", err
	}
	if err := callbacks.Post(ctx, s.Client, p.CallbackURL, secret, o.ReplyID, callbacks.EventReply, body); err != nil {
		return "", err
	}
	return "reply event to " + callbacks.RedactURL(p.CallbackURL), nil
}
