package priority

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// yieldSoon calls Yield and fails the test unless it returns within a few seconds.
func yieldSoon(t *testing.T, in *Intake, ctx context.Context) (func(), error) {
	t.Helper()
	type result struct {
		release func()
		err     error
	}
	done := make(chan result, 1)
	go func() {
		r, err := in.Yield(ctx)
		done <- result{r, err}
	}()
	select {
	case r := <-done:
		return r.release, r.err
	case <-time.After(5 * time.Second):
		t.Fatal("Yield did not return")
		return nil, nil
	}
}

// waiting starts Yield and reports on the returned channel once it returns.
func waiting(in *Intake, ctx context.Context) <-chan func() {
	got := make(chan func(), 1)
	go func() {
		r, err := in.Yield(ctx)
		if err != nil {
			r = nil
		}
		got <- r
	}()
	return got
}

// stillWaiting fails the test if Yield returned within a while.
func stillWaiting(t *testing.T, got <-chan func()) {
	t.Helper()
	select {
	case <-got:
		t.Fatal("Yield returned although another handler has the turn")
	case <-time.After(100 * time.Millisecond):
	}
}

func returned(t *testing.T, got <-chan func()) func() {
	t.Helper()
	select {
	case r := <-got:
		if r == nil {
			t.Fatal("Yield failed")
		}
		return r
	case <-time.After(5 * time.Second):
		t.Fatal("Yield did not return")
		return nil
	}
}

// Outside a burst, and without an Intake, nothing waits.
func TestNoBurstNoWait(t *testing.T) {
	var none *Intake
	defer none.Begin()()
	if none.Busy() {
		t.Fatal("a nil Intake is busy")
	}
	tests := []struct {
		name     string
		in       *Intake
		inFlight int
	}{
		{"nil intake", nil, 0},
		{"quiet", New(4, nil), 0},
		{"below the burst", New(4, nil), 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for range tc.inFlight {
				defer tc.in.Begin()()
			}
			// Many handlers at once: none waits, none holds a turn.
			for range 5 {
				release, err := yieldSoon(t, tc.in, context.Background())
				if err != nil {
					t.Fatal(err)
				}
				defer release()
			}
		})
	}
}

// During a burst one handler runs at a time; ending a turn lets the next one run.
func TestBurstTakesTurns(t *testing.T) {
	var waits atomic.Int64
	in := New(2, func(d time.Duration) { waits.Add(1) })
	in.PassOn = time.Minute
	end1, end2 := in.Begin(), in.Begin()
	defer end1()
	defer end2()
	if !in.Busy() {
		t.Fatal("two requests in flight are no burst")
	}
	first, err := yieldSoon(t, in, context.Background())
	if err != nil {
		t.Fatal(err)
	}
	second := waiting(in, context.Background())
	stillWaiting(t, second)
	first()
	first() // ending a turn twice does not end the next one
	next := returned(t, second)
	third := waiting(in, context.Background())
	stillWaiting(t, third)
	next()
	returned(t, third)()
	if waits.Load() != 2 {
		t.Fatalf("%d waits reported, want 2", waits.Load())
	}
}

// When the burst ends, waiting handlers go on at once, without a turn.
func TestBurstEnds(t *testing.T) {
	in := New(1, nil)
	in.PassOn = time.Minute
	end := in.Begin()
	first, err := yieldSoon(t, in, context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer first()
	second, third := waiting(in, context.Background()), waiting(in, context.Background())
	stillWaiting(t, second)
	end()
	returned(t, second)()
	returned(t, third)()
}

// A turn held longer than PassOn no longer holds up the next handler.
func TestLongTurnIsPassedOn(t *testing.T) {
	in := New(1, nil)
	in.PassOn = 200 * time.Millisecond
	defer in.Begin()()
	slow, err := yieldSoon(t, in, context.Background())
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	next := returned(t, waiting(in, context.Background()))
	if waited := time.Since(start); waited < 150*time.Millisecond {
		t.Fatalf("the next handler started after %s, before the turn was passed on", waited)
	}
	// The slow handler's end does not end the turn of the one after it.
	slow()
	third := waiting(in, context.Background())
	stillWaiting(t, third)
	next()
	returned(t, third)()
}

// A handler waiting for its turn gives up when its context ends (shutdown).
func TestYieldEndsWithTheContext(t *testing.T) {
	in := New(1, nil)
	in.PassOn = time.Minute
	defer in.Begin()()
	held, err := yieldSoon(t, in, context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer held()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := in.Yield(ctx)
		errc <- err
	}()
	time.Sleep(50 * time.Millisecond)
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Yield did not end with its context")
	}
}

// Many handlers during a burst: never two at once, and every one runs.
func TestBurstNeverRunsTwo(t *testing.T) {
	in := New(1, nil)
	in.PassOn = time.Minute
	end := in.Begin()
	var running, most, ran atomic.Int64
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10 {
				release, err := in.Yield(context.Background())
				if err != nil {
					t.Error(err)
					return
				}
				n := running.Add(1)
				for {
					m := most.Load()
					if n <= m || most.CompareAndSwap(m, n) {
						break
					}
				}
				time.Sleep(100 * time.Microsecond)
				running.Add(-1)
				ran.Add(1)
				release()
			}
		}()
	}
	wg.Wait()
	end()
	if most.Load() != 1 || ran.Load() != 160 {
		t.Fatalf("at most %d handlers at once, %d runs; want 1 and 160", most.Load(), ran.Load())
	}
}
