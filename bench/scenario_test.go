package bench

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// A submission counts as finished for the figures when every destination they do not leave out
// has concluded; the time is the last of those destinations' deliveries.
func TestStatusOutcome(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	at := func(s int) string { return t0.Add(time.Duration(s) * time.Second).Format(time.RFC3339) }
	for _, c := range []struct {
		name     string
		status   string // JSON as the status API answers
		except   []string
		how      string
		when     int // seconds after t0
		finished bool
	}{
		{"delivered to all", `{"status":"delivered","deliveries":[{"destination":"a","status":"delivered"},{"destination":"b","status":"delivered"}],
			"events":[{"at":"` + at(1) + `","type":"delivered","destination":"a"},{"at":"` + at(2) + `","type":"delivered","destination":"b"}]}`,
			nil, "delivered", 2, true},
		{"acknowledged counts as delivered", `{"status":"acknowledged","events":[{"at":"` + at(3) + `","type":"delivered","destination":"a"}]}`,
			nil, "delivered", 3, true},
		{"still processing", `{"status":"processing","deliveries":[{"destination":"a","status":"delivered"},{"destination":"b","status":"pending"}]}`,
			nil, "", 0, false},
		{"failed mapping", `{"status":"failed"}`, nil, "failed", 0, true},
		{"the slow one pending, left out", `{"status":"processing","deliveries":[{"destination":"a","status":"delivered"},{"destination":"slow","status":"pending"}],
			"events":[{"at":"` + at(1) + `","type":"delivered","destination":"a"}]}`,
			[]string{"slow"}, "delivered", 1, true},
		{"the slow one delivered later, left out of the time", `{"status":"delivered","deliveries":[{"destination":"a","status":"delivered"},{"destination":"slow","status":"delivered"}],
			"events":[{"at":"` + at(1) + `","type":"delivered","destination":"a"},{"at":"` + at(9) + `","type":"delivered","destination":"slow"}]}`,
			[]string{"slow"}, "delivered", 1, true},
		{"another one pending", `{"status":"processing","deliveries":[{"destination":"a","status":"pending"},{"destination":"slow","status":"delivered"}]}`,
			[]string{"slow"}, "", 0, false},
		{"the slow one dead, the others delivered", `{"status":"dead","deliveries":[{"destination":"a","status":"delivered"},{"destination":"slow","status":"dead"}],
			"events":[{"at":"` + at(4) + `","type":"delivered","destination":"a"}]}`,
			[]string{"slow"}, "delivered", 4, true},
		{"another one dead", `{"status":"processing","deliveries":[{"destination":"a","status":"dead"},{"destination":"b","status":"delivered"},{"destination":"slow","status":"pending"}]}`,
			[]string{"slow"}, "dead", 0, true},
		{"not yet mapped", `{"status":"received"}`, []string{"slow"}, "", 0, false},
		{"only the slow one", `{"status":"processing","deliveries":[{"destination":"slow","status":"pending"}]}`, []string{"slow"}, "", 0, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			var st status
			if err := json.Unmarshal([]byte(c.status), &st); err != nil {
				t.Fatal(err)
			}
			except := map[string]bool{}
			for _, d := range c.except {
				except[d] = true
			}
			how, when, finished := st.outcome(except)
			want := time.Time{}
			if c.when > 0 {
				want = t0.Add(time.Duration(c.when) * time.Second)
			}
			if how != c.how || finished != c.finished || !when.Equal(want) {
				t.Fatalf("outcome %q %v %v; want %q %v %v", how, when, finished, c.how, want, c.finished)
			}
		})
	}
}

