package pipeline

import (
	"github.com/amtsbote/amtsbote/replies"
	"github.com/amtsbote/amtsbote/routes"
)

// Reach is what decides whether a channel can reach the applicant of a reply.
type Reach struct {
	// Address is the reply channel the application named.
	Address replies.Address
	// Configured tells whether a channel has a sender (e-mail: replies.email is configured,
	// FIT-Connect: a FIT-Connect sender, print: replies.print_destination is set).
	Configured func(channel string) bool
	// Postbox is set when the submission came from a portal with postbox: true.
	Postbox bool
	// Kind and Documents describe the reply: a status update without documents is not printed.
	Kind      string
	Documents int
}

// Usable tells whether channel can reach the applicant.
func (r Reach) Usable(channel string) bool {
	if r.Configured == nil || !r.Configured(channel) {
		return false
	}
	switch channel {
	case replies.ChannelFitConnect:
		return r.Address.FitConnect != nil
	case replies.ChannelEmail:
		return r.Address.Email != ""
	case replies.ChannelPortal:
		return r.Postbox
	case replies.ChannelPrint:
		// A letter for a status update alone is not worth its postage: it goes on paper only
		// with a document (a Bescheid, say).
		return r.Kind != replies.KindStatus || r.Documents > 0
	}
	return false
}

// PlanChannels picks the channels a reply travels by: the first channel of the route's policy
// that can reach the applicant, and the portal's postbox as well when the policy says so
// (also_portal) and the portal has one. None: no channel reaches the applicant.
func PlanChannels(policy routes.ReplyPolicy, r Reach) []string {
	var out []string
	for _, ch := range policy.Channels {
		if r.Usable(ch) {
			out = append(out, ch)
			break
		}
	}
	if policy.PortalToo() && r.Usable(replies.ChannelPortal) && (len(out) == 0 || out[0] != replies.ChannelPortal) {
		out = append(out, replies.ChannelPortal)
	}
	return out
}
