package payment_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/amtsbote/amtsbote/payment"
	"github.com/amtsbote/amtsbote/payment/simulator"
)

const (
	originator = "gewerbe-portal"
	endpoint   = "09162000"
	secret     = "client-secret-of-the-test"
)

// platform is a simulator with one mandant, a client allowed there and one not, and a
// transaction in each state.
func platform(t *testing.T) (*simulator.Server, string) {
	t.Helper()
	sim, err := simulator.New(simulator.Config{
		Endpoints: []simulator.Endpoint{{OriginatorID: originator, EndpointID: endpoint}, {OriginatorID: "other", EndpointID: "05315000"}},
		Clients: []simulator.Client{
			{ID: "amtsbote", Secret: secret, Endpoints: []string{originator + "/" + endpoint}},
			{ID: "stranger", Secret: secret, Endpoints: []string{"other/05315000"}},
		},
		Transactions: []simulator.Transaction{
			{ID: "TX-INITIAL", OriginatorID: originator, EndpointID: endpoint},
			{ID: "TX-PAYED", OriginatorID: originator, EndpointID: endpoint},
			{ID: "TX-FAILED", OriginatorID: originator, EndpointID: endpoint},
			{ID: "TX-CANCELED", OriginatorID: originator, EndpointID: endpoint},
			{ID: "TX-OTHER", OriginatorID: "other", EndpointID: "05315000"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	for id, st := range map[string]payment.Status{"TX-PAYED": payment.StatusPayed, "TX-FAILED": payment.StatusFailed, "TX-CANCELED": payment.StatusCanceled} {
		if err := sim.SetStatus(id, st, "PAYPAL"); err != nil {
			t.Fatal(err)
		}
	}
	ts := httptest.NewServer(sim.Handler())
	t.Cleanup(func() { ts.Close(); sim.Close() })
	return sim, ts.URL
}

func client(t *testing.T, base string, change func(*payment.Options)) *payment.Client {
	t.Helper()
	o := payment.Options{Provider: "epay", BaseURL: base, OriginatorID: originator, EndpointID: endpoint,
		Auth: payment.Auth{Type: "basic", Username: "amtsbote", Password: secret}, Timeout: 2 * time.Second}
	if change != nil {
		change(&o)
	}
	c, err := payment.NewClient(o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func oauth(base string) func(*payment.Options) {
	return func(o *payment.Options) {
		o.Auth = payment.Auth{Type: "oauth2", TokenURL: base + "/token", ClientID: "amtsbote", ClientSecret: secret}
	}
}

// Every state reads as it is, with the reference, and the method when paid; with Basic and with
// an OAuth token alike.
func TestClientReadsEachStatus(t *testing.T) {
	_, base := platform(t)
	for _, auth := range []struct {
		name   string
		change func(*payment.Options)
	}{{"basic", nil}, {"oauth2", oauth(base)}} {
		c := client(t, base, auth.change)
		for _, tt := range []struct {
			id     string
			status payment.Status
			method string
			pay    bool // the pay page's URL is there (only while INITIAL)
		}{
			{"TX-INITIAL", payment.StatusInitial, "", true},
			{"TX-PAYED", payment.StatusPayed, "PAYPAL", false},
			{"TX-FAILED", payment.StatusFailed, "", false},
			{"TX-CANCELED", payment.StatusCanceled, "", false},
		} {
			t.Run(auth.name+"/"+tt.id, func(t *testing.T) {
				tx, err := c.Transaction(context.Background(), tt.id)
				if err != nil {
					t.Fatal(err)
				}
				in := tx.Information
				if in.Status != tt.status || in.TransactionID != tt.id || in.PaymentMethod != tt.method ||
					!strings.HasPrefix(in.TransactionReference, "KZ-") || (in.TransactionRedirectURL != "") != tt.pay {
					t.Fatalf("got %+v", in)
				}
			})
		}
	}
}

// What the platform refuses, and what it cannot answer, comes back as an *Error that says what
// and whether waiting helps.
func TestClientErrors(t *testing.T) {
	sim, base := platform(t)
	for _, tt := range []struct {
		name      string
		change    func(*payment.Options)
		fault     func()
		id        string
		status    int
		temporary bool
		unknown   bool
		want      string
	}{
		{name: "wrong password", change: func(o *payment.Options) { o.Auth.Password = "wrong" }, id: "TX-INITIAL",
			status: 401, want: "check the provider's auth credentials"},
		{name: "no credentials", change: func(o *payment.Options) { o.Auth = payment.Auth{Type: "none"} }, id: "TX-INITIAL",
			status: 401, want: "FORBIDDEN"},
		{name: "wrong OAuth secret", change: func(o *payment.Options) { oauth(base)(o); o.Auth.ClientSecret = "wrong" }, id: "TX-INITIAL",
			status: 401, want: "check client_id and client_secret"},
		{name: "client not allowed there", change: func(o *payment.Options) { o.Auth.Username = "stranger" }, id: "TX-INITIAL",
			status: 403, want: "FORBIDDEN"},
		{name: "unknown endpoint", change: func(o *payment.Options) { o.EndpointID = "99999999" }, id: "TX-INITIAL",
			status: 403, want: "NO_VALID_ORIGINATOR_OR_ENDPOINT"},
		{name: "unknown transaction", id: "TX-NOPE", status: 404, unknown: true, want: "does not know this transaction"},
		{name: "another mandant's transaction", id: "TX-OTHER", status: 404, unknown: true},
		{name: "server error", fault: func() { sim.Fail(1, 503) }, id: "TX-INITIAL", status: 503, temporary: true, want: "HTTP 503"},
		{name: "rate limited", fault: func() { sim.Fail(1, 429) }, id: "TX-INITIAL", status: 429, temporary: true},
		{name: "timeout", change: func(o *payment.Options) { o.Timeout = 100 * time.Millisecond },
			fault: func() { sim.Stall(1, 2*time.Second) }, id: "TX-INITIAL", temporary: true, want: "no answer in time"},
		{name: "malformed JSON", fault: func() { sim.Malform(1) }, id: "TX-INITIAL", status: 200, want: "not valid JSON"},
		{name: "invalid transaction id", id: "TX/../1", want: "transactionId: must be 1 to 64"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := client(t, base, tt.change)
			if tt.fault != nil {
				tt.fault()
			}
			_, err := c.Transaction(context.Background(), tt.id)
			var e *payment.Error
			if !errors.As(err, &e) {
				t.Fatalf("want *payment.Error, got %v", err)
			}
			if e.Status != tt.status || e.Temporary() != tt.temporary || payment.Temporary(err) != tt.temporary ||
				errors.Is(err, payment.ErrUnknownTransaction) != tt.unknown || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("status %d temporary %v: %v", e.Status, e.Temporary(), err)
			}
			if !strings.Contains(err.Error(), "payment provider epay") {
				t.Errorf("the error does not name the provider: %v", err)
			}
		})
	}
}

// Answers that are not what XBezahldienste defines are refused with what is wrong.
func TestClientRefusesWrongAnswers(t *testing.T) {
	for _, tt := range []struct {
		name, contentType, body, want string
	}{
		{"HTML", "text/html", "<html>login</html>", `Content-Type is "text/html", expected application/json`},
		{"other transaction", "application/json", `{"paymentInformation": {"transactionId": "TX-2", "status": "PAYED"}}`,
			`paymentInformation.transactionId: "TX-2" is not the transaction asked for`},
		{"unknown status", "application/json", `{"paymentInformation": {"transactionId": "TX-1", "status": "BOOKED"}}`,
			`paymentInformation.status: "BOOKED" is not one of`},
		{"no information", "application/json", `{"paymentRequest": null}`, "paymentInformation: missing"},
		{"too large", "application/json", `{"x": "` + strings.Repeat("a", 1<<20) + `"}`, "larger than"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", tt.contentType)
				_, _ = w.Write([]byte(tt.body))
			}))
			defer ts.Close()
			_, err := client(t, ts.URL, nil).Transaction(context.Background(), "TX-1")
			var pe *payment.ParseError
			if !errors.As(err, &pe) || !strings.Contains(err.Error(), tt.want) || payment.Temporary(err) {
				t.Fatalf("got %v", err)
			}
		})
	}
}