func TestIsolationSummary(t *testing.T) {
	round := func(without, with float64, answered int) IsolationRound {
		return IsolationRound{Without: Report{DeliveredPerSecond: without}, With: Report{DeliveredPerSecond: with},
			Slow: ReceiverStats{Received: answered + 4, Answered: answered}, Span: 50 * time.Second}
	}
	for _, c := range []struct {
		name   string
		rounds []IsolationRound
		want   []string
	}{
		{"one round", []IsolationRound{round(212, 205, 200)}, []string{
			"isolation  others delivered 212/s without, 205/s with the slow destination (0.97×); slow destination delivered 200 in 50s (4.0/s)\n"}},
		{"unknown without", []IsolationRound{round(0, 205, 0)}, []string{"(ratio unknown)", "delivered 0 in 50s (0.0/s)"}},
		{"unfinished", []IsolationRound{{Without: Report{DeliveredPerSecond: 10, Unfinished: 3}, With: Report{DeliveredPerSecond: 5}}},
			[]string{"(0.50×) — unfinished when the wait ended: 3 without, 0 with;"}},
		{"daemon CPU", []IsolationRound{{Without: Report{DeliveredPerSecond: 10, Accepted: 1000, DaemonCPU: CPU{User: 20 * time.Second, System: 10 * time.Second}},
			With: Report{DeliveredPerSecond: 9, Accepted: 1000, DaemonCPU: CPU{User: 24 * time.Second, System: 9 * time.Second}}}},
			[]string{"(0.90×); daemon CPU 33.0 vs 30.0 ms per submission (1.10×); slow destination"}},
		{"queue waits", []IsolationRound{{Without: Report{DeliveredPerSecond: 10, Waits: map[string]Percentiles{"b": {P50: 2 * time.Second}, "a": {P50: time.Second}}},
			With: Report{DeliveredPerSecond: 10, Waits: map[string]Percentiles{"a": {P50: 1500 * time.Millisecond}, "b": {P50: 2 * time.Second}}}}},
			[]string{"(1.00×); mapped → delivered p50 without → with: a 1s → 1.5s, b 2s → 2s; slow destination"}},
		{"three rounds", []IsolationRound{round(200, 180, 1), round(200, 200, 1), round(200, 150, 1)}, []string{
			"round 1: isolation  others delivered 200/s without, 180/s with the slow destination (0.90×)",
			"round 3: isolation  others delivered 200/s without, 150/s",
			"isolation  median 0.90× over 3 rounds (0.75×–1.00×)\n"}},
		{"three rounds with the daemons' CPU", func() []IsolationRound {
			rs := []IsolationRound{round(200, 180, 1), round(200, 200, 1), round(200, 150, 1)}
			for i, ms := range []time.Duration{33, 30, 36} {
				rs[i].Without.Accepted, rs[i].Without.DaemonCPU.User = 1000, 30*time.Second
				rs[i].With.Accepted, rs[i].With.DaemonCPU.User = 1000, ms*time.Second
			}
			return rs
		}(), []string{"isolation  median 0.90× over 3 rounds (0.75×–1.00×), daemon CPU per submission 1.10× (1.00×–1.20×)\n"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var b strings.Builder
			WriteIsolation(&b, c.rounds)
			containsAll(t, b.String(), c.want)
		})
	}
}

