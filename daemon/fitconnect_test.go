package daemon_test

import (
	"context"

	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/amtsbote/amtsbote/config"
	"github.com/amtsbote/amtsbote/fitconnect"
	"github.com/amtsbote/amtsbote/fitconnect/sender"
	"github.com/amtsbote/amtsbote/fitconnect/simulator"
	"github.com/amtsbote/amtsbote/store"
)

const (
	fcDestination    = "5f7c2a1e-8b3d-4e6f-9a0b-1c2d3e4f5a6b"
	fcSubscription   = "demo-fitconnect"
	fcSchemaURI      = "urn:amtsbote:demo:schema:gewerbeanmeldung:1.0"
	fcService        = "urn:de:fim:leika:leistung:99050012104000"
	fcCallbackSecret = "demo-callback-secret-0123456789abcdef-not-for-production"
	fcKeys           = "../fixtures/demo/fitconnect/keys/"
)

// fcEnv is the demo daemon with FIT-Connect intake on, against a simulator in the test.
type fcEnv struct {
	*harness
	sim    *simulator.Server
	simURL string
	send   *sender.Sender
	pub    jwk.Key // the destination's public encryption key
}

func publicJWK(t testing.TB, file string) jwk.Key {
	t.Helper()
	raw, err := os.ReadFile(fcKeys + file)
	if err != nil {
		t.Fatal(err)
	}
	k, err := jwk.ParseKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// demoSimulator runs a simulator that knows the demo destination, its subscriber and a sender,
// and calls callbackURL back; it stops when the test ends.
func demoSimulator(t testing.TB, callbackURL string) (*simulator.Server, *httptest.Server) {
	t.Helper()
	sim, err := simulator.New(simulator.Config{
		Clients: []simulator.Client{
			{ID: "demo-subscriber", Secret: "demo-subscriber-secret-not-for-production", Role: simulator.RoleSubscriber, Destinations: []string{fcDestination}},
			{ID: "demo-sender", Secret: "demo-sender-secret-not-for-production", Role: simulator.RoleSender},
		},
		Destinations: []simulator.Destination{{
			ID: fcDestination, EncryptionKey: publicJWK(t, "encryption.public.jwk"), SigningKey: publicJWK(t, "signing.public.jwk"),
			Services: []simulator.Service{{Identifier: fcService, Regions: []string{"DE091620000000"},
				SubmissionSchemas: []simulator.SchemaRef{{SchemaURI: fcSchemaURI, MimeType: "application/json"}}}},
			MetadataVersions: []string{"1.0.0"},
			CallbackURL:      callbackURL, CallbackSecret: fcCallbackSecret,
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(sim.Handler())
	t.Cleanup(func() { ts.Close(); sim.Close() })
	return sim, ts
}

// startFitConnect starts a simulator and the demo daemon as its subscriber; change adjusts the
// configuration before the daemon starts.
func startFitConnect(t testing.TB, backend string, change func(*config.Config)) *fcEnv {
	t.Helper()
	var daemonBase atomic.Value
	daemonBase.Store("")
	// Callbacks go through a forwarder: the daemon's address is known only once it runs.
	forward := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, _ := url.Parse(daemonBase.Load().(string))
		httputil.NewSingleHostReverseProxy(u).ServeHTTP(w, r)
	}))
	t.Cleanup(forward.Close)
	sim, ts := demoSimulator(t, forward.URL+fitconnect.CallbackPath(fcSubscription))

	cfg := backendConfig(t, backend)
	cfg.FitConnect.Enabled = true
	s := &cfg.FitConnect.Subscriptions[0]
	s.APIURL, s.TokenURL = ts.URL, ts.URL+"/token"
	s.PollInterval = 200 * time.Millisecond
	s.Timeout = 2 * time.Second
	s.Retry.InitialInterval, s.Retry.MaxInterval = 50*time.Millisecond, 300*time.Millisecond
	if change != nil {
		change(cfg)
	}
	h := start(t, cfg)
	daemonBase.Store(h.base)
	env := &fcEnv{harness: h, sim: sim, simURL: ts.URL,
		send: &sender.Sender{API: fitconnect.NewClient(ts.URL, "v1", ts.URL+"/token", "demo-sender", "demo-sender-secret-not-for-production", "", 10*time.Second)}}
	var err error
	if env.pub, err = env.send.EncryptionKey(context.Background(), fcDestination); err != nil {
		t.Fatal(err)
	}
	return env
}

// application is the demo Gewerbeanmeldung as a FIT-Connect sender sends it, identified at
// level substantial.
func (e *fcEnv) application(t testing.TB) sender.Application {
	t.Helper()
	sub := demoSubmission(t)
	data, _ := json.Marshal(sub["data"])
	report, _ := json.Marshal(map[string]any{"levelOfAssurance": "http://eidas.europa.eu/LoA/substantial"})
	app := sender.Application{DestinationID: fcDestination, Data: data, DataSchemaURI: fcSchemaURI, DataMimeType: "application/json",
		Service: fitconnect.ServiceType{Name: "Gewerbeanmeldung", Identifier: fcService},
		Metadata: map[string]any{
			"additionalReferenceInfo":   map[string]any{"senderReference": "FC-" + sub["reference"].(string)},
			"authenticationInformation": []any{map[string]any{"type": "identificationReport", "version": "1.0.0", "content": base64.RawURLEncoding.EncodeToString(report)}},
			"replyChannel":              map[string]any{"eMail": map[string]any{"address": "anna.mueller@example.org"}},
		}}
	for _, a := range sub["attachments"].([]any) {
		am := a.(map[string]any)
		content, _ := base64.StdEncoding.DecodeString(am["content_base64"].(string))
		if am["title"] == nil {
			am["title"] = "Nachweis"
		}
		app.Attachments = append(app.Attachments, sender.Attachment{Filename: am["filename"].(string), MimeType: am["media_type"].(string),
			Description: fmt.Sprint(am["title"]), Content: content})
	}
	return app
}

// submit sends an application; before changes it before it is sealed, after once it is.
func (e *fcEnv) submit(t testing.TB, app sender.Application, before, after func(*sender.Prepared)) *sender.Prepared {
	t.Helper()
	p := sender.Prepare(app)
	if before != nil {
		before(p)
	}
	if err := p.Seal(e.pub); err != nil {
		t.Fatal(err)
	}
	if after != nil {
		after(p)
	}
	if err := e.send.Send(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	return p
}

// waitInbox waits until amtsbote has settled a FIT-Connect submission (decided or gone).
func (e *fcEnv) waitInbox(t *testing.T, id string) store.InboxEntry {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		entry, err := e.d.Store().InboxEntry(context.Background(), id)
		if err == nil && (entry.State == store.InboxDecided || entry.State == store.InboxGone) {
			return entry
		}
		if time.Now().After(deadline) {
			t.Fatalf("FIT-Connect submission %s not settled: %+v %v", id, entry, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// decision is what the simulator recorded: the event and its problems as name@instance.
func (e *fcEnv) decision(t *testing.T, id string) (string, []string) {
	t.Helper()
	event, raw, ok := e.sim.Decision(id)
	if !ok {
		t.Fatalf("the delivery service has no decision on %s (state %s)", id, e.sim.State(id))
	}
	p, err := fitconnect.Payload(raw, true)
	if err != nil {
		t.Fatal(err)
	}
	var problems []string
	for _, pr := range p.Problems {
		problems = append(problems, pr.Name()+"@"+pr.Instance)
	}
	return strings.TrimPrefix(event, fitconnect.EventBase), problems
}

func metadataAttachments(p *sender.Prepared) []any {
	return p.Metadata["contentStructure"].(map[string]any)["attachments"].([]any)
}

// TestFitConnectIntake runs the FIT-Connect conformance suite against the simulator on every
// store: a good submission goes all the way to the E-Akte and is accepted once; each kind of
// bad submission is rejected with the problem FIT-Connect's catalogue names, and nothing of it
// is stored.
func TestFitConnectIntake(t *testing.T) {
	other, err := fitconnect.GenerateKeys("another destination")
	if err != nil {
		t.Fatal(err)
	}
	eachBackend(t, func(t *testing.T, backend string) {
		// The demo route takes any level; this test's needs substantial.
		e := startFitConnect(t, backend, func(c *config.Config) { c.RoutesFile = trustRoutes(t, c, "substantial") })
		setData := func(d []byte) func(*sender.Prepared) {
			return func(p *sender.Prepared) {
				p.Data = d
				p.Metadata["contentStructure"].(map[string]any)["data"].(map[string]any)["hash"].(map[string]any)["content"] = fitconnect.SHA512Hex(d)
			}
		}
		withoutBetrieb := func() []byte {
			var m map[string]any
			json.Unmarshal(e.application(t).Data, &m)
			delete(m, "betrieb")
			b, _ := json.Marshal(m)
			return b
		}()
		impossibleBirthDate := func() []byte {
			var m map[string]any
			json.Unmarshal(e.application(t).Data, &m)
			m["inhaber"].(map[string]any)["geburtsdatum"] = "31.02.1985"
			b, _ := json.Marshal(m)
			return b
		}()
		cases := []struct {
			name          string
			change        func(*sender.Application)
			before, after func(*sender.Prepared)
			want          []string // problems; none: accepted
		}{
			{name: "good"},
			{name: "unknown kid", after: func(p *sender.Prepared) {
				enc, _ := fitconnect.Encrypt(other.EncryptionPublic, mustJSON(t, p.Metadata))
				p.EncryptedMetadata = string(enc)
			}, want: []string{"encryption-issue@metadata"}},
			{name: "tampered authentication tag", after: func(p *sender.Prepared) {
				parts := strings.Split(p.EncryptedData, ".")
				parts[4] = flip(parts[4])
				p.EncryptedData = strings.Join(parts, ".")
			}, want: []string{"encryption-issue@data"}},
			{name: "data hash mismatch", before: func(p *sender.Prepared) {
				p.Metadata["contentStructure"].(map[string]any)["data"].(map[string]any)["hash"].(map[string]any)["content"] = strings.Repeat("ab", 64)
			}, want: []string{"hash-mismatch@data"}},
			{name: "attachment hash mismatch", before: func(p *sender.Prepared) {
				metadataAttachments(p)[1].(map[string]any)["hash"].(map[string]any)["content"] = strings.Repeat("cd", 64)
			}, want: []string{"hash-mismatch@attachment:{1}"}},
			{name: "missing attachment", before: func(p *sender.Prepared) {
				p.Announced, p.Upload = p.AttachmentIDs[:1], p.AttachmentIDs[:1]
			}, want: []string{"missing-attachment@attachment:{1}"}},
			{name: "extra attachment", before: func(p *sender.Prepared) {
				cs := p.Metadata["contentStructure"].(map[string]any)
				cs["attachments"] = metadataAttachments(p)[:1]
			}, want: []string{"attachments-mismatch@metadata"}},
			{name: "metadata invalid", before: func(p *sender.Prepared) {
				metadataAttachments(p)[0].(map[string]any)["purpose"] = "selfie"
			}, want: []string{"schema-violation@metadata"}},
			{name: "unsupported metadata version", before: func(p *sender.Prepared) {
				p.Metadata["$schema"] = "https://schema.fitko.de/fit-connect/metadata/9.9.9/metadata.schema.json"
			}, want: []string{"unsupported-schema@metadata"}},
			{name: "unsupported data schema", change: func(a *sender.Application) { a.DataSchemaURI = "urn:example:other-form:1.0" },
				want: []string{"unsupported-schema@data"}},
			{name: "data invalid against its schema", before: setData(withoutBetrieb), want: []string{"schema-violation@data"}},
			{name: "data that would not map (check_at_intake)", before: setData(impossibleBirthDate), want: []string{"schema-violation@data"}},
			{name: "data not JSON", before: setData([]byte("inhaber: Anna")), want: []string{"syntax-violation@data"}},
			{name: "metadata not JSON", after: func(p *sender.Prepared) {
				enc, _ := fitconnect.Encrypt(e.pub, []byte("not json"))
				p.EncryptedMetadata = string(enc)
			}, want: []string{"syntax-violation@metadata"}},
			{name: "data announced but not sent", after: func(p *sender.Prepared) { p.EncryptedData = "" },
				want: []string{"missing-data@data"}},
			{name: "trust level too low", change: func(a *sender.Application) {
				report, _ := json.Marshal(map[string]any{"levelOfAssurance": "http://eidas.europa.eu/LoA/low"})
				a.Metadata["authenticationInformation"] = []any{map[string]any{"type": "identificationReport", "version": "1.0.0",
					"content": base64.RawURLEncoding.EncodeToString(report)}}
			}, want: []string{"trust-level-too-low@metadata"}},
		}
		var wg sync.WaitGroup
		results := make([]*sender.Prepared, len(cases))
		for i, c := range cases {
			wg.Add(1)
			go func() {
				defer wg.Done()
				app := e.application(t)
				if c.change != nil {
					c.change(&app)
				}
				results[i] = e.submit(t, app, c.before, c.after)
			}()
		}
		wg.Wait()
		for i, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				p := results[i]
				entry := e.waitInbox(t, p.SubmissionID)
				event, problems := e.decision(t, p.SubmissionID)
				for j := range c.want {
					for k, id := range p.AttachmentIDs {
						c.want[j] = strings.ReplaceAll(c.want[j], fmt.Sprintf("{%d}", k), id)
					}
				}
				if len(c.want) == 0 {
					if event != "accept-submission" || entry.AmtsboteID == "" {
						t.Fatalf("want accepted, got %s %v (%+v)", event, problems, entry)
					}
					r := e.waitDone(t, entry.AmtsboteID, "delivered")
					d := r
					if d.Body["portal"] != fcSubscription || d.Body["reference"] != "FC-DEMO-2026-000001" || r.Body["status"] != "delivered" {
						t.Fatalf("stored as %s", d.Raw)
					}
					if !contains(eventTypes(d), "fitconnect_received") || !contains(eventTypes(d), "fitconnect_accepted") {
						t.Fatalf("history: %v", eventTypes(d))
					}
					sub, err := e.d.Store().Submission(context.Background(), entry.AmtsboteID)
					if err != nil || sub.Channel != store.ChannelFITConnect || sub.TrustLevel != "substantial" ||
						!strings.Contains(string(sub.Meta), p.CaseID) || !strings.Contains(string(sub.Meta), "anna.mueller@example.org") {
						t.Fatalf("submission: %+v %v", sub, err)
					}
					atts, _ := e.d.Store().Attachments(context.Background(), entry.AmtsboteID)
					if len(atts) < 2 || atts[0].Filename != "Personalausweis.pdf" || atts[0].Title == "" || atts[0].Format != "pdf" {
						t.Fatalf("attachments: %+v", atts)
					}
					return
				}
				if event != "reject-submission" || strings.Join(problems, ",") != strings.Join(c.want, ",") {
					t.Fatalf("got %s %v, want reject %v", event, problems, c.want)
				}
				if entry.AmtsboteID != "" || entry.Decision != store.DecisionReject {
					t.Fatalf("a rejected submission is stored: %+v", entry)
				}
			})
		}
		// A portal's submission meets the same minimum: 422 below it, naming the field.
		for level, want := range map[string]int{"low": 422, "http://eidas.europa.eu/LoA/substantial": 202, "": 422} {
			sub := demoSubmission(t)
			if level != "" {
				sub["identity"] = map[string]any{"trust_level": level, "account_type": "person"}
			}
			r := e.harness.submit(sub, demoToken, nil)
			if r.Status != want || (want == 422 && !strings.Contains(r.Raw, "identity.trust_level")) {
				t.Fatalf("portal with level %q: %d %s", level, r.Status, r.Raw)
			}
			if want == 202 {
				s, _ := e.d.Store().Submission(context.Background(), r.Body["id"].(string))
				if s.TrustLevel != "substantial" || s.AccountType != "person" || s.Channel != store.ChannelPortal {
					t.Fatalf("stored %+v", s)
				}
			}
		}
		var n int
		e.d.Store().DB.QueryRow(`SELECT count(*) FROM submissions WHERE channel = 'fitconnect'`).Scan(&n)
		if n != 1 {
			t.Fatalf("%d FIT-Connect submissions stored, want the good one only", n)
		}
		// The metrics count what happened, by destination and problem.
		m := e.admin("GET", "/metrics").Raw
		for _, want := range []string{
			`amtsbote_fitconnect_decisions_total{decision="accept",destination="` + fcDestination + `",problem=""} 1`,
			`amtsbote_fitconnect_decisions_total{decision="reject",destination="` + fcDestination + `",problem="hash-mismatch"} 2`,
			`amtsbote_fitconnect_received_total{destination="` + fcDestination + `"} 16`,
		} {
			if !strings.Contains(m, want) {
				t.Errorf("metrics lack %s", want)
			}
		}
		if strings.Contains(m, `amtsbote_fitconnect_open{`) {
			t.Error("nothing is open, yet the open gauge reports some")
		}
		// Polls keep seeing nothing new: the settled submissions are never fetched again.
		gets := e.sim.Requests("get")
		time.Sleep(3 * e.cfg.FitConnect.Subscriptions[0].PollInterval)
		if again := e.sim.Requests("get"); again != gets {
			t.Fatalf("settled submissions fetched again: %d → %d", gets, again)
		}
	})
}

// trustRoutes is the demo's routes file with min_trust_level and check_at_intake on its route.
func trustRoutes(t *testing.T, cfg *config.Config, level string) string {
	t.Helper()
	routesFile := cfg.Path(cfg.RoutesFile)
	raw, err := os.ReadFile(routesFile)
	if err != nil {
		t.Fatal(err)
	}
	tmpDir := t.TempDir()
	dir, _ := filepath.Abs(filepath.Dir(routesFile))
	back, err := filepath.Rel(tmpDir, dir) // routes name their files relative to themselves
	if err != nil {
		t.Fatal(err)
	}
	content := string(raw)
	for _, rel := range []string{"labels/", "mappings/", "schemas/"} {
		content = strings.ReplaceAll(content, " "+rel, " "+filepath.Join(back, rel)+"/")
	}
	content = strings.Replace(content, "    application_document:", "    min_trust_level: "+level+"\n    check_at_intake: true\n    application_document:", 1)
	tmp := filepath.Join(tmpDir, "routes.yaml")
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs(tmp)
	return abs
}

// waitDone waits (admin API) until a submission reaches a status.
func (e *fcEnv) waitDone(t *testing.T, id, status string) response {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		r := e.detail(id)
		if r.Body["status"] == status {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("submission %s did not reach %q: %s", id, status, r.Raw)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func flip(s string) string {
	b := []byte(s)
	if b[0] == 'A' {
		b[0] = 'B'
	} else {
		b[0] = 'A'
	}
	return string(b)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// TestFitConnectFaults: the delivery service and its token endpoint failing, stalling, or
// answering 409 and 404 — amtsbote retries with backoff and decides each submission once.
func TestFitConnectFaults(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		e := startFitConnect(t, backend, nil)
		tests := []struct {
			name  string
			fault func()
			check func(t *testing.T, p *sender.Prepared, entry store.InboxEntry)
		}{
			// The token is cached: a 401 from the API makes amtsbote fetch a new one, which the
			// token endpoint then refuses (twice).
			{"token endpoint 401", func() { e.sim.Fail("get", http.StatusUnauthorized, 1); e.sim.Fail("token", http.StatusUnauthorized, 2) }, tokenRefused(e, accepted(e))},
			{"token endpoint 500", func() {
				e.sim.Fail("get", http.StatusUnauthorized, 1)
				e.sim.Fail("token", http.StatusInternalServerError, 2)
			}, tokenRefused(e, accepted(e))},
			{"delivery service 503 on fetch", func() { e.sim.Fail("get", http.StatusServiceUnavailable, 2) }, accepted(e)},
			{"event log 500", func() { e.sim.Fail("eventlog", http.StatusInternalServerError, 1) }, accepted(e)},
			{"attachment download times out", func() { e.sim.Stall("attachment", 3*time.Second, 1) }, accepted(e)},
			{"decision answered 500", func() { e.sim.Fail("event", http.StatusInternalServerError, 2) }, accepted(e)},
			{"decision answered 409", func() { e.sim.Fail("event", http.StatusConflict, 1) }, func(t *testing.T, p *sender.Prepared, entry store.InboxEntry) {
				if entry.State != store.InboxDecided || entry.AmtsboteID == "" {
					t.Fatalf("%+v", entry)
				}
				if d := e.detail(entry.AmtsboteID); !contains(eventTypes(d), "fitconnect_already_decided") {
					t.Fatalf("history: %v", eventTypes(d))
				}
			}},
			{"submission gone between listing and fetching", func() { e.sim.Fail("get", http.StatusNotFound, 1) }, func(t *testing.T, p *sender.Prepared, entry store.InboxEntry) {
				if entry.State != store.InboxGone || entry.AmtsboteID != "" || !strings.Contains(entry.LastError, "404") {
					t.Fatalf("%+v", entry)
				}
			}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				tokens = e.sim.Requests("token")
				tt.fault()
				defer func() {
					for _, op := range []string{"token", "get", "eventlog", "attachment", "event"} {
						e.sim.Fail(op, 0, 0)
						e.sim.Stall(op, 0, 0)
					}
				}()
				p := e.submit(t, e.application(t), nil, nil)
				entry := e.waitInbox(t, p.SubmissionID)
				tt.check(t, p, entry)
			})
		}
	})
}

// tokens is the simulator's token requests before a fault test.
var tokens int

// tokenRefused checks that the token endpoint was asked three times (two refusals, one token).
func tokenRefused(e *fcEnv, then func(t *testing.T, p *sender.Prepared, entry store.InboxEntry)) func(t *testing.T, p *sender.Prepared, entry store.InboxEntry) {
	return func(t *testing.T, p *sender.Prepared, entry store.InboxEntry) {
		t.Helper()
		if n := e.sim.Requests("token") - tokens; n < 3 {
			t.Fatalf("the token endpoint was asked %d times; its faults were never met", n)
		}
		then(t, p, entry)
	}
}

func accepted(e *fcEnv) func(t *testing.T, p *sender.Prepared, entry store.InboxEntry) {
	return func(t *testing.T, p *sender.Prepared, entry store.InboxEntry) {
		t.Helper()
		event, problems := e.decision(t, p.SubmissionID)
		if event != "accept-submission" || entry.AmtsboteID == "" || e.sim.State(p.SubmissionID) != simulator.StateAccepted {
			t.Fatalf("got %s %v %+v", event, problems, entry)
		}
		e.waitDone(t, entry.AmtsboteID, "delivered")
	}
}

// TestFitConnectCallbacks: only a callback with the right HMAC over timestamp and body, at most
// five minutes old and not seen before, notes submissions; every refusal says why.
func TestFitConnectCallbacks(t *testing.T) {
	e := startFitConnect(t, "sqlite", func(c *config.Config) {
		c.FitConnect.Subscriptions[0].PollInterval = time.Hour // only callbacks announce
	})
	id := "0d9c8b7a-6f5e-4d3c-8b2a-1f0e9d8c7b6a"
	body := []byte(`{"type":"` + fitconnect.CallbackNewSubmissions + `","submissions":[{"destinationId":"` + fcDestination +
		`","submissionId":"` + id + `","caseId":"1e2d3c4b-5a69-4877-8665-544332211000"}]}`)
	now := strconv.FormatInt(time.Now().Unix(), 10)
	old := strconv.FormatInt(time.Now().Add(-6*time.Minute).Unix(), 10)
	secret := []byte(fcCallbackSecret)
	post := func(ts, mac string, b []byte) response {
		return e.do("POST", fitconnect.CallbackPath(fcSubscription), "", b,
			map[string]string{"callback-timestamp": ts, "callback-authentication": mac})
	}
	tests := []struct {
		name   string
		ts     string
		mac    string
		body   []byte
		status int
		want   string
	}{
		{"wrong HMAC", now, fitconnect.CallbackMAC([]byte("not-the-secret-0123456789-0123456789"), now, body), body, 401, "does not match"},
		{"body changed", now, fitconnect.CallbackMAC(secret, now, body), append([]byte(" "), body...), 401, "does not match"},
		{"old timestamp", old, fitconnect.CallbackMAC(secret, old, body), body, 401, "off the clock"},
		{"no headers", "", "", body, 401, "required"},
		{"good", now, fitconnect.CallbackMAC(secret, now, body), body, 200, ""},
		{"replayed", now, fitconnect.CallbackMAC(secret, now, body), body, 401, "replay"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := post(tt.ts, tt.mac, tt.body)
			if r.Status != tt.status || !strings.Contains(r.Raw, tt.want) {
				t.Fatalf("got %d %s", r.Status, r.Raw)
			}
			_, err := e.d.Store().InboxEntry(context.Background(), id)
			if noted := err == nil; noted != (tt.name == "good" || tt.name == "replayed") {
				t.Fatalf("noted: %v", noted)
			}
		})
	}
	// The good callback's submission does not exist at the delivery service: amtsbote finds it
	// gone and decides nothing.
	if entry := e.waitInbox(t, id); entry.State != store.InboxGone {
		t.Fatalf("%+v", entry)
	}
	if r := e.do("POST", fitconnect.CallbackPath("nobody"), "", body, nil); r.Status != http.StatusNotFound {
		t.Fatalf("unknown subscription: %d", r.Status)
	}
	// A real one, announced by the simulator's own callback.
	p := e.submit(t, e.application(t), nil, nil)
	if entry := e.waitInbox(t, p.SubmissionID); entry.Decision != store.DecisionAccept {
		t.Fatalf("%+v", entry)
	}
}

// TestFitConnectAcceptAfterDelivery: with accept: delivered the accept goes out only once
// every delivery succeeded.
func TestFitConnectAcceptAfterDelivery(t *testing.T) {
	e := startFitConnect(t, "sqlite", func(c *config.Config) { c.FitConnect.Subscriptions[0].Accept = config.AcceptDelivered })
	p := e.submit(t, e.application(t), nil, nil)
	entry := e.waitInbox(t, p.SubmissionID)
	d := e.detail(entry.AmtsboteID)
	types := eventTypes(d)
	last := types[len(types)-1]
	delivered := 0
	for _, ty := range types {
		if ty == "delivered" {
			delivered++
		}
	}
	if last != "fitconnect_accepted" || delivered != 2 {
		t.Fatalf("the accept must follow both deliveries: %v", types)
	}
}

// TestFitConnectTwoInstancesOnPostgres: two instances on one PostgreSQL database both poll and
// fetch; callbacks reach one. Each FIT-Connect submission becomes one amtsbote submission and
// gets one decision.
func TestFitConnectTwoInstancesOnPostgres(t *testing.T) {
	e := startFitConnect(t, "postgres", nil)
	cfg2 := *e.cfg
	cfg2.Server.Listen, cfg2.Admin.Listen = "127.0.0.1:0", "127.0.0.1:0"
	cfg2.Storage.DataDir = t.TempDir()
	cfg2.Server.SpoolDir = ""
	start(t, &cfg2)
	const total = 20
	ids := make([]string, total)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ids[i] = e.submit(t, e.application(t), nil, nil).SubmissionID
		}()
	}
	wg.Wait()
	for _, id := range ids {
		entry := e.waitInbox(t, id)
		if entry.Decision != store.DecisionAccept || e.sim.State(id) != simulator.StateAccepted {
			t.Fatalf("%s: %+v, %s", id, entry, e.sim.State(id))
		}
	}
	var n, distinct int
	e.d.Store().DB.QueryRow(`SELECT count(*), count(DISTINCT idempotency_key) FROM submissions WHERE channel = 'fitconnect'`).Scan(&n, &distinct)
	if n != total || distinct != total {
		t.Fatalf("%d amtsbote submissions (%d distinct) for %d FIT-Connect submissions", n, distinct, total)
	}
	if posted := e.sim.Requests("event"); posted != total {
		t.Fatalf("%d decisions posted for %d submissions", posted, total)
	}
}

