package daemon_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/amtsbote/amtsbote/config"
	"github.com/amtsbote/amtsbote/inbound"
	"github.com/amtsbote/amtsbote/payment"
	"github.com/amtsbote/amtsbote/payment/simulator"
	"github.com/amtsbote/amtsbote/store"
)

const (
	payOriginator  = "test-portal"
	payEndpoint    = "09162000"
	payPassword    = "payment-password-of-the-test"
	paySecret      = "payment-callback-secret-0123456789-test"
	payLeistung    = "99999999999999"
	freeLeistung   = "99999999999998"
	portalCBSecret = "0123456789abcdef-secret"
)

// payRoutes are a route that requires payment at provider sim and one that does not.
const payRoutes = `routes:
  - id: bezahlt
    match: {leistung: ["` + payLeistung + `"]}
    payment: {required: true, provider: sim}
    targets:
      - destination: eakte
        form_data: {message_type: Antrag}
        recipient: {kennung: "09162000", praefix: ags, name: Bürgeramt}
  - id: gebuehrenfrei
    match: {leistung: ["` + freeLeistung + `"]}
    targets:
      - destination: eakte
        form_data: {message_type: Antrag}
        recipient: {kennung: "09162000", praefix: ags, name: Bürgeramt}
`

// payEnv is a daemon with a payment provider, its simulator, and a portal callback receiver.
type payEnv struct {
	*harness
	sim      *simulator.Server
	target   *atomic.Value // the daemon's base URL, where notifications are forwarded
	mu       sync.Mutex
	statuses []string // status changes told to the portal
}

// startPayment starts a payment simulator and a daemon that holds route bezahlt's submissions
// for it; change adjusts the provider before the daemon starts.
func startPayment(t *testing.T, backend string, change func(*config.PaymentProvider)) *payEnv {
	t.Helper()
	env := &payEnv{target: &atomic.Value{}}
	daemonBase := env.target
	daemonBase.Store("")
	// Notifications go through a forwarder: the daemon's address is known only once it runs.
	forward := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, _ := url.Parse(daemonBase.Load().(string))
		httputil.NewSingleHostReverseProxy(u).ServeHTTP(w, r)
	}))
	t.Cleanup(forward.Close)
	sim, err := simulator.New(simulator.Config{
		Clients:   []simulator.Client{{ID: "amtsbote", Secret: payPassword, Endpoints: []string{payOriginator + "/" + payEndpoint}}},
		Endpoints: []simulator.Endpoint{{OriginatorID: payOriginator, EndpointID: payEndpoint, CallbackURL: forward.URL + payment.CallbackPath("sim"), CallbackSecret: paySecret}},
	})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(sim.Handler())
	t.Cleanup(func() { ts.Close(); sim.Close() })
	env.sim = sim

	portal := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var b struct{ Status string }
		json.Unmarshal(body, &b)
		env.mu.Lock()
		env.statuses = append(env.statuses, b.Status)
		env.mu.Unlock()
	}))
	t.Cleanup(portal.Close)

	dir := t.TempDir()
	for name, content := range map[string]string{"routes.yaml": payRoutes, "password": payPassword, "callback-secret": paySecret} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg := backendConfig(t, backend)
	cfg.RoutesFile = filepath.Join(dir, "routes.yaml")
	cfg.Portals[0].CallbackURL, cfg.Portals[0].CallbackSecret = portal.URL, portalCBSecret
	p := config.PaymentProvider{
		ID: "sim", APIURL: ts.URL, OriginatorID: payOriginator, EndpointID: payEndpoint,
		Auth:    config.PaymentAuth{Type: "basic", Username: "amtsbote", Password: config.Secret{File: filepath.Join(dir, "password")}},
		Timeout: 500 * time.Millisecond,
		// Without a notification the next check would be an hour away.
		Poll:            config.PaymentPoll{InitialInterval: time.Hour, MaxInterval: time.Hour, Multiplier: 2},
		HoldTimeout:     72 * time.Hour,
		CallbackSecrets: []config.Secret{{File: filepath.Join(dir, "callback-secret")}},
	}
	if change != nil {
		change(&p)
	}
	cfg.Payment.Providers = []config.PaymentProvider{p}
	env.harness = start(t, cfg)
	daemonBase.Store(env.base)
	return env
}