func TestShapeSummary(t *testing.T) {
	shape := Shape{Routes: 20, Destinations: 5}
	rep := func(accepted int, elapsed time.Duration, drain, e2e float64, backlog int) Report {
		return Report{Accepted: accepted, Elapsed: elapsed, DrainPerSecond: drain, DeliveredPerSecond: e2e, Backlog: backlog}
	}
	for _, c := range []struct {
		name   string
		rounds []ShapeRound
		want   []string
	}{
		{"drain after the intake", []ShapeRound{{shape, rep(1000, time.Second, 50, 40, 900), rep(900, time.Second, 45, 38, 850)}}, []string{
			"shape 20x5  intake 900 vs 1000 accepted/s (0.90×); drain 45 vs 50 delivered/s (0.90×) with 850 vs 900 waiting when the intake ended; end to end 38 vs 40 delivered/s (0.95×) (shape vs as given)\n"}},
		{"the last tenth", []ShapeRound{{shape, Report{Accepted: 1000, Elapsed: time.Second, TailPerSecond: 800, DrainPerSecond: 50, DeliveredPerSecond: 40, Backlog: 900},
			Report{Accepted: 1000, Elapsed: time.Second, TailPerSecond: 600, DrainPerSecond: 50, DeliveredPerSecond: 40, Backlog: 900}}}, []string{
			"intake 1000 vs 1000 accepted/s (1.00×), the last tenth 600 vs 800 (0.75×); drain 50 vs 50"}},
		{"no backlog: end to end", []ShapeRound{{shape, rep(100, time.Second, 0, 40, 0), rep(100, time.Second, 0, 20, 0)}}, []string{
			"intake 100 vs 100 accepted/s (1.00×); end to end 20 vs 40 delivered/s (0.50×)"}},
		{"two rounds", []ShapeRound{
			{shape, rep(1000, time.Second, 50, 40, 9), rep(800, time.Second, 40, 30, 9)},
			{shape, rep(1000, time.Second, 50, 40, 9), rep(1100, time.Second, 55, 30, 9)},
		}, []string{"round 2: shape 20x5  intake 1100 vs 1000", "shape 20x5  median over 2 rounds: intake 0.95× (0.80×–1.10×), drain 0.95× (0.80×–1.10×)\n"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var b strings.Builder
			WriteShape(&b, c.rounds)
			containsAll(t, b.String(), c.want)
		})
	}
}

// The tail rate is the last tenth of the accepted requests over the time they took.
func TestTailRate(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	every := func(n int, gap func(i int) time.Duration) []time.Time {
		at := make([]time.Time, n)
		for i := 1; i < n; i++ {
			at[i] = at[i-1].Add(gap(i))
		}
		for i := range at {
			at[i] = t0.Add(at[i].Sub(time.Time{}))
		}
		return at
	}
	for _, c := range []struct {
		name string
		at   []time.Time
		want float64
	}{
		{"too few", every(99, func(int) time.Duration { return time.Millisecond }), 0},
		{"steady 1000/s", every(1000, func(int) time.Duration { return time.Millisecond }), 1000},
		{"slower at the end", every(1000, func(i int) time.Duration {
			if i >= 900 {
				return 10 * time.Millisecond
			}
			return time.Millisecond
		}), 100},
		{"all at once", every(200, func(int) time.Duration { return 0 }), 0},
	} {
		if got := tailRate(c.at); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

// The wait of a destination is from its message's mapping to its delivery; destinations left
// out and messages not yet delivered have none.
func TestStatusWaits(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	ev := func(s int, typ, dest string) string {
		return `{"at":"` + t0.Add(time.Duration(s)*time.Second).Format(time.RFC3339) + `","type":"` + typ + `","destination":"` + dest + `"}`
	}
	raw := `{"status":"processing","events":[` + strings.Join([]string{
		ev(0, "received", ""), ev(1, "mapped", "a"), ev(1, "mapped", "b"), ev(1, "mapped", "slow"), ev(1, "mapped", "c"),
		ev(3, "delivered", "a"), ev(4, "delivery_failed", "b"), ev(9, "delivered", "b"), ev(5, "delivered", "slow"),
	}, ",") + `]}`
	var st status
	if err := json.Unmarshal([]byte(raw), &st); err != nil {
		t.Fatal(err)
	}
	got := st.waits(map[string]bool{"slow": true})
	want := map[string]time.Duration{"a": 2 * time.Second, "b": 8 * time.Second}
	if len(got) != len(want) || got["a"] != want["a"] || got["b"] != want["b"] {
		t.Fatalf("waits %v, want %v", got, want)
	}
}

// containsAll fails the test unless out holds every one of want.
func containsAll(t *testing.T, out string, want []string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Fatalf("output\n%s\nlacks %q", out, w)
		}
	}
}
