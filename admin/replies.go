package admin

import (
	"net/http"
	"time"

	"github.com/amtsbote/amtsbote/pipeline"
	"github.com/amtsbote/amtsbote/store"
)

// ReplyDeliveryDetail is a reply's delivery on one channel as operators see it.
type ReplyDeliveryDetail struct {
	ReplyID       string     `json:"reply_id"`
	Channel       string     `json:"channel"`
	Status        string     `json:"status"`
	Attempts      int        `json:"attempts"`
	LastError     string     `json:"last_error,omitempty"`
	NextAttemptAt *time.Time `json:"next_attempt_at,omitempty"`
	Artefact      string     `json:"artefact,omitempty"`
	UpdatedAt     time.Time  `json:"updated_at"`
}

func replyDeliveryDetails(ds []store.ReplyDelivery) []ReplyDeliveryDetail {
	out := make([]ReplyDeliveryDetail, 0, len(ds))
	for _, d := range ds {
		rd := ReplyDeliveryDetail{ReplyID: d.ReplyID, Channel: d.Channel, Status: d.Status, Attempts: d.Attempts,
			LastError: d.LastError, Artefact: d.Artefact, UpdatedAt: d.UpdatedAt}
		if !d.NextAttemptAt.IsZero() {
			next := d.NextAttemptAt
			rd.NextAttemptAt = &next
		}
		out = append(out, rd)
	}
	return out
}

// DeadReplyView is a dead reply delivery as the API and the CLI show it.
type DeadReplyView struct {
	ReplyID      string    `json:"reply_id"`
	Channel      string    `json:"channel"`
	SubmissionID string    `json:"submission_id"`
	Kind         string    `json:"kind"`
	Source       string    `json:"source"`
	Portal       string    `json:"portal"`
	Reference    string    `json:"reference"`
	Route        string    `json:"route"`
	Attempts     int       `json:"attempts"`
	LastError    string    `json:"last_error"`
	DeadSince    time.Time `json:"dead_since"`
}

// ReplyView turns a dead reply delivery into its API form.
func ReplyView(d store.DeadReply) DeadReplyView {
	return DeadReplyView{ReplyID: d.ReplyID, Channel: d.Channel, SubmissionID: d.SubmissionID, Kind: d.Kind, Source: d.Source,
		Portal: d.Portal, Reference: d.Reference, Route: d.Route, Attempts: d.Attempts, LastError: d.LastError, DeadSince: d.UpdatedAt}
}

// deadReplies lists the dead reply deliveries, oldest first; ?channel=C only those of one
// channel (none: the replies no channel reached).
func (s *Server) deadReplies(w http.ResponseWriter, r *http.Request) {
	all, err := s.Store.DeadReplies(r.Context(), r.URL.Query().Get("channel"))
	if err != nil {
		s.fail(w, err)
		return
	}
	out := make([]DeadReplyView, 0, len(all))
	for _, d := range all {
		out = append(out, ReplyView(d))
	}
	writeJSON(w, http.StatusOK, map[string]any{"dead_replies": out})
}

// replayReply sends a dead reply again over its channel (plans it again for channel none).
func (s *Server) replayReply(w http.ResponseWriter, r *http.Request) {
	who := Actor(r)
	key := pipeline.ReplyKey{ReplyID: r.PathValue("reply"), Channel: r.PathValue("channel")}
	revived, err := pipeline.ReplayReplies(r.Context(), s.Store, []pipeline.ReplyKey{key}, who, s.Now())
	if err != nil {
		s.fail(w, err)
		return
	}
	if len(revived) == 0 {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no dead delivery of this reply on this channel (or retention purged its data)"})
		return
	}
	s.Logger.Info("dead reply replayed", "reply_id", key.ReplyID, "channel", key.Channel, "by", who)
	writeJSON(w, http.StatusAccepted, map[string]any{"replayed": revived})
}
