// Package metrics is what amtsbote tells Prometheus: submissions accepted and rejected, stage
// durations, delivery attempts, queue depth and age, dead letters, reloads and receipts. Queue
// figures are read from the store at scrape time, so they are right after a restart too.
package metrics

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics holds the instruments. The zero value is not usable; use New.
type Metrics struct {
	Registry *prometheus.Registry

	SubmissionsAccepted *prometheus.CounterVec   // portal, route
	SubmissionsRejected *prometheus.CounterVec   // portal, reason
	StageDuration       *prometheus.HistogramVec // stage
	DeliveryAttempts    *prometheus.CounterVec   // destination, outcome
	ConfigReloads       *prometheus.CounterVec   // result
	Receipts            *prometheus.CounterVec   // outcome
	// Pipeline handlers that waited for their turn during an intake burst, and how long in all.
	Yields, YieldSeconds prometheus.Counter
	// FIT-Connect intake.
	FitConnectReceived  *prometheus.CounterVec // destination: submissions fetched and checked
	FitConnectDecisions *prometheus.CounterVec // destination, decision (accept, reject), problem ("" for accept)
	FitConnectErrors    *prometheus.CounterVec // operation (token, list, fetch, events, decide, callback): failures to retry
	// Holding submissions until paid (payment.go).
	PaymentChecks        *prometheus.CounterVec // provider, result
	PaymentOutcomes      *prometheus.CounterVec // provider, outcome
	PaymentNotifications *prometheus.CounterVec // provider, result
	// ReplyDeliveries counts replies sent, failed (retried) and dead, by channel.
	ReplyDeliveries *prometheus.CounterVec // channel, outcome
}

// New creates the instruments; queues are read from db at scrape time (db may be nil).
func New(db *sql.DB, queues func() []string) *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		SubmissionsAccepted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "amtsbote_submissions_accepted_total", Help: "Submissions answered 202, by portal and route.",
		}, []string{"portal", "route"}),
		SubmissionsRejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "amtsbote_submissions_rejected_total", Help: "Submissions refused at intake, by portal and reason.",
		}, []string{"portal", "reason"}),
		StageDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "amtsbote_stage_duration_seconds", Help: "Time a pipeline stage takes for one message.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 12),
		}, []string{"stage"}),
		DeliveryAttempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "amtsbote_delivery_attempts_total", Help: "Delivery attempts by destination and outcome (delivered, failed, dead).",
		}, []string{"destination", "outcome"}),
		ConfigReloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "amtsbote_config_reloads_total", Help: "Configuration reloads by result (ok, failed).",
		}, []string{"result"}),
		Receipts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "amtsbote_receipts_total", Help: "Receipts read, by outcome (acknowledged, rejected, unmatched, malformed).",
		}, []string{"outcome"}),
		FitConnectReceived: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "amtsbote_fitconnect_received_total", Help: "FIT-Connect submissions fetched and checked, by destination.",
		}, []string{"destination"}),
		FitConnectDecisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "amtsbote_fitconnect_decisions_total",
			Help: "FIT-Connect decisions made, by destination, decision (accept, reject) and, for rejects, problem type (last segment).",
		}, []string{"destination", "decision", "problem"}),
		FitConnectErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "amtsbote_fitconnect_errors_total",
			Help: "Failed FIT-Connect operations that are retried, by operation (token, list, fetch, events, decide, callback).",
		}, []string{"operation"}),
		ReplyDeliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "amtsbote_reply_deliveries_total",
			Help: "Replies to applicants by channel (fitconnect, email, portal, print; none when no channel reaches the applicant) and outcome (sent, failed, dead).",
		}, []string{"channel", "outcome"}),
		Yields: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "amtsbote_pipeline_yields_total",
			Help: "Pipeline handler runs that waited for their turn while intake had a burst (pipeline.intake_burst).",
		}),
		YieldSeconds: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "amtsbote_pipeline_yield_seconds_total",
			Help: "Time pipeline handlers waited for their turn while intake had a burst, in all.",
		}),
	}
	m.Registry.MustRegister(m.ReplyDeliveries, m.Yields, m.YieldSeconds)
	m.Registry.MustRegister(m.SubmissionsAccepted, m.SubmissionsRejected, m.StageDuration, m.DeliveryAttempts,
		m.ConfigReloads, m.Receipts, m.FitConnectReceived, m.FitConnectDecisions, m.FitConnectErrors, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if db != nil {
		m.Registry.MustRegister(&storeCollector{db: db, queues: queues})
	}
	m.addPayment(db)
	return m
}

