package daemon_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/amtsbote/amtsbote/tracing"
)

// One submission is one trace: intake, mapping and each delivery are spans of it, carried
// across the queues.
func TestSubmissionIsOneTrace(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tracing.Use(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)))
	defer tracing.Use(noop.NewTracerProvider())
	h := start(t, testConfig(t))
	id := h.submit(demoSubmission(t), demoToken, nil).Body["id"].(string)
	h.waitStatus(id, "delivered")
	deadline := time.Now().Add(5 * time.Second)
	for len(rec.Ended()) < 4 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	names := map[string]int{}
	traces := map[string]bool{}
	for _, s := range rec.Ended() {
		names[s.Name()]++
		traces[s.SpanContext().TraceID().String()] = true
	}
	if names["intake"] != 1 || names["process"] != 1 || names["deliver"] != 2 || len(traces) != 1 {
		t.Fatalf("spans %v in %d traces, want intake, process, 2 deliveries in one trace", names, len(traces))
	}
}

// With tracing.otlp_endpoint set, spans are exported over OTLP/HTTP.
func TestTracesAreExportedOverOTLP(t *testing.T) {
	var got atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == "POST" && r.URL.Path == "/v1/traces" {
			got.Add(1)
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	defer tracing.Use(noop.NewTracerProvider())
	cfg := testConfig(t)
	cfg.Tracing.OTLPEndpoint = strings.TrimPrefix(srv.URL, "http://")
	cfg.Tracing.Insecure = true
	h := start(t, cfg)
	id := h.submit(demoSubmission(t), demoToken, nil).Body["id"].(string)
	h.waitStatus(id, "delivered")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	h.d.Shutdown(ctx) // flushes the exporter
	if got.Load() == 0 {
		t.Fatal("no OTLP export reached the receiver")
	}
}
