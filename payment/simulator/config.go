package simulator

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/amtsbote/amtsbote/payment"
	"github.com/amtsbote/amtsbote/yamlfile"
)

type fileConfig struct {
	BaseURL      string            `yaml:"base_url"`
	TokenTTL     string            `yaml:"token_ttl"`
	Clients      []fileClient      `yaml:"clients"`
	Endpoints    []fileEndpoint    `yaml:"endpoints"`
	Transactions []fileTransaction `yaml:"transactions"`
}

type fileClient struct {
	ID        string   `yaml:"id"`
	Secret    string   `yaml:"secret"`
	SecretEnv string   `yaml:"secret_env"`
	CertCN    string   `yaml:"cert_cn"`
	Endpoints []string `yaml:"endpoints"`
}

type fileEndpoint struct {
	OriginatorID      string `yaml:"originator_id"`
	EndpointID        string `yaml:"endpoint_id"`
	CallbackURL       string `yaml:"callback_url"`
	CallbackSecret    string `yaml:"callback_secret"`
	CallbackSecretEnv string `yaml:"callback_secret_env"`
}

type fileTransaction struct {
	ID           string `yaml:"id"`
	OriginatorID string `yaml:"originator_id"`
	EndpointID   string `yaml:"endpoint_id"`
	Status       string `yaml:"status"`
	Reference    string `yaml:"reference"`
}

// LoadConfigFile reads a simulator configuration from a YAML file:
//
//	base_url: http://127.0.0.1:8091        # optional: the URLs the simulator hands out
//	token_ttl: 5m                          # optional
//	clients:
//	  - {id: amtsbote, secret: "…", endpoints: [demo-portal/09162000]}   # or secret_env: NAME; cert_cn: CN
//	endpoints:
//	  - originator_id: demo-portal
//	    endpoint_id: "09162000"
//	    callback_url: http://127.0.0.1:8080/v1/payments/demo-epayment/callback   # optional
//	    callback_secret: "…"                                                      # or callback_secret_env: NAME
//	transactions:                          # optional: payments that exist from the start
//	  - {id: DEMO-TX-1, originator_id: demo-portal, endpoint_id: "09162000", status: INITIAL}
//
// Unknown keys are errors, each problem names its key.
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
	secret := func(key, value, env string) (string, error) {
		if env == "" {
			return value, nil
		}
		if value != "" {
			return "", bad(key, "give either the secret or its _env, not both")
		}
		v := os.Getenv(env)
		if v == "" {
			return "", bad(key+"_env", "environment variable %s is empty or not set", env)
		}
		return v, nil
	}
	cfg := Config{BaseURL: fc.BaseURL}
	if fc.TokenTTL != "" {
		d, err := time.ParseDuration(fc.TokenTTL)
		if err != nil || d <= 0 {
			return Config{}, bad("token_ttl", "%q is not a positive duration like 5m", fc.TokenTTL)
		}
		cfg.TokenTTL = d
	}
	for i, c := range fc.Clients {
		key := fmt.Sprintf("clients[%d]", i)
		s, err := secret(key+".secret", c.Secret, c.SecretEnv)
		if err != nil {
			return Config{}, err
		}
		cfg.Clients = append(cfg.Clients, Client{ID: c.ID, Secret: s, CertCN: c.CertCN, Endpoints: c.Endpoints})
	}
	for i, e := range fc.Endpoints {
		key := fmt.Sprintf("endpoints[%d]", i)
		s, err := secret(key+".callback_secret", e.CallbackSecret, e.CallbackSecretEnv)
		if err != nil {
			return Config{}, err
		}
		cfg.Endpoints = append(cfg.Endpoints, Endpoint{OriginatorID: e.OriginatorID, EndpointID: e.EndpointID,
			CallbackURL: e.CallbackURL, CallbackSecret: s})
	}
	for _, t := range fc.Transactions {
		cfg.Transactions = append(cfg.Transactions, Transaction{ID: t.ID, OriginatorID: t.OriginatorID, EndpointID: t.EndpointID,
			Status: payment.Status(t.Status), Reference: t.Reference})
	}
	if _, err := New(cfg); err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}
