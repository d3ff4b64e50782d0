package admin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/amtsbote/amtsbote/mapping"
	"github.com/amtsbote/amtsbote/routes"
	"github.com/amtsbote/amtsbote/snapshot"
)

// ErrNoRuntime is the answer of what needs the running daemon (its configuration in force)
// outside one.
var ErrNoRuntime = errors.New("the daemon's runtime is not available here: the configuration in force is known only to a running daemon")

// runtimeStatus answers GET /v1/runtime: the configuration in force, the reloads, and each
// destination's circuit and last transport error.
func (s *Server) runtimeStatus(w http.ResponseWriter, r *http.Request) {
	if s.Runtime == nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": ErrNoRuntime.Error()})
		return
	}
	writeJSON(w, http.StatusOK, s.Runtime.Status())
}

// ConfigView is the configuration in force as operators read it: routes, destinations (secrets
// redacted), portals (without their tokens), mapping files and schema sets.
type ConfigView struct {
	ConfigVersion string            `json:"config_version"`
	ConfigFile    string            `json:"config_file"`
	LoadedAt      time.Time         `json:"loaded_at"`
	Routes        []RouteView       `json:"routes"`
	Destinations  []DestinationView `json:"destinations"`
	Portals       []PortalView      `json:"portals"`
	Mappings      []ConfigFileView  `json:"mappings"`
	SchemaSets    []SchemaSetView   `json:"schema_sets"`
}

// RouteView is a route as the routes file states it.
type RouteView struct {
	ID       string `json:"id"`
	Priority int    `json:"priority"`
	// Where is the route's place in the routes file (file:line, relative to the configuration's
	// directory).
	Where   string       `json:"where"`
	Match   MatchView    `json:"match"`
	Targets []TargetView `json:"targets"`
	// Retention is how long the route's data is kept after it finished: the route's own
	// (RetentionSource route) or retention.payloads (default).
	Retention       string `json:"retention"`
	RetentionSource string `json:"retention_source"`
	// Retry lists what the route overrides of its destinations' retry policy (empty: nothing).
	Retry               map[string]string `json:"retry,omitempty"`
	MinTrustLevel       string            `json:"min_trust_level,omitempty"`
	JSONSchema          string            `json:"json_schema,omitempty"`
	CheckAtIntake       bool              `json:"check_at_intake"`
	ApplicationDocument string            `json:"application_document,omitempty"`
	// Payment summarises the payment policy ("" when the route needs none).
	Payment string `json:"payment,omitempty"`
	// Replies summarises how replies reach the applicant.
	Replies string `json:"replies"`
}

// MatchView is what a route accepts, as the routes file states it.
type MatchView struct {
	Leistung []string `json:"leistung,omitempty"`
	AGS      []string `json:"ags,omitempty"`
	ARS      []string `json:"ars,omitempty"`
	Portal   []string `json:"portal,omitempty"`
	When     string   `json:"when,omitempty"`
}

// TargetView is one target of a route: the destination and what makes its message.
type TargetView struct {
	Destination string `json:"destination"`
	// Mapping is the mapping file relative to the configuration's directory ("" for form data).
	Mapping string `json:"mapping,omitempty"`
	// FormData: the form data goes as JSON, checked against JSONSchema if set.
	FormData    bool   `json:"form_data,omitempty"`
	JSONSchema  string `json:"json_schema,omitempty"`
	SchemaSet   string `json:"schema_set,omitempty"`
	MessageType string `json:"message_type,omitempty"`
	// Output is xml, json or csv.
	Output    string `json:"output"`
	Recipient string `json:"recipient,omitempty"`
}

// DestinationView is a destination with its options; secrets show as "••• (set)".
type DestinationView struct {
	ID          string            `json:"id"`
	Type        string            `json:"type"`
	MaxInFlight int               `json:"max_in_flight"`
	Retry       map[string]string `json:"retry"`
	Breaker     map[string]string `json:"breaker"`
	Window      string            `json:"window,omitempty"`
	Batch       string            `json:"batch,omitempty"`
	Options     map[string]any    `json:"options"`
	// Replies tells whether the destination may hand in replies (it has a reply token).
	Replies bool `json:"replies"`
}

// PortalView is a portal and the routes it may use (none listed: any).
type PortalView struct {
	ID     string   `json:"id"`
	Routes []string `json:"routes"`
}

// ConfigFileView is a file of the configuration, read-only: a mapping, a partial, a JSON
// Schema. Content stops at MaxConfigFileBytes (Truncated).
type ConfigFileView struct {
	Path      string `json:"path"`
	Size      int64  `json:"size"`
	Content   string `json:"content"`
	Truncated bool   `json:"truncated,omitempty"`
	Error     string `json:"error,omitempty"`
}

