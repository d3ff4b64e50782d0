package cli

import (
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/amtsbote/amtsbote/payment/simulator"
)

// The payment demo's configuration is complete, and its simulator knows the demo's mandant
// and amtsbote as a client: payment check reads the demo's open payment, and asks the status
// endpoint; wrong credentials and an unknown provider say so.
func TestPaymentCheck(t *testing.T) {
	sc, err := simulator.LoadConfigFile("../fixtures/demo/payment/simulator.yaml")
	if err != nil {
		t.Fatal(err)
	}
	sim, err := simulator.New(sc)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(sim.Handler())
	defer ts.Close()
	defer sim.Close()
	dir := copyDemo(t)
	cfg := filepath.Join(dir, "payment", "amtsbote.yaml")
	edit(t, cfg, "api_url: http://127.0.0.1:8091", "api_url: "+ts.URL)
	if code, out, _ := runCLI("config", "check", "--config", cfg); code != 0 || !strings.Contains(out, "ok (1 routes") {
		t.Fatalf("config check: %d %s", code, out)
	}
	for _, tt := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"open payment", []string{"DEMO-TX-1"}, 0, "transaction DEMO-TX-1 at demo-epayment: INITIAL\n  reference: KZ-000001\n  pay page: http://127.0.0.1:8091/paypage/DEMO-TX-1"},
		{"mandant", nil, 0, "knows the mandant demo-portal/09162000"},
		{"unknown payment", []string{"DEMO-TX-9"}, 1, "HTTP 404"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, out, stderr := runCLI(append([]string{"payment", "check", "--config", cfg, "demo-epayment"}, tt.args...)...)
			if code != tt.code || !strings.Contains(out+stderr, tt.want) {
				t.Fatalf("exit %d\n%s%s", code, out, stderr)
			}
		})
	}
	if code, _, stderr := runCLI("payment", "check", "--config", cfg, "elsewhere"); code != 2 || !strings.Contains(stderr, `no payment provider "elsewhere"`) {
		t.Fatalf("unknown provider: %d %s", code, stderr)
	}
	edit(t, filepath.Join(dir, "payment", "password.txt"), "demo-payment-password", "wrong-password")
	if code, _, stderr := runCLI("payment", "check", "--config", cfg, "demo-epayment", "DEMO-TX-1"); code != 1 || !strings.Contains(stderr, "HTTP 401") {
		t.Fatalf("wrong password: %d %s", code, stderr)
	}
	if code, _, stderr := runCLI("payment", "simulator", "--config", filepath.Join(dir, "nowhere.yaml")); code != 2 || !strings.Contains(stderr, "nowhere.yaml") {
		t.Fatalf("simulator without configuration: %d %s", code, stderr)
	}
}
