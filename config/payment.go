package config

import (
	"fmt"
	"regexp"
	"time"
)

// Payment configures the E-Payment platforms (XBezahldienste) whose payments hold submissions
// until paid: a route with payment.required waits for its submission's payment before it maps
// and delivers (docs/payment.md).
type Payment struct {
	// Providers are the payment platforms amtsbote reads transactions from.
	Providers []PaymentProvider `mapstructure:"providers"`
}

// PaymentProvider is one E-Payment platform's XBezahldienste interface, for one originator
// (the online service) and endpoint (the authority) it may read.
type PaymentProvider struct {
	// ID names the provider in routes (payment.provider) and submissions (payment.provider).
	ID string `mapstructure:"id"`
	// APIURL is the base URL of the XBezahldienste interface, up to and without
	// /paymenttransaction, e.g. https://epay.example/xbezahldienste/api/v1.0.0.
	APIURL string `mapstructure:"api_url"`
	// OriginatorID is the originatorId of the path (the online service that started the
	// payment); EndpointID the endPointId (the authority, often its AGS). Both 1–36 characters
	// of letters, digits, _ and -.
	OriginatorID string `mapstructure:"originator_id"`
	EndpointID   string `mapstructure:"endpoint_id"`
	// Auth is how amtsbote authenticates to the platform.
	Auth PaymentAuth `mapstructure:"auth"`
	// ClientCertFile and ClientKeyFile are a PEM client certificate and key for mutual TLS
	// (some platforms authenticate by certificate alone). Optional; relative to the config file.
	ClientCertFile string `mapstructure:"client_cert_file"`
	ClientKeyFile  string `mapstructure:"client_key_file"`
	// CAFile is a PEM file of the CAs the platform's certificate is checked against, instead of
	// the system's. Optional; relative to the config file.
	CAFile string `mapstructure:"ca_file"`
	// Timeout bounds one request (and the token request). Default: 30s.
	Timeout time.Duration `mapstructure:"timeout"`
	// Poll is how often a held submission's payment is read again while it is not paid.
	// Default: after 1m, doubling, at most every 15m.
	Poll PaymentPoll `mapstructure:"poll"`
	// HoldTimeout is how long a submission waits for its payment before it is payment_failed.
	// Default: 72h.
	HoldTimeout time.Duration `mapstructure:"hold_timeout"`
	// CallbackSecrets are the secrets the platform signs its notifications to
	// /v1/payments/<id>/callback with (HMAC-SHA256, at least 32 characters), several during a
	// rotation. Without any, notifications are refused and polling finds every payment.
	CallbackSecrets []Secret `mapstructure:"callback_secrets"`
}

// PaymentAuth is a payment platform's authentication.
type PaymentAuth struct {
	// Type is basic (HTTP Basic with username and password), oauth2 (an OAuth 2.0 client
	// credentials token from token_url, sent as a bearer token) or none (mutual TLS alone, or
	// a platform reachable only from the authority's network).
	Type string `mapstructure:"type"`
	// Username and Password are the Basic credentials (type basic).
	Username string `mapstructure:"username"`
	Password Secret `mapstructure:"password"`
	// TokenURL, ClientID, ClientSecret and Scope are the OAuth client credentials (type oauth2);
	// Scope is optional.
	TokenURL     string `mapstructure:"token_url"`
	ClientID     string `mapstructure:"client_id"`
	ClientSecret Secret `mapstructure:"client_secret"`
	Scope        string `mapstructure:"scope"`
}

// PaymentPoll is the backoff of reading an unpaid transaction again.
type PaymentPoll struct {
	// InitialInterval is the wait after the first check. Default: 1m.
	InitialInterval time.Duration `mapstructure:"initial_interval"`
	// MaxInterval caps the wait. Default: 15m.
	MaxInterval time.Duration `mapstructure:"max_interval"`
	// Multiplier grows the wait after each check. Default: 2.
	Multiplier float64 `mapstructure:"multiplier"`
}

// Payment authentication types.
const (
	PaymentAuthBasic  = "basic"
	PaymentAuthOAuth2 = "oauth2"
	PaymentAuthNone   = "none"
)

