package simulator

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// Callback delivery: attempts in total and the pause before the first retry (doubled for
// each further retry).
var (
	callbackAttempts = 4
	callbackBackoff  = 200 * time.Millisecond
)

// CallbackSignature computes the callback-authentication header value: lowercase hex
// HMAC-SHA512 with secret over timestamp + "." + body.
func CallbackSignature(secret, timestamp string, body []byte) string {
	mac := hmac.New(sha512.New, []byte(secret))
	mac.Write([]byte(timestamp))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

// notifyLocked sends the new-submissions callback for sub asynchronously, if the
// destination has a callback URL. s.mu must be held.
func (s *Server) notifyLocked(d *destination, sub *submission) {
	if d.CallbackURL == "" {
		return
	}
	if s.closed {
		s.log.Warn("fitconnect simulator: server closed, callback not sent", "submission", sub.id)
		return
	}
	body, err := json.Marshal(map[string]any{
		"type":          CallbackNewSubmissions,
		"submissionIds": []string{sub.id},
		"submissions":   []submissionRef{sub.ref()},
	})
	if err != nil {
		s.log.Error("fitconnect simulator: callback body", "err", err)
		return
	}
	s.cbWG.Add(1)
	go func() {
		defer s.cbWG.Done()
		s.deliver(d.CallbackURL, d.CallbackSecret, body, sub.id)
	}()
}

func (s *Server) deliver(url, secret string, body []byte, submissionID string) {
	backoff := callbackBackoff
	for attempt := 1; attempt <= callbackAttempts; attempt++ {
		err := s.postCallback(url, secret, body)
		if err == nil {
			s.log.Info("fitconnect simulator: callback delivered", "url", url, "submission", submissionID, "attempt", attempt)
			return
		}
		s.log.Warn("fitconnect simulator: callback failed", "url", url, "submission", submissionID, "attempt", attempt, "err", err)
		if attempt < callbackAttempts {
			time.Sleep(backoff)
			backoff *= 2
		}
	}
	s.log.Error("fitconnect simulator: callback given up", "url", url, "submission", submissionID)
}

func (s *Server) postCallback(url, secret string, body []byte) error {
	ts := strconv.FormatInt(s.now().Unix(), 10)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("callback-timestamp", ts)
	req.Header.Set("callback-authentication", CallbackSignature(secret, ts, body))
	resp, err := s.httpClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("status %s", resp.Status)
	}
	return nil
}
