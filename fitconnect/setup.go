package fitconnect

import (
	"errors"
	"fmt"
	"strings"

	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/amtsbote/amtsbote/config"
	"github.com/amtsbote/amtsbote/routes"
)

// Subscription is a configured FIT-Connect API client, loaded: its keys, schemas and secrets.
type Subscription struct {
	Config  config.FitConnectSubscription
	Client  *Client
	Checker *Checker
	// Signing signs the decisions.
	Signing jwk.Key
	// CallbackSecrets are the HMAC secrets callbacks may be signed with.
	CallbackSecrets [][]byte
	// Destinations by lower-case id.
	Destinations map[string]config.FitConnectDestination
}

// Destination returns a destination of the subscription.
func (s *Subscription) Destination(id string) (config.FitConnectDestination, bool) {
	d, ok := s.Destinations[strings.ToLower(id)]
	return d, ok
}

// Close frees the compiled data schemas.
func (s *Subscription) Close() {
	for _, d := range s.Checker.Data {
		d.Close()
	}
}

// Load loads every configured subscription: reads and checks the keys (parse, private part,
// RSA 4096, key_ops, alg), compiles the metadata and data schemas and reads the secrets. Every
// problem is reported with the file:line of its configuration key.
func Load(cfg *config.Config) ([]*Subscription, error) {
	var subs []*Subscription
	var errs []error
	bad := func(key string, err error) {
		errs = append(errs, fmt.Errorf("%s: %s: %w", cfg.Where(key), key, err))
	}
	for i, sc := range cfg.FitConnect.Subscriptions {
		key := fmt.Sprintf("fitconnect.subscriptions[%d]", i)
		s := &Subscription{Config: sc, Destinations: map[string]config.FitConnectDestination{}}
		ok := true
		var ring []jwk.Key
		for j, f := range sc.DecryptionKeys {
			k, err := LoadPrivateKey(cfg.Path(f), Encryption)
			if err != nil {
				bad(fmt.Sprintf("%s.decryption_keys[%d]", key, j), err)
				ok = false
				continue
			}
			ring = append(ring, k)
		}
		keyRing, err := NewKeyRing(ring...)
		if err != nil {
			bad(key+".decryption_keys", err)
			ok = false
		}
		if s.Signing, err = LoadPrivateKey(cfg.Path(sc.SigningKey), Signing); err != nil {
			bad(key+".signing_key", err)
			ok = false
		}
		meta, err := LoadMetadataSchemas(cfg.Paths(sc.MetadataSchemas))
		if err != nil {
			bad(key+".metadata_schemas", err)
			ok = false
		}
		data := map[string]*DataSchema{}
		for j, ds := range sc.DataSchemas {
			d, err := LoadDataSchema(ds.URI, cfg.Path(ds.File))
			if err != nil {
				bad(fmt.Sprintf("%s.data_schemas[%d].file", key, j), err)
				ok = false
				continue
			}
			data[ds.URI] = d
		}
		secret, err := sc.ClientSecret.Value(cfg)
		if err != nil {
			bad(key+".client_secret", err)
			ok = false
		}
		for j, cs := range sc.CallbackSecrets {
			v, err := cs.Value(cfg)
			if err != nil {
				bad(fmt.Sprintf("%s.callback_secrets[%d]", key, j), err)
				ok = false
				continue
			}
			s.CallbackSecrets = append(s.CallbackSecrets, []byte(v))
		}
		for _, d := range sc.Destinations {
			s.Destinations[strings.ToLower(d.ID)] = d
		}
		s.Checker = &Checker{Ring: keyRing, Metadata: meta, Data: data, MaxAttachments: sc.MaxAttachments,
			MaxAttachmentBytes: sc.MaxAttachmentBytes}
		if !ok {
			s.Close()
			continue
		}
		s.Client = NewClient(sc.APIURL, sc.APIVersion, sc.TokenURL, sc.ClientID, secret, sc.Scope, sc.Timeout)
		subs = append(subs, s)
	}
	if err := errors.Join(errs...); err != nil {
		for _, s := range subs {
			s.Close()
		}
		return nil, err
	}
	return subs, nil
}

// CheckRoutes checks that the routes the destinations' services name exist.
func CheckRoutes(cfg *config.Config, table *routes.Table) error {
	var errs []error
	for i, s := range cfg.FitConnect.Subscriptions {
		for j, d := range s.Destinations {
			for k, sv := range d.Services {
				if _, ok := table.Route(sv.Route); !ok {
					key := fmt.Sprintf("fitconnect.subscriptions[%d].destinations[%d].services[%d].route", i, j, k)
					errs = append(errs, fmt.Errorf("%s: %s: route %q is not in %s", cfg.Where(key), key, sv.Route, table.File))
				}
			}
		}
	}
	return errors.Join(errs...)
}
