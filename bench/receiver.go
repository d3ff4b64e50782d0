package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// SlowReceiver is an HTTP endpoint on loopback that answers every request after a fixed delay:
// a receiving system that takes that long per delivery.
type SlowReceiver struct {
	Delay time.Duration

	srv  *http.Server
	addr string

	mu            sync.Mutex
	received      int
	answered      int
	first, latest time.Time
	closing       chan struct{}
	closeOnce     sync.Once
}

// StartSlowReceiver listens on a free loopback port.
func StartSlowReceiver(delay time.Duration) (*SlowReceiver, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &SlowReceiver{Delay: delay, addr: l.Addr().String(), closing: make(chan struct{})}
	r.srv = &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second}
	go r.srv.Serve(l)
	return r, nil
}

// URL is where to send deliveries.
func (r *SlowReceiver) URL() string { return "http://" + r.addr + "/deliveries" }

// ServeHTTP reads the request, waits the delay and answers 200; it counts the answers.
func (r *SlowReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost && req.Method != http.MethodPut {
		http.Error(w, "POST or PUT a delivery", http.StatusMethodNotAllowed)
		return
	}
	r.mu.Lock()
	r.received++
	r.mu.Unlock()
	if _, err := io.Copy(io.Discard, req.Body); err != nil {
		http.Error(w, "reading the body: "+err.Error(), http.StatusBadRequest)
		return
	}
	t := time.NewTimer(r.Delay)
	defer t.Stop()
	select {
	case <-t.C:
	case <-req.Context().Done():
		return
	case <-r.closing:
		http.Error(w, "the receiver is shutting down", http.StatusServiceUnavailable)
		return
	}
	w.WriteHeader(http.StatusOK)
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.answered++
	if r.first.IsZero() {
		r.first = now
	}
	r.latest = now
}

// ReceiverStats are the deliveries a receiver got and answered so far.
type ReceiverStats struct {
	// Received counts the deliveries that arrived (POST or PUT), Answered those answered 200:
	// the first and the latest at First and Latest.
	Received, Answered int
	First, Latest      time.Time
}

// Stats says how many deliveries arrived and were answered, the first and the latest when.
func (r *SlowReceiver) Stats() ReceiverStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return ReceiverStats{Received: r.received, Answered: r.answered, First: r.first, Latest: r.latest}
}

// Close stops listening and ends waiting requests with 503.
func (r *SlowReceiver) Close() error {
	r.closeOnce.Do(func() { close(r.closing) })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.srv.Shutdown(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("slow receiver: %w", err)
	}
	return r.srv.Close()
}
