package bench_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/amtsbote/amtsbote/bench"
	"github.com/amtsbote/amtsbote/routes"
	"github.com/amtsbote/amtsbote/snapshot"
)

const demoConfig = "../fixtures/demo/amtsbote.yaml"

// loadSnapshot loads a configuration as the daemon does: the file, its schema sets, its routes
// with their mappings; a derived configuration must pass.
func loadSnapshot(t *testing.T, file string) *snapshot.Snapshot {
	t.Helper()
	s, err := snapshot.Load(file)
	if err != nil {
		t.Fatalf("the configuration does not load: %v", err)
	}
	t.Cleanup(func() { s.Retire() })
	return s
}

// files are the files a snapshot depends on besides the configuration and routes files, made
// absolute.
func files(t *testing.T, s *snapshot.Snapshot) []string {
	t.Helper()
	var out []string
	for _, f := range s.Files()[2:] {
		out = append(out, abs(t, f))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func abs(t *testing.T, path string) string {
	t.Helper()
	p, err := filepath.Abs(path)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func digest(t *testing.T, paths ...string) string {
	t.Helper()
	h := sha256.New()
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		h.Write(raw)
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}

// The isolation configuration loads, has the slow http destination, and every route sends to it
// with a copy of one of its own targets; the mapping files are the original's and the original
// files stay as they were.
func TestIsolationConfig(t *testing.T) {
	before := digest(t, demoConfig, "../fixtures/demo/routes.yaml")
	orig := loadSnapshot(t, demoConfig)
	file, err := bench.IsolationConfig(demoConfig, t.TempDir(), "http://127.0.0.1:9/deliveries", 4)
	if err != nil {
		t.Fatal(err)
	}
	s := loadSnapshot(t, file)
	if digest(t, demoConfig, "../fixtures/demo/routes.yaml") != before {
		t.Fatal("the given configuration changed")
	}
	if got, want := files(t, s), files(t, orig); !slices.Equal(got, want) {
		t.Fatalf("the derived configuration names other files:\n%v\nwant\n%v", got, want)
	}
	d, ok := s.Config.Destination(bench.SlowDestination)
	if !ok || d.Type != "http" || d.MaxInFlight != 4 || d.Options["url"] != "http://127.0.0.1:9/deliveries" || d.Retry.MaxAttempts == 0 {
		t.Fatalf("slow destination %+v (found %v)", d, ok)
	}
	if len(s.Config.Destinations) != len(orig.Config.Destinations)+1 || s.Config.Replies.PrintDestination != orig.Config.Replies.PrintDestination {
		t.Fatalf("destinations %d (given %d), print destination %q", len(s.Config.Destinations), len(orig.Config.Destinations), s.Config.Replies.PrintDestination)
	}
	for _, c := range []struct {
		route    string
		formData bool // the copied target: form_data, or the route's first (mapped) target
	}{
		{"gewerbeanmeldung", true},
		{"bewohnerparkausweis", false},
		{"vhs-kursbuchung", false},
	} {
		r, ok := s.Routes.Route(c.route)
		o, _ := orig.Routes.Route(c.route)
		if !ok || len(r.Targets) != len(o.Targets)+1 {
			t.Fatalf("route %s: %+v", c.route, r)
		}
		slow, ok := r.Target(bench.SlowDestination)
		if !ok || (slow.FormData != nil) != c.formData || slow.Recipient.Name == "" {
			t.Errorf("route %s: slow target %+v", c.route, slow)
		}
	}
}

// The shape has its routes, each matching its own Leistung and sending to the destinations the
// rule names, with the messages of the route the submission takes.
func TestShapeConfig(t *testing.T) {
	orig := loadSnapshot(t, demoConfig)
	template, _ := orig.Routes.Route("gewerbeanmeldung")
	for _, shape := range []bench.Shape{{Routes: 20, Destinations: 5}, {Routes: 1, Destinations: 2}, {Routes: 3, Destinations: 7}} {
		t.Run(shape.String(), func(t *testing.T) {
			file, keys, err := bench.ShapeConfig(demoConfig, t.TempDir(), shape, "99050012104000", "09162000")
			if err != nil {
				t.Fatal(err)
			}
			s := loadSnapshot(t, file)
			if len(keys) != shape.Routes || len(s.Routes.Routes) != shape.Routes || keys[0] != "99050012104000" {
				t.Fatalf("%d keys (%v), %d routes", len(keys), keys, len(s.Routes.Routes))
			}
			var dests []string
			for _, d := range s.Config.Destinations {
				dests = append(dests, d.ID)
				if strings.HasPrefix(d.ID, "bench-dest-") && (d.Type != "filedrop" || d.MaxInFlight != 4 || d.Options["path"] != "out/"+d.ID) {
					t.Errorf("destination %+v", d)
				}
			}
			want := []string{"druckdienst"} // named by replies.print_destination; the others are dropped
			for i := range shape.Destinations {
				want = append(want, bench.ShapeDestination(i))
			}
			if !slices.Equal(dests, want) {
				t.Fatalf("destinations %v, want %v", dests, want)
			}
			for i, key := range keys {
				r, ok := s.Routes.Match(routes.Submission{Leistung: key, AGS: "09162000"})
				if !ok || r.ID != fmt.Sprintf("bench-route-%03d", i+1) || len(r.Targets) != len(template.Targets) {
					t.Fatalf("key %s: route %+v", key, r)
				}
				for j, tg := range r.Targets {
					if want := bench.ShapeDestination((i + j) % shape.Destinations); tg.Destination != want ||
						abs(t, tg.Source) != abs(t, template.Targets[j].Source) || (tg.FormData != nil) != (template.Targets[j].FormData != nil) {
						t.Errorf("route %s target %d: %s from %s, want %s from %s", r.ID, j, tg.Destination, tg.Source, want, template.Targets[j].Source)
					}
				}
				if r.ApplicationDocument == nil || abs(t, r.ApplicationDocument.File) != abs(t, template.ApplicationDocument.File) {
					t.Errorf("route %s: application document %+v", r.ID, r.ApplicationDocument.File)
				}
			}
		})
	}
}

// What cannot be derived is refused with what is wrong.
func TestDeriveErrors(t *testing.T) {
	dir := t.TempDir()
	slowAlready, err := bench.IsolationConfig(demoConfig, filepath.Join(dir), "http://127.0.0.1:9/", 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		derive func(dir string) error
		want   string
	}{
		{"slow destination twice", func(d string) error {
			_, err := bench.IsolationConfig(slowAlready, d, "http://127.0.0.1:9/", 1)
			return err
		}, "destination bench-slow exists already"},
		{"no route for the submission", func(d string) error {
			_, _, err := bench.ShapeConfig(demoConfig, d, bench.Shape{Routes: 2, Destinations: 2}, "11111111111111", "09162000")
			return err
		}, "no route takes leistung 11111111111111 for ags 09162000"},
		{"other municipality", func(d string) error {
			_, _, err := bench.ShapeConfig(demoConfig, d, bench.Shape{Routes: 2, Destinations: 2}, "99050012104000", "05315000")
			return err
		}, "no route takes leistung"},
		{"fewer destinations than targets", func(d string) error {
			_, _, err := bench.ShapeConfig(demoConfig, d, bench.Shape{Routes: 20, Destinations: 1}, "99050012104000", "09162000")
			return err
		}, "has 2 targets, more than the shape's destinations"},
		{"not a Leistung key", func(d string) error {
			_, _, err := bench.ShapeConfig(demoConfig, d, bench.Shape{Routes: 2, Destinations: 2}, "9905", "09162000")
			return err
		}, `leistung "9905" is not a 14-digit key`},
		{"configuration that does not load", func(d string) error {
			_, err := bench.IsolationConfig("../fixtures/demo/nothing.yaml", d, "http://127.0.0.1:9/", 1)
			return err
		}, "nothing.yaml"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := c.derive(t.TempDir())
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one saying %q", err, c.want)
			}
		})
	}
}

func TestParseShape(t *testing.T) {
	for _, c := range []struct {
		in   string
		want bench.Shape
		err  string
	}{
		{"20x5", bench.Shape{Routes: 20, Destinations: 5}, ""},
		{" 1x1 ", bench.Shape{Routes: 1, Destinations: 1}, ""},
		{"1000x100", bench.Shape{Routes: 1000, Destinations: 100}, ""},
		{"20", bench.Shape{}, "not a shape such as 20x5"},
		{"20X5", bench.Shape{}, "not a shape"},
		{"-1x5", bench.Shape{}, "not a shape"},
		{"0x5", bench.Shape{}, "routes must be 1 to 1000"},
		{"1001x5", bench.Shape{}, "routes must be 1 to 1000"},
		{"20x0", bench.Shape{}, "destinations must be 1 to 100"},
		{"20x101", bench.Shape{}, "destinations must be 1 to 100"},
	} {
		got, err := bench.ParseShape(c.in)
		if got != c.want || (err == nil) != (c.err == "") || (err != nil && !strings.Contains(err.Error(), c.err)) {
			t.Errorf("ParseShape(%q) = %v, %v; want %v, %q", c.in, got, err, c.want, c.err)
		}
	}
}

func FuzzParseShape(f *testing.F) {
	for _, s := range []string{"20x5", "1x1", "0x0", "9999x9999", "x", "20x5x3", " 3x4\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sh, err := bench.ParseShape(s)
		if err != nil {
			if sh != (bench.Shape{}) {
				t.Fatalf("%q: error %v with shape %v", s, err, sh)
			}
			return
		}
		if sh.Routes < 1 || sh.Routes > 1000 || sh.Destinations < 1 || sh.Destinations > 100 {
			t.Fatalf("%q: shape %v out of range", s, sh)
		}
		if again, err := bench.ParseShape(sh.String()); err != nil || again != sh {
			t.Fatalf("%q: %v does not read back: %v, %v", s, sh, again, err)
		}
	})
}

