package callbacks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// EventTypeHeader names what a callback tells: "status" (a status change) or "reply" (a reply
// of a Fachverfahren waits in the portal's postbox).
const EventTypeHeader = "X-Amtsbote-Event-Type"

// Event types.
const (
	EventStatus = "status"
	EventReply  = "reply"
)

// Client follows no redirects: a portal's answer must not make amtsbote POST signed bodies to
// another address (an internal service, say). A 3xx is a failed callback.
var Client = &http.Client{Timeout: 15 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// Post sends one event to a portal's callback URL, signed with secret at the current time, with
// its id (the same on every retry, so the portal can de-duplicate) and type. Anything but a 2xx
// answer is an error; errors name the URL without its password.
func Post(ctx context.Context, client *http.Client, callbackURL string, secret []byte, eventID, eventType string, body []byte) error {
	if client == nil {
		client = Client
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, callbackURL, bytes.NewReader(body))
	if err != nil {
		return errors.New(RedactURLs(err.Error(), callbackURL))
	}
	now := time.Now()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(EventIDHeader, eventID)
	req.Header.Set(EventTypeHeader, eventType)
	req.Header.Set(TimestampHeader, strconv.FormatInt(now.Unix(), 10))
	req.Header.Set(SignatureHeader, Sign(secret, now, body))
	res, err := client.Do(req)
	if err != nil {
		return errors.New(RedactURLs(err.Error(), callbackURL))
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	if res.StatusCode/100 == 3 {
		return fmt.Errorf("%s answered %s; callbacks follow no redirects: configure the final URL", RedactURL(callbackURL), res.Status)
	}
	if res.StatusCode/100 != 2 {
		return fmt.Errorf("%s answered %s", RedactURL(callbackURL), res.Status)
	}
	return nil
}

// RedactURL writes a URL without the password of its user information (as user:xxxxx), for
// logs and the history.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(callback_url)"
	}
	return u.Redacted()
}

// RedactURLs removes the password in the user information of raw from text, in the forms
// net/http quotes it.
func RedactURLs(text, raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return text
	}
	if pw, ok := u.User.Password(); ok && pw != "" {
		text = strings.ReplaceAll(text, pw, "xxxxx")
	}
	return text
}