// paidSubmission is a submission of route bezahlt with its payment transaction ("" for none).
func paidSubmission(t *testing.T, transactionID string) map[string]any {
	sub := map[string]any{"leistung": payLeistung, "ags": "09162000", "reference": "antrag-" + transactionID,
		"data": map[string]any{"name": "Erika Mustermann"}}
	if transactionID != "" {
		sub["payment"] = map[string]any{"transaction_id": transactionID}
	}
	return sub
}

func (e *payEnv) submitPaid(t *testing.T, transactionID string) string {
	t.Helper()
	if transactionID != "" {
		if _, err := e.sim.AddTransaction(payOriginator, payEndpoint, transactionID); err != nil {
			t.Fatal(err)
		}
	}
	r := e.submit(paidSubmission(t, transactionID), demoToken, nil)
	if r.Status != http.StatusAccepted {
		t.Fatalf("submit: %d %s", r.Status, r.Raw)
	}
	return r.Body["id"].(string)
}

func (e *payEnv) toldPortal() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.statuses)
}

// eventually polls cond for up to 15 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func eventDetail(r response, typ string) string {
	for _, e := range r.Body["events"].([]any) {
		if m := e.(map[string]any); m["type"] == typ {
			d, _ := m["detail"].(string)
			return d
		}
	}
	return ""
}

// An unpaid application waits in awaiting_payment; the platform's notification that it is paid
// makes amtsbote check at once (the next poll would be an hour away), and it is delivered. The
// portal is told every status change.
func TestPaymentHoldUntilPaid(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		env := startPayment(t, backend, nil)
		id := env.submitPaid(t, "TX-PAID")
		r := env.waitStatus(id, store.StatusAwaitingPayment)
		if d := eventDetail(r, "payment_checked"); !strings.Contains(d, "provider sim, transaction TX-PAID: INITIAL (not paid yet)") {
			t.Fatalf("payment_checked: %q (%s)", d, r.Raw)
		}
		if n := env.count("watermill_submissions"); n != 1 {
			t.Fatalf("%d queue messages for the held submission, want 1", n)
		}
		if err := env.sim.SetStatus("TX-PAID", payment.StatusPayed, "GIROPAY"); err != nil {
			t.Fatalf("notification: %v", err)
		}
		r = env.waitStatus(id, store.StatusDelivered)
		paid := eventDetail(env.detail(id), "payment_paid")
		if !strings.Contains(paid, "PAYED (reference KZ-") || !strings.Contains(paid, "method GIROPAY") {
			t.Fatalf("payment_paid: %q", paid)
		}
		types := eventTypes(r)
		if i, j := slices.Index(types, "payment_paid"), slices.Index(types, "mapped"); i < 0 || j < i {
			t.Fatalf("history: %v", types)
		}
		eventually(t, "the portal to hear of every status", func() bool {
			got := env.toldPortal()
			return slices.Contains(got, "awaiting_payment") && slices.Contains(got, "delivered")
		})
		if got := env.toldPortal(); !slices.Equal(got[:2], []string{"received", "awaiting_payment"}) {
			t.Fatalf("told the portal %v", got)
		}
		metrics := env.admin("GET", "/metrics").Raw
		for _, m := range []string{`amtsbote_payment_outcomes_total{outcome="held",provider="sim"} 1`,
			`amtsbote_payment_outcomes_total{outcome="paid",provider="sim"} 1`,
			`amtsbote_payment_notifications_total{provider="sim",result="accepted"} 1`} {
			if !strings.Contains(metrics, m) {
				t.Errorf("metrics lack %s", m)
			}
		}
	})
}