func TestShapeKeys(t *testing.T) {
	for _, c := range []struct {
		leistung string
		n        int
		want     []string
		ok       bool
	}{
		{"99050012104000", 3, []string{"99050012104000", "99050012104001", "99050012104002"}, true},
		{"99050012104777", 1, []string{"99050012104000"}, true},
		{"9905001210400", 1, nil, false},
		{"9905001210400x", 1, nil, false},
		{"99050012104000", 1001, nil, false},
	} {
		got, err := bench.ShapeKeys(c.leistung, c.n)
		if (err == nil) != c.ok || !slices.Equal(got, c.want) {
			t.Errorf("ShapeKeys(%q, %d) = %v, %v", c.leistung, c.n, got, err)
		}
	}
	keys, _ := bench.ShapeKeys("99050012104000", 1000)
	if len(slices.Compact(slices.Clone(keys))) != 1000 {
		t.Error("1000 keys are not all different")
	}
}

// The slow receiver answers deliveries (POST, PUT) with 200 and counts them, refuses other
// methods, and on Close ends the requests it is still holding.
func TestSlowReceiver(t *testing.T) {
	r, err := bench.StartSlowReceiver(time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for _, c := range []struct {
		method string
		status int
		counts int
	}{
		{http.MethodPost, http.StatusOK, 1},
		{http.MethodPut, http.StatusOK, 2},
		{http.MethodGet, http.StatusMethodNotAllowed, 2},
	} {
		req, _ := http.NewRequest(c.method, r.URL(), strings.NewReader("<message/>"))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		st := r.Stats()
		if res.StatusCode != c.status || st.Answered != c.counts || st.Received != c.counts || st.First.IsZero() || st.Latest.Before(st.First) {
			t.Errorf("%s: %d, stats %+v; want %d, %d answered", c.method, res.StatusCode, st, c.status, c.counts)
		}
	}

	held, err := bench.StartSlowReceiver(time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	answered := make(chan error, 1)
	go func() {
		res, err := http.Post(held.URL(), "application/xml", strings.NewReader("<message/>"))
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				err = fmt.Errorf("a held request was answered %d", res.StatusCode)
			}
		}
		answered <- err
	}()
	for held.Stats().Received == 0 {
		time.Sleep(10 * time.Millisecond)
	}
	if err := held.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-answered; err != nil && strings.Contains(err.Error(), "answered") {
		t.Fatal(err)
	}
	if st := held.Stats(); st.Received != 1 || st.Answered != 0 {
		t.Fatalf("held request: stats %+v", st)
	}
}

