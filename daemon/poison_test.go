package daemon_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/amtsbote/amtsbote/mapping"
)

func init() { mapping.Register("test-poison", poisonAware{}) }

type poisonAware struct{}

func (poisonAware) Map(in mapping.Input) (*mapping.Message, error) {
	if strings.Contains(string(in.Data), "poison") {
		panic("mapper bug triggered by this submission")
	}
	m, _ := mapping.Lookup("gewerbeanmeldung-xdomea-0401")
	return m.Map(in)
}

// A submission that crashes its stage every time is given up after handler_attempts tries and
// marked failed; the submissions behind it in the queue are still processed.
func TestPoisonMessageDoesNotBlockTheQueue(t *testing.T) {
	cfg := testConfig(t)
	routesFile := filepath.Join(t.TempDir(), "routes.yaml")
	raw, _ := os.ReadFile("../fixtures/demo/routes.yaml")
	os.WriteFile(routesFile, []byte(strings.Replace(string(raw), "gewerbeanmeldung-xdomea-0401", "test-poison", 1)), 0o600)
	cfg.RoutesFile = routesFile
	cfg.Pipeline.HandlerAttempts = 3
	h := start(t, cfg)

	poison := demoSubmission(t)
	poison["data"].(map[string]any)["note"] = "poison"
	poisonID := h.submit(poison, demoToken, nil).Body["id"].(string)
	goodID := h.submit(demoSubmission(t), demoToken, nil).Body["id"].(string)

	h.waitStatus(goodID, "delivered")
	st := h.waitStatus(poisonID, "failed")
	events := st.Body["events"].([]any)
	last := events[len(events)-1].(map[string]any)
	if last["type"] != "processing_failed" || !strings.Contains(last["detail"].(string), "mapper bug") {
		t.Fatalf("last event = %v", last)
	}
}
