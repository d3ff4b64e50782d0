// Package bench is amtsbote's load generator: it posts realistic submissions to running
// daemons over HTTP, at a fixed rate or as fast as the connections allow, and measures intake
// (accepted/s, latency percentiles, errors by kind) and, optionally, end-to-end delivery
// (delivered/s and the lag from acceptance to the last delivery of each submission).
package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime/multipart"
	"net"
	"net/http"
	"net/textproto"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Options say what load to generate.
type Options struct {
	// Targets are base URLs of amtsbote instances (http://host:port); requests go round-robin.
	Targets []string
	Token   string
	// Submission is a submission JSON file (the demo's by default); each request gets its own
	// reference.
	Submission string
	// DataBytes pads the form data to about this size (0: as in the file).
	DataBytes int
	// AttachmentBytes replaces the file's attachments with one random PDF-like file of this size
	// (0: as in the file).
	AttachmentBytes int
	// Multipart sends the attachment as a file part of a multipart/form-data request instead of
	// base64 in the JSON.
	Multipart   bool
	Connections int
	// Rate is requests per second in total (0: as fast as the connections allow).
	Rate float64
	// Duration or Count ends the run, whichever comes first (0: unlimited).
	Duration time.Duration
	Count    int
	// WaitDelivered waits, up to this long, until every accepted submission is delivered
	// (0: do not wait).
	WaitDelivered time.Duration
	// WaitExcept are destinations WaitDelivered neither waits for nor counts: a submission counts
	// as delivered once every other destination has delivered it.
	WaitExcept []string
	// Leistungen, if set, replace the submission's leistung: request n gets Leistungen[n mod
	// len], spreading the load evenly over them.
	Leistungen []string
}

// Report is what a run measured.
type Report struct {
	Sent, Accepted int
	Errors         map[string]int
	Elapsed        time.Duration
	Latency        Percentiles
	BodyBytes      int

	// Filled when Options.WaitDelivered is set.
	Delivered, Unfinished int
	Finished              map[string]int // final statuses other than delivered
	DeliveredPerSecond    float64
	Lag                   Percentiles
	EndToEnd              time.Duration
	// Backlog is how many accepted submissions were not yet delivered when the intake ended;
	// Drained how many of them were delivered by the end of the wait, the last Drain after the
	// intake ended; DrainPerSecond is Drained over Drain.
	Backlog, Drained int
	Drain            time.Duration
	DrainPerSecond   float64
	// TailPerSecond is the intake over the last tenth of the accepted requests, when the most
	// submissions were waiting (0 for fewer than 100).
	TailPerSecond float64
	// WaitExcept are the destinations the delivery figures leave out (Options.WaitExcept).
	WaitExcept []string
	// Routes counts the delivered submissions by route, Destinations their deliveries by
	// destination (without WaitExcept).
	Routes, Destinations map[string]int

	// Waits are, by destination (without WaitExcept), the time from a message's mapping to its
	// delivery there: what the destination's queue and handlers add, apart from the shared
	// intake and mapping.
	Waits map[string]Percentiles

	// DaemonCPU is the CPU time the daemons used from listening to the end of the run, when
	// the caller started them (Instances.CPUSinceStart, summed).
	DaemonCPU CPU
}

// CPUPerAccepted is DaemonCPU (user and system) per accepted submission (0 if unknown).
func (r Report) CPUPerAccepted() time.Duration {
	if r.Accepted == 0 {
		return 0
	}
	return (r.DaemonCPU.User + r.DaemonCPU.System) / time.Duration(r.Accepted)
}

// AcceptedPerSecond is the intake throughput.
func (r Report) AcceptedPerSecond() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Accepted) / r.Elapsed.Seconds()
}

// Percentiles summarise durations.
type Percentiles struct {
	P50, P95, P99, Max time.Duration
}