// A redirect is not followed: it would carry the credentials elsewhere.
func TestClientFollowsNoRedirect(t *testing.T) {
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("the redirect was followed with %q", r.Header.Get("Authorization"))
	}))
	defer elsewhere.Close()
	ts := httptest.NewServer(http.RedirectHandler(elsewhere.URL, http.StatusFound))
	defer ts.Close()
	_, err := client(t, ts.URL, nil).Transaction(context.Background(), "TX-1")
	var e *payment.Error
	if !errors.As(err, &e) || e.Status != http.StatusFound {
		t.Fatalf("got %v", err)
	}
}

// The OAuth token is fetched once and reused; a token the platform no longer takes is
// replaced once.
func TestClientOAuthToken(t *testing.T) {
	_, base := platform(t)
	var tokens int
	counting := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/token" {
			tokens++
		}
		proxy(t, base, w, r)
	}))
	defer counting.Close()
	now := time.Now()
	c := client(t, counting.URL, oauth(counting.URL))
	c.Now = func() time.Time { return now }
	for range 3 {
		if _, err := c.Transaction(context.Background(), "TX-PAYED"); err != nil {
			t.Fatal(err)
		}
	}
	if tokens != 1 {
		t.Fatalf("%d token requests for 3 reads, want 1", tokens)
	}
	now = now.Add(10 * time.Minute) // expired (5m)
	if _, err := c.Transaction(context.Background(), "TX-PAYED"); err != nil {
		t.Fatal(err)
	}
	if tokens != 2 {
		t.Fatalf("%d token requests after expiry, want 2", tokens)
	}
}

