package payment

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strings"

	json "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/amtsbote/amtsbote/jsonfield"
)

// Status is the state of a payment transaction (XBezahldienste PaymentInformation.status).
type Status string

// The states XBezahldienste defines.
const (
	// StatusInitial: the payment request was made, the payer has not paid (nor cancelled) yet.
	StatusInitial Status = "INITIAL"
	// StatusPayed: the payer paid successfully (XBezahldienste's spelling; FIT-Connect's
	// metadata says BOOKED).
	StatusPayed Status = "PAYED"
	// StatusFailed: the platform ended the payment because of the payer's input.
	StatusFailed Status = "FAILED"
	// StatusCanceled: the payer cancelled the payment.
	StatusCanceled Status = "CANCELED"
)

// Statuses lists the states in the order the documentation names them.
var Statuses = []Status{StatusInitial, StatusPayed, StatusFailed, StatusCanceled}

// Valid tells whether s is one of the states XBezahldienste defines.
func (s Status) Valid() bool {
	for _, v := range Statuses {
		if s == v {
			return true
		}
	}
	return false
}

// Final tells whether the state will not change any more.
func (s Status) Final() bool { return s == StatusPayed || s == StatusFailed || s == StatusCanceled }

// Transaction is a PaymentTransaction: the request the online service made and what the
// platform says about its payment.
type Transaction struct {
	Request     *Request    `json:"paymentRequest,omitempty"`
	Information Information `json:"paymentInformation"`
}

// Information is a transaction's PaymentInformation.
type Information struct {
	// TransactionURL is the transaction's REST URL (for the status read).
	TransactionURL string `json:"transactionUrl,omitempty"`
	// TransactionRedirectURL opens the platform's pay page; only while INITIAL.
	TransactionRedirectURL string `json:"transactionRedirectUrl,omitempty"`
	// TransactionID is the platform's id of the transaction.
	TransactionID string `json:"transactionId"`
	// TransactionReference is the payment's business reference, e.g. the Kassenzeichen.
	TransactionReference string `json:"transactionReference,omitempty"`
	// TransactionTimestamp is when the payment succeeded.
	TransactionTimestamp string `json:"transactionTimestamp,omitempty"`
	// PaymentMethod is what the payer paid with (GIROPAY, PAYDIRECT, CREDITCARD, PAYPAL,
	// INVOICE, OTHER…); only for a successful payment.
	PaymentMethod       string `json:"paymentMethod,omitempty"`
	PaymentMethodDetail string `json:"paymentMethodDetail,omitempty"`
	Status              Status `json:"status"`
	StatusDetail        string `json:"statusDetail,omitempty"`
}

// Request is a PaymentRequest: what the online service asked to be paid.
type Request struct {
	RequestID        string     `json:"requestId"`
	RequestTimestamp string     `json:"requestTimestamp,omitempty"`
	Currency         string     `json:"currency"`
	GrosAmount       float64    `json:"grosAmount"`
	Purpose          string     `json:"purpose,omitempty"`
	Description      string     `json:"description,omitempty"`
	RedirectURL      string     `json:"redirectUrl"`
	Items            []Item     `json:"items"`
	Requestor        *Requestor `json:"requestor,omitempty"`
}

// Item is one position of a payment request.
type Item struct {
	ID              string            `json:"id"`
	Reference       string            `json:"reference,omitempty"`
	Description     string            `json:"description,omitempty"`
	TaxRate         float64           `json:"taxRate,omitzero"`
	Quantity        float64           `json:"quantity,omitzero"`
	TotalNetAmount  float64           `json:"totalNetAmount,omitzero"`
	TotalTaxAmount  float64           `json:"totalTaxAmount,omitzero"`
	SingleNetAmount float64           `json:"singleNetAmount,omitzero"`
	SingleTaxAmount float64           `json:"singleTaxAmount,omitzero"`
	BookingData     map[string]string `json:"bookingData,omitempty"`
}

// Requestor is the payer.
type Requestor struct {
	Name             string         `json:"name,omitempty"`
	FirstName        string         `json:"firstName,omitempty"`
	Gender           string         `json:"gender,omitempty"`
	IsOrganization   bool           `json:"isOrganization,omitzero"`
	OrganizationName string         `json:"organizationName,omitempty"`
	Address          map[string]any `json:"address,omitempty"`
}

// Problem is an error answer of the platform (application/problem+json, RFC 7807, with
// XBezahldienste's functionalCode).
type Problem struct {
	Type   string `json:"type,omitempty"`
	Status int    `json:"status,omitempty"`
	Title  string `json:"title,omitempty"`
	Detail string `json:"detail,omitempty"`
	// FunctionalCode is NO_VALID_ORIGINATOR_OR_ENDPOINT, PAYMENT_EXISTS, CALCULATION_ERROR,
	// BOOKING_DATA_MISSING, VALIDATION_ERROR, UNSPECIFIED, FORBIDDEN (or the deprecated
	// NO_VALID_ORIGINATOR_OR_DESTINATION).
	FunctionalCode string `json:"functionalCode,omitempty"`
}