func percentiles(d []time.Duration) Percentiles {
	if len(d) == 0 {
		return Percentiles{}
	}
	slices.Sort(d)
	at := func(q float64) time.Duration { return d[min(len(d)-1, int(q*float64(len(d))))] }
	return Percentiles{P50: at(0.50), P95: at(0.95), P99: at(0.99), Max: d[len(d)-1]}
}

func (p Percentiles) String() string {
	r := func(d time.Duration) string {
		if d < 10*time.Millisecond {
			return d.Round(10 * time.Microsecond).String()
		}
		return d.Round(time.Millisecond).String()
	}
	return fmt.Sprintf("p50 %s  p95 %s  p99 %s  max %s", r(p.P50), r(p.P95), r(p.P99), r(p.Max))
}

// template is a request body with the reference left out: prefix + reference + suffix.
type template struct {
	prefix, suffix []byte
	contentType    string
}

func (t template) body(ref string) []byte {
	b := make([]byte, 0, len(t.prefix)+len(ref)+len(t.suffix))
	return append(append(append(b, t.prefix...), ref...), t.suffix...)
}

const refMarker = "\x00REF\x00"

// makeTemplates makes a template per Leistung of o.Leistungen, or one for the submission as it is.
func makeTemplates(o Options) ([]template, error) {
	if len(o.Leistungen) == 0 {
		t, err := makeTemplate(o, "")
		return []template{t}, err
	}
	out := make([]template, len(o.Leistungen))
	for i, l := range o.Leistungen {
		var err error
		if out[i], err = makeTemplate(o, l); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func makeTemplate(o Options, leistung string) (template, error) {
	raw, err := os.ReadFile(o.Submission)
	if err != nil {
		return template{}, fmt.Errorf("submission file: %w", err)
	}
	var sub map[string]any
	if err := json.Unmarshal(raw, &sub); err != nil {
		return template{}, fmt.Errorf("submission file %s: %w", o.Submission, err)
	}
	sub["reference"] = refMarker
	if leistung != "" {
		sub["leistung"] = leistung
	}
	if o.DataBytes > 0 {
		data, _ := sub["data"].(map[string]any)
		if data == nil {
			return template{}, fmt.Errorf("submission file %s: no data object to pad", o.Submission)
		}
		cur, _ := json.Marshal(data)
		if pad := o.DataBytes - len(cur); pad > 0 {
			data["bemerkung"] = strings.Repeat("Lorem ipsum dolor sit amet. ", pad/28+1)[:pad]
		}
	}
	var content []byte
	if o.AttachmentBytes > 0 {
		content = make([]byte, o.AttachmentBytes)
		rand.Read(content)
		copy(content, "%PDF-1.7\n")
		sub["attachments"] = []any{map[string]any{
			"filename": "nachweis.pdf", "media_type": "application/pdf",
			"content_base64": base64.StdEncoding.EncodeToString(content),
		}}
	}
	if o.Multipart {
		delete(sub, "attachments")
	}
	full, err := json.Marshal(sub)
	if err != nil {
		return template{}, err
	}
	contentType := "application/json"
	if o.Multipart {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		p, _ := mw.CreatePart(textproto.MIMEHeader{"Content-Disposition": {`form-data; name="submission"`}, "Content-Type": {"application/json"}})
		p.Write(full)
		if content != nil {
			p, _ = mw.CreatePart(textproto.MIMEHeader{"Content-Disposition": {`form-data; name="attachment"; filename="nachweis.pdf"`}, "Content-Type": {"application/pdf"}})
			p.Write(content)
		}
		mw.Close()
		full, contentType = buf.Bytes(), mw.FormDataContentType()
	}
	marker, _ := json.Marshal(refMarker)
	i := bytes.Index(full, marker)
	return template{prefix: append(full[:i:i], '"'), suffix: full[i+len(marker)-1:], contentType: contentType}, nil
}

type result struct {
	id      string
	latency time.Duration
	err     string
	done    time.Time
}

// Run generates the load and, if asked, waits for the deliveries.
func Run(ctx context.Context, o Options) (Report, error) {
	if len(o.Targets) == 0 {
		return Report{}, errors.New("no target: give the base URL of a running amtsbote")
	}
	if o.Connections <= 0 {
		o.Connections = 16
	}
	if o.Duration <= 0 && o.Count <= 0 {
		return Report{}, errors.New("give a duration or a count")
	}
	tmpls, err := makeTemplates(o)
	if err != nil {
		return Report{}, err
	}
	client := &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			MaxIdleConnsPerHost: o.Connections, MaxConnsPerHost: o.Connections,
			DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		},
	}
	runCtx := ctx
	if o.Duration > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeout(ctx, o.Duration)
		defer cancel()
	}

	// Work items carry their scheduled time: with a fixed rate, latency counts from when the
	// request was due, so a stalled server cannot hide its stall (no coordinated omission).
	work := make(chan time.Time, o.Connections)
	go func() {
		defer close(work)
		var interval time.Duration
		if o.Rate > 0 {
			interval = time.Duration(float64(time.Second) / o.Rate)
		}
		next := time.Now()
		for i := 0; o.Count <= 0 || i < o.Count; i++ {
			if interval > 0 {
				if wait := time.Until(next); wait > 0 {
					select {
					case <-time.After(wait):
					case <-runCtx.Done():
						return
					}
				}
			}
			select {
			case work <- next:
			case <-runCtx.Done():
				return
			}
			next = next.Add(interval)
		}
	}()

	var seq atomic.Int64
	results := make(chan result, 1024)
	var wg sync.WaitGroup
	runID := time.Now().Format("150405")
	start := time.Now()
	for c := 0; c < o.Connections; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for due := range work {
				n := seq.Add(1)
				target := o.Targets[int(n)%len(o.Targets)]
				if o.Rate <= 0 {
					due = time.Now()
				}
				tmpl := tmpls[int(n)%len(tmpls)]
				id, errKind := post(ctx, client, target, o.Token, tmpl.contentType, tmpl.body(fmt.Sprintf("BENCH-%s-%07d", runID, n)))
				results <- result{id: id, latency: time.Since(due), err: errKind, done: time.Now()}
			}
		}()
	}
	go func() { wg.Wait(); close(results) }()

	rep := Report{Errors: map[string]int{}, BodyBytes: len(tmpls[0].body("BENCH-000000-0000000"))}
	var lat []time.Duration
	var ids []string
	var accepted []time.Time
	for r := range results {
		rep.Sent++
		if r.err != "" {
			rep.Errors[r.err]++
			continue
		}
		rep.Accepted++
		lat = append(lat, r.latency)
		ids = append(ids, r.id)
		accepted = append(accepted, r.done)
	}
	rep.Elapsed = time.Since(start)
	rep.TailPerSecond = tailRate(accepted)
	rep.Latency = percentiles(lat)
	if o.WaitDelivered > 0 && len(ids) > 0 {
		waitDelivered(ctx, client, o, ids, start.Add(rep.Elapsed), &rep)
	}
	return rep, nil
}

