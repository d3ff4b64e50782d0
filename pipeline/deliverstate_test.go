package pipeline

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/amtsbote/amtsbote/adapters"
	"github.com/amtsbote/amtsbote/config"
)

// failingAdapter fails while fail is set.
type failingAdapter struct{ fail atomic.Bool }

func (a *failingAdapter) Deliver(ctx context.Context, _ *adapters.Package) (string, error) {
	if a.fail.Load() {
		return "", errors.New("connection refused by eakte.example")
	}
	return "/out/x.zip", nil
}

func (a *failingAdapter) Close() error { return nil }

// A destination's state shows its circuit and the last error its transport reported; a success
// keeps the error and records when it went through. Handlers and readers run at once (-race).
func TestDestinationStates(t *testing.T) {
	clock := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	cfg := &config.Config{}
	p := &Pipeline{Deps: Deps{Config: cfg, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: now},
		deliverers: map[string]*deliverer{}}
	a := &failingAdapter{}
	a.fail.Store(true)
	dest := config.Destination{ID: "eakte", Breaker: config.Breaker{Failures: 3, Pause: 300 * time.Millisecond}}
	d := newDeliverer(p, dest, a)
	p.deliverers["eakte"] = d
	p.deliverers["dms"] = newDeliverer(p, config.Destination{ID: "dms", Breaker: config.Breaker{Failures: 3, Pause: time.Hour}}, &failingAdapter{})

	if got := p.DestinationStates()["eakte"]; got.Circuit != "closed" || got.LastError != "" || !got.LastErrorAt.IsZero() {
		t.Fatalf("before any delivery: %+v", got)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			// Once the circuit is open, deliver waits for it: the timeout ends the wait.
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			_, _ = d.deliver(ctx, &adapters.Package{})
		}()
		go func() { defer wg.Done(); _ = p.DestinationStates() }()
	}
	wg.Wait()
	got := p.DestinationStates()["eakte"]
	if got.Circuit != "open" || got.LastError != "connection refused by eakte.example" || !got.LastErrorAt.Equal(clock) {
		t.Fatalf("after the failures: %+v, want open with the error", got)
	}
	if dms := p.DestinationStates()["dms"]; dms.Circuit != "closed" || dms.LastError != "" {
		t.Fatalf("the other destination: %+v", dms)
	}

	// After the pause one delivery probes; it succeeds and closes the circuit.
	a.fail.Store(false)
	mu.Lock()
	clock = clock.Add(time.Minute)
	mu.Unlock()
	if _, err := d.deliver(context.Background(), &adapters.Package{}); err != nil {
		t.Fatal(err)
	}
	got = p.DestinationStates()["eakte"]
	if got.Circuit != "closed" || got.LastError != "connection refused by eakte.example" || !got.LastSuccessAt.Equal(clock) {
		t.Fatalf("after a success: %+v, want the last error kept and the success's time", got)
	}

	// A delivery cut short by shutdown is not the transport's error.
	a.fail.Store(true)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _ = d.deliver(ctx, &adapters.Package{})
	if got := p.DestinationStates()["eakte"]; !got.LastErrorAt.Equal(clock.Add(-time.Minute)) {
		t.Fatalf("a cancelled attempt was recorded: %+v", got)
	}
}
