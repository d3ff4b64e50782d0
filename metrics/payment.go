package metrics

import (
	"context"
	"database/sql"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// addPayment creates and registers the instruments of holding submissions until paid; the
// held figures are read from db at scrape time (db may be nil).
func (m *Metrics) addPayment(db *sql.DB) {
	m.PaymentChecks = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "amtsbote_payment_checks_total",
		Help: "Reads of a held submission's payment transaction, by provider and result (INITIAL, PAYED, FAILED, CANCELED, unknown, error).",
	}, []string{"provider", "result"})
	m.PaymentOutcomes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "amtsbote_payment_outcomes_total",
		Help: "Submissions of routes that require payment, by provider and outcome: held (first held), paid, failed, canceled, timeout, missing (no transaction).",
	}, []string{"provider", "outcome"})
	m.PaymentNotifications = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "amtsbote_payment_notifications_total",
		Help: "Notifications of payment platforms, by provider and result (accepted, or why refused).",
	}, []string{"provider", "result"})
	m.Registry.MustRegister(m.PaymentChecks, m.PaymentOutcomes, m.PaymentNotifications)
	if db != nil {
		m.Registry.MustRegister(&paymentCollector{db: db})
	}
}

var (
	paymentHeld = prometheus.NewDesc("amtsbote_payment_held", "Submissions awaiting their payment, by provider.", []string{"provider"}, nil)
	paymentAge  = prometheus.NewDesc("amtsbote_payment_oldest_held_age_seconds", "How long the submission held longest has waited for its payment, by provider.", []string{"provider"}, nil)
)

// paymentCollector reads the held submissions from the store when scraped.
type paymentCollector struct{ db *sql.DB }

func (c *paymentCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- paymentHeld
	ch <- paymentAge
}

func (c *paymentCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rows, err := c.db.QueryContext(ctx, `SELECT h.provider, count(*), min(h.held_since) FROM payment_holds h
		JOIN submissions s ON s.id = h.submission_id WHERE s.status = 'awaiting_payment' GROUP BY h.provider`)
	if err != nil {
		return // a store not yet migrated
	}
	defer rows.Close()
	now := time.Now().UnixMilli()
	for rows.Next() {
		var provider string
		var n, oldest int64
		if rows.Scan(&provider, &n, &oldest) == nil {
			ch <- prometheus.MustNewConstMetric(paymentHeld, prometheus.GaugeValue, float64(n), provider)
			ch <- prometheus.MustNewConstMetric(paymentAge, prometheus.GaugeValue, float64(now-oldest)/1000, provider)
		}
	}
}
