package daemon

import (
	"context"
	"fmt"

	xtaintake "github.com/amtsbote/amtsbote/xta/intake"
)

// xtaPolling is the XTA intake while it polls.
type xtaPolling struct {
	stop context.CancelFunc
	done chan struct{}
}

// startXTA starts polling the configured XTA inboxes, if any.
func (d *Daemon) startXTA() error {
	if len(d.cfg.XTA.Inboxes) == 0 {
		return nil
	}
	boxes, err := xtaintake.Load(d.cfg)
	if err != nil {
		return fmt.Errorf("xta:\n%w", err)
	}
	in := &xtaintake.Intake{Store: d.store, Inboxes: boxes, Current: d.acquire, Logger: d.log, Now: d.now}
	ctx, stop := context.WithCancel(context.Background())
	d.xta = &xtaPolling{stop: stop, done: make(chan struct{})}
	go func() { defer close(d.xta.done); in.Poll(ctx) }()
	for _, b := range boxes {
		d.log.Info("XTA inbox is polled", "inbox", b.Config.ID, "url", b.Config.URL, "readers", len(b.Readers),
			"poll_interval", b.Config.PollInterval.String())
	}
	return nil
}

// stopXTA stops polling and waits for a poll in progress (a fetch is abandoned, its message
// stays in the mailbox); it may be called more than once.
func (d *Daemon) stopXTA() {
	if d.xta != nil {
		d.xta.stop()
		<-d.xta.done
		d.xta = nil
	}
}
