package store_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	wmsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"

	"github.com/amtsbote/amtsbote/store"
)

// searchFixture stores 60 submissions over three hours, several received in the same
// millisecond, and returns them.
func searchFixture(t *testing.T, st *store.Store, base time.Time) []store.Submission {
	t.Helper()
	ctx := context.Background()
	var subs []store.Submission
	statuses := []string{store.StatusDelivered, store.StatusFailed, store.StatusDead, store.StatusProcessing}
	for i := 0; i < 60; i++ {
		subs = append(subs, store.Submission{
			ID:        fmt.Sprintf("sub-%02d", (i*37)%60), // ids not in the order of time
			Portal:    fmt.Sprintf("portal-%d", i%3),
			Reference: fmt.Sprintf("ref-%d", i%20),
			Leistung:  fmt.Sprintf("L%d", i%4),
			AGS:       fmt.Sprintf("0916%d000", i%5),
			Route:     fmt.Sprintf("route-%d", i%2),
			Status:    statuses[i%len(statuses)],
			Data:      []byte(`{"name": "Erika Mustermann"}`),
			// Groups of four share a millisecond: paging must break the ties by id.
			ReceivedAt:  base.Add(time.Duration(i/4) * 10 * time.Minute),
			RequestHash: "h",
		})
	}
	err := st.InTx(ctx, func(tx wmsql.Tx) error {
		for _, s := range subs {
			if err := store.InsertSubmission(ctx, tx, s, nil); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return subs
}

// Every filter alone and together selects what it says, newest first with ties broken by id,
// and keyset pages of any size add up to the whole result without gaps or repeats.
func TestSearchSubmissions(t *testing.T) {
	eachBackend(t, func(t *testing.T, o store.Options) {
		st := open(t, o)
		ctx := context.Background()
		base := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
		subs := searchFixture(t, st, base)
		// Retention purged one: it is still found, marked purged.
		if _, err := st.DB.Exec(`UPDATE submissions SET purged_at = $1, data = $2 WHERE id = 'sub-37'`, base.UnixMilli(), []byte{}); err != nil {
			t.Fatal(err)
		}
		cases := []struct {
			name string
			f    store.SubmissionFilter
		}{
			{"all", store.SubmissionFilter{}},
			{"id", store.SubmissionFilter{ID: "sub-07"}},
			{"reference", store.SubmissionFilter{Reference: "ref-3"}},
			{"portal", store.SubmissionFilter{Portal: "portal-1"}},
			{"route", store.SubmissionFilter{Route: "route-0"}},
			{"status", store.SubmissionFilter{Status: store.StatusFailed}},
			{"leistung", store.SubmissionFilter{Leistung: "L2"}},
			{"ags", store.SubmissionFilter{AGS: "09163000"}},
			{"from", store.SubmissionFilter{From: base.Add(time.Hour)}},
			{"to", store.SubmissionFilter{To: base.Add(time.Hour)}},
			{"from and to", store.SubmissionFilter{From: base.Add(30 * time.Minute), To: base.Add(90 * time.Minute)}},
			{"leistung and ags", store.SubmissionFilter{Leistung: "L1", AGS: "09161000"}},
			{"status, route and time", store.SubmissionFilter{Status: store.StatusDelivered, Route: "route-0", From: base.Add(time.Hour)}},
			{"portal and reference", store.SubmissionFilter{Portal: "portal-2", Reference: "ref-5"}},
			{"nothing matches", store.SubmissionFilter{Status: store.StatusFailed, Route: "route-0"}},
			{"unknown value", store.SubmissionFilter{Portal: "nobody"}},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				want := expectedSearch(subs, c.f)
				if c.name == "nothing matches" && len(want) != 0 || c.name == "all" && len(want) != 60 {
					t.Fatalf("fixture: %d expected", len(want))
				}
				for _, limit := range []int{1, 3, 4, 7, 100} {
					var got []string
					var after *store.SubmissionCursor
					for pages := 0; ; pages++ {
						if pages > 100 {
							t.Fatal("paging does not end")
						}
						rows, next, err := st.SearchSubmissions(ctx, c.f, after, limit)
						if err != nil {
							t.Fatal(err)
						}
						if len(rows) > limit || next != nil && len(rows) != limit {
							t.Fatalf("limit %d: a page of %d rows, next %v", limit, len(rows), next)
						}
						for _, r := range rows {
							got = append(got, r.ID)
							if r.Purged != (r.ID == "sub-37") || r.Channel != store.ChannelPortal || r.ReceivedAt.IsZero() {
								t.Fatalf("row %+v", r)
							}
						}
						if next == nil {
							break
						}
						after = next
					}
					if !slices.Equal(got, want) {
						t.Fatalf("limit %d:\n got %v\nwant %v", limit, got, want)
					}
				}
			})
		}
		if _, _, err := st.SearchSubmissions(ctx, store.SubmissionFilter{}, nil, 0); err == nil {
			t.Fatal("limit 0 accepted")
		}
	})
}

// expectedSearch filters and orders the fixture in Go, as the store must.
func expectedSearch(subs []store.Submission, f store.SubmissionFilter) []string {
	var sel []store.Submission
	for _, s := range subs {
		if (f.ID == "" || s.ID == f.ID) && (f.Reference == "" || s.Reference == f.Reference) &&
			(f.Portal == "" || s.Portal == f.Portal) && (f.Route == "" || s.Route == f.Route) &&
			(f.Status == "" || s.Status == f.Status) && (f.Leistung == "" || s.Leistung == f.Leistung) &&
			(f.AGS == "" || s.AGS == f.AGS) && (f.From.IsZero() || !s.ReceivedAt.Before(f.From)) &&
			(f.To.IsZero() || s.ReceivedAt.Before(f.To)) {
			sel = append(sel, s)
		}
	}
	slices.SortFunc(sel, func(a, b store.Submission) int {
		if c := b.ReceivedAt.Compare(a.ReceivedAt); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	})
	ids := []string{}
	for _, s := range sel {
		ids = append(ids, s.ID)
	}
	if len(ids) == 0 {
		return nil
	}
	return ids
}

// The overview counts what happened in the last 5 minutes and hour, what is failed, held and
// dead, the open FIT-Connect submissions and the waiting queue messages.
func TestOverview(t *testing.T) {
	eachBackend(t, func(t *testing.T, o store.Options) {
		st := open(t, o)
		ctx := context.Background()
		now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
		if err := st.PrepareQueues(ctx, []string{"submissions", "callbacks", "deliver_eakte"}, "callbacks"); err != nil {
			t.Fatal(err)
		}
		type row struct {
			ago      time.Duration
			status   string
			delivery string // "" none; the delivery's status, changed ago
		}
		rows := []row{
			{2 * time.Minute, store.StatusDelivered, store.DeliveryDelivered},
			{4 * time.Minute, store.StatusAcknowledged, store.DeliveryAcknowledged},
			{6 * time.Minute, store.StatusDelivered, store.DeliveryDelivered},
			{30 * time.Minute, store.StatusFailed, ""},
			{59 * time.Minute, store.StatusAwaitingPayment, ""},
			{61 * time.Minute, store.StatusDead, store.DeliveryDead},
			{3 * time.Hour, store.StatusFailed, store.DeliveryDelivered},
			{5 * time.Hour, store.StatusDead, store.DeliveryDead},
			{time.Minute, store.StatusProcessing, store.DeliveryPending},
		}
		err := st.InTx(ctx, func(tx wmsql.Tx) error {
			for i, r := range rows {
				at := now.Add(-r.ago)
				id := fmt.Sprintf("s%d", i)
				sub := store.Submission{ID: id, Portal: "p", Reference: "r", Leistung: "l", AGS: "a", Route: "x",
					Status: r.status, Data: []byte(`{}`), RequestHash: "h", ReceivedAt: at}
				if err := store.InsertSubmission(ctx, tx, sub, nil); err != nil {
					return err
				}
				if r.delivery == "" {
					continue
				}
				if err := store.InsertDelivery(ctx, tx, id, "eakte", at); err != nil {
					return err
				}
				if _, err := tx.ExecContext(ctx, `UPDATE deliveries SET status = $1 WHERE submission_id = $2`, r.delivery, id); err != nil {
					return err
				}
			}
			// A second destination with a dead delivery; a dead reply.
			if err := store.InsertDelivery(ctx, tx, "s5", "fachverfahren", now); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `UPDATE deliveries SET status = 'dead' WHERE destination = 'fachverfahren'`); err != nil {
				return err
			}
			if err := store.InsertReply(ctx, tx, store.Reply{ID: "reply-1", SubmissionID: "s0", Source: "eakte", Via: "http",
				Kind: "bescheid", Status: "decided", ReceivedAt: now}, nil); err != nil {
				return err
			}
			if err := store.InsertReplyDelivery(ctx, tx, "reply-1", "print", now); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `UPDATE reply_deliveries SET status = 'dead'`); err != nil {
				return err
			}
			for i, seen := range []time.Duration{time.Hour, 3 * time.Hour} {
				if _, err := store.NoteInbox(ctx, tx, store.InboxEntry{SubmissionID: fmt.Sprintf("fc-%d", i), Subscription: "s",
					DestinationID: "d", SeenAt: now.Add(-seen)}); err != nil {
					return err
				}
			}
			if _, err := store.NoteInbox(ctx, tx, store.InboxEntry{SubmissionID: "fc-old", Subscription: "s", DestinationID: "d",
				SeenAt: now.Add(-48 * time.Hour)}); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `UPDATE fitconnect_inbox SET state = 'decided' WHERE submission_id = 'fc-old'`); err != nil {
				return err
			}
			for i, ago := range []time.Duration{10 * time.Minute, 2 * time.Minute} {
				if _, err := tx.ExecContext(ctx, `INSERT INTO "watermill_deliver_eakte" (uuid, payload, metadata, not_before, created_at)
					VALUES ($1, $2, '{}', $3, $4)`, fmt.Sprintf("m%d", i), []byte("s"), now.UnixMilli(), now.Add(-ago).UnixMilli()); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		got, err := st.Overview(ctx, []string{"submissions", "deliver_eakte", "deliver_missing"}, now)
		if err != nil {
			t.Fatal(err)
		}
		want := store.Overview{At: now, Received5m: 3, Received1h: 6, Delivered5m: 2, Delivered1h: 3, Failed: 2, AwaitingPayment: 1,
			Dead: map[string]int64{"eakte": 2, "fachverfahren": 1}, DeadReplies: 1, FITConnectOpen: 2,
			FITConnectOldest: now.Add(-3 * time.Hour),
			Queues:           []store.QueueFigures{{Name: "submissions"}, {Name: "deliver_eakte", Depth: 2, Oldest: now.Add(-10 * time.Minute)}}}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("overview\n got %+v\nwant %+v", got, want)
		}
	})
}

