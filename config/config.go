package config

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/viper"
	"go.yaml.in/yaml/v3"

	"github.com/amtsbote/amtsbote/schedule"
	"github.com/amtsbote/amtsbote/xoev"
	"github.com/amtsbote/amtsbote/yamlfile"
)

// DefaultFile is the configuration used when none is given: the demo in fixtures/.
const DefaultFile = "fixtures/demo/amtsbote.yaml"

// EnvPrefix prefixes the environment variables that override configuration keys.
const EnvPrefix = "AMTSBOTE"

// Config is the whole configuration of one amtsbote process.
type Config struct {
	// Server is the inbound HTTP API.
	Server Server `mapstructure:"server"`
	// Admin is the admin API.
	Admin Admin `mapstructure:"admin"`
	// Receipts is the inbox for answers of receiving systems.
	Receipts Receipts `mapstructure:"receipts"`
	// Replies is the return channel: replies of Fachverfahren back to the applicant.
	Replies Replies `mapstructure:"replies"`
	// Retention deletes personal data on schedule.
	Retention Retention `mapstructure:"retention"`
	// Tracing exports OpenTelemetry spans.
	Tracing Tracing `mapstructure:"tracing"`
	// Storage is where submissions and queues live.
	Storage Storage `mapstructure:"storage"`
	// Pipeline tunes the processing stages.
	Pipeline Pipeline `mapstructure:"pipeline"`
	// Log sets the log output.
	Log Log `mapstructure:"log"`
	// Sender is the authority that sends the XÖV messages (the Absender in the message header).
	Sender xoev.Authority `mapstructure:"sender"`
	// Product names the sending system in message headers (Basisnachricht produkt,
	// produkthersteller, produktversion). Default: amtsbote, by amtsbote, in the build's version.
	Product xoev.Product `mapstructure:"product"`
	// Portals may post submissions.
	Portals []Portal `mapstructure:"portals"`
	// Schemas are the XÖV schema sets messages are validated against.
	Schemas []SchemaSet `mapstructure:"schemas"`
	// Destinations are where messages are delivered.
	Destinations []Destination `mapstructure:"destinations"`
	// FitConnect receives submissions from FIT-Connect. Optional.
	FitConnect FitConnect `mapstructure:"fitconnect"`
	// Payment holds submissions until they are paid (XBezahldienste). Optional.
	Payment Payment `mapstructure:"payment"`
	// XTA receives messages from XTA 2 mailboxes. Optional.
	XTA XTA `mapstructure:"xta"`
	// RoutesFile holds the routes, relative to this file. Default: routes.yaml.
	RoutesFile string `mapstructure:"routes_file"`
	// TimeZone is the zone of the wall clock every schedule (windows, batches, retention and
	// receipts jobs) reads, an IANA name. Default: Europe/Berlin, whatever the process's TZ.
	TimeZone string `mapstructure:"time_zone"`

	// File is the path the configuration was read from.
	File string `mapstructure:"-"`
}