// A failed or cancelled payment ends the submission for good, with the reason; nothing is
// delivered. A transaction the platform does not know fails too, and so does a submission of a
// route that requires payment without any.
func TestPaymentFailures(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		env := startPayment(t, backend, nil)
		for _, tt := range []struct {
			name, tx  string
			set       payment.Status // the payer's doing after the first check; "" for nothing
			status    string
			event     string
			reason    string
			addToPlat bool
		}{
			{"failed", "TX-FAILED", payment.StatusFailed, store.StatusPaymentFailed, "payment_failed", "FAILED (the payment platform ended the payment", true},
			{"cancelled", "TX-CANCELED", payment.StatusCanceled, store.StatusPaymentCanceled, "payment_canceled", "CANCELED (the payer cancelled the payment)", true},
			{"unknown transaction", "TX-NOWHERE", "", store.StatusPaymentFailed, "payment_failed", "the payment platform does not know the transaction", false},
			{"no transaction", "", "", store.StatusFailed, "payment_missing", "route bezahlt requires payment, but the submission names no payment transaction", false},
		} {
			t.Run(tt.name, func(t *testing.T) {
				var id string
				if tt.addToPlat {
					id = env.submitPaid(t, tt.tx)
					env.waitStatus(id, store.StatusAwaitingPayment)
					if err := env.sim.SetStatus(tt.tx, tt.set, ""); err != nil {
						t.Fatal(err)
					}
				} else {
					r := env.submit(paidSubmission(t, tt.tx), demoToken, nil)
					id = r.Body["id"].(string)
				}
				r := env.waitStatus(id, tt.status)
				if d := eventDetail(r, tt.event); !strings.Contains(d, tt.reason) {
					t.Fatalf("%s: %q in %s", tt.event, d, r.Raw)
				}
				if slices.Contains(eventTypes(r), "mapped") || len(r.Body["deliveries"].([]any)) != 0 {
					t.Fatalf("delivered anyway: %s", r.Raw)
				}
			})
		}
		entries, _ := os.ReadDir(env.outDir)
		if len(entries) != 0 {
			t.Fatalf("%d packages delivered", len(entries))
		}
	})
}

// A payment that never completes fails the submission at the hold timeout, with the reason.
func TestPaymentHoldTimeout(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		env := startPayment(t, backend, func(p *config.PaymentProvider) {
			p.HoldTimeout = time.Second
			p.Poll = config.PaymentPoll{InitialInterval: 200 * time.Millisecond, MaxInterval: 400 * time.Millisecond, Multiplier: 2}
		})
		id := env.submitPaid(t, "TX-NEVER")
		env.waitStatus(id, store.StatusAwaitingPayment)
		r := env.waitStatus(id, store.StatusPaymentFailed)
		if d := eventDetail(r, "payment_failed"); !strings.Contains(d, "payment not completed within 1s (last check: INITIAL)") {
			t.Fatalf("payment_failed: %q", d)
		}
		if n := env.count("watermill_submissions"); n != 0 {
			t.Fatalf("%d queue messages left", n)
		}
		// A payment after the timeout changes nothing.
		if err := env.sim.SetStatus("TX-NEVER", payment.StatusPayed, ""); err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond)
		env.waitStatus(id, store.StatusPaymentFailed)
	})
}

