package payment_test

import (
	"errors"
	"strings"
	"testing"

	json "github.com/go-json-experiment/json"

	"github.com/amtsbote/amtsbote/payment"
)

func TestParseTransaction(t *testing.T) {
	for _, tt := range []struct {
		name, body string
		status     payment.Status
		want       string // the error, "" for none
	}{
		{"paid", `{"paymentInformation": {"transactionId": "TX-1", "status": "PAYED", "transactionReference": "KZ-1",
			"paymentMethod": "CREDITCARD", "transactionTimestamp": "2025-03-01T10:00:00Z"}}`, payment.StatusPayed, ""},
		{"with request", `{"paymentRequest": {"requestId": "r-1", "currency": "EUR", "grosAmount": 26.5, "redirectUrl": "https://p.example/",
			"items": [{"id": "i-1", "totalNetAmount": 26.5}]}, "paymentInformation": {"transactionId": "TX-1", "status": "INITIAL"}}`, payment.StatusInitial, ""},
		{"members a platform adds", `{"paymentInformation": {"transactionId": "TX-1", "status": "CANCELED", "vendorField": 1}, "extra": []}`,
			payment.StatusCanceled, ""},
		{"empty", ``, "", "the body is empty"},
		{"not JSON", `<html>`, "", "not valid JSON at byte 0"},
		{"truncated", `{"paymentInformation": {"transactionId": "TX-1", "status": "PAYED"`, "", "not valid JSON"},
		{"array", `[]`, "", "is an array, expected an object"},
		{"no information", `{}`, "", "paymentInformation: missing"},
		{"information null", `{"paymentInformation": null}`, "", "paymentInformation: missing"},
		{"no id", `{"paymentInformation": {"status": "PAYED"}}`, "", "paymentInformation.transactionId: missing or empty"},
		{"no status", `{"paymentInformation": {"transactionId": "TX-1"}}`, "", "paymentInformation.status: missing or empty"},
		{"FIT-Connect's word", `{"paymentInformation": {"transactionId": "TX-1", "status": "BOOKED"}}`, "", `"BOOKED" is not one of`},
		{"lower case", `{"paymentInformation": {"transactionId": "TX-1", "status": "payed"}}`, "", `"payed" is not one of`},
		{"number as id", `{"paymentInformation": {"transactionId": 4711, "status": "PAYED"}}`, "",
			"paymentInformation.transactionId: is a number, expected a string"},
		{"wrong amount type", `{"paymentRequest": {"grosAmount": "26"}, "paymentInformation": {"transactionId": "TX-1", "status": "PAYED"}}`, "",
			"paymentRequest.grosAmount: is a string, expected a number"},
		{"duplicate name", `{"paymentInformation": {"transactionId": "TX-1", "status": "INITIAL", "status": "PAYED"}}`, "", "duplicate"},
		{"invalid UTF-8", "{\"paymentInformation\": {\"transactionId\": \"TX-\xff\", \"status\": \"PAYED\"}}", "", "UTF-8"},
		{"trailing data", `{"paymentInformation": {"transactionId": "TX-1", "status": "PAYED"}} {}`, "", "not valid JSON"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tx, err := payment.ParseTransaction([]byte(tt.body))
			if tt.want == "" {
				if err != nil || tx.Information.Status != tt.status {
					t.Fatalf("got %+v, %v", tx, err)
				}
				return
			}
			var pe *payment.ParseError
			if !errors.As(err, &pe) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("want an error with %q, got %v", tt.want, err)
			}
		})
	}
}

func TestParseNotification(t *testing.T) {
	for _, tt := range []struct{ body, want string }{
		{`{"transactionId": "TX-1"}`, ""},
		{`{"transactionId": "TX-1", "status": "PAYED", "transactionReference": "KZ-1"}`, ""},
		{``, "the body is empty"},
		{`{"status": "PAYED"}`, "transactionId must be"},
		{`{"transactionId": "../../admin"}`, "transactionId must be"},
		{`{"transactionId": "TX-1", "status": "DONE"}`, `status "DONE" is not one of`},
		{`{"transactionId": 1}`, "is a number, expected a string"},
		{`["TX-1"]`, "is an array"},
	} {
		n, err := payment.ParseNotification([]byte(tt.body))
		switch {
		case tt.want == "" && (err != nil || n.TransactionID != "TX-1"):
			t.Errorf("%s: %+v %v", tt.body, n, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s: want %q, got %v", tt.body, tt.want, err)
		}
	}
}

// Whatever a platform answers, the parser returns a transaction in one of the four states with
// an id, or a *ParseError; never a panic. What it accepts survives a round trip.
func FuzzParseTransaction(f *testing.F) {
	for _, s := range []string{
		`{"paymentInformation": {"transactionId": "TX-1", "status": "PAYED", "paymentMethod": "PAYPAL"}}`,
		`{"paymentRequest": {"requestId": "r", "items": [{"id": "i", "bookingData": {"k": "v"}}], "requestor": {"address": {"a": 1}}}, "paymentInformation": {"transactionId": "x", "status": "INITIAL"}}`,
		`{"paymentInformation": {"transactionId": "", "status": "FAILED"}}`,
		`{"paymentInformation": {"transactionId": "TX", "status": "CANCELED", "status": "PAYED"}}`,
		`{"paymentInformation": []}`, `null`, `{`, `"x"`, "\xff",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		tx, err := payment.ParseTransaction(body)
		if err != nil {
			var pe *payment.ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("not a *ParseError: %T %v", err, err)
			}
			return
		}
		if !tx.Information.Status.Valid() || strings.TrimSpace(tx.Information.TransactionID) == "" {
			t.Fatalf("accepted %+v", tx.Information)
		}
		again, err := json.Marshal(tx)
		if err != nil {
			t.Fatal(err)
		}
		tx2, err := payment.ParseTransaction(again)
		if err != nil || tx2.Information != tx.Information {
			t.Fatalf("round trip: %+v %v", tx2, err)
		}
	})
}

func FuzzParseNotification(f *testing.F) {
	for _, s := range []string{`{"transactionId": "TX-1"}`, `{"transactionId": "TX-1", "status": "PAYED"}`, `{}`, `[`, `{"transactionId": "a/b"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		n, err := payment.ParseNotification(body)
		if err == nil && (!payment.ValidTransactionID(n.TransactionID) || (n.Status != "" && !n.Status.Valid())) {
			t.Fatalf("accepted %+v", n)
		}
	})
}
