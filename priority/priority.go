// Package priority gives the intake of submissions precedence over the pipeline during bursts.
//
// A portal waits for its 202 while the pipeline's work can wait in the durable queues. So when
// many submissions are being handed in at once (a burst), the pipeline's handlers take turns,
// one at a time, and leave the cores to intake; once intake is quiet again they run side by
// side as configured.
//
// The pipeline never stops: one handler always runs, so a steady stream of requests slows the
// pipeline down but cannot starve it. A handler that keeps its turn longer than DefaultPassOn (it waits
// on a slow destination, say, and uses no CPU meanwhile) no longer holds up the others: the
// next one takes a turn beside it.
package priority

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// DefaultPassOn is how long a handler's turn lasts at most before the next handler may
	// start beside it.
	DefaultPassOn = 50 * time.Millisecond
	// recheck is how often a waiting handler looks whether the burst is over.
	recheck = 20 * time.Millisecond
)

// Intake counts the intake requests in flight and lets the pipeline's handlers yield to them.
// A nil *Intake gives no priority: Begin and Yield return at once.
type Intake struct {
	// PassOn is how long a turn lasts at most before the next handler may start beside it.
	// New sets DefaultPassOn; change it before the Intake is used.
	PassOn time.Duration

	inflight atomic.Int64
	// busy is how many requests in flight make a burst.
	busy int64
	// waited, if set, is told of each handler that waited for its turn.
	waited func(time.Duration)

	mu sync.Mutex
	// turn is the current turn's number and start; held whether one is running.
	turn  uint64
	since time.Time
	held  bool
	// free wakes one waiting handler when a turn ends.
	free chan struct{}
}

// New returns an Intake for which busy requests in flight (at least 1) make a burst. waited,
// if not nil, is called with the wait of each handler that had to wait for its turn.
func New(busy int, waited func(time.Duration)) *Intake {
	return &Intake{PassOn: DefaultPassOn, busy: int64(max(busy, 1)), waited: waited, free: make(chan struct{}, 1)}
}

// Begin counts an intake request until the returned function is called.
func (in *Intake) Begin() (end func()) {
	if in == nil {
		return func() {}
	}
	in.inflight.Add(1)
	return func() { in.inflight.Add(-1) }
}

// Busy tells whether intake is in a burst.
func (in *Intake) Busy() bool { return in != nil && in.inflight.Load() >= in.busy }

// Yield is called by a pipeline handler before it works. Outside a burst it returns at once.
// During a burst it waits for its turn and holds it until release is called; it returns ctx's
// error if ctx ends while it waits.
func (in *Intake) Yield(ctx context.Context) (release func(), err error) {
	if !in.Busy() {
		return func() {}, nil
	}
	start := time.Now()
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
		if waited := time.Since(start); err == nil && in.waited != nil && waited >= time.Millisecond {
			in.waited(waited)
		}
	}()
	for in.Busy() {
		in.mu.Lock()
		now := time.Now()
		left := in.PassOn - now.Sub(in.since)
		if !in.held || left <= 0 {
			in.turn++
			in.since, in.held = now, true
			n := in.turn
			in.mu.Unlock()
			return in.end(n), nil
		}
		in.mu.Unlock()
		wait := min(left, recheck)
		if timer == nil {
			timer = time.NewTimer(wait)
		} else {
			timer.Reset(wait)
		}
		select {
		case <-in.free:
		case <-timer.C:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return func() {}, nil
}

// end returns the function that ends turn n: unless a later turn has begun since, the turn is
// free and one waiting handler is woken.
func (in *Intake) end(n uint64) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			in.mu.Lock()
			defer in.mu.Unlock()
			if in.turn != n {
				return
			}
			in.held = false
			select {
			case in.free <- struct{}{}:
			default:
			}
		})
	}
}