// Server configures the inbound HTTP listener.
type Server struct {
	// Listen is the address of the inbound API. Default: 127.0.0.1:8080.
	Listen string `mapstructure:"listen"`
	// MaxBodyBytes limits a request body; larger requests get 413. Default: 32 MiB.
	MaxBodyBytes int64 `mapstructure:"max_body_bytes"`
	// ReadHeaderTimeout bounds slow clients. Default: 10s.
	ReadHeaderTimeout time.Duration `mapstructure:"read_header_timeout"`
	// ShutdownTimeout is how long in-flight work may take after SIGTERM. Default: 30s.
	ShutdownTimeout time.Duration `mapstructure:"shutdown_timeout"`
	// ReadTimeout bounds reading a whole request (slow uploads). Default: 2m.
	ReadTimeout time.Duration `mapstructure:"read_timeout"`
	// IdleTimeout closes idle keep-alive connections. Default: 2m.
	IdleTimeout time.Duration `mapstructure:"idle_timeout"`
	// MaxAttachments limits the attachments of one submission. Default: 20.
	MaxAttachments int `mapstructure:"max_attachments"`
	// MaxAttachmentBytes limits one attachment (decoded). Default: 20 MiB.
	MaxAttachmentBytes int64 `mapstructure:"max_attachment_bytes"`
	// MaxJSONDepth limits the nesting of the request body. Default: 32.
	MaxJSONDepth int `mapstructure:"max_json_depth"`
	// RatePerSecond is the requests per second one portal may send; 0 turns the limit off.
	// Default: 50.
	RatePerSecond float64 `mapstructure:"rate_per_second"`
	// RateBurst is how many requests a portal may send at once above the rate. Default: 100.
	RateBurst int `mapstructure:"rate_burst"`
	// TLSCertFile and TLSKeyFile make the inbound API speak HTTPS. Default: plain HTTP (put a
	// TLS-terminating proxy in front, or set these).
	TLSCertFile string `mapstructure:"tls_cert_file"`
	TLSKeyFile  string `mapstructure:"tls_key_file"`
	// ClientCAFile lets portals authenticate with client certificates issued by these CAs
	// (mutual TLS; portals[].client_cert_cn). Requires TLS. Default: off.
	ClientCAFile string `mapstructure:"client_ca_file"`
	// SpoolDir receives large multipart uploads while they are read, each process in a locked
	// subdirectory of its own; what stopped processes left is removed at start. Default: spool/
	// in storage.data_dir.
	SpoolDir string `mapstructure:"spool_dir"`
}

// SpoolDirectory is server.spool_dir, or spool/ in storage.data_dir.
func (c *Config) SpoolDirectory() string {
	if c.Server.SpoolDir != "" {
		return c.Server.SpoolDir
	}
	return filepath.Join(c.Storage.DataDir, "spool")
}

// Storage configures the store.
type Storage struct {
	// Driver selects the backend: sqlite (default; one process, embedded) or postgres (several
	// instances share one database).
	Driver string `mapstructure:"driver"`
	// DataDir holds the SQLite file, relative to the working directory. Default: var/amtsbote.
	DataDir string `mapstructure:"data_dir"`
	// DSN is the PostgreSQL connection string (driver postgres), e.g.
	// postgres://amtsbote@db.example:5432/amtsbote?sslmode=verify-full. Keep the password out
	// of the file: set AMTSBOTE_STORAGE_DSN, or use PGPASSWORD / a .pgpass file.
	DSN string `mapstructure:"dsn"`
	// MaxConnections bounds this instance's PostgreSQL connections. Default 0: twice the
	// pipeline's handlers plus 16 for intake and tools.
	MaxConnections int `mapstructure:"max_connections"`
}

// Pipeline tunes the processing stages.
type Pipeline struct {
	// PollInterval is how often an idle stage looks for new work. Default: 100ms.
	PollInterval time.Duration `mapstructure:"poll_interval"`
	// HandlerAttempts is how often a stage retries a message whose handling fails with an
	// internal error before it marks the submission failed (poison message). Default: 5.
	HandlerAttempts int `mapstructure:"handler_attempts"`
	// ProcessWorkers is how many submissions are mapped and validated at once. Default 0: one
	// per Go processor (GOMAXPROCS; amtsbote serve runs one more than the CPU cores).
	ProcessWorkers int `mapstructure:"process_workers"`
	// IntakeBurst is how many submissions being handed in at once make a burst, during which
	// the stages' handlers take turns, one at a time, so intake answers first. Default 4;
	// 0 turns it off.
	IntakeBurst int `mapstructure:"intake_burst"`
	// CallbackRetry is how portal callbacks are retried. Default: 30 attempts within 24h,
	// starting at 10s, at most 30m apart.
	CallbackRetry Retry `mapstructure:"callback_retry"`
}

// Log configures logging.
type Log struct {
	// Level is debug, info, warn or error. Default: info.
	Level string `mapstructure:"level"`
	// Format is text or json. Default: text.
	Format string `mapstructure:"format"`
}