// tailRate is the rate of the last tenth of the events at these times, in the order they
// happened (0 for fewer than 100).
func tailRate(at []time.Time) float64 {
	n := len(at)
	if n < 100 {
		return 0
	}
	from := n - n/10
	span := at[n-1].Sub(at[from-1])
	if span <= 0 {
		return 0
	}
	return float64(n-from) / span.Seconds()
}

func post(ctx context.Context, client *http.Client, target, token, contentType string, body []byte) (id, errKind string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(target, "/")+"/v1/submissions", bytes.NewReader(body))
	if err != nil {
		return "", "request: " + err.Error()
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", contentType)
	res, err := client.Do(req)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return "", "timeout"
		}
		return "", "connection error"
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	if res.StatusCode != http.StatusAccepted {
		return "", fmt.Sprintf("HTTP %d", res.StatusCode)
	}
	var a struct{ ID string }
	if json.Unmarshal(raw, &a) != nil || a.ID == "" {
		return "", "202 without an id"
	}
	return a.ID, ""
}

type status struct {
	Status     string    `json:"status"`
	Route      string    `json:"route"`
	ReceivedAt time.Time `json:"received_at"`
	Deliveries []struct {
		Destination string `json:"destination"`
		Status      string `json:"status"`
	} `json:"deliveries"`
	Events []struct {
		At          time.Time `json:"at"`
		Type        string    `json:"type"`
		Destination string    `json:"destination"`
	} `json:"events"`
}

