package daemon

import (
	"fmt"

	"github.com/amtsbote/amtsbote/config"
	"github.com/amtsbote/amtsbote/fitconnect"
	"github.com/amtsbote/amtsbote/pipeline"
	"github.com/amtsbote/amtsbote/replies"
	"github.com/amtsbote/amtsbote/replies/email"
	"github.com/amtsbote/amtsbote/store"
)

// replyAddressReaders read the reply channel an application named from its submission's
// metadata, by the channel the submission came by: the HTTP intake's reply_channel, and
// FIT-Connect's replyChannel (a fitConnect key, or an e-mail address with an optional PGP key).
var replyAddressReaders = map[string]func(store.Submission) (replies.Address, error){
	store.ChannelPortal:     func(s store.Submission) (replies.Address, error) { return replies.AddressFromMeta(s.Meta) },
	store.ChannelFITConnect: func(s store.Submission) (replies.Address, error) { return fitconnect.ReplyAddress(s.Meta) },
}

// replyDeps builds the reply channels the configuration asks for: the portal's postbox always
// (it reaches only portals with postbox: true), print when replies.print_destination is set,
// e-mail when replies.email is, FIT-Connect with the FIT-Connect intake.
func (d *Daemon) replyDeps() (pipeline.ReplyDeps, error) {
	senders := map[string]replies.Sender{
		replies.ChannelPortal: &replies.PortalSender{Portal: d.portal},
	}
	if id := d.cfg.Replies.PrintDestination; id != "" {
		a, ok := d.adapters[id]
		if !ok {
			return pipeline.ReplyDeps{}, fmt.Errorf("replies.print_destination: %q is not in destinations", id)
		}
		senders[replies.ChannelPrint] = &replies.PrintSender{Destination: id, Adapter: a}
	}
	if len(d.cfg.Replies.Email) > 0 {
		s, err := email.New(d.cfg.Replies.Email)
		if err != nil {
			return pipeline.ReplyDeps{}, fmt.Errorf("replies.email: %w", err)
		}
		senders[replies.ChannelEmail] = s
	}
	if d.cfg.FitConnect.Enabled {
		fc := fitconnect.NewReplySender(d.fitconnectSubs...)
		fc.Now = d.now
		senders[replies.ChannelFitConnect] = fc
	}
	return pipeline.ReplyDeps{Senders: senders, AddressOf: replyAddress}, nil
}

// replyAddress reads the reply channel a submission's application named, with the reader of
// the channel it came by.
func replyAddress(sub store.Submission) (replies.Address, error) {
	read := replyAddressReaders[sub.Channel]
	if read == nil {
		return replies.Address{}, nil
	}
	return read(sub)
}

// portal is a portal's configuration in the configuration in force.
func (d *Daemon) portal(id string) (config.Portal, bool) {
	snap := d.acquire()
	defer snap.Release()
	for _, p := range snap.Config.Portals {
		if p.ID == id {
			return p, true
		}
	}
	return config.Portal{}, false
}
