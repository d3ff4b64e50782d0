package simulator

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
	"go.yaml.in/yaml/v3"

	"github.com/amtsbote/amtsbote/yamlfile"
)

// fileConfig is the YAML form of Config.
type fileConfig struct {
	Issuer       string            `yaml:"issuer"`
	TokenTTL     string            `yaml:"token_ttl"`
	Clients      []fileClient      `yaml:"clients"`
	Destinations []fileDestination `yaml:"destinations"`
}

type fileClient struct {
	ID           string   `yaml:"id"`
	Secret       string   `yaml:"secret"`
	SecretEnv    string   `yaml:"secret_env"`
	Role         string   `yaml:"role"`
	Destinations []string `yaml:"destinations"`
}

type fileDestination struct {
	ID                string        `yaml:"id"`
	EncryptionKey     string        `yaml:"encryption_key"`
	SigningKey        string        `yaml:"signing_key"`
	MetadataVersions  []string      `yaml:"metadata_versions"`
	CallbackURL       string        `yaml:"callback_url"`
	CallbackSecret    string        `yaml:"callback_secret"`
	CallbackSecretEnv string        `yaml:"callback_secret_env"`
	Services          []fileService `yaml:"services"`
}

type fileService struct {
	Identifier        string       `yaml:"identifier"`
	Regions           []string     `yaml:"regions"`
	SubmissionSchemas []fileSchema `yaml:"submission_schemas"`
}

type fileSchema struct {
	SchemaURI string `yaml:"schema_uri"`
	MimeType  string `yaml:"mime_type"`
}

// LoadConfigFile reads a simulator configuration from a YAML file:
//
//	issuer: http://127.0.0.1:8090
//	token_ttl: 30m                      # optional
//	clients:
//	  - {id: demo-subscriber, secret: "…", role: subscriber, destinations: [<uuid>]}
//	  - {id: demo-sender, secret_env: SENDER_SECRET, role: sender}
//	destinations:
//	  - id: <uuid>
//	    encryption_key: keys/encryption.public.jwk   # relative to the YAML file
//	    signing_key: keys/signing.public.jwk
//	    metadata_versions: ["1.0.0"]
//	    callback_url: http://127.0.0.1:8080/fitconnect/demo/callback
//	    callback_secret: "…"                          # or callback_secret_env: NAME
//	    services:
//	      - identifier: urn:de:fim:leika:leistung:99050012104000
//	        regions: [DE091620000000]
//	        submission_schemas: [{schema_uri: "…", mime_type: application/json}]
//
// Unknown keys are errors. The keys are only loaded here; New checks them.
func LoadConfigFile(path string) (Config, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return Config{}, err
	}
	var fc fileConfig
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&fc); errors.Is(err, io.EOF) {
		return Config{}, fmt.Errorf("%s: the file is empty", path)
	} else if err != nil {
		return Config{}, yamlfile.Describe(path, raw, err)
	}
	bad := func(key, format string, args ...any) error {
		return fmt.Errorf("%s: %s: %s", path, key, fmt.Sprintf(format, args...))
	}
	cfg := Config{Issuer: fc.Issuer}
	if fc.TokenTTL != "" {
		d, err := time.ParseDuration(fc.TokenTTL)
		if err != nil || d <= 0 {
			return Config{}, bad("token_ttl", "%q is not a positive duration like 30m", fc.TokenTTL)
		}
		cfg.TokenTTL = d
	}
	dir := filepath.Dir(path)
	for i, c := range fc.Clients {
		key := fmt.Sprintf("clients[%d]", i)
		secret := c.Secret
		if c.SecretEnv != "" {
			if c.Secret != "" {
				return Config{}, bad(key, "give either secret or secret_env, not both")
			}
			if secret = os.Getenv(c.SecretEnv); secret == "" {
				return Config{}, bad(key+".secret_env", "environment variable %s is empty or not set", c.SecretEnv)
			}
		}
		if c.ID == "" {
			return Config{}, bad(key+".id", "missing")
		}
		if secret == "" {
			return Config{}, bad(key+".secret", "missing (or use secret_env)")
		}
		if c.Role != RoleSubscriber && c.Role != RoleSender {
			return Config{}, bad(key+".role", "%q must be %s or %s", c.Role, RoleSubscriber, RoleSender)
		}
		cfg.Clients = append(cfg.Clients, Client{ID: c.ID, Secret: secret, Role: c.Role, Destinations: c.Destinations})
	}
	for i, d := range fc.Destinations {
		key := fmt.Sprintf("destinations[%d]", i)
		if d.ID == "" {
			return Config{}, bad(key+".id", "missing")
		}
		out := Destination{ID: d.ID, MetadataVersions: d.MetadataVersions, CallbackURL: d.CallbackURL, CallbackSecret: d.CallbackSecret}
		if d.CallbackSecretEnv != "" {
			if d.CallbackSecret != "" {
				return Config{}, bad(key, "give either callback_secret or callback_secret_env, not both")
			}
			if out.CallbackSecret = os.Getenv(d.CallbackSecretEnv); out.CallbackSecret == "" {
				return Config{}, bad(key+".callback_secret_env", "environment variable %s is empty or not set", d.CallbackSecretEnv)
			}
		}
		if out.EncryptionKey, err = loadJWK(dir, d.EncryptionKey); err != nil {
			return Config{}, bad(key+".encryption_key", "%v", err)
		}
		if out.SigningKey, err = loadJWK(dir, d.SigningKey); err != nil {
			return Config{}, bad(key+".signing_key", "%v", err)
		}
		for _, s := range d.Services {
			svc := Service{Identifier: s.Identifier, Regions: s.Regions}
			for _, sch := range s.SubmissionSchemas {
				svc.SubmissionSchemas = append(svc.SubmissionSchemas, SchemaRef{SchemaURI: sch.SchemaURI, MimeType: sch.MimeType})
			}
			out.Services = append(out.Services, svc)
		}
		cfg.Destinations = append(cfg.Destinations, out)
	}
	return cfg, nil
}

// loadJWK reads a single JWK (or a JWKS holding exactly one key) from file, relative to dir.
func loadJWK(dir, file string) (jwk.Key, error) {
	if file == "" {
		return nil, errors.New("missing: path of a public JWK file")
	}
	if !filepath.IsAbs(file) {
		file = filepath.Join(dir, file)
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	set, err := jwk.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: not a JWK: %w", file, err)
	}
	if set.Len() != 1 {
		return nil, fmt.Errorf("%s: holds %d keys, want exactly one", file, set.Len())
	}
	k, _ := set.Key(0)
	return k, nil
}
