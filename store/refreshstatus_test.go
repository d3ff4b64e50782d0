package store

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	wmsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
)

// A submission's status follows from its own deliveries alone, whatever other submissions'
// deliveries are doing (here another submission has a pending, a dead and a rejected one).
func TestRefreshStatusDerivesFromTheSubmissionsDeliveries(t *testing.T) {
	cases := []struct {
		name       string
		status     string   // the submission's status before
		deliveries []string // its deliveries' statuses
		want       string
	}{
		{"one pending", StatusProcessing, []string{DeliveryPending, DeliveryDelivered}, StatusProcessing},
		{"pending before dead", StatusProcessing, []string{DeliveryDead, DeliveryPending}, StatusProcessing},
		{"all delivered", StatusProcessing, []string{DeliveryDelivered, DeliveryDelivered}, StatusDelivered},
		{"one dead", StatusProcessing, []string{DeliveryDelivered, DeliveryDead}, StatusDead},
		{"dead before rejected", StatusProcessing, []string{DeliveryRejected, DeliveryDead}, StatusDead},
		{"one rejected", StatusProcessing, []string{DeliveryAcknowledged, DeliveryRejected}, StatusRejected},
		{"all acknowledged", StatusDelivered, []string{DeliveryAcknowledged, DeliveryAcknowledged}, StatusAcknowledged},
		{"some acknowledged", StatusDelivered, []string{DeliveryAcknowledged, DeliveryDelivered}, StatusDelivered},
		{"no deliveries", StatusProcessing, nil, StatusAcknowledged},
		{"a reply's status stays", StatusDecided, []string{DeliveryPending}, StatusDecided},
	}
	eachStore(t, func(t *testing.T, st *Store) {
		ctx := context.Background()
		at := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
		put := func(tx wmsql.Tx, id, status string, deliveries []string) error {
			sub := Submission{ID: id, Portal: "p", Reference: id, Leistung: "l", AGS: "a", Route: "x",
				Status: status, Data: []byte(`{}`), RequestHash: "h", ReceivedAt: at}
			if err := InsertSubmission(ctx, tx, sub, nil); err != nil {
				return err
			}
			for i, s := range deliveries {
				dest := fmt.Sprintf("d%d", i)
				if err := InsertDelivery(ctx, tx, id, dest, at); err != nil {
					return err
				}
				if s == DeliveryPending {
					continue
				}
				if ok, err := UpdateDelivery(ctx, tx, Delivery{SubmissionID: id, Destination: dest, Status: s, UpdatedAt: at}, 0); err != nil || !ok {
					return fmt.Errorf("delivery %s %s: %v %v", id, dest, ok, err)
				}
			}
			return nil
		}
		if err := st.InTx(ctx, func(tx wmsql.Tx) error {
			return put(tx, "other", StatusProcessing, []string{DeliveryPending, DeliveryDead, DeliveryRejected})
		}); err != nil {
			t.Fatal(err)
		}
		for i, c := range cases {
			id := fmt.Sprintf("s%d", i)
			if err := st.InTx(ctx, func(tx wmsql.Tx) error {
				if err := put(tx, id, c.status, c.deliveries); err != nil {
					return err
				}
				return st.RefreshStatus(ctx, tx, id, at.Add(time.Second))
			}); err != nil {
				t.Fatal(err)
			}
			sub, err := st.Submission(ctx, id)
			if err != nil || sub.Status != c.want {
				t.Errorf("%s: status %q (%v), want %q", c.name, sub.Status, err, c.want)
			}
		}
	})
}

// The status is derived from the submission's deliveries read by the primary key, not through
// the status index, which would step through every pending delivery of every submission: a
// destination with a backlog would make every other destination's deliveries slower.
func TestRefreshStatusReadsTheDeliveriesByKey(t *testing.T) {
	eachStore(t, func(t *testing.T, st *Store) {
		want := "sqlite_autoindex_deliveries_1"
		if st.Driver == Postgres {
			want = "deliveries_pkey"
		}
		p := queryPlan(t, st, refreshStatusQuery, int64(1), "s1")
		if !strings.Contains(p, want) || strings.Contains(p, "deliveries_status") {
			t.Fatalf("the deliveries are not read by their key (%s):\n%s", want, p)
		}
	})
}
