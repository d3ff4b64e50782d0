package admin_test

import (
	"encoding/json"
	"maps"
	"strings"
	"testing"

	"github.com/amtsbote/amtsbote/admin"
)

// The runtime status and the configuration need the running daemon; without it they say so.
func TestRuntimeAndConfigNeedTheDaemon(t *testing.T) {
	e := newEnv(t, "sqlite")
	var st admin.RuntimeStatus
	e.json("GET", "/v1/runtime", nil, 200, &st)
	if st.ConfigVersion != "0123456789ab" {
		t.Fatalf("runtime: %+v", st)
	}
	e.srv.Runtime = nil
	for _, path := range []string{"/v1/runtime", "/v1/config"} {
		body := e.json("GET", path, nil, 503, nil)
		contains(t, body, "running daemon")
	}
	body := e.json("POST", "/v1/playground", []byte(`{"submission": `+string(demoSubmission(t))+`}`), 503, nil)
	contains(t, body, "running daemon")
}

// The configuration view shows routes, destinations, portals, mappings and schema sets of the
// configuration in force — and no secret: no option that names one, no URL password, no token
// hash.
func TestConfigViewRedactsSecrets(t *testing.T) {
	e := newEnv(t, "sqlite")
	secrets := []string{"hunter2-pass", "sftp-private-key-material", "s3cr3t-client", "api-t0ken-value", "url-pa55word", "key-passphrase-x"}
	dest := &demoSnapshot.Config.Destinations[0]
	saved := maps.Clone(dest.Options)
	dest.Options["password"] = "hunter2-pass"
	dest.Options["sftp"] = map[string]any{"host": "sftp.example", "private_key": "sftp-private-key-material", "key_passphrase": "key-passphrase-x"}
	dest.Options["ClientSecret"] = "s3cr3t-client"
	dest.Options["headers"] = []any{map[string]any{"Authorization-Token": "api-t0ken-value"}}
	dest.Options["url"] = "https://amtsbote:url-pa55word@eakte.example/api"
	dest.Options["empty_password"] = ""
	defer func() { dest.Options = saved }()

	var v admin.ConfigView
	body := e.json("GET", "/v1/config", nil, 200, &v)
	for _, s := range secrets {
		if strings.Contains(string(body), s) {
			t.Errorf("the configuration view shows the secret %q", s)
		}
	}
	for _, p := range demoSnapshot.Config.Portals {
		if strings.Contains(string(body), p.TokenSHA256) {
			t.Errorf("the configuration view shows portal %s's token hash", p.ID)
		}
	}
	for _, d := range demoSnapshot.Config.Destinations {
		if d.ReplyTokenSHA256 != "" && strings.Contains(string(body), d.ReplyTokenSHA256) {
			t.Errorf("the configuration view shows destination %s's reply token hash", d.ID)
		}
	}
	contains(t, body, admin.Redacted, "https://amtsbote:"+jsonEscaped(admin.Redacted)+"@eakte.example/api", `"host": "sftp.example"`)
	if v.ConfigVersion != "0123456789ab" || len(v.Routes) != len(demoSnapshot.Routes.Routes) || len(v.Destinations) != len(demoSnapshot.Config.Destinations) {
		t.Fatalf("view: version %q, %d routes, %d destinations", v.ConfigVersion, len(v.Routes), len(v.Destinations))
	}
	if got := v.Destinations[0].Options["empty_password"]; got != "" {
		t.Errorf("an empty secret shows as %q, want empty", got)
	}
	r := v.Routes[0]
	if r.ID != "gewerbeanmeldung" || !strings.HasPrefix(r.Where, "routes.yaml:") || r.Match.Leistung[0] != "99050012104000" ||
		r.Match.AGS[0] != "09162*" || r.RetentionSource != "default" || !strings.Contains(r.Replies, "channels") {
		t.Errorf("route: %+v", r)
	}
	t0 := r.Targets[0]
	if t0.Destination != "eakte" || t0.Mapping != "mappings/gewerbeanmeldung-geschaeftsgang-0201.yaml" || t0.SchemaSet != "xdomea-3.0.0" ||
		t0.MessageType != "Geschaeftsgang.Geschaeftsgang.0201" || t0.Output != "xml" {
		t.Errorf("target: %+v", t0)
	}
	if t1 := r.Targets[1]; !t1.FormData || t1.JSONSchema != "schemas/gewerbeanmeldung.schema.json" || t1.Output != "json" {
		t.Errorf("form data target: %+v", t1)
	}
	var mapping, partial bool
	for _, f := range v.Mappings {
		if f.Path == "mappings/gewerbeanmeldung-geschaeftsgang-0201.yaml" && strings.Contains(f.Content, "Geschaeftsgang") {
			mapping = true
		}
		if strings.HasPrefix(f.Path, "mappings/partials/") && f.Content != "" {
			partial = true
		}
	}
	if !mapping || !partial {
		t.Errorf("mappings: the mapping %v, a partial %v: %+v", mapping, partial, v.Mappings)
	}
	if len(v.SchemaSets) == 0 || v.SchemaSets[0].ID != "xdomea-3.0.0" || v.SchemaSets[0].CodeLists == 0 || len(v.SchemaSets[0].Namespaces) != 1 {
		t.Errorf("schema sets: %+v", v.SchemaSets)
	}
	if len(v.Portals) != 1 || v.Portals[0].ID != "demo-portal" {
		t.Errorf("portals: %+v", v.Portals)
	}
}

func jsonEscaped(s string) string {
	b, _ := json.Marshal(s)
	return strings.Trim(string(b), `"`)
}

func TestRedactOptions(t *testing.T) {
	for _, tt := range []struct {
		key  string
		in   any
		want any
	}{
		{"path", "var/out", "var/out"},
		{"password", "x", admin.Redacted},
		{"Password_File", "/run/secrets/p", admin.Redacted},
		{"api_token", "t", admin.Redacted},
		{"client_secret", "s", admin.Redacted},
		{"private_key", "k", admin.Redacted},
		{"passphrase", "p", admin.Redacted},
		{"credentials", map[string]any{"user": "u"}, admin.Redacted},
		{"password", "", ""},
		{"url", "https://u:p@host/x", "https://u:" + admin.Redacted + "@host/x"},
		{"url", "https://host/x?a=b", "https://host/x?a=b"},
		{"max_size", 10, 10},
		{"nested", map[string]any{"token": "t", "user": "u"}, map[string]any{"token": admin.Redacted, "user": "u"}},
	} {
		got := admin.RedactOptions(map[string]any{tt.key: tt.in})[tt.key]
		gb, _ := json.Marshal(got)
		wb, _ := json.Marshal(tt.want)
		if string(gb) != string(wb) {
			t.Errorf("%s=%v: %s, want %s", tt.key, tt.in, gb, wb)
		}
	}
}
