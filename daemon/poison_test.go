package daemon_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/amtsbote/amtsbote/adapters"
)

// panicky is a transport with a bug: it panics on every package whose message says "POISON".
type panicky struct{ dir string }

func (p panicky) Deliver(_ context.Context, pkg *adapters.Package) (string, error) {
	if bytes.Contains(pkg.XML, []byte("POISON")) {
		panic("adapter bug triggered by this package")
	}
	path := filepath.Join(p.dir, pkg.MessageID)
	return path, os.WriteFile(path, pkg.XML, 0o600)
}

func (panicky) Close() error { return nil }

func init() {
	adapters.Register("test-panicky", func(o map[string]any) (adapters.Adapter, error) {
		return panicky{dir: o["path"].(string)}, nil
	})
}

// A message whose delivery crashes its handler every time is given up after handler_attempts
// tries and marked dead; the messages behind it in the same queue are still delivered.
func TestPoisonMessageDoesNotBlockTheQueue(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		cfg := backendConfig(t, backend)
		cfg.Destinations[0].Type = "test-panicky"
		os.MkdirAll(cfg.Destinations[0].Options["path"].(string), 0o750)
		cfg.Pipeline.HandlerAttempts = 3
		h := start(t, cfg)

		poison := demoSubmission(t)
		poison["reference"] = "POISON-1"
		poisonID := h.submit(poison, demoToken, nil).Body["id"].(string)
		goodID := h.submit(demoSubmission(t), demoToken, nil).Body["id"].(string)

		h.waitStatus(goodID, "delivered")
		h.waitStatus(poisonID, "dead")
		d := delivery(t, h.detail(poisonID), "eakte")
		if d["status"] != "dead" || !strings.Contains(d["last_error"].(string), "adapter bug") {
			t.Fatalf("poisoned delivery = %v", d)
		}
		_ = io.Discard
	})
}