// outcome says whether a submission has finished, leaving the destinations in except out: how
// ("delivered", or its final status otherwise) and, if delivered, when the last of the counted
// destinations delivered it.
func (st status) outcome(except map[string]bool) (how string, at time.Time, finished bool) {
	how, finished = st.Status, st.Status != "received" && st.Status != "processing"
	if len(except) > 0 {
		// Finished for the counted destinations once each has concluded, whatever the others
		// do. Mapping creates all deliveries of a submission at once, so none is missing here.
		counted, concluded, failed := 0, 0, ""
		for _, d := range st.Deliveries {
			if except[d.Destination] {
				continue
			}
			counted++
			switch d.Status {
			case "delivered", "acknowledged":
				concluded++
			case "dead", "rejected":
				concluded++
				failed = d.Status
			}
		}
		if counted > 0 {
			how, finished = "delivered", concluded == counted
			if failed != "" {
				how = failed
			}
		}
	}
	if !finished {
		return "", time.Time{}, false
	}
	if how == "acknowledged" {
		how = "delivered"
	}
	for _, e := range st.Events {
		if e.Type == "delivered" && !except[e.Destination] && e.At.After(at) {
			at = e.At
		}
	}
	return how, at, true
}

// waits are the times from mapping to delivery by destination (without except).
func (st status) waits(except map[string]bool) map[string]time.Duration {
	mapped, out := map[string]time.Time{}, map[string]time.Duration{}
	for _, e := range st.Events {
		switch {
		case except[e.Destination]:
		case e.Type == "mapped":
			mapped[e.Destination] = e.At
		case e.Type == "delivered" && !mapped[e.Destination].IsZero():
			out[e.Destination] = e.At.Sub(mapped[e.Destination])
		}
	}
	return out
}

// waitDelivered waits until each accepted submission has a final status and takes the delivery
// times from their histories (the server's clock, not the polling). Submissions finish roughly
// in the order they were accepted, so each pass checks them in that order and stops at the first
// unfinished one: waiting costs a few requests a pass, not one per submission, and does not slow
// down the daemon it measures. intakeEnd is when the last request was answered: what was not
// delivered by then is the backlog, and the time to deliver it the drain.
func waitDelivered(ctx context.Context, client *http.Client, o Options, ids []string, intakeEnd time.Time, rep *Report) {
	deadline := time.Now().Add(o.WaitDelivered)
	rep.Finished, rep.Routes, rep.Destinations = map[string]int{}, map[string]int{}, map[string]int{}
	except := map[string]bool{}
	for _, d := range o.WaitExcept {
		except[d] = true
	}
	rep.WaitExcept = o.WaitExcept
	pending := ids
	var lags []time.Duration
	waits := map[string][]time.Duration{}
	var first, last time.Time
	for len(pending) > 0 && time.Now().Before(deadline) && ctx.Err() == nil {
		var still []string
		for i, id := range pending {
			st, err := getStatus(ctx, client, o.Targets[0], o.Token, id)
			if err != nil {
				still = append(still, pending[i:]...)
				break
			}
			how, done, finished := st.outcome(except)
			if !finished {
				still = append(still, pending[i:]...)
				break
			}
			if how != "delivered" {
				rep.Finished[how]++
				continue
			}
			rep.Delivered++
			rep.Routes[st.Route]++
			for _, d := range st.Deliveries {
				if !except[d.Destination] {
					rep.Destinations[d.Destination]++
				}
			}
			lags = append(lags, done.Sub(st.ReceivedAt))
			for dest, w := range st.waits(except) {
				waits[dest] = append(waits[dest], w)
			}
			if first.IsZero() || st.ReceivedAt.Before(first) {
				first = st.ReceivedAt
			}
			if done.After(last) {
				last = done
			}
			if done.After(intakeEnd) {
				rep.Drained++
			}
		}
		pending = still
		if len(pending) > 0 {
			time.Sleep(100 * time.Millisecond)
		}
	}
	rep.Unfinished = len(pending)
	rep.Lag = percentiles(lags)
	rep.Waits = map[string]Percentiles{}
	for dest, w := range waits {
		rep.Waits[dest] = percentiles(w)
	}
	if span := last.Sub(first); span > 0 {
		rep.EndToEnd = span
		rep.DeliveredPerSecond = float64(rep.Delivered) / span.Seconds()
	}
	rep.Backlog = rep.Drained + rep.Unfinished
	if drain := last.Sub(intakeEnd); rep.Drained > 0 && drain > 0 {
		rep.Drain = drain
		rep.DrainPerSecond = float64(rep.Drained) / drain.Seconds()
	}
}

