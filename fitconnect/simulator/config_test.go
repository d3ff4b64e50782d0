package simulator

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"crypto/hmac"
	"crypto/sha512"
	"encoding/hex"

	"github.com/lestrrat-go/jwx/v3/jwk"
)

func TestNewRefusesBad(t *testing.T) {
	mustKey := func(k jwk.Key, err error) jwk.Key {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	privSig := mustKey(jwk.Import(sigPriv))
	_ = privSig.Set(jwk.KeyIDKey, "sig-key-0001")
	_ = privSig.Set(jwk.AlgorithmKey, "PS512")
	_ = privSig.Set(jwk.KeyOpsKey, jwk.KeyOperationList{jwk.KeyOpVerify})
	foreignX5C := mustKey(publicJWK(sigPriv, "sig-key-0001", "PS512", "verify", true))
	encChain, _ := encPub.X509CertChain()
	_ = foreignX5C.Set(jwk.X509CertChainKey, encChain)

	tests := []struct {
		name   string
		change func(*Config)
		want   []string
	}{
		{"2048 bit", func(c *Config) {
			c.Destinations[0].EncryptionKey = mustKey(publicJWK(otherPriv, "enc-key-0001", "RSA-OAEP-256", "wrapKey", true))
		}, []string{destA, "encryption key", "2048 bit"}},
		{"private key", func(c *Config) { c.Destinations[0].SigningKey = privSig }, []string{destA, "signing key", "private"}},
		{"wrong key_ops", func(c *Config) {
			c.Destinations[0].EncryptionKey = mustKey(publicJWK(encPriv, "enc-key-0001", "RSA-OAEP-256", "encrypt", true))
		}, []string{destA, "encryption key", "key_ops"}},
		{"verify key for encryption", func(c *Config) {
			c.Destinations[0].EncryptionKey = mustKey(publicJWK(encPriv, "enc-key-0001", "RSA-OAEP-256", "verify", true))
		}, []string{"key_ops", `["wrapKey"]`}},
		{"missing x5c", func(c *Config) {
			c.Destinations[1].SigningKey = mustKey(publicJWK(sigPriv, "sig-key-0001", "PS512", "verify", false))
		}, []string{destB, "signing key", "x5c"}},
		{"x5c of another key", func(c *Config) { c.Destinations[0].SigningKey = foreignX5C }, []string{"x5c[0] certifies a different"}},
		{"wrong alg", func(c *Config) {
			c.Destinations[0].SigningKey = mustKey(publicJWK(sigPriv, "sig-key-0001", "RS256", "verify", true))
		}, []string{"signing key", "alg", "PS512"}},
		{"short kid", func(c *Config) {
			c.Destinations[0].SigningKey = mustKey(publicJWK(sigPriv, "short", "PS512", "verify", true))
		}, []string{"kid", "8-64"}},
		{"no key", func(c *Config) { c.Destinations[0].EncryptionKey = nil }, []string{"encryption key", "missing"}},
		{"id not a uuid", func(c *Config) { c.Destinations[0].ID = "demo" }, []string{"demo", "UUID"}},
		{"no services", func(c *Config) { c.Destinations[0].Services = nil }, []string{"services"}},
		{"bad region", func(c *Config) {
			c.Destinations[0].Services = []Service{{Identifier: serviceURN, Regions: []string{"Bayern"}, SubmissionSchemas: []SchemaRef{{"https://x.example/s.json", "application/json"}}}}
		}, []string{"region", "Bayern"}},
		{"no metadata versions", func(c *Config) { c.Destinations[0].MetadataVersions = nil }, []string{"metadata versions"}},
		{"short callback secret", func(c *Config) {
			c.Destinations[0].CallbackURL, c.Destinations[0].CallbackSecret = "http://127.0.0.1:1/cb", "short"
		}, []string{"callback secret", "32-512"}},
		{"unknown role", func(c *Config) { c.Clients[0].Role = "admin" }, []string{"client sub", "role"}},
		{"subscriber of unknown destination", func(c *Config) { c.Clients[0].Destinations = []string{"00000000-0000-0000-0000-000000000000"} }, []string{"client sub", "not configured"}},
		{"duplicate destination", func(c *Config) { c.Destinations[1].ID = destA }, []string{"twice"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := baseConfig()
			tc.change(&cfg)
			_, err := New(cfg)
			if err == nil {
				t.Fatal("New accepted the config")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

type callbackRecord struct {
	header http.Header
	body   []byte
	at     time.Time
}

func TestCallbacks(t *testing.T) {
	var (
		mu       sync.Mutex
		received []callbackRecord
		failures = 1 // the first attempt fails, so a retry must follow
	)
	cb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		received = append(received, callbackRecord{r.Header.Clone(), body, time.Now()})
		if failures > 0 {
			failures--
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer cb.Close()
	e := newEnv(t, withCallback(cb.URL+"/callback"))
	s := e.send(destA, 0, false)
	e.send(destB, 0, false) // destB has no callback
	e.srv.WaitCallbacks()

	mu.Lock()
	defer mu.Unlock()
	if len(received) != 2 {
		t.Fatalf("%d callback requests, want 2 (one failed, one retry)", len(received))
	}
	for _, rec := range received {
		if ct := rec.header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type %q", ct)
		}
		ts := rec.header.Get("callback-timestamp")
		sec, err := strconv.ParseInt(ts, 10, 64)
		if err != nil || time.Since(time.Unix(sec, 0)).Abs() > time.Minute {
			t.Errorf("callback-timestamp %q", ts)
		}
		mac := hmac.New(sha512.New, []byte(cbSecret))
		mac.Write([]byte(ts + "." + string(rec.body)))
		want := hex.EncodeToString(mac.Sum(nil))
		got := rec.header.Get("callback-authentication")
		if !hmac.Equal([]byte(got), []byte(want)) {
			t.Errorf("callback-authentication %q, want %q", got, want)
		}
		var body struct {
			Type          string          `json:"type"`
			SubmissionIDs []string        `json:"submissionIds"`
			Submissions   []submissionRef `json:"submissions"`
		}
		if err := json.Unmarshal(rec.body, &body); err != nil {
			t.Fatal(err)
		}
		if body.Type != CallbackNewSubmissions || len(body.SubmissionIDs) != 1 || body.SubmissionIDs[0] != s.ref.SubmissionID ||
			len(body.Submissions) != 1 || body.Submissions[0] != s.ref {
			t.Errorf("callback body %s", rec.body)
		}
	}
}

func TestLoadConfigFile(t *testing.T) {
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys")
	if err := os.Mkdir(keys, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, k := range map[string]jwk.Key{"encryption.public.jwk": encPub, "signing.public.jwk": sigPub} {
		b, err := json.Marshal(k)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(keys, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("SIM_CB_SECRET", cbSecret)
	const good = `issuer: http://127.0.0.1:8090
token_ttl: 10m
clients:
  - {id: demo-subscriber, secret: "s3cret", role: subscriber, destinations: [` + destA + `]}
  - {id: demo-sender, secret: "s3cret", role: sender}
destinations:
  - id: ` + destA + `
    encryption_key: keys/encryption.public.jwk
    signing_key: keys/signing.public.jwk
    metadata_versions: ["1.0.0"]
    callback_url: http://127.0.0.1:8080/fitconnect/demo/callback
    callback_secret_env: SIM_CB_SECRET
    services:
      - identifier: ` + serviceURN + `
        regions: [DE091620000000]
        submission_schemas: [{schema_uri: "https://schema.example.org/x.json", mime_type: application/json}]
`
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cfg, err := LoadConfigFile(write("good.yaml", good))
	if err != nil {
		t.Fatalf("LoadConfigFile: %v", err)
	}
	if cfg.Issuer != "http://127.0.0.1:8090" || cfg.TokenTTL != 10*time.Minute || len(cfg.Clients) != 2 ||
		cfg.Destinations[0].CallbackSecret != cbSecret || cfg.Destinations[0].Services[0].SubmissionSchemas[0].MimeType != "application/json" {
		t.Fatalf("config %+v", cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatalf("New from file: %v", err)
	}
	srv.Close()

	bad := []struct {
		name, content string
		want          []string
	}{
		{"unknown key", strings.Replace(good, "issuer:", "isuer:", 1), []string{"bad.yaml:1: field isuer not found"}},
		{"YAML syntax", strings.Replace(good, "token_ttl: 10m", "token_ttl: [10m", 1), []string{"bad.yaml:3:8: did not find expected ',' or ']' (while parsing a flow sequence that starts at line 2, column 12)"}},
		{"empty", "", []string{"bad.yaml: the file is empty"}},
		{"missing key file", strings.Replace(good, "keys/signing.public.jwk", "keys/nope.jwk", 1), []string{"bad.yaml", "destinations[0].signing_key", "nope.jwk"}},
		{"env unset", strings.Replace(good, "SIM_CB_SECRET", "SIM_UNSET_VARIABLE", 1), []string{"destinations[0].callback_secret_env", "SIM_UNSET_VARIABLE"}},
		{"bad role", strings.Replace(good, "role: sender", "role: admin", 1), []string{"clients[1].role"}},
		{"bad ttl", strings.Replace(good, "10m", "soon", 1), []string{"token_ttl"}},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadConfigFile(write("bad.yaml", tc.content))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// TestServiceKey generates a real service key (once) and checks it meets the rules the
// simulator applies to destination keys.
func TestServiceKey(t *testing.T) {
	svc, err := newServiceKey()
	if err != nil {
		t.Fatal(err)
	}
	kid, _, err := checkPublicKey(svc.public, keyRule{alg: "PS512", op: "verify"})
	if err != nil || kid != svc.kid {
		t.Fatalf("service key: kid %q, %v", kid, err)
	}
	if priv, _ := jwk.IsPrivateKey(svc.private); !priv {
		t.Fatal("private key is not private")
	}
	set, err := jwk.Parse(svc.jwks)
	if err != nil || set.Len() != 1 {
		t.Fatalf("jwks %s: %v", svc.jwks, err)
	}
}

// The demo's simulator configuration (amtsbote fitconnect simulator) loads and starts.
func TestDemoConfigStarts(t *testing.T) {
	cfg, err := LoadConfigFile("../../fixtures/demo/fitconnect/simulator.yaml")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv.Close()
	if len(cfg.Destinations) != 1 || cfg.Destinations[0].CallbackURL == "" || len(cfg.Clients) != 2 {
		t.Fatalf("%+v", cfg)
	}
}
