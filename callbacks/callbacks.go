// Package callbacks signs the status notifications amtsbote POSTs to portals, and verifies
// them as a portal would. The signature is HMAC-SHA256 over "<timestamp>.<body>" with the
// portal's secret, sent as
//
//	X-Amtsbote-Timestamp: 1764410000
//	X-Amtsbote-Signature: v1=5f2b…(hex)
//
// A receiver recomputes the HMAC over the raw body, compares in constant time and rejects old
// timestamps (replays).
package callbacks

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"
)

// Header names of a callback.
const (
	TimestampHeader = "X-Amtsbote-Timestamp"
	SignatureHeader = "X-Amtsbote-Signature"
	EventIDHeader   = "X-Amtsbote-Event-Id"
)

// Sign returns the signature header value for a body sent at ts.
func Sign(secret []byte, ts time.Time, body []byte) string {
	return "v1=" + hex.EncodeToString(mac(secret, strconv.FormatInt(ts.Unix(), 10), body))
}

func mac(secret []byte, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte("."))
	m.Write(body)
	return m.Sum(nil)
}

// Errors of Verify.
var (
	ErrBadSignature = errors.New("signature does not match")
	ErrStale        = errors.New("timestamp too old or in the future")
)

// Verify checks a received callback: the signature over timestamp and raw body, and that the
// timestamp is within tolerance of now.
func Verify(secret []byte, timestamp, signature string, body []byte, now time.Time, tolerance time.Duration) error {
	sec, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return ErrBadSignature
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return ErrStale
	}
	got, err := hex.DecodeString(strings.TrimPrefix(signature, "v1="))
	if err != nil || !strings.HasPrefix(signature, "v1=") || !hmac.Equal(got, mac(secret, timestamp, body)) {
		return ErrBadSignature
	}
	return nil
}