// Portal is a client allowed to post submissions.
type Portal struct {
	// ID names the portal in logs and in the store.
	ID string `mapstructure:"id"`
	// TokenSHA256 is the hex SHA-256 of the portal's bearer token; the token itself is never stored.
	TokenSHA256 string `mapstructure:"token_sha256"`
	// Routes limits the portal to these route ids; empty: any route.
	Routes []string `mapstructure:"routes"`
	// ClientCertCN lets the portal authenticate with a client certificate (server.client_ca_file)
	// whose subject common name is this, instead of a bearer token. Optional.
	ClientCertCN string `mapstructure:"client_cert_cn"`
	// CallbackURL receives every status change of the portal's submissions as a signed POST.
	// Optional.
	CallbackURL string `mapstructure:"callback_url"`
	// CallbackSecretFile holds the HMAC secret callbacks are signed with (at least 16 bytes).
	CallbackSecretFile string `mapstructure:"callback_secret_file"`
	// CallbackSecret is the secret itself, for tests and demos; prefer CallbackSecretFile.
	CallbackSecret string `mapstructure:"callback_secret"`
	// Postbox says the portal keeps a postbox for its applicants: replies of Fachverfahren to
	// its submissions can reach the applicant there (a signed reply event to callback_url, the
	// reply itself from GET /v1/submissions/{id}/replies). Default: false.
	Postbox bool `mapstructure:"postbox"`
}

// MayUse applies the portal's allow-list of routes: any route when it lists none.
func (p Portal) MayUse(routeID string) bool {
	return len(p.Routes) == 0 || slices.Contains(p.Routes, routeID)
}

// Secret returns the portal's callback secret.
func (p Portal) Secret() ([]byte, error) {
	if p.CallbackSecretFile != "" {
		b, err := os.ReadFile(p.CallbackSecretFile)
		if err != nil {
			return nil, err
		}
		return []byte(strings.TrimSpace(string(b))), nil
	}
	return []byte(p.CallbackSecret), nil
}

// SchemaSet is one XÖV standard in one version.
type SchemaSet struct {
	// ID names the set in routes, e.g. xdomea-3.0.0.
	ID string `mapstructure:"id"`
	// Root is the XSD that includes the rest, relative to the config file.
	Root string `mapstructure:"root"`
	// Namespaces are the target namespaces of the set's messages; `amtsbote validate` picks the
	// set by the root element's namespace.
	Namespaces []string `mapstructure:"namespaces"`
	// Catalog is an OASIS XML catalog, relative to the config file, that maps the absolute
	// schemaLocation URLs of the set to local files. Optional when all imports are relative.
	Catalog string `mapstructure:"catalog"`
	// CodeLists are directories of genericode code lists, relative to the config file: one, or
	// a list (the standard's own lists and others its messages use, e.g. the DVDV's). Optional;
	// when set, codes in messages are checked against their lists.
	CodeLists []string `mapstructure:"code_lists"`
	// Standard and Version name the XÖV standard of the set as messages built on the
	// Basisnachricht G2G write it (standard, version attributes), e.g. XBerufsbildung and 0.6.
	// Optional; a route's target can override them.
	Standard string `mapstructure:"standard"`
	Version  string `mapstructure:"version"`
}

// Destination is a receiving system and the adapter that reaches it.
type Destination struct {
	// ID names the destination in routes and status answers ([a-z0-9][a-z0-9_-]*).
	ID string `mapstructure:"id"`
	// Type selects the adapter, e.g. filedrop.
	Type string `mapstructure:"type"`
	// Options configure the adapter; each adapter documents its keys.
	Options map[string]any `mapstructure:"options"`
	// Retry is how failed deliveries are retried.
	Retry Retry `mapstructure:"retry"`
	// MaxInFlight is how many deliveries to this destination may run at once. Default: 1.
	MaxInFlight int `mapstructure:"max_in_flight"`
	// Window restricts deliveries to the minutes a cron expression (minute hour day month
	// weekday) matches, e.g. "* 22-23,0-5 * * *" for 22:00–05:59. Default: any time.
	Window string `mapstructure:"window"`
	// Batch holds deliveries until the times of a cron expression, e.g. "0 2 * * *": messages
	// collect during the day and go out together at 02:00. Default: at once.
	Batch string `mapstructure:"batch"`
	// Breaker stops trying a destination that keeps failing, sparing it and the queue.
	Breaker Breaker `mapstructure:"breaker"`
	// ReplyTokenSHA256 is the hex SHA-256 of the bearer token with which this destination (a
	// Fachverfahren) hands in replies (POST /v1/replies). Empty: it cannot reply over HTTP.
	ReplyTokenSHA256 string `mapstructure:"reply_token_sha256"`
}