// While the platform fails (5xx) or does not answer in time, the submission stays held and is
// checked again with growing waits; the daemon goes on serving other submissions. Once the
// platform answers, the paid submission is delivered.
func TestPaymentPlatformDown(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		env := startPayment(t, backend, func(p *config.PaymentProvider) {
			p.Timeout = 200 * time.Millisecond
			p.Poll = config.PaymentPoll{InitialInterval: 100 * time.Millisecond, MaxInterval: 400 * time.Millisecond, Multiplier: 2}
		})
		if _, err := env.sim.AddTransaction(payOriginator, payEndpoint, "TX-DOWN"); err != nil {
			t.Fatal(err)
		}
		if err := env.sim.SetStatus("TX-DOWN", payment.StatusPayed, ""); err != nil {
			t.Fatal(err)
		}
		env.sim.Fail(3, http.StatusServiceUnavailable)
		env.sim.Stall(2, 2*time.Second)
		r := env.submit(paidSubmission(t, "TX-DOWN"), demoToken, nil)
		id := r.Body["id"].(string)
		r = env.waitStatus(id, store.StatusAwaitingPayment)
		if d := eventDetail(r, "payment_checked"); !strings.Contains(d, "the payment platform could not be read") {
			t.Fatalf("payment_checked: %q", d)
		}
		// (Without the id: a random UUID may contain "503".)
		if seen := strings.ReplaceAll(r.Raw, id, ""); strings.Contains(seen, "503") || strings.Contains(seen, "127.0.0.1") {
			t.Fatalf("the portal sees the platform's error: %s", r.Raw)
		}
		// Meanwhile another submission goes through.
		free := paidSubmission(t, "")
		free["leistung"] = freeLeistung
		other := env.submit(free, demoToken, nil).Body["id"].(string)
		env.waitStatus(other, store.StatusDelivered)
		r = env.waitStatus(id, store.StatusDelivered)
		if reads := env.sim.Reads("TX-DOWN"); reads != 6 {
			t.Errorf("%d reads, want 6 (3 failed, 2 timed out, 1 answered)", reads)
		}
		hold, err := env.d.Store().PaymentHold(t.Context(), id)
		if err != nil || hold.Checks != 6 || hold.Status != "PAYED" {
			t.Fatalf("hold: %+v %v", hold, err)
		}
		// The waits grew: 100ms, 200ms, 400ms, 400ms, 400ms (±20 %) between six reads.
		if took := hold.UpdatedAt.Sub(hold.HeldSince); took < time.Second {
			t.Errorf("six checks within %s: no backoff", took)
		}
		if got := eventTypes(r); slices.Index(got, "payment_checked") < 0 || slices.Index(got, "payment_paid") < 0 {
			t.Fatalf("history %v", got)
		}
	})
}

// The hold is in the store: a daemon stopped while a submission waits for its payment resumes
// holding it after the restart and delivers it once paid.
func TestPaymentHoldSurvivesRestart(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		env := startPayment(t, backend, nil)
		id := env.submitPaid(t, "TX-RESTART")
		env.waitStatus(id, store.StatusAwaitingPayment)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := env.d.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
		// Paid while amtsbote is down: the notification finds no one.
		if err := env.sim.SetStatus("TX-RESTART", payment.StatusPayed, ""); err == nil {
			t.Fatal("the notification reached a stopped daemon")
		}
		env.harness = start(t, env.cfg)
		env.target.Store(env.base)
		env.waitStatus(id, store.StatusAwaitingPayment)
		// The platform notifies again (or the next poll comes): the submission goes on.
		if err := env.sim.SetStatus("TX-RESTART", payment.StatusPayed, ""); err != nil {
			t.Fatal(err)
		}
		env.waitStatus(id, store.StatusDelivered)
	})
}

