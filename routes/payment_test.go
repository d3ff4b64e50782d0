package routes_test

import (
	"strings"
	"testing"

	"github.com/amtsbote/amtsbote/routes"
)

// A route's payment key says whether it holds its submissions until paid and at which provider;
// a provider that is not configured is named with the route's line.
func TestRoutePayment(t *testing.T) {
	for _, tt := range []struct {
		name, payment string
		required      bool
		provider      string
		want          string // the load error, "" for none
	}{
		{"none", "", false, "", ""},
		{"required at a provider", "payment: {required: true, provider: epay}", true, "epay", ""},
		{"required, the channel decides", "payment: {required: true}", true, "", ""},
		{"not required", "payment: {required: false, provider: epay}", false, "epay", ""},
		{"unknown provider", "payment: {required: true, provider: elsewhere}", false, "",
			`routes.yaml:2: route "paid": payment.provider "elsewhere" is not in the configuration's payment.providers`},
		{"unknown key", "payment: {required: true, amount: 26}", false, "", "field amount not found"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := checks(t)
			c.PaymentProvider = func(id string) bool { return id == "epay" }
			content := "routes:\n  - id: paid\n    " + tt.payment + "\n    targets: [{destination: a, mapping: tiny.yaml, schema: tiny}]\n"
			tbl, err := routes.Load(write(t, content), c)
			if tt.want != "" {
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("want %q, got %v", tt.want, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			r, _ := tbl.Route("paid")
			provider := ""
			if r.Payment != nil {
				provider = r.Payment.Provider
			}
			if r.RequiresPayment() != tt.required || provider != tt.provider {
				t.Fatalf("requires %v at %q", r.RequiresPayment(), provider)
			}
		})
	}
}