// With the slow destination added, the load's figures leave it out: the others' deliveries are
// waited for and counted, the slow one's are not.
func TestRunLeavesOutTheSlowDestination(t *testing.T) {
	recv, err := bench.StartSlowReceiver(200 * time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer recv.Close()
	file, err := bench.IsolationConfig(demoConfig, t.TempDir(), recv.URL(), 1)
	if err != nil {
		t.Fatal(err)
	}
	target := startDaemon(t, file)
	rep, err := bench.Run(context.Background(), bench.Options{Targets: []string{target}, Token: "demo-portal-token",
		Submission: "../fixtures/demo/submission.json", Count: 8, Connections: 4, WaitDelivered: time.Minute,
		WaitExcept: []string{bench.SlowDestination}})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Accepted != 8 || rep.Delivered != 8 || rep.Unfinished != 0 || len(rep.Finished) != 0 || rep.DeliveredPerSecond <= 0 {
		t.Fatalf("report %+v", rep)
	}
	if want := map[string]int{"eakte": 8, "gewerbe-fachverfahren": 8}; !maps.Equal(rep.Destinations, want) {
		t.Fatalf("delivered to %v, want %v (not the slow destination)", rep.Destinations, want)
	}
}

// The load spread over the shape's Leistung keys reaches every route and destination.
func TestRunSpreadsOverTheShape(t *testing.T) {
	shape := bench.Shape{Routes: 4, Destinations: 3}
	file, keys, err := bench.ShapeConfig(demoConfig, t.TempDir(), shape, "99050012104000", "09162000")
	if err != nil {
		t.Fatal(err)
	}
	target := startDaemon(t, file)
	rep, err := bench.Run(context.Background(), bench.Options{Targets: []string{target}, Token: "demo-portal-token",
		Submission: "../fixtures/demo/submission.json", Count: 8, Connections: 2, WaitDelivered: time.Minute, Leistungen: keys})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Accepted != 8 || rep.Delivered != 8 || len(rep.Errors) != 0 {
		t.Fatalf("report %+v", rep)
	}
	// Two submissions per route; route i sends to destinations i and i+1 (mod 3).
	wantRoutes := map[string]int{"bench-route-001": 2, "bench-route-002": 2, "bench-route-003": 2, "bench-route-004": 2}
	wantDests := map[string]int{"bench-dest-1": 6, "bench-dest-2": 6, "bench-dest-3": 4}
	if !maps.Equal(rep.Routes, wantRoutes) || !maps.Equal(rep.Destinations, wantDests) {
		t.Fatalf("routes %v, destinations %v; want %v, %v", rep.Routes, rep.Destinations, wantRoutes, wantDests)
	}
}