func (p *Problem) String() string {
	var parts []string
	for _, s := range []string{p.FunctionalCode, p.Title, p.Detail} {
		if s = strings.TrimSpace(s); s != "" {
			parts = append(parts, s)
		}
	}
	return truncate(strings.Join(parts, ": "), 300)
}

// The functional codes of XBezahldienste's problems.
const (
	CodeNoValidOriginatorOrEndpoint = "NO_VALID_ORIGINATOR_OR_ENDPOINT"
	CodePaymentExists               = "PAYMENT_EXISTS"
	CodeCalculationError            = "CALCULATION_ERROR"
	CodeBookingDataMissing          = "BOOKING_DATA_MISSING"
	CodeValidationError             = "VALIDATION_ERROR"
	CodeUnspecified                 = "UNSPECIFIED"
	CodeForbidden                   = "FORBIDDEN"
)

// idPattern is what amtsbote accepts as an originatorId, endPointId or transactionId: the
// characters XBezahldienste allows (^[\w\d-]+$). The specification limits the path ids to 36
// characters; transaction ids are taken up to 64.
var idPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// ValidTransactionID tells whether id can be a transaction id: 1 to 64 letters, digits, _ or -.
func ValidTransactionID(id string) bool { return idPattern.MatchString(id) }

// ParseError is an answer that is not a PaymentTransaction as XBezahldienste defines it.
type ParseError struct {
	// Field is where the problem is (paymentInformation.status), "" for the whole body.
	Field string
	Msg   string
}

func (e *ParseError) Error() string {
	if e.Field == "" {
		return "malformed PaymentTransaction: " + e.Msg
	}
	return fmt.Sprintf("malformed PaymentTransaction: %s: %s", e.Field, e.Msg)
}

// ParseTransaction reads a PaymentTransaction strictly: a JSON object (no duplicate names,
// valid UTF-8) whose paymentInformation has a transactionId and one of the four states; every
// member amtsbote knows must have its type. Members it does not know are ignored (a platform
// may add its own).
func ParseTransaction(body []byte) (*Transaction, error) {
	if len(strings.TrimSpace(string(body))) == 0 {
		return nil, &ParseError{Msg: "the body is empty"}
	}
	var raw struct {
		Request     *Request     `json:"paymentRequest"`
		Information *Information `json:"paymentInformation"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, decodeError(err)
	}
	if raw.Information == nil {
		return nil, &ParseError{Field: "paymentInformation", Msg: "missing (or null); expected an object"}
	}
	info := *raw.Information
	switch {
	case strings.TrimSpace(info.TransactionID) == "":
		return nil, &ParseError{Field: "paymentInformation.transactionId", Msg: "missing or empty"}
	case info.Status == "":
		return nil, &ParseError{Field: "paymentInformation.status", Msg: "missing or empty; expected INITIAL, PAYED, FAILED or CANCELED"}
	case !info.Status.Valid():
		return nil, &ParseError{Field: "paymentInformation.status",
			Msg: fmt.Sprintf("%q is not one of INITIAL, PAYED, FAILED, CANCELED", truncate(string(info.Status), 40))}
	}
	return &Transaction{Request: raw.Request, Information: info}, nil
}

// ParseProblem reads an error answer; nil if it is not a problem document.
func ParseProblem(body []byte) *Problem {
	var p Problem
	if json.Unmarshal(body, &p) != nil || (p.Title == "" && p.Detail == "" && p.FunctionalCode == "" && p.Type == "") {
		return nil
	}
	return &p
}

// decodeError names the field and the position of a decoding error.
func decodeError(err error) error {
	var syntax *jsontext.SyntacticError
	var semantic *json.SemanticError
	switch {
	case errors.As(err, &syntax):
		return &ParseError{Field: jsonfield.Path(syntax.JSONPointer), Msg: fmt.Sprintf("not valid JSON at byte %d: %v", syntax.ByteOffset, syntax.Err)}
	case errors.As(err, &semantic):
		msg := "has the wrong type"
		if semantic.JSONKind != 0 {
			msg = "is " + jsonfield.KindName(semantic.JSONKind) + ", expected " + goKind(semantic.GoType)
		}
		if semantic.Err != nil {
			msg += ": " + semantic.Err.Error()
		}
		return &ParseError{Field: jsonfield.Path(semantic.JSONPointer), Msg: msg}
	}
	return &ParseError{Msg: err.Error()}
}

// goKind names the JSON kind a Go type is read from.
func goKind(t reflect.Type) string {
	if t == nil {
		return "another type"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Float64, reflect.Float32, reflect.Int, reflect.Int64:
		return "a number"
	case reflect.Bool:
		return "a boolean"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct, reflect.Map, reflect.Pointer:
		return "an object"
	}
	return "another type"
}

// truncate keeps the first n bytes of s (at a rune boundary) and marks the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }
