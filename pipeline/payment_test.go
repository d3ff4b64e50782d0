package pipeline

import (
	"testing"
	"time"

	"github.com/amtsbote/amtsbote/routes"
	"github.com/amtsbote/amtsbote/store"
)

// The transaction comes from the portal's payment object or FIT-Connect's paymentInformation;
// the provider from the submission, else the route.
func TestPaymentOf(t *testing.T) {
	route := &routes.Route{ID: "r", Payment: &routes.Payment{Required: true, Provider: "route-provider"}}
	bare := &routes.Route{ID: "r", Payment: &routes.Payment{Required: true}}
	for _, tt := range []struct {
		name  string
		meta  string
		route *routes.Route
		want  paymentRef
	}{
		{"portal, own provider", `{"payment": {"provider": "p", "transaction_id": "TX-1"}}`, route, paymentRef{Provider: "p", TransactionID: "TX-1"}},
		{"portal, the route's provider", `{"payment": {"provider": "", "transaction_id": "TX-1"}}`, route, paymentRef{Provider: "route-provider", TransactionID: "TX-1"}},
		{"FIT-Connect", `{"fitconnect": {"payment": {"transactionId": "FC-1", "status": "BOOKED", "paymentMethod": "PAYPAL"}}}`, bare,
			paymentRef{TransactionID: "FC-1", ChannelStatus: "BOOKED"}},
		{"FIT-Connect at the route's provider", `{"fitconnect": {"payment": {"transactionId": "FC-1", "status": "INITIAL"}}}`, route,
			paymentRef{Provider: "route-provider", TransactionID: "FC-1", ChannelStatus: "INITIAL"}},
		{"FIT-Connect without payment", `{"fitconnect": {"case_id": "c"}}`, route, paymentRef{Provider: "route-provider"}},
		{"odd types", `{"fitconnect": {"payment": {"transactionId": 4711, "status": ["PAYED"]}}}`, bare, paymentRef{}},
		{"nothing", `{}`, bare, paymentRef{}},
		{"purged", ``, bare, paymentRef{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := paymentOf(store.Submission{Meta: []byte(tt.meta)}, tt.route); got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestHumanDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{72 * time.Hour: "72h", 30 * time.Minute: "30m", 10 * time.Second: "10s",
		90 * time.Second: "1m30s", time.Hour + 30*time.Second: "1h0m30s", 1500 * time.Millisecond: "1.5s"} {
		if got := humanDuration(d); got != want {
			t.Errorf("%s: %q, want %q", d, got, want)
		}
	}
}
