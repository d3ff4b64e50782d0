package admin

import (
	"context"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/amtsbote/amtsbote/pipeline"
	"github.com/amtsbote/amtsbote/store"
)

// OverviewView is the state of amtsbote at a glance: intake and delivery rates, what waits for
// an operator, each destination's queue and circuit, and the configuration in force.
type OverviewView struct {
	At time.Time `json:"at"`
	// Intake counts submissions received; Delivered deliveries that reached their destination.
	Intake    RateView `json:"intake"`
	Delivered RateView `json:"delivered"`
	// Failed and AwaitingPayment count submissions in that status now; Dead the dead
	// deliveries over all destinations, DeadReplies the dead reply deliveries.
	Failed          int64 `json:"failed"`
	AwaitingPayment int64 `json:"awaiting_payment"`
	Dead            int64 `json:"dead"`
	DeadReplies     int64 `json:"dead_replies"`
	// FITConnect is the FIT-Connect submissions whose decision the delivery service does not
	// have yet.
	FITConnect FITConnectView `json:"fitconnect"`
	// Destinations in configuration order (then any that is no longer configured but has dead
	// deliveries); without a running daemon those with a queue or dead deliveries, by id.
	Destinations []DestinationOverview `json:"destinations"`
	// Queues are every queue with its waiting messages.
	Queues []QueueView `json:"queues"`
	// Config is the configuration in force and the last reload; absent without a running
	// daemon.
	Config *ConfigOverview `json:"config,omitempty"`
}

// RateView counts events of the last 5 minutes (and per minute over them) and the last hour.
type RateView struct {
	PerMinute float64 `json:"per_minute"`
	Last5m    int64   `json:"last_5m"`
	LastHour  int64   `json:"last_hour"`
}

// FITConnectView counts the open FIT-Connect submissions and the age of the oldest (since it
// was submitted, or else first seen; FIT-Connect rejects one itself after 14 days).
type FITConnectView struct {
	Open             int64   `json:"open"`
	OldestAgeSeconds float64 `json:"oldest_age_seconds"`
}

// DestinationOverview is a destination's delivery queue, dead deliveries and circuit.
type DestinationOverview struct {
	ID   string `json:"id"`
	Type string `json:"type,omitempty"`
	// QueueDepth counts the deliveries waiting in its queue (due or scheduled for a retry);
	// OldestAgeSeconds is how long the oldest has waited.
	QueueDepth       int64   `json:"queue_depth"`
	OldestAgeSeconds float64 `json:"oldest_age_seconds"`
	Dead             int64   `json:"dead"`
	// Circuit, LastError and LastErrorAt are known to the running daemon only.
	Circuit     string     `json:"circuit,omitempty"`
	LastError   string     `json:"last_error,omitempty"`
	LastErrorAt *time.Time `json:"last_error_at,omitempty"`
}

// QueueView is a queue's waiting messages.
type QueueView struct {
	Name             string  `json:"name"`
	Depth            int64   `json:"depth"`
	OldestAgeSeconds float64 `json:"oldest_age_seconds"`
}

// ConfigOverview is the configuration in force and its reloads.
type ConfigOverview struct {
	Version       string        `json:"version"`
	File          string        `json:"file"`
	LoadedAt      time.Time     `json:"loaded_at"`
	ReloadsOK     int           `json:"reloads_ok"`
	ReloadsFailed int           `json:"reloads_failed"`
	LastReload    *ReloadResult `json:"last_reload,omitempty"`
}

// Overview reads the overview: the store's figures, and with a running daemon its
// destinations' circuits and the configuration in force.
func (s *Server) Overview(ctx context.Context) (OverviewView, error) {
	now := s.Now()
	type dest struct{ id, typ string }
	var dests []dest
	var queues []string // nil: every queue in the store
	var status *RuntimeStatus
	if s.Runtime != nil {
		st := s.Runtime.Status()
		status = &st
		snap, release := s.Runtime.Snapshot()
		if snap != nil && snap.Config != nil {
			queues = pipeline.Topics(snap.Config)
			for _, d := range snap.Config.Destinations {
				dests = append(dests, dest{d.ID, d.Type})
			}
		}
		release()
	}
	o, err := s.Store.Overview(ctx, queues, now)
	if err != nil {
		return OverviewView{}, err
	}
	age := func(t time.Time) float64 {
		if t.IsZero() || t.After(now) {
			return 0
		}
		return now.Sub(t).Seconds()
	}
	v := OverviewView{At: now,
		Intake:    RateView{PerMinute: float64(o.Received5m) / 5, Last5m: o.Received5m, LastHour: o.Received1h},
		Delivered: RateView{PerMinute: float64(o.Delivered5m) / 5, Last5m: o.Delivered5m, LastHour: o.Delivered1h},
		Failed:    o.Failed, AwaitingPayment: o.AwaitingPayment, DeadReplies: o.DeadReplies,
		FITConnect:   FITConnectView{Open: o.FITConnectOpen, OldestAgeSeconds: age(o.FITConnectOldest)},
		Destinations: []DestinationOverview{}, Queues: []QueueView{}}
	queueOf := map[string]store.QueueFigures{}
	for _, q := range o.Queues {
		queueOf[q.Name] = q
		v.Queues = append(v.Queues, QueueView{Name: q.Name, Depth: q.Depth, OldestAgeSeconds: age(q.Oldest)})
	}
	if s.Runtime == nil {
		// Without the configuration the destinations are those the store knows of.
		known := map[string]bool{}
		for _, q := range o.Queues {
			if id, ok := strings.CutPrefix(q.Name, pipeline.DeliveryTopic("")); ok {
				known[id] = true
			}
		}
		for id := range o.Dead {
			known[id] = true
		}
		for id := range known {
			dests = append(dests, dest{id: id})
		}
		sort.Slice(dests, func(i, j int) bool { return dests[i].id < dests[j].id })
	}
	seen := map[string]bool{}
	for _, d := range dests {
		seen[d.id] = true
	}
	var gone []string
	for id := range o.Dead {
		if !seen[id] {
			gone = append(gone, id)
		}
	}
	sort.Strings(gone)
	for _, id := range gone {
		dests = append(dests, dest{id: id})
	}
	for _, d := range dests {
		q := queueOf[pipeline.DeliveryTopic(d.id)]
		row := DestinationOverview{ID: d.id, Type: d.typ, QueueDepth: q.Depth, OldestAgeSeconds: age(q.Oldest), Dead: o.Dead[d.id]}
		if status != nil {
			for _, ds := range status.Destinations {
				if ds.ID == d.id {
					row.Circuit, row.LastError, row.LastErrorAt = ds.Circuit, ds.LastError, ds.LastErrorAt
					if row.Type == "" {
						row.Type = ds.Type
					}
				}
			}
		}
		v.Destinations = append(v.Destinations, row)
	}
	for _, n := range o.Dead {
		v.Dead += n
	}
	if status != nil {
		v.Config = &ConfigOverview{Version: status.ConfigVersion, File: status.ConfigFile, LoadedAt: status.LoadedAt,
			ReloadsOK: status.ReloadsOK, ReloadsFailed: status.ReloadsFailed, LastReload: status.LastReload}
	}
	return v, nil
}

// overview answers GET /v1/overview.
func (s *Server) overview(w http.ResponseWriter, r *http.Request) {
	v, err := s.Overview(r.Context())
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}