func getStatus(ctx context.Context, client *http.Client, target, token, id string) (status, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(target, "/")+"/v1/submissions/"+id, nil)
	if err != nil {
		return status{}, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := client.Do(req)
	if err != nil {
		return status{}, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return status{}, fmt.Errorf("HTTP %d", res.StatusCode)
	}
	var st status
	return st, json.NewDecoder(res.Body).Decode(&st)
}

// Write prints the report for people.
func (r Report) Write(w io.Writer) {
	fmt.Fprintf(w, "requests   %d sent, %d accepted in %s (%d bytes each)\n", r.Sent, r.Accepted, r.Elapsed.Round(time.Millisecond), r.BodyBytes)
	tail := ""
	if r.TailPerSecond > 0 {
		tail = fmt.Sprintf(" (the last tenth: %.0f accepted/s)", r.TailPerSecond)
	}
	fmt.Fprintf(w, "intake     %.0f accepted/s%s\n", r.AcceptedPerSecond(), tail)
	fmt.Fprintf(w, "latency    %s\n", r.Latency)
	if len(r.Errors) > 0 {
		for _, k := range slices.Sorted(maps.Keys(r.Errors)) {
			fmt.Fprintf(w, "errors     %s: %d\n", k, r.Errors[k])
		}
	} else {
		fmt.Fprintf(w, "errors     none\n")
	}
	if r.Finished != nil {
		leaving := ""
		if len(r.WaitExcept) > 0 {
			leaving = " (leaving out " + strings.Join(r.WaitExcept, ", ") + ")"
		}
		fmt.Fprintf(w, "delivered  %d of %d in %s: %.0f delivered/s end to end%s\n", r.Delivered, r.Accepted, r.EndToEnd.Round(time.Millisecond), r.DeliveredPerSecond, leaving)
		fmt.Fprintf(w, "lag        %s (accepted → last destination delivered)\n", r.Lag)
		if r.Drained > 0 {
			fmt.Fprintf(w, "drain      %d waiting when the intake ended; %d of them delivered in the %s after it: %.0f delivered/s\n",
				r.Backlog, r.Drained, r.Drain.Round(time.Millisecond), r.DrainPerSecond)
		}
		if len(r.Destinations) > 1 {
			fmt.Fprintf(w, "deliveries %s\n", counts(r.Destinations))
		}
		for _, d := range slices.Sorted(maps.Keys(r.Waits)) {
			fmt.Fprintf(w, "queue      %s: %s (mapped → delivered)\n", d, r.Waits[d])
		}
		for k, n := range r.Finished {
			fmt.Fprintf(w, "finished   %s: %d\n", k, n)
		}
		if r.Unfinished > 0 {
			fmt.Fprintf(w, "unfinished %d still in progress when the wait ended\n", r.Unfinished)
		}
	}
}

// counts lists name count pairs in the order of the names.
func counts(m map[string]int) string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	slices.Sort(names)
	parts := make([]string, len(names))
	for i, k := range names {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}