// The audit trail is searched newest first by time, actor (itself and below it), action and
// subject, and paged by id.
func TestSearchAudit(t *testing.T) {
	eachBackend(t, func(t *testing.T, o store.Options) {
		st := open(t, o)
		ctx := context.Background()
		base := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
		entries := []store.AuditEntry{
			{Actor: "portal:demo", Action: "submit", Subject: "s1"},
			{Actor: "portal:demo-2", Action: "submit", Subject: "s2"},
			{Actor: "admin-api", Action: "replay", Subject: "s1/eakte"},
			{Actor: "admin-api:anna", Action: "replay", Subject: "s2/eakte"},
			{Actor: "console:anna", Action: "reprocess", Subject: "s1"},
			{Actor: "console:bernd", Action: "reprocess", Subject: "s2"},
			{Actor: "system:retention", Action: "purge", Subject: "s1"},
			{Actor: "admin-apix", Action: "replay", Subject: "s3/eakte"},
		}
		err := st.InTx(ctx, func(tx wmsql.Tx) error {
			for i, e := range entries {
				e.At = base.Add(time.Duration(i) * time.Hour)
				if err := store.Audit(ctx, tx, e); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		cases := []struct {
			name string
			f    store.AuditFilter
			want []int // indexes into entries, newest first
		}{
			{"all", store.AuditFilter{}, []int{7, 6, 5, 4, 3, 2, 1, 0}},
			{"since", store.AuditFilter{Since: base.Add(5 * time.Hour)}, []int{7, 6, 5}},
			{"until", store.AuditFilter{Until: base.Add(2 * time.Hour)}, []int{1, 0}},
			{"since and until", store.AuditFilter{Since: base.Add(2 * time.Hour), Until: base.Add(4 * time.Hour)}, []int{3, 2}},
			{"actor with those below it", store.AuditFilter{Actor: "admin-api"}, []int{3, 2}},
			{"actor exactly", store.AuditFilter{Actor: "portal:demo"}, []int{0}},
			{"actor prefix", store.AuditFilter{Actor: "console:"}, []int{5, 4}},
			{"actor kind", store.AuditFilter{Actor: "portal"}, []int{1, 0}},
			{"action", store.AuditFilter{Action: "replay"}, []int{7, 3, 2}},
			{"subject", store.AuditFilter{Subject: "s1"}, []int{6, 4, 0}},
			{"action and subject", store.AuditFilter{Action: "reprocess", Subject: "s1"}, []int{4}},
			{"limit", store.AuditFilter{Limit: 2}, []int{7, 6}},
			{"no such actor", store.AuditFilter{Actor: "cli"}, nil},
		}
		all, err := st.SearchAudit(ctx, store.AuditFilter{})
		if err != nil || len(all) != len(entries) {
			t.Fatalf("%d entries (%v)", len(all), err)
		}
		idOf := map[string]int64{}
		for _, e := range all {
			idOf[e.Actor+" "+e.Subject] = e.ID
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				got, err := st.SearchAudit(ctx, c.f)
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != len(c.want) {
					t.Fatalf("got %+v, want entries %v", got, c.want)
				}
				for i, w := range c.want {
					e := entries[w]
					if got[i].Actor != e.Actor || got[i].Subject != e.Subject || !got[i].At.Equal(base.Add(time.Duration(w)*time.Hour)) {
						t.Fatalf("entry %d: %+v, want %+v", i, got[i], e)
					}
				}
			})
		}
		// Keyset paging: pages of 3 add up to the whole trail.
		var paged []int64
		f := store.AuditFilter{Limit: 3}
		for {
			page, err := st.SearchAudit(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range page {
				paged = append(paged, e.ID)
			}
			if len(page) < f.Limit {
				break
			}
			f.BeforeID = page[len(page)-1].ID
		}
		var ids []int64
		for _, e := range all {
			ids = append(ids, e.ID)
		}
		if !slices.Equal(paged, ids) || !slices.IsSortedFunc(ids, func(a, b int64) int { return int(b - a) }) {
			t.Fatalf("paged %v, all %v", paged, ids)
		}
	})
}