// proxy forwards a request to base.
func proxy(t *testing.T, base string, w http.ResponseWriter, r *http.Request) {
	req, _ := http.NewRequestWithContext(r.Context(), r.Method, base+r.URL.RequestURI(), r.Body)
	req.Header = r.Header.Clone()
	res, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Error(err)
		return
	}
	defer res.Body.Close()
	for k, v := range res.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(res.StatusCode)
	buf := make([]byte, 32<<10)
	for {
		n, err := res.Body.Read(buf)
		w.Write(buf[:n])
		if err != nil {
			return
		}
	}
}

// A payment request starts an INITIAL transaction with a pay page; the platform refuses a
// wrong sum and a repeated request id.
func TestClientStartsPayments(t *testing.T) {
	_, base := platform(t)
	c := client(t, base, nil)
	req := payment.Request{RequestID: "antrag-4711", Currency: "EUR", GrosAmount: 26, Purpose: "Gewerbeanmeldung",
		RedirectURL: "https://portal.example/zurueck", Items: []payment.Item{{ID: "gebuehr", TotalNetAmount: 26}}}
	tx, err := c.Start(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if tx.Information.Status != payment.StatusInitial || tx.Information.TransactionRedirectURL == "" {
		t.Fatalf("got %+v", tx.Information)
	}
	if got, err := c.Transaction(context.Background(), tx.Information.TransactionID); err != nil || got.Request.RequestID != "antrag-4711" {
		t.Fatalf("read back: %+v %v", got, err)
	}
	_, err = c.Start(context.Background(), req)
	if !strings.Contains(err.Error(), "HTTP 409: PAYMENT_EXISTS") {
		t.Fatalf("repeated request: %v", err)
	}
	req.RequestID, req.GrosAmount = "antrag-4712", 30
	if _, err = c.Start(context.Background(), req); !strings.Contains(err.Error(), "HTTP 400: CALCULATION_ERROR") {
		t.Fatalf("wrong sum: %v", err)
	}
	if err := c.Ping(context.Background()); err != nil {
		t.Fatalf("ping: %v", err)
	}
}