// Breaker is a destination's circuit breaker.
type Breaker struct {
	// Failures is how many consecutive transient failures open the circuit. Default: 5.
	Failures int `mapstructure:"failures"`
	// Pause is how long an open circuit stays open before one delivery tries again. Default: 1m.
	Pause time.Duration `mapstructure:"pause"`
}

// Tracing configures OpenTelemetry export.
type Tracing struct {
	// OTLPEndpoint is host:port of an OTLP/HTTP receiver (an OpenTelemetry Collector, Jaeger,
	// Tempo …), e.g. 127.0.0.1:4318. Empty: tracing is off.
	OTLPEndpoint string `mapstructure:"otlp_endpoint"`
	// Insecure sends without TLS (a collector on the same host). Default: false.
	Insecure bool `mapstructure:"insecure"`
}

// Retention configures when personal data is deleted (DSGVO). Metadata, history and the
// audit trail stay.
type Retention struct {
	// Schedule is when the purge runs (cron or @every). Default: @every 1h.
	Schedule string `mapstructure:"schedule"`
	// Payloads is how long form data, attachments and messages of finished submissions
	// (delivered, acknowledged, rejected, failed; decided or closed by a reply) are kept. Routes
	// may set their own. Default: 720h.
	Payloads time.Duration `mapstructure:"payloads"`
	// DeadLetters is how long dead submissions keep their data for a replay. Default: 2160h.
	DeadLetters time.Duration `mapstructure:"dead_letters"`
}

// Receipts configures the receipts inbox.
type Receipts struct {
	// Directory is the inbox receiving systems drop their answers into (or an SFTP download
	// lands in), relative to the working directory. Empty: receipts are off.
	Directory string `mapstructure:"directory"`
	// Schedule is when the inbox is read, a cron expression or "@every 1m". Default: @every 30s.
	Schedule string `mapstructure:"schedule"`
	// SFTP, when set, fetches receipts from a directory on an SFTP server into Directory before
	// each read; the options are those of the sftp adapter (see docs/adapters.md).
	SFTP map[string]any `mapstructure:"sftp"`
}

// Admin configures the admin API (dead letters, replay).
type Admin struct {
	// Listen is the admin API's address; keep it on loopback or an admin network. Default:
	// 127.0.0.1:8081.
	Listen string `mapstructure:"listen"`
	// TokenSHA256 is the hex SHA-256 of the admin bearer token. Without it the admin API is off.
	// It acts as the user "admin" with the role operator.
	TokenSHA256 string `mapstructure:"token_sha256"`
	// Users sign in to the operator console and use the admin API with tokens of their own; the
	// audit trail names them.
	Users []AdminUser `mapstructure:"users"`
	// SessionIdle ends a console session after this long without a request. Default: 30m.
	SessionIdle time.Duration `mapstructure:"session_idle"`
	// SessionMaxAge ends a console session this long after sign-in, however busy. Default: 8h.
	SessionMaxAge time.Duration `mapstructure:"session_max_age"`
}

// Roles of admin users.
const (
	// RoleViewer reads: the overview, submissions, dead letters, configuration, the mapping
	// playground and the audit trail.
	RoleViewer = "viewer"
	// RoleOperator also acts: replays dead letters and dead replies, reprocesses failed
	// submissions.
	RoleOperator = "operator"
)

// AdminUser is a person (or a tool) with a token of their own for the console and the admin API.
type AdminUser struct {
	// Name names the user in the console and the audit trail: lower-case letters, digits, '.',
	// '_' and '-', up to 64.
	Name string `mapstructure:"name"`
	// Role is viewer or operator.
	Role string `mapstructure:"role"`
	// TokenSHA256 is the hex SHA-256 of the user's token (sha256sum of the token without newline).
	TokenSHA256 string `mapstructure:"token_sha256"`
}

// AdminUsers are the users with tokens: the configured users and, with admin.token_sha256, the
// user "admin" (operator).
func (a Admin) AdminUsers() []AdminUser {
	users := slices.Clone(a.Users)
	if a.TokenSHA256 != "" {
		users = append(users, AdminUser{Name: "admin", Role: RoleOperator, TokenSHA256: a.TokenSHA256})
	}
	return users
}