// TestFitConnectXMLData: data whose schema is an XSD is checked against it, and mappings see it
// as a tree; the Fachverfahren gets it as sent.
func TestFitConnectXMLData(t *testing.T) {
	const uri = "urn:amtsbote:test:gewerbeanmeldung-xml:1.0"
	xsd := filepath.Join(t.TempDir(), "gewerbeanmeldung.xsd")
	os.WriteFile(xsd, []byte(`<?xml version="1.0"?>
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" elementFormDefault="qualified">
  <xs:element name="gewerbeanmeldung">
    <xs:complexType>
      <xs:sequence>
        <xs:element name="inhaber" type="xs:anyType"/>
        <xs:element name="betrieb" type="xs:anyType"/>
        <xs:any processContents="lax" minOccurs="0" maxOccurs="unbounded"/>
      </xs:sequence>
    </xs:complexType>
  </xs:element>
</xs:schema>`), 0o644)
	e := startFitConnect(t, "sqlite", func(c *config.Config) {
		s := &c.FitConnect.Subscriptions[0]
		s.DataSchemas = append(s.DataSchemas, config.FitConnectDataSchema{URI: uri, File: xsd})
		c.RoutesFile = withoutJSONSchema(t, c)
	})
	app := e.application(t)
	var data map[string]any
	json.Unmarshal(app.Data, &data)
	app.Data = []byte(`<?xml version="1.0" encoding="UTF-8"?>` + "\n" + xmlOf("gewerbeanmeldung", data))
	app.DataSchemaURI, app.DataMimeType = uri, "application/xml"

	bad := app
	bad.Data = []byte(`<gewerbeanmeldung><betrieb/></gewerbeanmeldung>`)
	notXML := app
	notXML.Data = []byte(`<gewerbeanmeldung><inhaber>`)
	good := e.submit(t, app, nil, nil)
	invalid := e.submit(t, bad, nil, nil)
	broken := e.submit(t, notXML, nil, nil)
	for p, want := range map[*sender.Prepared]string{invalid: "schema-violation@data", broken: "syntax-violation@data"} {
		e.waitInbox(t, p.SubmissionID)
		if _, problems := e.decision(t, p.SubmissionID); strings.Join(problems, ",") != want {
			t.Fatalf("got %v, want %s", problems, want)
		}
	}
	entry := e.waitInbox(t, good.SubmissionID)
	if entry.Decision != store.DecisionAccept {
		t.Fatalf("%+v", entry)
	}
	e.waitDone(t, entry.AmtsboteID, "delivered")
	// The E-Akte's xdomea message carries the applicant from the XML; the Fachverfahren gets the
	// XML as sent beside its tree.
	msg, err := e.d.Store().Message(context.Background(), entry.AmtsboteID, "eakte")
	if err != nil || !strings.Contains(string(msg.XML), "Müller") {
		t.Fatalf("xdomea: %v\n%.400s", err, msg.XML)
	}
	fv, err := e.d.Store().Message(context.Background(), entry.AmtsboteID, "gewerbe-fachverfahren")
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Data    map[string]any `json:"data"`
		DataXML string         `json:"data_xml"`
	}
	if err := json.Unmarshal(fv.XML, &m); err != nil || !strings.HasPrefix(m.DataXML, "<?xml") ||
		m.Data["inhaber"].(map[string]any)["nachname"] != "Müller" {
		t.Fatalf("form data message: %v\n%.600s", err, fv.XML)
	}
}

