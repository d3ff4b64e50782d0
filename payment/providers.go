package payment

import (
	"errors"
	"fmt"

	"github.com/amtsbote/amtsbote/config"
)

// Provider is a configured payment platform: its settings, its client and the secrets its
// notifications are signed with.
type Provider struct {
	Config          config.PaymentProvider
	Client          *Client
	CallbackSecrets [][]byte
}

// Providers are the configured platforms by id.
type Providers map[string]*Provider

// Load makes a client for every configured platform, reading its secrets and certificates.
// Every problem is reported, each with its key.
func Load(cfg *config.Config) (Providers, error) {
	out := Providers{}
	var errs []error
	for i, pc := range cfg.Payment.Providers {
		key := fmt.Sprintf("payment.providers[%d]", i)
		p, err := load(cfg, pc)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s (%s): %w", key, pc.ID, err))
			continue
		}
		out[pc.ID] = p
	}
	return out, errors.Join(errs...)
}

func load(cfg *config.Config, pc config.PaymentProvider) (*Provider, error) {
	auth := Auth{Type: pc.Auth.Type, Username: pc.Auth.Username, TokenURL: pc.Auth.TokenURL, ClientID: pc.Auth.ClientID, Scope: pc.Auth.Scope}
	var err error
	switch pc.Auth.Type {
	case config.PaymentAuthBasic:
		if auth.Password, err = pc.Auth.Password.Value(cfg); err != nil {
			return nil, fmt.Errorf("auth.password: %w", err)
		}
	case config.PaymentAuthOAuth2:
		if auth.ClientSecret, err = pc.Auth.ClientSecret.Value(cfg); err != nil {
			return nil, fmt.Errorf("auth.client_secret: %w", err)
		}
	}
	client, err := NewClient(Options{
		Provider: pc.ID, BaseURL: pc.APIURL, OriginatorID: pc.OriginatorID, EndpointID: pc.EndpointID, Auth: auth,
		Timeout: pc.Timeout, ClientCertFile: cfg.Path(pc.ClientCertFile), ClientKeyFile: cfg.Path(pc.ClientKeyFile), CAFile: cfg.Path(pc.CAFile),
	})
	if err != nil {
		return nil, err
	}
	p := &Provider{Config: pc, Client: client}
	for j, s := range pc.CallbackSecrets {
		v, err := s.Value(cfg)
		if err != nil {
			return nil, fmt.Errorf("callback_secrets[%d]: %w", j, err)
		}
		p.CallbackSecrets = append(p.CallbackSecrets, []byte(v))
	}
	return p, nil
}