// xbezahlID is what XBezahldienste allows in originatorId, endPointId and transactionId
// (^[\w\d-]+$, at most 36 characters).
var xbezahlID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,36}$`)

// Provider returns the payment provider with the given id.
func (p *Payment) Provider(id string) (PaymentProvider, bool) {
	for _, pp := range p.Providers {
		if pp.ID == id {
			return pp, true
		}
	}
	return PaymentProvider{}, false
}

func (p *Payment) setDefaults() {
	for i := range p.Providers {
		pp := &p.Providers[i]
		if pp.Timeout == 0 {
			pp.Timeout = 30 * time.Second
		}
		if pp.Poll.InitialInterval == 0 {
			pp.Poll.InitialInterval = time.Minute
		}
		if pp.Poll.MaxInterval == 0 {
			pp.Poll.MaxInterval = max(15*time.Minute, pp.Poll.InitialInterval)
		}
		if pp.Poll.Multiplier == 0 {
			pp.Poll.Multiplier = 2
		}
		if pp.HoldTimeout == 0 {
			pp.HoldTimeout = 72 * time.Hour
		}
	}
}

// validate checks what can be checked without reading certificates (package payment does);
// secrets are read, so that a missing one stops the start with its key.
func (p *Payment) validate(c *Config, bad func(key, format string, args ...any), unique func(key, kind, id string)) {
	for i, pp := range p.Providers {
		key := fmt.Sprintf("payment.providers[%d]", i)
		if pp.ID != "" && !idPattern.MatchString(pp.ID) {
			bad(key+".id", "%q must match %s", pp.ID, idPattern)
		}
		unique(key, "payment provider", pp.ID)
		checkAPIURL(bad, key+".api_url", pp.APIURL)
		if !xbezahlID.MatchString(pp.OriginatorID) {
			bad(key+".originator_id", "%q must be the originatorId the platform gave: 1 to 36 letters, digits, _ or -", pp.OriginatorID)
		}
		if !xbezahlID.MatchString(pp.EndpointID) {
			bad(key+".endpoint_id", "%q must be the endPointId the platform gave: 1 to 36 letters, digits, _ or -", pp.EndpointID)
		}
		a := pp.Auth
		switch a.Type {
		case PaymentAuthBasic:
			if a.Username == "" {
				bad(key+".auth.username", "auth type basic needs the username")
			}
			if _, err := a.Password.Value(c); err != nil {
				bad(key+".auth.password", "%v", err)
			}
		case PaymentAuthOAuth2:
			checkAPIURL(bad, key+".auth.token_url", a.TokenURL)
			if a.ClientID == "" {
				bad(key+".auth.client_id", "auth type oauth2 needs the client_id")
			}
			if _, err := a.ClientSecret.Value(c); err != nil {
				bad(key+".auth.client_secret", "%v", err)
			}
		case PaymentAuthNone:
		default:
			bad(key+".auth.type", "%q: expected basic, oauth2 or none", a.Type)
		}
		if a.Type != PaymentAuthBasic && (a.Username != "" || a.Password != (Secret{})) {
			bad(key+".auth", "username and password belong to auth type basic")
		}
		if a.Type != PaymentAuthOAuth2 && (a.TokenURL != "" || a.ClientID != "" || a.ClientSecret != (Secret{}) || a.Scope != "") {
			bad(key+".auth", "token_url, client_id, client_secret and scope belong to auth type oauth2")
		}
		if (pp.ClientCertFile == "") != (pp.ClientKeyFile == "") {
			bad(key+".client_cert_file", "client_cert_file and client_key_file go together")
		}
		if pp.Timeout <= 0 {
			bad(key+".timeout", "must be positive")
		}
		if r := pp.Poll; r.InitialInterval <= 0 || r.MaxInterval < r.InitialInterval || r.Multiplier < 1 {
			bad(key+".poll", "needs initial_interval > 0, max_interval >= initial_interval, multiplier >= 1")
		}
		if pp.HoldTimeout <= 0 {
			bad(key+".hold_timeout", "must be positive")
		}
		for j, cs := range pp.CallbackSecrets {
			v, err := cs.Value(c)
			if err == nil && len(v) < 32 {
				err = fmt.Errorf("a callback secret has at least 32 characters, this one %d", len(v))
			}
			if err != nil {
				bad(fmt.Sprintf("%s.callback_secrets[%d]", key, j), "%v", err)
			}
		}
	}
}