// ObserveYield records a pipeline handler's wait for its turn during an intake burst.
func (m *Metrics) ObserveYield(waited time.Duration) {
	m.Yields.Inc()
	m.YieldSeconds.Add(waited.Seconds())
}

// ObserveStage records how long a stage took since start.
func (m *Metrics) ObserveStage(stage string, start time.Time) {
	m.StageDuration.WithLabelValues(stage).Observe(time.Since(start).Seconds())
}

var (
	queueDepth = prometheus.NewDesc("amtsbote_queue_depth", "Messages waiting in a queue (due or scheduled).", []string{"queue"}, nil)
	queueAge   = prometheus.NewDesc("amtsbote_queue_oldest_age_seconds", "Age of the oldest message in a queue.", []string{"queue"}, nil)
	deadLetter = prometheus.NewDesc("amtsbote_dead_letters", "Dead deliveries waiting for an operator, by destination.", []string{"destination"}, nil)
	replyDead  = prometheus.NewDesc("amtsbote_reply_dead_letters", "Dead reply deliveries waiting for an operator, by channel.", []string{"channel"}, nil)
	fcOpen     = prometheus.NewDesc("amtsbote_fitconnect_open", "FIT-Connect submissions known to amtsbote whose decision the delivery service does not have yet, by destination.", []string{"destination"}, nil)
	fcAge      = prometheus.NewDesc("amtsbote_fitconnect_oldest_open_age_seconds", "Age of the oldest open FIT-Connect submission (since it was submitted, or else first seen), by destination. FIT-Connect rejects a submission itself after 14 days.", []string{"destination"}, nil)
)

// storeCollector reads queue and dead-letter figures from the store when scraped.
type storeCollector struct {
	db     *sql.DB
	queues func() []string
}

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- queueDepth
	ch <- queueAge
	ch <- deadLetter
	ch <- replyDead
	ch <- fcOpen
	ch <- fcAge
}

func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	now := time.Now().UnixMilli()
	for _, q := range c.queues() {
		var n int64
		var oldest sql.NullInt64
		err := c.db.QueryRowContext(ctx, fmt.Sprintf(`SELECT count(*), min(created_at) FROM "watermill_%s"`, q)).Scan(&n, &oldest)
		if err != nil {
			continue
		}
		ch <- prometheus.MustNewConstMetric(queueDepth, prometheus.GaugeValue, float64(n), q)
		age := 0.0
		if oldest.Valid {
			age = float64(now-oldest.Int64) / 1000
		}
		ch <- prometheus.MustNewConstMetric(queueAge, prometheus.GaugeValue, age, q)
	}
	rows, err := c.db.QueryContext(ctx, `SELECT destination, count(*) FROM deliveries WHERE status = 'dead' GROUP BY destination`)
	if err != nil {
		return
	}
	for rows.Next() {
		var dest string
		var n int64
		if rows.Scan(&dest, &n) == nil {
			ch <- prometheus.MustNewConstMetric(deadLetter, prometheus.GaugeValue, float64(n), dest)
		}
	}
	rows.Close()
	c.collectReplies(ctx, ch)
	rows, err = c.db.QueryContext(ctx, `SELECT destination_id, count(*),
			min(CASE WHEN submitted_at > 0 THEN submitted_at ELSE seen_at END)
		FROM fitconnect_inbox WHERE state IN ('new', 'deciding') GROUP BY destination_id`)
	if err != nil {
		return
	}
	defer rows.Close()
	for rows.Next() {
		var dest string
		var n, oldest int64
		if rows.Scan(&dest, &n, &oldest) == nil {
			ch <- prometheus.MustNewConstMetric(fcOpen, prometheus.GaugeValue, float64(n), dest)
			ch <- prometheus.MustNewConstMetric(fcAge, prometheus.GaugeValue, float64(now-oldest)/1000, dest)
		}
	}
}

// collectReplies reports the dead reply deliveries per channel.
func (c *storeCollector) collectReplies(ctx context.Context, ch chan<- prometheus.Metric) {
	rows, err := c.db.QueryContext(ctx, `SELECT channel, count(*) FROM reply_deliveries WHERE status = 'dead' GROUP BY channel`)
	if err != nil {
		return
	}
	defer rows.Close()
	for rows.Next() {
		var channel string
		var n int64
		if rows.Scan(&channel, &n) == nil {
			ch <- prometheus.MustNewConstMetric(replyDead, prometheus.GaugeValue, float64(n), channel)
		}
	}
}