// Retry is a redelivery policy: exponential backoff with jitter, until MaxAttempts or MaxAge.
type Retry struct {
	// MaxAttempts ends retrying after this many attempts. Default: 50.
	MaxAttempts int `mapstructure:"max_attempts"`
	// InitialInterval is the wait after the first failure. Default: 10s.
	InitialInterval time.Duration `mapstructure:"initial_interval"`
	// MaxInterval caps the wait between attempts. Default: 1h.
	MaxInterval time.Duration `mapstructure:"max_interval"`
	// Multiplier grows the wait after each failure. Default: 2.
	Multiplier float64 `mapstructure:"multiplier"`
	// MaxAge ends retrying this long after the first attempt. Default: 72h.
	MaxAge time.Duration `mapstructure:"max_age"`
}

// scalarDefaults are registered with viper so that environment variables can override them even
// where the file leaves them out.
var scalarDefaults = map[string]any{
	"server.listen":               "127.0.0.1:8080",
	"server.max_body_bytes":       int64(32 << 20),
	"server.read_header_timeout":  "10s",
	"server.shutdown_timeout":     "30s",
	"server.read_timeout":         "2m",
	"server.idle_timeout":         "2m",
	"server.max_attachments":      20,
	"server.max_attachment_bytes": int64(20 << 20),
	"server.max_json_depth":       32,
	"server.rate_per_second":      50.0,
	"server.rate_burst":           100,
	"server.tls_cert_file":        "",
	"server.tls_key_file":         "",
	"server.client_ca_file":       "",
	"storage.driver":              "sqlite",
	"storage.data_dir":            "var/amtsbote",
	"storage.dsn":                 "",
	"storage.max_connections":     0,
	"pipeline.process_workers":    0,
	"pipeline.poll_interval":      "100ms",
	"pipeline.handler_attempts":   5,
	"pipeline.intake_burst":       4,
	"log.level":                   "info",
	"time_zone":                   schedule.DefaultZone,
	"log.format":                  "text",
	"sender.kennung":              "",
	"sender.praefix":              "",
	"sender.name":                 "",
	"routes_file":                 "routes.yaml",
	"admin.listen":                "127.0.0.1:8081",
	"admin.token_sha256":          "",
	"admin.session_idle":          30 * time.Minute,
	"admin.session_max_age":       8 * time.Hour,
	"receipts.directory":          "",
	"receipts.schedule":           "@every 30s",
	"tracing.otlp_endpoint":       "",
	"tracing.insecure":            false,
	"retention.schedule":          "@every 1h",
	"retention.payloads":          "720h",
	"retention.dead_letters":      "2160h",
}

// Load reads the configuration file, applies environment overrides and validates the result.
func Load(file string) (*Config, error) {
	v := viper.New()
	v.SetConfigFile(file)
	v.SetConfigType("yaml")
	v.SetEnvPrefix(EnvPrefix)
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
	v.AutomaticEnv()
	registerKeys(v, reflect.TypeOf(Config{}), "")
	for k, val := range scalarDefaults {
		v.SetDefault(k, val)
	}
	// A syntax error is named with file:line:column before viper reads the file (it would say
	// only "yaml: line N").
	if raw, err := os.ReadFile(file); err == nil {
		var doc map[string]any
		if err := yaml.Unmarshal(raw, &doc); err != nil {
			return nil, yamlfile.Describe(file, raw, err)
		}
	}
	if err := v.ReadInConfig(); err != nil {
		return nil, fmt.Errorf("read config %s: %w", file, err)
	}
	var cfg Config
	if err := v.UnmarshalExact(&cfg, viper.DecodeHook(mapstructure.ComposeDecodeHookFunc(
		mapstructure.StringToTimeDurationHookFunc(),
		mapstructure.StringToSliceHookFunc(","),
	))); err != nil {
		return nil, fmt.Errorf("config %s: %s", file, describeDecodeError(err))
	}
	cfg.File = file
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("config %s:\n%w", file, err)
	}
	return &cfg, nil
}