// The notification endpoint's requests and answers match the OpenAPI document; a portal naming
// a provider amtsbote does not know is refused at intake.
func TestPaymentNotificationMatchesOpenAPIDocument(t *testing.T) {
	ctx := context.Background()
	doc, err := openapi3.NewLoader().LoadFromData(inbound.OpenAPI)
	if err != nil {
		t.Fatal(err)
	}
	doc.Servers = nil
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	env := startPayment(t, "sqlite", nil)
	id := env.submitPaid(t, "TX-DOC")
	env.waitStatus(id, store.StatusAwaitingPayment)
	body := []byte(`{"transactionId": "TX-DOC", "status": "PAYED"}`)
	for _, tt := range []struct {
		name   string
		header http.Header
		status int
	}{
		{"signed", payment.SignNotification([]byte(paySecret), time.Now(), body), http.StatusAccepted},
		{"wrong secret", payment.SignNotification([]byte(strings.Repeat("x", 40)), time.Now(), body), http.StatusUnauthorized},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", env.base+payment.CallbackPath("sim"), bytes.NewReader(body))
			req.Header = tt.header
			vreq := req.Clone(ctx)
			vreq.Body = io.NopCloser(bytes.NewReader(body))
			route, params, err := router.FindRoute(vreq)
			if err != nil {
				t.Fatalf("not in the document: %v", err)
			}
			in := &openapi3filter.RequestValidationInput{Request: vreq, PathParams: params, Route: route,
				Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
			if err := openapi3filter.ValidateRequest(ctx, in); err != nil {
				t.Fatalf("the request does not match the document: %v", err)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			raw, _ := io.ReadAll(res.Body)
			if res.StatusCode != tt.status {
				t.Fatalf("%d %s", res.StatusCode, raw)
			}
			err = openapi3filter.ValidateResponse(ctx, &openapi3filter.ResponseValidationInput{RequestValidationInput: in,
				Status: res.StatusCode, Header: res.Header, Body: io.NopCloser(bytes.NewReader(raw)),
				Options: &openapi3filter.Options{IncludeResponseStatus: true}})
			if err != nil {
				t.Fatalf("the %d answer does not match the document: %v", res.StatusCode, err)
			}
		})
	}
	sub := paidSubmission(t, "TX-ELSEWHERE")
	sub["payment"].(map[string]any)["provider"] = "elsewhere"
	r := env.submit(sub, demoToken, nil)
	if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Raw, `"field": "payment.provider"`) {
		t.Fatalf("unknown provider: %d %s", r.Status, r.Raw)
	}
}

