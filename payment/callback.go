package payment

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"time"

	json "github.com/go-json-experiment/json"

	"github.com/amtsbote/amtsbote/callbacks"
)

// XBezahldienste defines no notification from the platform to anyone: the online service
// learns of the payer's return by the browser redirect and must read the status (GET). Where a
// platform can notify, amtsbote takes a POST signed with amtsbote's callback signature
// (package callbacks: HMAC-SHA256 over "timestamp.body"), and only as a hint to read the
// transaction now; what it says is never taken for the payment's state.

// CallbackPath is where a platform's notifications go on the inbound listener.
func CallbackPath(provider string) string { return "/v1/payments/" + provider + "/callback" }

// CallbackWindow is how far a notification's timestamp may be off the clock.
const CallbackWindow = 5 * time.Minute

// maxNotification bounds a notification's body.
const maxNotification = 64 << 10

// Notification is what a platform's notification says: which transaction changed. A JSON
// object with transactionId; a transaction's PaymentInformation posted as it is fits. Its
// status, if any, is checked for form only.
type Notification struct {
	TransactionID string `json:"transactionId"`
	Status        Status `json:"status,omitempty"`
}

// ParseNotification reads a notification strictly: one JSON object (no duplicate names, valid
// UTF-8) with a valid transactionId, and a status (if any) of the four XBezahldienste states.
// Other members are ignored.
func ParseNotification(body []byte) (Notification, error) {
	var n Notification
	if len(strings.TrimSpace(string(body))) == 0 {
		return n, errors.New("the body is empty; expected a JSON object with transactionId")
	}
	if err := json.Unmarshal(body, &n); err != nil {
		return Notification{}, fmt.Errorf("not a notification: %w", decodeError(err))
	}
	if !ValidTransactionID(n.TransactionID) {
		return Notification{}, errors.New("transactionId must be 1 to 64 letters, digits, _ or -")
	}
	if n.Status != "" && !n.Status.Valid() {
		return Notification{}, fmt.Errorf("status %q is not one of INITIAL, PAYED, FAILED, CANCELED", truncate(string(n.Status), 40))
	}
	return n, nil
}

// SignNotification returns the headers a notification with this body carries when sent at ts
// (for platforms' adapters, the simulator and tests).
func SignNotification(secret []byte, ts time.Time, body []byte) http.Header {
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set(callbacks.TimestampHeader, fmt.Sprint(ts.Unix()))
	h.Set(callbacks.SignatureHeader, callbacks.Sign(secret, ts, body))
	return h
}

// CallbackHandler serves POST /v1/payments/{provider}/callback: it checks the signature and
// makes the submissions held for the transaction be checked now (Wake), answering at once.
type CallbackHandler struct {
	Providers Providers
	// Wake makes the submissions held for a transaction be checked now, durably, and reports
	// how many there are.
	Wake func(ctx context.Context, provider, transactionID string) (int, error)
	// Refused, if set, is told of every refused notification (metrics).
	Refused func(provider, reason string)
	Logger  *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
}

func (h *CallbackHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/v1/payments/")
	id, tail, _ := strings.Cut(rest, "/")
	if !ok || tail != "callback" || id == "" {
		writeError(w, http.StatusNotFound, "not found")
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, http.StatusMethodNotAllowed, "a notification is a POST")
		return
	}
	p, ok := h.Providers[id]
	if !ok {
		h.refuse(w, id, "unknown_provider", http.StatusNotFound, fmt.Sprintf("no payment provider %q is configured", id))
		return
	}
	if len(p.CallbackSecrets) == 0 {
		h.refuse(w, id, "no_secret", http.StatusUnauthorized,
			"notifications of this provider are off (no payment.providers[].callback_secrets); amtsbote polls its payments")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxNotification+1))
	if err != nil {
		writeError(w, http.StatusBadRequest, "the body could not be read")
		return
	}
	if len(body) > maxNotification {
		h.refuse(w, id, "too_large", http.StatusRequestEntityTooLarge, fmt.Sprintf("a notification has at most %d bytes", maxNotification))
		return
	}
	if err := h.verify(p, r.Header, body); err != nil {
		w.Header().Set("WWW-Authenticate", `HMAC realm="amtsbote"`)
		h.refuse(w, id, "signature", http.StatusUnauthorized, err.Error())
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		h.refuse(w, id, "content_type", http.StatusUnsupportedMediaType, "a notification is application/json")
		return
	}
	n, err := ParseNotification(body)
	if err != nil {
		h.refuse(w, id, "malformed", http.StatusBadRequest, err.Error())
		return
	}
	held, err := h.Wake(r.Context(), id, n.TransactionID)
	if err != nil {
		h.log().Error("payment notification could not be recorded; the platform should send it again, polling finds the payment anyway",
			"payment_provider", id, "transaction_id", n.TransactionID, "error", err)
		w.Header().Set("Retry-After", "10")
		writeError(w, http.StatusServiceUnavailable, "the notification could not be recorded; send it again later")
		return
	}
	h.log().Info("payment notification", "payment_provider", id, "transaction_id", n.TransactionID, "held_submissions", held)
	writeJSON(w, http.StatusAccepted, struct {
		TransactionID string `json:"transaction_id"`
		Submissions   int    `json:"submissions"`
	}{n.TransactionID, held})
}

// verify checks the signature with each secret (no early exit) and the timestamp's age.
func (h *CallbackHandler) verify(p *Provider, header http.Header, body []byte) error {
	ts, sig := header.Get(callbacks.TimestampHeader), header.Get(callbacks.SignatureHeader)
	if ts == "" || sig == "" {
		return fmt.Errorf("the %s and %s headers are required", callbacks.TimestampHeader, callbacks.SignatureHeader)
	}
	now := time.Now()
	if h.Now != nil {
		now = h.Now()
	}
	var last error
	ok := false
	for _, s := range p.CallbackSecrets {
		err := callbacks.Verify(s, ts, sig, body, now, CallbackWindow)
		if err == nil {
			ok = true
		} else if last == nil || errors.Is(err, callbacks.ErrStale) {
			last = err
		}
	}
	switch {
	case ok:
		return nil
	case errors.Is(last, callbacks.ErrStale):
		return fmt.Errorf("%s is more than %s off the clock (an old or replayed notification, or a clock out of sync)", callbacks.TimestampHeader, CallbackWindow)
	}
	return fmt.Errorf("%s does not match the body with any configured callback secret", callbacks.SignatureHeader)
}

func (h *CallbackHandler) refuse(w http.ResponseWriter, provider, reason string, status int, msg string) {
	h.log().Warn("payment notification refused", "payment_provider", provider, "reason", msg)
	if h.Refused != nil {
		h.Refused(provider, reason)
	}
	writeError(w, status, msg)
}

func (h *CallbackHandler) log() *slog.Logger {
	if h.Logger != nil {
		return h.Logger
	}
	return slog.New(slog.DiscardHandler)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, struct {
		Error string `json:"error"`
	}{msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	b, _ := json.Marshal(v)
	_, _ = w.Write(append(b, '\n'))
}
