package fitconnect

import (
	"crypto/hmac"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"
)

// Callback headers and their window (FIT-Connect's callback specification).
const (
	HeaderCallbackAuthentication = "Callback-Authentication"
	HeaderCallbackTimestamp      = "Callback-Timestamp"
	CallbackWindow               = 5 * time.Minute
	// CallbackNewSubmissions is the type of a callback announcing new submissions.
	CallbackNewSubmissions = "https://schema.fitko.de/fit-connect/submission-api/callbacks/new-submissions"
)

// CallbackBody is what a callback says: which submissions are new.
type CallbackBody struct {
	Type          string          `json:"type"`
	SubmissionIDs []string        `json:"submissionIds,omitempty"`
	Submissions   []SubmissionRef `json:"submissions"`
}

// CallbackVerifier checks callbacks: an HMAC-SHA512 (hex) over "timestamp.body" with one of the
// configured secrets, compared in constant time; a timestamp at most five minutes old (or
// ahead); and no callback accepted twice within the window (a replay).
type CallbackVerifier struct {
	Secrets [][]byte
	// Now is the clock; default time.Now.
	Now func() time.Time

	mu   sync.Mutex
	seen map[string]time.Time // signature → until when it is remembered
}

// CallbackMAC is the hex HMAC-SHA512 a callback with this timestamp and body carries.
func CallbackMAC(secret []byte, timestamp string, body []byte) string {
	m := hmac.New(sha512.New, secret)
	m.Write([]byte(timestamp))
	m.Write([]byte("."))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// Verify checks one callback; the error says what is wrong (never the secret or the expected MAC).
func (v *CallbackVerifier) Verify(timestamp, authentication string, body []byte) error {
	now := time.Now()
	if v.Now != nil {
		now = v.Now()
	}
	if len(v.Secrets) == 0 {
		return errors.New("no callback secret is configured (callback_secrets): callbacks are refused, polling finds the submissions")
	}
	if timestamp == "" || authentication == "" {
		return fmt.Errorf("the %s and %s headers are required", HeaderCallbackTimestamp, HeaderCallbackAuthentication)
	}
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return fmt.Errorf("%s %q is not a Unix time in seconds", HeaderCallbackTimestamp, timestamp)
	}
	at := time.Unix(ts, 0)
	if d := now.Sub(at); d > CallbackWindow || d < -CallbackWindow {
		return fmt.Errorf("%s is %s off the clock; at most %s are allowed (an old or replayed callback, or a clock out of sync)",
			HeaderCallbackTimestamp, d.Round(time.Second), CallbackWindow)
	}
	got, err := hex.DecodeString(authentication)
	if err != nil || len(got) != sha512.Size {
		return fmt.Errorf("%s is not a hex HMAC-SHA512 (128 hex digits)", HeaderCallbackAuthentication)
	}
	match := false
	for _, s := range v.Secrets {
		want, _ := hex.DecodeString(CallbackMAC(s, timestamp, body))
		if hmac.Equal(got, want) {
			match = true // no early exit: every secret is tried, whatever matches
		}
	}
	if !match {
		return fmt.Errorf("%s does not match the body with any configured callback secret", HeaderCallbackAuthentication)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.seen == nil {
		v.seen = map[string]time.Time{}
	}
	for sig, until := range v.seen {
		if now.After(until) {
			delete(v.seen, sig)
		}
	}
	key := string(got)
	if _, dup := v.seen[key]; dup {
		return errors.New("this callback was received before (a replay); ignored")
	}
	v.seen[key] = at.Add(2 * CallbackWindow)
	return nil
}
