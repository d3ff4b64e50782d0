package daemon

import (
	"errors"
	"fmt"

	"github.com/amtsbote/amtsbote/config"
	"github.com/amtsbote/amtsbote/pipeline"
	"github.com/amtsbote/amtsbote/replies"
	"github.com/amtsbote/amtsbote/store"
)

// The reply channels and address readers other packages provide plug in here. Each stays nil
// until its package is linked in: a configuration that needs a missing channel is refused at
// start, and a submission whose channel has no address reader names no address (the portal's
// postbox and print still reach the applicant).
var (
	// newEmailSender builds the e-mail channel from replies.email (package replies/email).
	newEmailSender func(d *Daemon) (replies.Sender, error)
	// newFitConnectReplySender builds the FIT-Connect reply channel from the FIT-Connect
	// subscriptions (package fitconnect); it is asked only when fitconnect.enabled.
	newFitConnectReplySender func(d *Daemon) (replies.Sender, error)
	// replyAddressReaders read the reply channel an application named from its submission's
	// metadata, by the channel the submission came by: store.ChannelPortal (the HTTP intake's
	// reply_channel) and store.ChannelFITConnect (FIT-Connect's replyChannel).
	replyAddressReaders = map[string]func(store.Submission) (replies.Address, error){}
)

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
		if newEmailSender == nil {
			return pipeline.ReplyDeps{}, errors.New("replies.email: this build of amtsbote has no e-mail channel for replies")
		}
		s, err := newEmailSender(d)
		if err != nil {
			return pipeline.ReplyDeps{}, fmt.Errorf("replies.email: %w", err)
		}
		senders[replies.ChannelEmail] = s
	}
	if d.cfg.FitConnect.Enabled {
		if newFitConnectReplySender == nil {
			d.log.Warn("this build of amtsbote sends no replies by FIT-Connect: replies to FIT-Connect submissions take the route's other channels")
		} else {
			s, err := newFitConnectReplySender(d)
			if err != nil {
				return pipeline.ReplyDeps{}, fmt.Errorf("fitconnect replies: %w", err)
			}
			senders[replies.ChannelFitConnect] = s
		}
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
