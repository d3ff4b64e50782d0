package simulator_test

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/amtsbote/amtsbote/callbacks"
	"github.com/amtsbote/amtsbote/payment"
	"github.com/amtsbote/amtsbote/payment/simulator"
)

const secret = "secret-of-the-test-client"

func start(t *testing.T, callbackURL string) (*simulator.Server, string) {
	t.Helper()
	sim, err := simulator.New(simulator.Config{
		Endpoints: []simulator.Endpoint{
			{OriginatorID: "portal", EndpointID: "09162000", CallbackURL: callbackURL, CallbackSecret: strings.Repeat("k", 32)},
			{OriginatorID: "other", EndpointID: "05315000"},
		},
		Clients: []simulator.Client{{ID: "amtsbote", Secret: secret, Endpoints: []string{"portal/09162000"}}},
		Transactions: []simulator.Transaction{{ID: "TX-1", OriginatorID: "portal", EndpointID: "09162000"},
			{ID: "TX-OTHER", OriginatorID: "other", EndpointID: "05315000"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(sim.Handler())
	t.Cleanup(func() { ts.Close(); sim.Close() })
	return sim, ts.URL
}

const goodRequest = `{"requestId": "r-1", "currency": "EUR", "grosAmount": 10.5, "purpose": "Meldebescheinigung",
	"redirectUrl": "https://portal.example/back", "items": [{"id": "i-1", "totalNetAmount": 10.5}]}`

// The simulator refuses what a platform refuses, each with the status and functional code of
// XBezahldienste's problem document.
func TestSimulatorIsStrict(t *testing.T) {
	_, base := start(t, "")
	basic := "Basic " + b64("amtsbote:"+secret)
	for _, tt := range []struct {
		name, method, path, auth, contentType, accept, body string
		status                                              int
		code                                                string
	}{
		{"read", "GET", "/paymenttransaction/portal/09162000/TX-1", basic, "", "application/json", "", 200, ""},
		{"no credentials", "GET", "/paymenttransaction/portal/09162000/TX-1", "", "", "", "", 401, "FORBIDDEN"},
		{"wrong password", "GET", "/paymenttransaction/portal/09162000/TX-1", "Basic " + b64("amtsbote:nope"), "", "", "", 401, "FORBIDDEN"},
		{"unknown token", "GET", "/paymenttransaction/portal/09162000/TX-1", "Bearer made-up", "", "", "", 401, "FORBIDDEN"},
		{"unknown mandant", "GET", "/paymenttransaction/portal/99999999/TX-1", basic, "", "", "", 403, "NO_VALID_ORIGINATOR_OR_ENDPOINT"},
		{"another client's mandant", "GET", "/paymenttransaction/other/05315000/TX-OTHER", basic, "", "", "", 403, "FORBIDDEN"},
		{"malformed originator", "GET", "/paymenttransaction/" + strings.Repeat("p", 37) + "/09162000/TX-1", basic, "", "", "", 400, "VALIDATION_ERROR"},
		{"unknown transaction", "GET", "/paymenttransaction/portal/09162000/TX-2", basic, "", "", "", 404, ""},
		{"HTML wanted", "GET", "/paymenttransaction/portal/09162000/TX-1", basic, "", "text/html", "", 406, "VALIDATION_ERROR"},
		{"PUT", "PUT", "/paymenttransaction/portal/09162000/TX-1", basic, "", "", "", 405, ""},
		{"start", "POST", "/paymenttransaction/portal/09162000", basic, "application/json", "", goodRequest, 200, ""},
		{"start as text", "POST", "/paymenttransaction/portal/09162000", basic, "text/plain", "", goodRequest, 415, "VALIDATION_ERROR"},
		{"repeated request", "POST", "/paymenttransaction/portal/09162000", basic, "application/json", "", goodRequest, 409, "PAYMENT_EXISTS"},
		{"unknown member", "POST", "/paymenttransaction/portal/09162000", basic, "application/json", "",
			strings.Replace(goodRequest, `"currency"`, `"amount": 1, "currency"`, 1), 400, "VALIDATION_ERROR"},
		{"dollars", "POST", "/paymenttransaction/portal/09162000", basic, "application/json", "",
			strings.Replace(strings.Replace(goodRequest, "EUR", "USD", 1), "r-1", "r-2", 1), 400, "VALIDATION_ERROR"},
		{"wrong sum", "POST", "/paymenttransaction/portal/09162000", basic, "application/json", "",
			strings.Replace(strings.Replace(goodRequest, "10.5,", "11,", 1), "r-1", "r-3", 1), 400, "CALCULATION_ERROR"},
		{"no items", "POST", "/paymenttransaction/portal/09162000", basic, "application/json", "",
			`{"requestId": "r-4", "currency": "EUR", "grosAmount": 1, "redirectUrl": "https://p.example/", "items": []}`, 400, "VALIDATION_ERROR"},
		{"status", "GET", "/status/portal/09162000", basic, "", "", "", 200, ""},
		{"status of an unknown mandant", "GET", "/status/portal/1", basic, "", "", "", 403, "NO_VALID_ORIGINATOR_OR_ENDPOINT"},
		{"elsewhere", "GET", "/v1/whatever", basic, "", "", "", 404, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, base+tt.path, strings.NewReader(tt.body))
			for k, v := range map[string]string{"Authorization": tt.auth, "Content-Type": tt.contentType, "Accept": tt.accept} {
				if v != "" {
					req.Header.Set(k, v)
				}
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
			ct := res.Header.Get("Content-Type")
			if tt.status >= 400 {
				var p payment.Problem
				if ct != "application/problem+json" || json.Unmarshal(raw, &p) != nil || p.Status != tt.status || p.FunctionalCode != tt.code {
					t.Fatalf("problem %s %s", ct, raw)
				}
			}
		})
	}
}

// The token endpoint takes client credentials (Basic or in the form) and nothing else; its
// tokens expire.
func TestSimulatorTokens(t *testing.T) {
	now := time.Now()
	sim, err := simulator.New(simulator.Config{TokenTTL: time.Minute, Now: func() time.Time { return now },
		Endpoints: []simulator.Endpoint{{OriginatorID: "portal", EndpointID: "09162000"}},
		Clients:   []simulator.Client{{ID: "amtsbote", Secret: secret, Endpoints: []string{"portal/09162000"}}}})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(sim.Handler())
	defer ts.Close()
	post := func(form url.Values, basic bool, contentType string) (int, map[string]any) {
		req, _ := http.NewRequest("POST", ts.URL+"/token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", contentType)
		if basic {
			req.SetBasicAuth("amtsbote", secret)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var out map[string]any
		json.NewDecoder(res.Body).Decode(&out)
		return res.StatusCode, out
	}
	form := "application/x-www-form-urlencoded"
	for _, tt := range []struct {
		name   string
		form   url.Values
		basic  bool
		ct     string
		status int
		err    string
	}{
		{"basic", url.Values{"grant_type": {"client_credentials"}}, true, form, 200, ""},
		{"in the form", url.Values{"grant_type": {"client_credentials"}, "client_id": {"amtsbote"}, "client_secret": {secret}}, false, form, 200, ""},
		{"wrong secret", url.Values{"grant_type": {"client_credentials"}, "client_id": {"amtsbote"}, "client_secret": {"x"}}, false, form, 401, "invalid_client"},
		{"password grant", url.Values{"grant_type": {"password"}}, true, form, 400, "unsupported_grant_type"},
		{"JSON", url.Values{"grant_type": {"client_credentials"}}, true, "application/json", 400, "invalid_request"},
	} {
		status, out := post(tt.form, tt.basic, tt.ct)
		if status != tt.status || (tt.err != "" && out["error"] != tt.err) || (tt.err == "" && out["token_type"] != "Bearer") {
			t.Errorf("%s: %d %v", tt.name, status, out)
		}
	}
	_, out := post(url.Values{"grant_type": {"client_credentials"}}, true, form)
	read := func() int {
		req, _ := http.NewRequest("GET", ts.URL+"/status/portal/09162000", nil)
		req.Header.Set("Authorization", "Bearer "+out["access_token"].(string))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if s := read(); s != 200 {
		t.Fatalf("with a fresh token: %d", s)
	}
	now = now.Add(2 * time.Minute)
	if s := read(); s != 401 {
		t.Fatalf("with an expired token: %d", s)
	}
}

// A status change is notified to the mandant's callback URL, signed with its secret; the
// control API and the pay page change states as a tester or a payer would.
func TestSimulatorNotifiesAndIsControllable(t *testing.T) {
	var mu sync.Mutex
	var got []payment.Notification
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := callbacks.Verify([]byte(strings.Repeat("k", 32)), r.Header.Get(callbacks.TimestampHeader),
			r.Header.Get(callbacks.SignatureHeader), body, time.Now(), time.Minute); err != nil {
			t.Errorf("signature: %v", err)
		}
		n, err := payment.ParseNotification(body)
		if err != nil {
			t.Error(err)
		}
		mu.Lock()
		got = append(got, n)
		mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	defer receiver.Close()
	sim, base := start(t, receiver.URL)

	do := func(method, path, body string) (int, string) {
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		if strings.HasPrefix(path, "/paypage/") && method == "POST" {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		res, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		raw, _ := io.ReadAll(res.Body)
		return res.StatusCode, res.Header.Get("Location") + string(raw)
	}
	if s, out := do("POST", "/simulator/transactions", `{"originatorId": "portal", "endPointId": "09162000", "transactionId": "TX-CTL"}`); s != 201 || !strings.Contains(out, `"status":"INITIAL"`) {
		t.Fatalf("create: %d %s", s, out)
	}
	if s, out := do("POST", "/simulator/transactions/TX-CTL/status", `{"status": "CANCELED"}`); s != 200 || !strings.Contains(out, `"notification":"sent"`) {
		t.Fatalf("set status: %d %s", s, out)
	}
	if s, out := do("POST", "/simulator/transactions/TX-CTL/status", `{"status": "DONE"}`); s != 400 {
		t.Fatalf("unknown status: %d %s", s, out)
	}
	// The pay page of a payment an online service started leads back to its redirectUrl.
	c, _ := payment.NewClient(payment.Options{Provider: "sim", BaseURL: base, OriginatorID: "portal", EndpointID: "09162000",
		Auth: payment.Auth{Type: "basic", Username: "amtsbote", Password: secret}})
	var req payment.Request
	json.Unmarshal([]byte(goodRequest), &req)
	tx, err := c.Start(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	page := strings.TrimPrefix(tx.Information.TransactionRedirectURL, base)
	if s, out := do("GET", page, ""); s != 200 || !strings.Contains(out, "Bezahlen") {
		t.Fatalf("pay page: %d %s", s, out)
	}
	if s, out := do("POST", page, "action=pay"); s != 303 || !strings.HasPrefix(out, "https://portal.example/back") {
		t.Fatalf("pay: %d %s", s, out)
	}
	paid, _ := sim.Transaction(tx.Information.TransactionID)
	if paid.Status != payment.StatusPayed || paid.PaymentMethod == "" {
		t.Fatalf("after paying: %+v", paid)
	}
	if s, _ := do("POST", page, "action=cancel"); s != 409 {
		t.Fatalf("cancelling a paid payment: %d", s)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 2 || got[0] != (payment.Notification{TransactionID: "TX-CTL", Status: payment.StatusCanceled}) ||
		got[1].TransactionID != tx.Information.TransactionID || got[1].Status != payment.StatusPayed {
		t.Fatalf("notifications %+v", got)
	}
	// Faults by the control API.
	if s, _ := do("POST", "/simulator/faults", `{"status": 502, "count": 1}`); s != 204 {
		t.Fatal("fault not taken")
	}
	if _, err := c.Transaction(t.Context(), "TX-1"); !payment.Temporary(err) {
		t.Fatalf("with a 502 fault: %v", err)
	}
	if _, err := c.Transaction(t.Context(), "TX-1"); err != nil {
		t.Fatalf("after the fault: %v", err)
	}
}

// A configuration file is read strictly: unknown keys, missing secrets and mandants that do
// not exist are named.
func TestLoadConfigFile(t *testing.T) {
	if _, err := simulator.LoadConfigFile("../../fixtures/demo/payment/simulator.yaml"); err != nil {
		t.Fatalf("the demo's: %v", err)
	}
	for _, tt := range []struct{ name, content, want string }{
		{"unknown key", "clients: []\nendpoint: []\n", "field endpoint not found"},
		{"missing secret", "clients:\n  - {id: a, secret_env: NO_SUCH_VARIABLE_SET, endpoints: []}\n", "clients[0].secret_env: environment variable NO_SUCH_VARIABLE_SET"},
		{"unknown mandant", "clients:\n  - {id: a, secret: s, endpoints: [x/y]}\n", `client a: endpoint "x/y" is not among the endpoints`},
		{"short callback secret", "endpoints:\n  - {originator_id: o, endpoint_id: e, callback_url: http://127.0.0.1/, callback_secret: short}\n", "at least 32 characters"},
		{"bad status", "endpoints: [{originator_id: o, endpoint_id: e}]\ntransactions: [{id: T, originator_id: o, endpoint_id: e, status: PAID}]\n", `status "PAID"`},
		{"empty", "", "the file is empty"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "sim.yaml")
			os.WriteFile(path, []byte(tt.content), 0o600)
			_, err := simulator.LoadConfigFile(path)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), path) {
				t.Fatalf("want %q, got %v", tt.want, err)
			}
		})
	}
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
