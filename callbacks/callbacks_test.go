package callbacks_test

import (
	"errors"
	"testing"
	"time"

	"github.com/amtsbote/amtsbote/callbacks"
)

func TestSignAndVerify(t *testing.T) {
	secret := []byte("portal-secret")
	now := time.Unix(1764410000, 0)
	body := []byte(`{"id":"x","status":"delivered"}`)
	sig := callbacks.Sign(secret, now, body)
	ts := "1764410000"
	tests := []struct {
		name    string
		secret  []byte
		ts, sig string
		body    []byte
		now     time.Time
		want    error
	}{
		{"valid", secret, ts, sig, body, now.Add(time.Minute), nil},
		{"other secret", []byte("nope"), ts, sig, body, now, callbacks.ErrBadSignature},
		{"body changed", secret, ts, sig, []byte(`{"id":"x","status":"dead"}`), now, callbacks.ErrBadSignature},
		{"timestamp changed", secret, "1764410001", sig, body, now, callbacks.ErrBadSignature},
		{"too old", secret, ts, sig, body, now.Add(10 * time.Minute), callbacks.ErrStale},
		{"no version", secret, ts, sig[3:], body, now, callbacks.ErrBadSignature},
		{"garbage timestamp", secret, "soon", sig, body, now, callbacks.ErrBadSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := callbacks.Verify(tt.secret, tt.ts, tt.sig, tt.body, tt.now, 5*time.Minute)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
}