// withoutJSONSchema is the demo's routes file without the Fachverfahren's JSON Schema check.
func withoutJSONSchema(t *testing.T, cfg *config.Config) string {
	t.Helper()
	path := trustRoutes(t, cfg, "none")
	raw, _ := os.ReadFile(path)
	var kept []string
	for _, l := range strings.Split(string(raw), "\n") {
		if !strings.Contains(l, "json_schema:") {
			kept = append(kept, l)
		}
	}
	os.WriteFile(path, []byte(strings.Join(kept, "\n")), 0o644)
	return path
}

// xmlOf writes JSON-like data as XML: objects as elements, lists as repeated elements.
func xmlOf(name string, v any) string {
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		// inhaber and betrieb first, as the XSD wants
		sort.SliceStable(keys, func(i, j int) bool { return rank(keys[i]) < rank(keys[j]) })
		var b strings.Builder
		for _, k := range keys {
			b.WriteString(xmlOf(k, x[k]))
		}
		return "<" + name + ">" + b.String() + "</" + name + ">"
	case []any:
		var b strings.Builder
		for _, item := range x {
			b.WriteString(xmlOf(name, item))
		}
		return b.String()
	}
	var b strings.Builder
	xml.EscapeText(&b, []byte(fmt.Sprint(v)))
	return "<" + name + ">" + b.String() + "</" + name + ">"
}