// SchemaSetView is a schema set.
type SchemaSetView struct {
	ID         string   `json:"id"`
	Standard   string   `json:"standard,omitempty"`
	Version    string   `json:"version,omitempty"`
	Namespaces []string `json:"namespaces"`
	// CodeLists counts the code lists its messages' codes are checked against.
	CodeLists int `json:"code_lists"`
}

// MaxConfigFileBytes caps each file's content in the configuration view.
const MaxConfigFileBytes = 256 << 10

// Redacted stands for a secret's value in the configuration view.
const Redacted = "••• (set)"

// ConfigView is the configuration in force (the running daemon's snapshot).
func (s *Server) ConfigView(ctx context.Context) (*ConfigView, error) {
	if s.Runtime == nil {
		return nil, ErrNoRuntime
	}
	snap, release := s.Runtime.Snapshot()
	defer release()
	st := s.Runtime.Status()
	v := BuildConfigView(snap)
	v.ConfigVersion, v.LoadedAt = st.ConfigVersion, st.LoadedAt
	return v, nil
}

// BuildConfigView describes a snapshot.
func BuildConfigView(snap *snapshot.Snapshot) *ConfigView {
	cfg := snap.Config
	dir := filepath.Dir(cfg.File)
	rel := func(path string) string {
		if path == "" {
			return ""
		}
		if r, err := filepath.Rel(dir, path); err == nil && !strings.HasPrefix(r, "..") {
			return filepath.ToSlash(r)
		}
		return path
	}
	v := &ConfigView{ConfigFile: cfg.File, Routes: []RouteView{}, Destinations: []DestinationView{}, Portals: []PortalView{},
		Mappings: []ConfigFileView{}, SchemaSets: []SchemaSetView{}}
	seen := map[string]bool{}
	for i := range snap.Routes.Routes {
		r := &snap.Routes.Routes[i]
		rv := RouteView{ID: r.ID, Priority: r.Priority, Where: relWhere(rel, r.Where), Targets: []TargetView{},
			Match:         MatchView{Leistung: r.Match.Leistung, AGS: r.Match.AGS, ARS: r.Match.ARS, Portal: r.Match.Portal, When: r.Match.When},
			MinTrustLevel: r.MinTrustLevel, CheckAtIntake: r.CheckAtIntake, Replies: repliesSummary(r), Payment: paymentSummary(r)}
		if r.Schema != nil {
			rv.JSONSchema = rel(r.Schema.File)
		}
		rv.Retention, rv.RetentionSource = cfg.Retention.Payloads.String(), "default"
		if r.Retention > 0 {
			rv.Retention, rv.RetentionSource = r.Retention.String(), "route"
		}
		rv.Retry = retryOverride(r.Retry)
		if d := r.ApplicationDocument; d != nil {
			rv.ApplicationDocument = "PDF/A-2b " + d.Title
			if d.File != "" {
				rv.ApplicationDocument += ", labels " + rel(d.File)
			}
		}
		for _, t := range r.Targets {
			rv.Targets = append(rv.Targets, targetView(t, rel))
			for _, f := range t.Files {
				if !seen[f] {
					seen[f] = true
					v.Mappings = append(v.Mappings, readConfigFile(f, rel(f)))
				}
			}
		}
		v.Routes = append(v.Routes, rv)
	}
	slices.SortFunc(v.Mappings, func(a, b ConfigFileView) int { return strings.Compare(a.Path, b.Path) })
	for _, d := range cfg.Destinations {
		v.Destinations = append(v.Destinations, DestinationView{ID: d.ID, Type: d.Type, MaxInFlight: d.MaxInFlight,
			Retry: map[string]string{"max_attempts": fmt.Sprint(d.Retry.MaxAttempts), "initial_interval": d.Retry.InitialInterval.String(),
				"max_interval": d.Retry.MaxInterval.String(), "multiplier": fmt.Sprint(d.Retry.Multiplier), "max_age": d.Retry.MaxAge.String()},
			Breaker: map[string]string{"failures": fmt.Sprint(d.Breaker.Failures), "pause": d.Breaker.Pause.String()},
			Window:  d.Window, Batch: d.Batch, Options: RedactOptions(d.Options), Replies: d.ReplyTokenSHA256 != ""})
	}
	for _, p := range cfg.Portals {
		routes := p.Routes
		if routes == nil {
			routes = []string{}
		}
		v.Portals = append(v.Portals, PortalView{ID: p.ID, Routes: routes})
	}
	for _, sc := range cfg.Schemas {
		sv := SchemaSetView{ID: sc.ID, Standard: sc.Standard, Version: sc.Version, Namespaces: sc.Namespaces}
		if set, ok := snap.Schemas[sc.ID]; ok && set.CodeLists != nil {
			sv.CodeLists = len(set.CodeLists.URIs())
		}
		if sv.Namespaces == nil {
			sv.Namespaces = []string{}
		}
		v.SchemaSets = append(v.SchemaSets, sv)
	}
	return v
}

