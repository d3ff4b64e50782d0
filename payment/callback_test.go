package payment_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/amtsbote/amtsbote/callbacks"
	"github.com/amtsbote/amtsbote/payment"
)

// A notification is taken only with a valid signature of a configured secret and a fresh
// timestamp, and only as JSON naming a transaction; then the held submissions are woken.
func TestCallbackHandler(t *testing.T) {
	old, current := []byte(strings.Repeat("o", 32)), []byte(strings.Repeat("c", 32))
	now := time.Unix(1_760_000_000, 0)
	body := []byte(`{"transactionId": "TX-1", "status": "PAYED"}`)
	signed := func(secret []byte, at time.Time, b []byte) http.Header {
		return payment.SignNotification(secret, at, b)
	}
	for _, tt := range []struct {
		name    string
		path    string
		method  string
		header  http.Header
		body    []byte
		wakeErr error
		status  int
		want    string
		woken   bool
	}{
		{name: "current secret", header: signed(current, now, body), status: 202, want: `"submissions":2`, woken: true},
		{name: "old secret while rotating", header: signed(old, now.Add(-4*time.Minute), body), status: 202, woken: true},
		{name: "wrong secret", header: signed([]byte(strings.Repeat("x", 32)), now, body), status: 401, want: "does not match"},
		{name: "stale", header: signed(current, now.Add(-6*time.Minute), body), status: 401, want: "off the clock"},
		{name: "unsigned", header: http.Header{"Content-Type": {"application/json"}}, status: 401, want: "headers are required"},
		{name: "body changed", header: signed(current, now, body), body: []byte(`{"transactionId": "TX-2"}`), status: 401},
		{name: "not JSON", header: with(signed(current, now, body), "Content-Type", "text/plain"), status: 415},
		{name: "no transaction", header: signed(current, now, []byte(`{"status": "PAYED"}`)), body: []byte(`{"status": "PAYED"}`),
			status: 400, want: "transactionId must be"},
		{name: "unknown provider", path: "/v1/payments/other/callback", header: signed(current, now, body), status: 404},
		{name: "notifications off", path: "/v1/payments/quiet/callback", header: signed(current, now, body), status: 401,
			want: "notifications of this provider are off"},
		{name: "GET", method: "GET", status: 405},
		{name: "store fails", header: signed(current, now, body), wakeErr: errors.New("disk full"), status: 503, woken: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			woken := false
			h := &payment.CallbackHandler{
				Providers: payment.Providers{"epay": {CallbackSecrets: [][]byte{current, old}}, "quiet": {}},
				Now:       func() time.Time { return now },
				Wake: func(_ context.Context, provider, tx string) (int, error) {
					woken = provider == "epay" && tx == "TX-1"
					return 2, tt.wakeErr
				},
			}
			path, method, b := tt.path, tt.method, tt.body
			if path == "" {
				path = payment.CallbackPath("epay")
			}
			if method == "" {
				method = "POST"
			}
			if b == nil {
				b = body
			}
			req := httptest.NewRequest(method, path, bytes.NewReader(b))
			for k, v := range tt.header {
				req.Header[k] = v
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.status || !strings.Contains(rec.Body.String(), tt.want) || woken != tt.woken {
				t.Fatalf("%d %s (woken %v)", rec.Code, rec.Body, woken)
			}
		})
	}
}

func with(h http.Header, k, v string) http.Header {
	h.Set(k, v)
	return h
}

// The signature is amtsbote's callback signature, so a receiver can check it with package
// callbacks.
func TestSignNotificationIsTheCallbackSignature(t *testing.T) {
	secret, now, body := []byte(strings.Repeat("s", 32)), time.Now(), []byte(`{"transactionId":"TX-1"}`)
	h := payment.SignNotification(secret, now, body)
	if err := callbacks.Verify(secret, h.Get(callbacks.TimestampHeader), h.Get(callbacks.SignatureHeader), body, now, time.Minute); err != nil {
		t.Fatal(err)
	}
}
