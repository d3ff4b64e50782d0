package routes

import "fmt"

// Payment is what a route asks of its submissions' payment (docs/payment.md).
type Payment struct {
	// Required holds a submission until its payment is complete: it is mapped and delivered
	// once paid, and a submission without a payment transaction fails. Default: false.
	Required bool `yaml:"required"`
	// Provider is the payment provider (payment.providers[].id) the transaction is read from
	// when the submission names none. Without one, a FIT-Connect submission's own payment
	// status (its metadata's paymentInformation) is taken as it was sent. Optional.
	Provider string `yaml:"provider"`
}

// RequiresPayment tells whether the route holds its submissions until paid.
func (r *Route) RequiresPayment() bool { return r.Payment != nil && r.Payment.Required }

// checkPayment checks that the provider a route names is configured.
func (r *Route) checkPayment(where string, checks Checks) []error {
	if r.Payment == nil || r.Payment.Provider == "" {
		return nil
	}
	if checks.PaymentProvider != nil && !checks.PaymentProvider(r.Payment.Provider) {
		return []error{fmt.Errorf("%s: route %q: payment.provider %q is not in the configuration's payment.providers",
			where, r.ID, r.Payment.Provider)}
	}
	return nil
}