// registerKeys makes viper know every scalar key (with its zero value), so that an environment
// variable can set any of them even where neither the file nor scalarDefaults mentions it.
func registerKeys(v *viper.Viper, t reflect.Type, prefix string) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := strings.Split(f.Tag.Get("mapstructure"), ",")[0]
		if tag == "" || tag == "-" {
			continue
		}
		key := prefix + tag
		switch ft := f.Type; {
		case ft == reflect.TypeOf(time.Duration(0)):
			v.SetDefault(key, "0s")
		case ft.Kind() == reflect.Struct:
			registerKeys(v, ft, key+".")
		case ft.Kind() == reflect.Slice || ft.Kind() == reflect.Map || ft.Kind() == reflect.Pointer:
			// lists and maps come from the file only
		default:
			v.SetDefault(key, reflect.Zero(ft).Interface())
		}
	}
}

// describeDecodeError turns mapstructure's wording into one that names the offending keys.
func describeDecodeError(err error) string {
	msg := err.Error()
	msg = strings.ReplaceAll(msg, "has invalid keys:", "has unknown keys:")
	msg = strings.ReplaceAll(msg, "decoding failed due to the following error(s):\n\n", "")
	return msg + " (see docs/configuration.md for the keys)"
}

func (c *Config) setDefaults() {
	r := &c.Pipeline.CallbackRetry
	if *r == (Retry{}) {
		*r = Retry{MaxAttempts: 30, InitialInterval: 10 * time.Second, MaxInterval: 30 * time.Minute, MaxAge: 24 * time.Hour}
	}
	r.setDefaults()
	c.FitConnect.setDefaults()
	c.Payment.setDefaults()
	if c.Replies.MaxDocumentBytes == 0 {
		c.Replies.MaxDocumentBytes = 20 << 20
	}
	if c.Replies.MaxDocuments == 0 {
		c.Replies.MaxDocuments = 20
	}
	c.Replies.setDeliveryDefaults()
	c.XTA.setDefaults()
	for i := range c.Destinations {
		d := &c.Destinations[i]
		d.Retry.setDefaults()
		if d.MaxInFlight == 0 {
			d.MaxInFlight = 1
		}
		if d.Breaker.Failures == 0 {
			d.Breaker.Failures = 5
		}
		if d.Breaker.Pause == 0 {
			d.Breaker.Pause = time.Minute
		}
	}
}

func (r *Retry) setDefaults() {
	if r.MaxAttempts == 0 {
		r.MaxAttempts = 50
	}
	if r.InitialInterval == 0 {
		r.InitialInterval = 10 * time.Second
	}
	if r.MaxInterval == 0 {
		r.MaxInterval = time.Hour
	}
	if r.Multiplier == 0 {
		r.Multiplier = 2
	}
	if r.MaxAge == 0 {
		r.MaxAge = 72 * time.Hour
	}
}

var idPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

// Location is the zone of the schedules (time_zone); UTC if it does not load (Validate refuses
// that).
func (c *Config) Location() *time.Location {
	if c.TimeZone == "" {
		return time.UTC
	}
	if loc, ok := zones.Load(c.TimeZone); ok {
		return loc.(*time.Location)
	}
	loc, err := time.LoadLocation(c.TimeZone)
	if err != nil {
		return time.UTC
	}
	zones.Store(c.TimeZone, loc)
	return loc
}

// zones holds the zones Location loaded, by name: the pipeline asks for the zone of every
// message, and time.LoadLocation reads and parses the zone file each time it is called.
var zones sync.Map