// withPaymentRoute is the demo routes file (for cfg) with the Gewerbeanmeldung route requiring
// payment as payment (a YAML flow mapping) says.
func withPaymentRoute(t *testing.T, cfg *config.Config, paymentYAML string) string {
	t.Helper()
	file := trustRoutes(t, cfg, "none")
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	content := strings.Replace(string(raw), "    min_trust_level: none\n", "    min_trust_level: none\n    payment: "+paymentYAML+"\n", 1)
	if err := os.WriteFile(file, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

// FIT-Connect's metadata names the payment (paymentInformation): without a provider to ask, its
// status as sent decides — BOOKED goes on, CANCELED and INITIAL end it; with one, the platform
// is asked, and an unpaid submission waits until it is paid.
func TestPaymentFitConnect(t *testing.T) {
	info := func(tx, status string) map[string]any {
		return map[string]any{"transactionId": tx, "transactionReference": "KZ-" + tx, "paymentMethod": "CREDITCARD", "status": status}
	}
	t.Run("the metadata's status", func(t *testing.T) {
		e := startFitConnect(t, "sqlite", func(c *config.Config) { c.RoutesFile = withPaymentRoute(t, c, "{required: true}") })
		for _, tt := range []struct {
			name    string
			payment map[string]any
			status  string
			event   string
		}{
			{"booked", info("FC-1", "BOOKED"), store.StatusDelivered, "payment_paid"},
			{"cancelled", info("FC-2", "CANCELED"), store.StatusPaymentCanceled, "payment_canceled"},
			{"not paid", info("FC-3", "INITIAL"), store.StatusPaymentFailed, "payment_failed"},
			{"no payment", nil, store.StatusFailed, "payment_missing"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				app := e.application(t)
				if tt.payment != nil {
					app.Metadata["paymentInformation"] = tt.payment
				}
				p := e.submit(t, app, nil, nil)
				entry := e.waitInbox(t, p.SubmissionID)
				r := e.waitDone(t, entry.AmtsboteID, tt.status)
				if !slices.Contains(eventTypes(r), tt.event) {
					t.Fatalf("history %v", eventTypes(r))
				}
			})
		}
	})
	t.Run("a provider to ask", func(t *testing.T) {
		sim, err := simulator.New(simulator.Config{
			Clients:      []simulator.Client{{ID: "amtsbote", Secret: payPassword, Endpoints: []string{payOriginator + "/" + payEndpoint}}},
			Endpoints:    []simulator.Endpoint{{OriginatorID: payOriginator, EndpointID: payEndpoint}},
			Transactions: []simulator.Transaction{{ID: "FC-PAID-LATER", OriginatorID: payOriginator, EndpointID: payEndpoint}},
		})
		if err != nil {
			t.Fatal(err)
		}
		ts := httptest.NewServer(sim.Handler())
		defer ts.Close()
		password := filepath.Join(t.TempDir(), "password")
		os.WriteFile(password, []byte(payPassword), 0o600)
		e := startFitConnect(t, "sqlite", func(c *config.Config) {
			c.RoutesFile = withPaymentRoute(t, c, "{required: true, provider: sim}")
			c.Payment.Providers = []config.PaymentProvider{{ID: "sim", APIURL: ts.URL, OriginatorID: payOriginator, EndpointID: payEndpoint,
				Auth:    config.PaymentAuth{Type: "basic", Username: "amtsbote", Password: config.Secret{File: password}},
				Timeout: time.Second, HoldTimeout: time.Hour,
				Poll: config.PaymentPoll{InitialInterval: 50 * time.Millisecond, MaxInterval: 100 * time.Millisecond, Multiplier: 2}}}
		})
		app := e.application(t)
		// The metadata says BOOKED, but amtsbote asks the platform, which knows better.
		app.Metadata["paymentInformation"] = info("FC-PAID-LATER", "BOOKED")
		p := e.submit(t, app, nil, nil)
		entry := e.waitInbox(t, p.SubmissionID)
		r := e.waitDone(t, entry.AmtsboteID, store.StatusAwaitingPayment)
		if d := eventDetail(r, "payment_checked"); !strings.Contains(d, "transaction FC-PAID-LATER: INITIAL") {
			t.Fatalf("payment_checked %q", d)
		}
		// No notification here: the next poll finds the payment.
		if err := sim.SetStatus("FC-PAID-LATER", payment.StatusPayed, ""); err != nil {
			t.Fatal(err)
		}
		e.waitDone(t, entry.AmtsboteID, store.StatusDelivered)
	})
}

// A payment counts for one submission: two applications naming the same transaction are held
// alike, and once it is paid one goes on and the other fails.
func TestPaymentCountsForOneSubmission(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		env := startPayment(t, backend, nil)
		first := env.submitPaid(t, "TX-TWICE")
		second := env.submit(paidSubmission(t, "TX-TWICE"), demoToken, nil).Body["id"].(string)
		env.waitStatus(first, store.StatusAwaitingPayment)
		env.waitStatus(second, store.StatusAwaitingPayment)
		if err := env.sim.SetStatus("TX-TWICE", payment.StatusPayed, ""); err != nil {
			t.Fatal(err)
		}
		var delivered, failed int
		eventually(t, "both submissions to end", func() bool {
			delivered, failed = 0, 0
			for _, id := range []string{first, second} {
				switch env.do("GET", "/v1/submissions/"+id, demoToken, nil, nil).Body["status"] {
				case store.StatusDelivered:
					delivered++
				case store.StatusPaymentFailed:
					failed++
				}
			}
			return delivered+failed == 2
		})
		if delivered != 1 || failed != 1 {
			t.Fatalf("%d delivered, %d payment_failed", delivered, failed)
		}
	})
}