// relWhere makes the file of a file:line position relative.
func relWhere(rel func(string) string, where string) string {
	i := strings.LastIndex(where, ":")
	if i < 0 {
		return rel(where)
	}
	return rel(where[:i]) + where[i:]
}

func targetView(t routes.Target, rel func(string) string) TargetView {
	tv := TargetView{Destination: t.Destination, SchemaSet: t.Schema, Output: mapping.OutputXML}
	if t.Recipient.Name != "" || t.Recipient.Kennung != "" {
		tv.Recipient = strings.TrimSpace(fmt.Sprintf("%s (%s %s)", t.Recipient.Name, t.Recipient.Praefix, t.Recipient.Kennung))
	}
	if m, ok := t.Mapper.(interface{ Type() string }); ok {
		tv.MessageType = m.Type()
	}
	if t.FormData != nil {
		tv.FormData, tv.Output = true, mapping.OutputJSON
		if len(t.Files) > 0 && t.FormData.JSONSchema != "" {
			tv.JSONSchema = rel(t.Files[0])
		}
		return tv
	}
	if m, ok := t.Mapper.(*mapping.Mapping); ok {
		tv.Mapping, tv.Output = rel(m.File), m.Output
		if m.JSONSchemaFile != "" {
			tv.JSONSchema = rel(m.JSONSchemaFile)
		}
	}
	return tv
}

func retryOverride(o routes.RetryOverride) map[string]string {
	out := map[string]string{}
	if o.MaxAttempts > 0 {
		out["max_attempts"] = fmt.Sprint(o.MaxAttempts)
	}
	for k, d := range map[string]time.Duration{"initial_interval": o.InitialInterval, "max_interval": o.MaxInterval, "max_age": o.MaxAge} {
		if d > 0 {
			out[k] = d.String()
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func paymentSummary(r *routes.Route) string {
	if r.Payment == nil || !r.Payment.Required {
		return ""
	}
	if r.Payment.Provider != "" {
		return "required, provider " + r.Payment.Provider
	}
	return "required, as the submission reports it"
}

func repliesSummary(r *routes.Route) string {
	p := r.ReplyPolicy()
	s := "channels " + strings.Join(p.Channels, ", ")
	if p.PortalToo() {
		s += "; the portal's postbox as well"
	}
	if p.EmailTemplate != "" {
		s += "; e-mail template " + p.EmailTemplate
	}
	return s
}

func readConfigFile(path, shown string) ConfigFileView {
	v := ConfigFileView{Path: shown}
	f, err := os.Open(path)
	if err != nil {
		v.Error = "cannot read the file: " + err.Error()
		return v
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil {
		v.Size = fi.Size()
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxConfigFileBytes+1))
	if err != nil {
		v.Error = "cannot read the file: " + err.Error()
	}
	if len(b) > MaxConfigFileBytes {
		b, v.Truncated = b[:MaxConfigFileBytes], true
	}
	v.Content = string(b)
	return v
}

// secretWords mark an option whose value is a secret: its key contains one of them.
var secretWords = []string{"password", "passwd", "secret", "token", "key", "passphrase", "private", "credential"}

// IsSecretKey tells whether an option's key names a secret.
func IsSecretKey(key string) bool {
	k := strings.ToLower(key)
	for _, w := range secretWords {
		if strings.Contains(k, w) {
			return true
		}
	}
	return false
}

// RedactOptions copies a destination's options with every secret replaced by Redacted, in
// nested maps and lists too; a URL's password is redacted wherever it appears.
func RedactOptions(opts map[string]any) map[string]any {
	out := make(map[string]any, len(opts))
	for k, v := range opts {
		if IsSecretKey(k) {
			if isEmpty(v) {
				out[k] = ""
			} else {
				out[k] = Redacted
			}
			continue
		}
		out[k] = redactValue(v)
	}
	return out
}

func redactValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		return RedactOptions(x)
	case map[any]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[fmt.Sprint(k)] = e
		}
		return RedactOptions(m)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = redactValue(e)
		}
		return out
	case string:
		return redactURL(x)
	}
	return v
}

// redactURL hides the password of a URL with user information.
func redactURL(s string) string {
	if !strings.Contains(s, "@") || !strings.Contains(s, "://") {
		return s
	}
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	if _, has := u.User.Password(); !has {
		return s
	}
	u.User = url.UserPassword(u.User.Username(), "xxxxx")
	return strings.Replace(u.String(), "xxxxx", Redacted, 1)
}

func isEmpty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == ""
	}
	return false
}

// configView answers GET /v1/config.
func (s *Server) configView(w http.ResponseWriter, r *http.Request) {
	v, err := s.ConfigView(r.Context())
	if errors.Is(err, ErrNoRuntime) {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": err.Error()})
		return
	}
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}
