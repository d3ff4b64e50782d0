package config

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"
)

// FitConnect configures intake from FIT-Connect: amtsbote as a subscriber that fetches, decrypts,
// checks and accepts or rejects the submissions of its destinations (docs/fitconnect.md).
type FitConnect struct {
	// Enabled turns FIT-Connect intake on. Default: false (e.g. AMTSBOTE_FITCONNECT_ENABLED=true).
	Enabled bool `mapstructure:"enabled"`
	// Subscriptions are the API clients amtsbote uses, each with its destinations.
	Subscriptions []FitConnectSubscription `mapstructure:"subscriptions"`
}

// Secret is a value kept out of the configuration file: in an environment variable or a file.
type Secret struct {
	// Env names the environment variable that holds the secret.
	Env string `mapstructure:"env"`
	// File is a file that holds it (surrounding white space is dropped), relative to the config file.
	File string `mapstructure:"file"`
}

// FitConnectSubscription is one FIT-Connect API client (created in FITKO's self-service portal)
// and the destinations it picks up submissions for.
type FitConnectSubscription struct {
	// ID names the subscription: its submissions carry it as their portal (routes: match.portal).
	ID string `mapstructure:"id"`
	// APIURL is the Submission API's base URL, e.g.
	// https://submission-api-testing.fit-connect.fitko.dev (test environment).
	APIURL string `mapstructure:"api_url"`
	// APIVersion is the Submission API's version. Default and only one supported: v1.
	APIVersion string `mapstructure:"api_version"`
	// TokenURL is the OAuth token endpoint, e.g. https://auth-testing.fit-connect.fitko.dev/token.
	TokenURL string `mapstructure:"token_url"`
	// ClientID and ClientSecret are the API client's credentials.
	ClientID     string `mapstructure:"client_id"`
	ClientSecret Secret `mapstructure:"client_secret"`
	// Scope is sent with the token request if set (the self-service portal assigns the
	// destinations' subscribe scopes to the client; usually none is needed). Optional.
	Scope string `mapstructure:"scope"`
	// CallbackSecrets are the secrets FITKO signs callbacks with (HMAC-SHA512), several during a
	// rotation. Without any, callbacks are refused and only polling finds submissions.
	CallbackSecrets []Secret `mapstructure:"callback_secrets"`
	// PollInterval is how often the destinations are polled for waiting submissions (the
	// fallback to callbacks). Default: 1m.
	PollInterval time.Duration `mapstructure:"poll_interval"`
	// DecryptionKeys are private JWK files (RSA-OAEP-256, key_ops unwrapKey, 4096 bit): the key
	// ring; the key a submission was encrypted for is chosen by its kid. Keep the old key here
	// while submissions encrypted for it may still arrive.
	DecryptionKeys []string `mapstructure:"decryption_keys"`
	// SigningKey is the private JWK (PS512, key_ops sign, 4096 bit) decisions are signed with.
	SigningKey string `mapstructure:"signing_key"`
	// MetadataSchemas are the metadata JSON schemas accepted, one file per version (the version
	// a metadata document names in $schema, or 1.0.0 if it names none).
	MetadataSchemas []string `mapstructure:"metadata_schemas"`
	// DataSchemas are the data schemas accepted: the schemaUri a submission names, and the local
	// JSON Schema (.json) or XSD (.xsd) file its data is checked against.
	DataSchemas []FitConnectDataSchema `mapstructure:"data_schemas"`
	// Accept is when a submission is accepted: stored (as soon as amtsbote has stored it,
	// durably; default) or delivered (once every delivery of it succeeded).
	Accept string `mapstructure:"accept"`
	// MaxAttachments and MaxAttachmentBytes bound a submission: more attachments, or a larger
	// one (encrypted), and it is rejected. Defaults: 100 and 64 MiB.
	MaxAttachments     int   `mapstructure:"max_attachments"`
	MaxAttachmentBytes int64 `mapstructure:"max_attachment_bytes"`
	// Timeout bounds one API request. Default: 60s.
	Timeout time.Duration `mapstructure:"timeout"`
	// Retry is how fetching and sending a decision are retried when the delivery service or the
	// token endpoint fails. Default: every 10s at first, at most 15m apart, without end (FITKO
	// rejects a submission itself after 14 days).
	Retry Retry `mapstructure:"retry"`
	// Destinations are the destinations (Zustellpunkte) of this client.
	Destinations []FitConnectDestination `mapstructure:"destinations"`
}

// FitConnectDataSchema is one accepted data schema.
type FitConnectDataSchema struct {
	// URI is the schemaUri submissions name, e.g. a FIM data schema's URL.
	URI string `mapstructure:"uri"`
	// File is the local JSON Schema (.json) or XSD (.xsd), relative to the config file.
	File string `mapstructure:"file"`
}