func rank(k string) int {
	switch k {
	case "inhaber":
		return 0
	case "betrieb":
		return 1
	}
	return 2
}

// TestFitConnectMissingOwnKey: a submission encrypted for the destination's current key, which
// the configuration lacks (a key rotation half done), is not rejected: it waits, retried, with
// an error saying which key to add.
func TestFitConnectMissingOwnKey(t *testing.T) {
	other, err := fitconnect.GenerateKeys("a key of another rotation")
	if err != nil {
		t.Fatal(err)
	}
	otherFile := filepath.Join(t.TempDir(), "other.private.jwk")
	os.WriteFile(otherFile, mustJSON(t, other.EncryptionPrivate), 0o600)
	e := startFitConnect(t, "sqlite", func(c *config.Config) { c.FitConnect.Subscriptions[0].DecryptionKeys = []string{otherFile} })
	p := e.submit(t, e.application(t), nil, nil)
	deadline := time.Now().Add(10 * time.Second)
	for {
		entry, err := e.d.Store().InboxEntry(context.Background(), p.SubmissionID)
		if err == nil && entry.Attempts >= 2 {
			if entry.State != store.InboxNew || !strings.Contains(entry.LastError, "not among decryption_keys") ||
				!strings.Contains(entry.LastError, fitconnect.KeyID(e.pub)) {
				t.Fatalf("%+v", entry)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no retried failure: %+v %v", entry, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if s := e.sim.State(p.SubmissionID); s != simulator.StateSubmitted {
		t.Fatalf("decided although amtsbote only lacks its key: %s", s)
	}
	m := e.admin("GET", "/metrics").Raw
	if !strings.Contains(m, `amtsbote_fitconnect_open{destination="`+fcDestination+`"} 1`) ||
		!strings.Contains(m, `amtsbote_fitconnect_oldest_open_age_seconds{destination="`+fcDestination+`"}`) ||
		!strings.Contains(m, `amtsbote_fitconnect_errors_total{operation="keys"}`) {
		t.Fatalf("metrics do not show the waiting submission:\n%s", grepLines(m, "fitconnect"))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
