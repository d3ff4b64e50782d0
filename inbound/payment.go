package inbound

import (
	"encoding/json"

	"github.com/amtsbote/amtsbote/config"
	"github.com/amtsbote/amtsbote/payment"
)

// paymentRequest is the applicant's payment at an E-Payment platform (XBezahldienste): a route
// that requires payment holds the submission until the transaction is paid (docs/payment.md).
type paymentRequest struct {
	// Provider is the payment provider (payment.providers[].id) the transaction is at; default:
	// the route's.
	Provider string `json:"provider"`
	// TransactionID is the platform's transactionId of the payment.
	TransactionID string `json:"transaction_id"`
}

// check names what is wrong with the payment object (nil: none sent).
func (p *paymentRequest) check() []Problem {
	if p == nil {
		return nil
	}
	var problems []Problem
	if !payment.ValidTransactionID(p.TransactionID) {
		problems = append(problems, Problem{Field: "payment.transaction_id",
			Message: "must be the payment platform's transactionId: 1 to 64 letters, digits, _ or -"})
	}
	if len(p.Provider) > 64 {
		problems = append(problems, Problem{Field: "payment.provider", Message: "must be at most 64 bytes"})
	}
	return problems
}

// knownIn tells whether the provider the payment names (if any) is configured.
func (p *paymentRequest) knownIn(cfg *config.Config) bool {
	if p == nil || p.Provider == "" {
		return true
	}
	_, ok := cfg.Payment.Provider(p.Provider)
	return ok
}

// meta is the submission's meta with the payment (nil: none).
func (p *paymentRequest) meta() []byte {
	if p == nil {
		return nil
	}
	m, _ := json.Marshal(map[string]any{"payment": map[string]string{"provider": p.Provider, "transaction_id": p.TransactionID}})
	return m
}