// FitConnectDestination is one destination (Zustellpunkt).
type FitConnectDestination struct {
	// ID is the destination's id (a UUID).
	ID string `mapstructure:"id"`
	// AGS and ARS are the municipality's keys its submissions are routed with (8 and 12 digits).
	AGS string `mapstructure:"ags"`
	ARS string `mapstructure:"ars"`
	// Services maps services (LeiKa keys) to routes, for services whose route is not found by
	// the usual route matching. Optional.
	Services []FitConnectService `mapstructure:"services"`
}

// FitConnectService sends one service of a destination to one route.
type FitConnectService struct {
	// Leistung is the 14-digit LeiKa key, or its URN (urn:de:fim:leika:leistung:…).
	Leistung string `mapstructure:"leistung"`
	// Route is the id of the route its submissions take.
	Route string `mapstructure:"route"`
}

// Accept modes.
const (
	AcceptStored    = "stored"
	AcceptDelivered = "delivered"
)

// Value reads the secret.
func (s Secret) Value(c *Config) (string, error) {
	switch {
	case s.Env != "" && s.File != "":
		return "", fmt.Errorf("give env or file, not both")
	case s.Env != "":
		v, ok := os.LookupEnv(s.Env)
		if !ok || v == "" {
			return "", fmt.Errorf("environment variable %s is not set", s.Env)
		}
		return v, nil
	case s.File != "":
		b, err := os.ReadFile(c.Path(s.File))
		if err != nil {
			return "", err
		}
		v := strings.TrimSpace(string(b))
		if v == "" {
			return "", fmt.Errorf("%s is empty", s.File)
		}
		return v, nil
	}
	return "", fmt.Errorf("needs env (an environment variable) or file")
}

var (
	uuidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	leikaURN    = regexp.MustCompile(`^(urn:de:fim:leika:leistung:)?[0-9]{14}$`)
	digits      = regexp.MustCompile(`^[0-9]+$`)
)

func (f *FitConnect) setDefaults() {
	for i := range f.Subscriptions {
		s := &f.Subscriptions[i]
		if s.APIVersion == "" {
			s.APIVersion = "v1"
		}
		if s.PollInterval == 0 {
			s.PollInterval = time.Minute
		}
		if s.Accept == "" {
			s.Accept = AcceptStored
		}
		if s.MaxAttachments == 0 {
			s.MaxAttachments = 100
		}
		if s.MaxAttachmentBytes == 0 {
			s.MaxAttachmentBytes = 64 << 20
		}
		if s.Timeout == 0 {
			s.Timeout = time.Minute
		}
		r := &s.Retry
		if r.MaxAttempts == 0 {
			r.MaxAttempts = 1 << 30 // until FITKO gives up on the submission
		}
		if r.InitialInterval == 0 {
			r.InitialInterval = 10 * time.Second
		}
		if r.MaxInterval == 0 {
			r.MaxInterval = 15 * time.Minute
		}
		if r.MaxAge == 0 {
			r.MaxAge = 14 * 24 * time.Hour
		}
		r.setDefaults()
	}
}

