package admin_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	wmsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"

	"github.com/amtsbote/amtsbote/admin"
	"github.com/amtsbote/amtsbote/config"
	"github.com/amtsbote/amtsbote/pipeline"
	"github.com/amtsbote/amtsbote/snapshot"
	"github.com/amtsbote/amtsbote/store"
)

// GET /v1/overview: the store's figures; with a running daemon every configured destination
// with its queue, dead deliveries and circuit, and the configuration in force.
func TestOverviewHandler(t *testing.T) {
	c := newConsoleServer(t, t.TempDir())
	ctx := context.Background()
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	c.srv.Now = func() time.Time { return now }
	cfg := &config.Config{Destinations: []config.Destination{{ID: "eakte", Type: "filedrop"}, {ID: "fachverfahren", Type: "http"}}}
	if err := c.st.PrepareQueues(ctx, pipeline.Topics(cfg), pipeline.TopicCallbacks); err != nil {
		t.Fatal(err)
	}
	var subs []store.Submission
	for i, ago := range []time.Duration{time.Minute, 2 * time.Minute, 3 * time.Minute, 20 * time.Minute, 2 * time.Hour} {
		status := []string{store.StatusDelivered, store.StatusFailed, store.StatusDead, store.StatusFailed, store.StatusDead}[i]
		subs = append(subs, store.Submission{ID: string(rune('a' + i)), Portal: "demo", Reference: "r", Leistung: "l", AGS: "a",
			Route: "x", Status: status, ReceivedAt: now.Add(-ago)})
	}
	c.insert(t, subs...)
	err := c.st.InTx(ctx, func(tx wmsql.Tx) error {
		for _, d := range []struct{ sub, dest, status string }{
			{"a", "eakte", store.DeliveryDelivered}, {"c", "eakte", store.DeliveryDead}, {"e", "alt", store.DeliveryDead},
		} {
			if err := store.InsertDelivery(ctx, tx, d.sub, d.dest, now.Add(-time.Minute)); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `UPDATE deliveries SET status = $1 WHERE submission_id = $2`, d.status, d.sub); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO "watermill_deliver_eakte" (uuid, payload, metadata, not_before, created_at)
			VALUES ('m', 'a', '{}', $1, $2)`, now.UnixMilli(), now.Add(-90*time.Second).UnixMilli())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}

	// Without a daemon: the store's figures, the destinations it knows of.
	var v admin.OverviewView
	if code, raw := c.get(t, "/v1/overview", consoleToken, &v); code != http.StatusOK {
		t.Fatalf("%d %s", code, raw)
	}
	if v.Intake != (admin.RateView{PerMinute: 0.6, Last5m: 3, LastHour: 4}) || v.Delivered != (admin.RateView{PerMinute: 0.2, Last5m: 1, LastHour: 1}) ||
		v.Failed != 2 || v.Dead != 2 || v.Config != nil || len(v.Queues) != len(pipeline.Topics(cfg)) {
		t.Fatalf("overview %+v", v)
	}
	want := []admin.DestinationOverview{
		{ID: "alt", Dead: 1},
		{ID: "eakte", QueueDepth: 1, OldestAgeSeconds: 90, Dead: 1},
		{ID: "fachverfahren"},
	}
	if len(v.Destinations) != len(want) {
		t.Fatalf("destinations %+v", v.Destinations)
	}
	for i := range want {
		if v.Destinations[i] != want[i] {
			t.Fatalf("destination %d: %+v, want %+v", i, v.Destinations[i], want[i])
		}
	}

	// With a daemon: configuration order and types, circuits and errors, then a destination
	// that is no longer configured but has dead deliveries.
	errAt := now.Add(-time.Minute)
	c.srv.Runtime = &fakeRuntime{snap: &snapshot.Snapshot{Config: cfg}, status: admin.RuntimeStatus{ConfigVersion: "abc123", ConfigFile: "/etc/amtsbote.yaml",
		LoadedAt: now.Add(-time.Hour), ReloadsOK: 2, ReloadsFailed: 1,
		LastReload: &admin.ReloadResult{At: now.Add(-time.Hour), OK: false, Error: "routes.yaml:3: unknown destination"},
		Destinations: []admin.DestinationStatus{{ID: "eakte", Type: "filedrop", Circuit: "closed"},
			{ID: "fachverfahren", Type: "http", Circuit: "open", LastError: "503 Service Unavailable", LastErrorAt: &errAt}}}}
	c.h = c.srv.Handler()
	v = admin.OverviewView{}
	if code, raw := c.get(t, "/v1/overview", consoleToken, &v); code != http.StatusOK {
		t.Fatalf("%d %s", code, raw)
	}
	if v.Config == nil || v.Config.Version != "abc123" || v.Config.LastReload == nil || v.Config.LastReload.Error == "" || v.Config.ReloadsFailed != 1 {
		t.Fatalf("config %+v", v.Config)
	}
	if len(v.Destinations) != 3 {
		t.Fatalf("destinations %+v", v.Destinations)
	}
	e, f, alt := v.Destinations[0], v.Destinations[1], v.Destinations[2]
	if e.ID != "eakte" || e.Type != "filedrop" || e.Circuit != "closed" || e.QueueDepth != 1 || e.Dead != 1 ||
		f.ID != "fachverfahren" || f.Circuit != "open" || f.LastError == "" || f.LastErrorAt == nil || !f.LastErrorAt.Equal(errAt) ||
		alt.ID != "alt" || alt.Dead != 1 || alt.Circuit != "" {
		t.Fatalf("destinations %+v", v.Destinations)
	}
	if code, _ := c.get(t, "/v1/overview", "", nil); code != http.StatusUnauthorized {
		t.Fatalf("without a token: %d", code)
	}
}
