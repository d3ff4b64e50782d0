package daemon

import (
	"context"
	"fmt"
	"net/http"

	"github.com/amtsbote/amtsbote/payment"
	"github.com/amtsbote/amtsbote/pipeline"
)

// setupPayment makes the clients of the payment platforms (reading their secrets and
// certificates).
func (d *Daemon) setupPayment() error {
	if len(d.cfg.Payment.Providers) == 0 {
		return nil
	}
	provs, err := payment.Load(d.cfg)
	if err != nil {
		return fmt.Errorf("payment:\n%w", err)
	}
	d.payments = provs
	for _, p := range d.cfg.Payment.Providers {
		d.log.Info("payment provider", "payment_provider", p.ID, "api_url", p.APIURL, "originator_id", p.OriginatorID,
			"endpoint_id", p.EndpointID, "auth", p.Auth.Type, "hold_timeout", p.HoldTimeout,
			"callback_path", payment.CallbackPath(p.ID), "notifications", len(p.CallbackSecrets) > 0)
	}
	return nil
}

// withPaymentNotifications serves the payment platforms' notifications
// (/v1/payments/{provider}/callback) on the inbound listener beside api.
func (d *Daemon) withPaymentNotifications(api http.Handler) http.Handler {
	if len(d.payments) == 0 {
		return api
	}
	wake := pipeline.WakePayment(d.store, d.now)
	cb := &payment.CallbackHandler{Providers: d.payments, Logger: d.log, Now: d.now,
		Wake: func(ctx context.Context, provider, transactionID string) (int, error) {
			n, err := wake(ctx, provider, transactionID)
			if err == nil {
				d.metrics.PaymentNotifications.WithLabelValues(provider, "accepted").Inc()
			}
			return n, err
		},
		Refused: func(provider, reason string) { d.metrics.PaymentNotifications.WithLabelValues(provider, reason).Inc() }}
	mux := http.NewServeMux()
	mux.Handle("/v1/payments/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d.api.Draining() {
			w.Header().Set("Retry-After", "5")
			http.Error(w, "shutting down", http.StatusServiceUnavailable)
			return
		}
		cb.ServeHTTP(w, r)
	}))
	mux.Handle("/", api)
	return mux
}