// validate checks what can be checked without reading keys and schemas (package fitconnect
// checks those); bad reports a problem with its key.
func (f *FitConnect) validate(c *Config, bad func(key, format string, args ...any), unique func(key, kind, id string)) {
	if f.Enabled && len(f.Subscriptions) == 0 {
		bad("fitconnect.subscriptions", "fitconnect.enabled needs at least one subscription")
	}
	destinations := map[string]string{}
	for i, s := range f.Subscriptions {
		key := fmt.Sprintf("fitconnect.subscriptions[%d]", i)
		if s.ID != "" && !idPattern.MatchString(s.ID) {
			bad(key+".id", "%q must match %s", s.ID, idPattern)
		}
		unique(key, "portal", s.ID) // its submissions carry it as their portal
		checkAPIURL(bad, key+".api_url", s.APIURL)
		checkAPIURL(bad, key+".token_url", s.TokenURL)
		if s.APIVersion != "v1" {
			bad(key+".api_version", "%q is not supported; amtsbote speaks the Submission API v1", s.APIVersion)
		}
		if s.ClientID == "" {
			bad(key+".client_id", "must be the API client's id (FITKO self-service portal)")
		}
		if _, err := s.ClientSecret.Value(c); err != nil {
			bad(key+".client_secret", "%v", err)
		}
		for j, cs := range s.CallbackSecrets {
			v, err := cs.Value(c)
			if err == nil && (len(v) < 32 || len(v) > 512) {
				err = fmt.Errorf("a callback secret has 32 to 512 characters (FIT-Connect), this one %d", len(v))
			}
			if err != nil {
				bad(fmt.Sprintf("%s.callback_secrets[%d]", key, j), "%v", err)
			}
		}
		if s.PollInterval < 100*time.Millisecond {
			bad(key+".poll_interval", "must be at least 100ms (1m is usual: callbacks announce new submissions at once)")
		}
		if len(s.DecryptionKeys) == 0 {
			bad(key+".decryption_keys", "needs at least one private decryption key (JWK file)")
		}
		if s.SigningKey == "" {
			bad(key+".signing_key", "needs the private signing key (JWK file) decisions are signed with")
		}
		if len(s.MetadataSchemas) == 0 {
			bad(key+".metadata_schemas", "needs at least one metadata schema file (e.g. metadata.schema.v1.0.0.json)")
		}
		if len(s.DataSchemas) == 0 {
			bad(key+".data_schemas", "needs at least one data schema (uri and file) the destinations accept")
		}
		uris := map[string]bool{}
		for j, d := range s.DataSchemas {
			dk := fmt.Sprintf("%s.data_schemas[%d]", key, j)
			if u, err := url.Parse(d.URI); err != nil || u.Scheme == "" {
				bad(dk+".uri", "%q must be an absolute URI (the schemaUri submissions name)", d.URI)
			}
			if uris[d.URI] {
				bad(dk+".uri", "%q is listed twice", d.URI)
			}
			uris[d.URI] = true
			if lower := strings.ToLower(d.File); !strings.HasSuffix(lower, ".json") && !strings.HasSuffix(lower, ".xsd") {
				bad(dk+".file", "%q must be a JSON Schema (.json) or an XSD (.xsd)", d.File)
			}
		}
		switch s.Accept {
		case AcceptStored, AcceptDelivered:
		default:
			bad(key+".accept", "%q: expected stored or delivered", s.Accept)
		}
		if s.MaxAttachments < 0 || s.MaxAttachmentBytes <= 0 || s.Timeout <= 0 {
			bad(key, "max_attachments must not be negative, max_attachment_bytes and timeout must be positive")
		}
		r := s.Retry
		if r.InitialInterval <= 0 || r.MaxInterval < r.InitialInterval || r.Multiplier < 1 {
			bad(key+".retry", "needs initial_interval > 0, max_interval >= initial_interval, multiplier >= 1")
		}
		if len(s.Destinations) == 0 {
			bad(key+".destinations", "needs at least one destination")
		}
		for j, d := range s.Destinations {
			dk := fmt.Sprintf("%s.destinations[%d]", key, j)
			if !uuidPattern.MatchString(d.ID) {
				bad(dk+".id", "%q must be the destination's id, a UUID", d.ID)
			} else if first, dup := destinations[strings.ToLower(d.ID)]; dup {
				bad(dk+".id", "destination %s is already configured at %s", d.ID, first)
			}
			destinations[strings.ToLower(d.ID)] = dk
			if len(d.AGS) != 8 || !digits.MatchString(d.AGS) {
				bad(dk+".ags", "must be the 8-digit Amtlicher Gemeindeschlüssel its submissions are routed with, got %q", d.AGS)
			}
			if d.ARS != "" && (len(d.ARS) != 12 || !digits.MatchString(d.ARS)) {
				bad(dk+".ars", "must be the 12-digit Amtlicher Regionalschlüssel when given, got %q", d.ARS)
			}
			for k, sv := range d.Services {
				if !leikaURN.MatchString(sv.Leistung) {
					bad(fmt.Sprintf("%s.services[%d].leistung", dk, k), "%q must be a 14-digit LeiKa key or its URN", sv.Leistung)
				}
				if sv.Route == "" {
					bad(fmt.Sprintf("%s.services[%d].route", dk, k), "must name a route")
				}
			}
		}
	}
}

// checkAPIURL refuses what is not an http(s) URL, and plain http to anything but loopback: the
// token request carries the client secret.
func checkAPIURL(bad func(key, format string, args ...any), key, raw string) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		bad(key, "%q is not an https URL", raw)
		return
	}
	if u.Scheme == "http" && !Loopback(u.Hostname()) {
		bad(key, "%q: plain http is allowed only to loopback (a local simulator); use https", raw)
	}
}

// Loopback reports whether a host name is a loopback address or localhost.
func Loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Subscription returns the FIT-Connect subscription with the given id.
func (f *FitConnect) Subscription(id string) (FitConnectSubscription, bool) {
	for _, s := range f.Subscriptions {
		if s.ID == id {
			return s, true
		}
	}
	return FitConnectSubscription{}, false
}