// Validate reports every problem at once, each naming its key.
func (c *Config) Validate() error {
	var errs []error
	lines := &locator{}
	if c.File != "" {
		lines = newLocator(c.File)
	}
	bad := func(key, format string, args ...any) {
		if line := lines.line(key); line > 0 {
			errs = append(errs, fmt.Errorf("%s:%d: %s: %s", c.File, line, key, fmt.Sprintf(format, args...)))
			return
		}
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	if c.Server.Listen == "" {
		bad("server.listen", "must be host:port")
	}
	if c.Server.MaxBodyBytes <= 0 {
		bad("server.max_body_bytes", "must be positive")
	}
	if c.Server.MaxAttachments < 0 || c.Server.MaxAttachmentBytes <= 0 || c.Server.MaxJSONDepth < 2 {
		bad("server", "max_attachments must not be negative, max_attachment_bytes must be positive, max_json_depth at least 2")
	}
	if (c.Server.TLSCertFile == "") != (c.Server.TLSKeyFile == "") || (c.Server.ClientCAFile != "" && c.Server.TLSCertFile == "") {
		bad("server.tls_cert_file", "tls_cert_file and tls_key_file go together; client_ca_file needs them")
	}
	if c.Server.RatePerSecond < 0 || (c.Server.RatePerSecond > 0 && c.Server.RateBurst < 1) {
		bad("server.rate_per_second", "must not be negative; with a rate, rate_burst must be at least 1")
	}
	if c.Admin.TokenSHA256 != "" {
		if b, err := hex.DecodeString(c.Admin.TokenSHA256); err != nil || len(b) != 32 {
			bad("admin.token_sha256", "must be the 64 hex digits of the admin token's SHA-256")
		}
	}
	c.validateAdminUsers(bad)
	loc, err := time.LoadLocation(c.TimeZone)
	if err != nil || c.TimeZone == "" || c.TimeZone == "Local" {
		bad("time_zone", "%q is not a time zone name such as Europe/Berlin", c.TimeZone)
		loc = time.UTC
	}
	if _, err := schedule.Parse(c.Retention.Schedule, loc); err != nil {
		bad("retention.schedule", "%q is not a cron expression or @every duration: %v", c.Retention.Schedule, err)
	}
	if c.Retention.Payloads <= 0 || c.Retention.DeadLetters <= 0 {
		bad("retention", "payloads and dead_letters must be positive durations")
	}
	if _, err := schedule.Parse(c.Receipts.Schedule, loc); err != nil {
		bad("receipts.schedule", "%q is not a cron expression or @every duration: %v", c.Receipts.Schedule, err)
	}
	switch c.Storage.Driver {
	case "sqlite":
		if c.Storage.DataDir == "" {
			bad("storage.data_dir", "must name a directory")
		}
	case "postgres":
		if c.Storage.DSN == "" {
			bad("storage.dsn", "must be the PostgreSQL connection string for driver postgres (or set AMTSBOTE_STORAGE_DSN)")
		}
	default:
		bad("storage.driver", "%q is not supported; expected sqlite or postgres", c.Storage.Driver)
	}
	if c.Storage.MaxConnections < 0 {
		bad("storage.max_connections", "must not be negative")
	}
	if c.Pipeline.PollInterval <= 0 {
		bad("pipeline.poll_interval", "must be positive")
	}
	if c.Pipeline.ProcessWorkers < 0 || c.Pipeline.ProcessWorkers > 256 {
		bad("pipeline.process_workers", "must be between 0 (one per Go processor) and 256")
	}
	if c.Pipeline.HandlerAttempts <= 0 {
		bad("pipeline.handler_attempts", "must be positive")
	}
	if c.Pipeline.IntakeBurst < 0 || c.Pipeline.IntakeBurst > 10000 {
		bad("pipeline.intake_burst", "must be between 0 (off) and 10000")
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		bad("log.format", "%q: expected text or json", c.Log.Format)
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", "%q: expected debug, info, warn or error", c.Log.Level)
	}
	if len(c.Portals) == 0 && !c.FitConnect.Enabled && len(c.XTA.Inboxes) == 0 {
		bad("portals", "at least one portal (or fitconnect) is needed to accept submissions")
	}
	seen := map[string]bool{}
	unique := func(key, kind, id string) {
		if id == "" {
			bad(key+".id", "must not be empty")
		} else if seen[kind+":"+id] {
			bad(key+".id", "%q is used twice", id)
		}
		seen[kind+":"+id] = true
	}
	for i, p := range c.Portals {
		key := fmt.Sprintf("portals[%d]", i)
		unique(key, "portal", p.ID)
		if b, err := hex.DecodeString(p.TokenSHA256); (err != nil || len(b) != 32) && (p.TokenSHA256 != "" || p.ClientCertCN == "") {
			bad(key+".token_sha256", "must be the 64 hex digits of the token's SHA-256 (e.g. printf %%s TOKEN | sha256sum)")
		}
		if p.ClientCertCN != "" && c.Server.ClientCAFile == "" {
			bad(key+".client_cert_cn", "needs server.client_ca_file (and server.tls_cert_file/tls_key_file)")
		}
		if p.CallbackURL != "" {
			if u, err := url.Parse(p.CallbackURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
				shown := "the value"
				if err == nil {
					shown = fmt.Sprintf("%q", u.Redacted()) // never the password
				}
				bad(key+".callback_url", "%s is not an http(s) URL", shown)
			}
			if secret, err := p.Secret(); err != nil {
				bad(key+".callback_secret_file", "%v", err)
			} else if len(secret) < 16 {
				bad(key+".callback_secret", "a callback needs a secret of at least 16 bytes (callback_secret_file)")
			}
		}
	}
	c.FitConnect.validate(c, bad, unique)
	c.Payment.validate(c, bad, unique)
	c.Replies.validateDelivery(c, bad)
	c.XTA.validate(c, bad, unique)
	for i, s := range c.Schemas {
		key := fmt.Sprintf("schemas[%d]", i)
		unique(key, "schema", s.ID)
		if s.Root == "" {
			bad(key+".root", "must name the root XSD file")
		}
	}
	if c.Replies.MaxDocumentBytes < 0 || c.Replies.MaxDocuments < 0 {
		bad("replies", "max_document_bytes and max_documents must not be negative")
	}
	replyTokens := map[string]string{} // hash → destination
	for i, d := range c.Destinations {
		key := fmt.Sprintf("destinations[%d]", i)
		if d.ID != "" && !idPattern.MatchString(d.ID) {
			bad(key+".id", "%q must match %s", d.ID, idPattern)
		}
		unique(key, "destination", d.ID)
		if d.Type == "" {
			bad(key+".type", "must name an adapter, e.g. filedrop")
		}
		if d.MaxInFlight < 1 || d.MaxInFlight > 64 {
			bad(key+".max_in_flight", "must be between 1 and 64")
		}
		for name, spec := range map[string]string{"window": d.Window, "batch": d.Batch} {
			if spec == "" {
				continue
			}
			if sched, err := schedule.Parse(spec, loc); err != nil {
				bad(key+"."+name, "%q is not a cron expression (minute hour day month weekday): %v", spec, err)
			} else if name == "window" && sched.Interval() {
				bad(key+".window", "%q is an interval; a window names minutes (minute hour day month weekday)", spec)
			}
		}
		if d.Breaker.Failures < 1 || d.Breaker.Pause <= 0 {
			bad(key+".breaker", "needs failures >= 1 and pause > 0")
		}
		if d.ReplyTokenSHA256 != "" {
			if b, err := hex.DecodeString(d.ReplyTokenSHA256); err != nil || len(b) != 32 {
				bad(key+".reply_token_sha256", "must be the 64 hex digits of the reply token's SHA-256 (e.g. printf %%s TOKEN | sha256sum)")
			} else if other, ok := replyTokens[strings.ToLower(d.ReplyTokenSHA256)]; ok {
				bad(key+".reply_token_sha256", "is the same as %s's: each Fachverfahren needs a token of its own", other)
			} else {
				replyTokens[strings.ToLower(d.ReplyTokenSHA256)] = d.ID
			}
		}
		r := d.Retry
		if r.MaxAttempts < 1 || r.InitialInterval <= 0 || r.MaxInterval < r.InitialInterval || r.Multiplier < 1 || r.MaxAge <= 0 {
			bad(key+".retry", "needs max_attempts >= 1, initial_interval > 0, max_interval >= initial_interval, multiplier >= 1, max_age > 0")
		}
	}
	return errors.Join(errs...)
}

// Path resolves a path written in the config file relative to the file's directory.
func (c *Config) Path(p string) string {
	if p == "" {
		return p
	}
	return yamlfile.Beside(c.File, p)
}

// Paths resolves several paths as Path does.
func (c *Config) Paths(ps []string) []string {
	out := make([]string, 0, len(ps))
	for _, p := range ps {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, c.Path(p))
		}
	}
	return out
}

// Destination returns the destination with the given id.
func (c *Config) Destination(id string) (Destination, bool) {
	for _, d := range c.Destinations {
		if d.ID == id {
			return d, true
		}
	}
	return Destination{}, false
}
