package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	wmsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"

	"github.com/amtsbote/amtsbote/routes"
	"github.com/amtsbote/amtsbote/snapshot"
	"github.com/amtsbote/amtsbote/store"
	"github.com/amtsbote/amtsbote/trust"
)

// reprocessKey marks the queue message of a reprocess: the process stage routes the submission
// again before it maps it.
const reprocessKey = "amtsbote_reprocess"

// Reprocess queues failed submissions for routing, mapping and validation once more, with the
// configuration the daemon has when it takes them: after a mapping or a route was fixed. The
// earlier failure stays in each submission's history; the reprocess is recorded there and in the
// audit trail with who asked for it. It returns the submissions it queued; ids that are not
// failed, or whose data retention purged, are skipped.
func Reprocess(ctx context.Context, st *store.Store, ids []string, who string, now time.Time) ([]string, error) {
	var queued []string
	err := st.InTx(ctx, func(tx wmsql.Tx) error {
		queued = queued[:0]
		for _, id := range ids {
			ok, err := store.Requeue(ctx, tx, id, now)
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
			if err := store.AddEvent(ctx, tx, id, store.Event{At: now, Type: "reprocess_requested", Detail: "reprocessed by " + who}); err != nil {
				return err
			}
			if err := store.Audit(ctx, tx, store.AuditEntry{At: now, Actor: who, Action: "reprocess", Subject: id}); err != nil {
				return err
			}
			work := NewWork(ctx, id, now)
			work.Metadata.Set(reprocessKey, "1")
			if err := Publish(tx, TopicSubmissions, work); err != nil {
				return err
			}
			queued = append(queued, id)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reprocess: %w", err)
	}
	return queued, nil
}

// reroute routes a submission again with today's routes, as its intake did: a portal's by the
// route table (and the portal's allow-list and the route's minimum trust level); a FIT-Connect
// submission keeps the route its subscription chose while that route exists, since the
// subscription's service mapping chose it. It returns the route, or why there is none.
func reroute(sub store.Submission, snap *snapshot.Snapshot) (*routes.Route, string) {
	if sub.Channel == store.ChannelFITConnect {
		if rt, ok := snap.Routes.Route(sub.Route); ok {
			return rt, ""
		}
	}
	var data any
	if sub.DataType != "application/xml" {
		_ = json.Unmarshal(sub.Data, &data)
	}
	rt, ok := snap.Routes.Match(routes.Submission{Leistung: sub.Leistung, AGS: sub.AGS, ARS: sub.ARS, Portal: sub.Portal,
		Reference: sub.Reference, Channel: sub.Channel, TrustLevel: sub.TrustLevel, AccountType: sub.AccountType, Data: data})
	if !ok {
		return nil, fmt.Sprintf("reprocess: no route accepts leistung %s for ags %s", sub.Leistung, sub.AGS)
	}
	if sub.Channel == store.ChannelPortal {
		for _, p := range snap.Config.Portals {
			if p.ID == sub.Portal && !p.MayUse(rt.ID) {
				return nil, fmt.Sprintf("reprocess: portal %s may not submit to route %s (portals[].routes)", sub.Portal, rt.ID)
			}
		}
	}
	level, _ := trust.Parse(sub.TrustLevel)
	if ok, why := rt.Admits(level); !ok {
		return nil, "reprocess: " + why
	}
	return rt, ""
}
