// Package snapshot loads everything amtsbote's behaviour depends on — the configuration, the
// compiled schema sets with their code lists, the routes with their compiled mappings — as one
// validated unit. A running daemon swaps snapshots whole on reload; a snapshot in use by
// in-flight work is freed only when the last user releases it.
package snapshot

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"

	"github.com/amtsbote/amtsbote/config"
	"github.com/amtsbote/amtsbote/routes"
	"github.com/amtsbote/amtsbote/xoev"
)

// Snapshot is one loaded, checked configuration.
type Snapshot struct {
	Config  *config.Config
	Schemas map[string]*xoev.SchemaSet
	Routes  *routes.Table

	mu      sync.Mutex
	users   int
	retired bool
	closed  bool
}

// Load reads the configuration file and everything it names, reporting every problem found (not
// only the first), each with its file and line or key.
func Load(file string) (*Snapshot, error) {
	cfg, err := config.Load(file)
	if err != nil {
		return nil, err
	}
	return FromConfig(cfg)
}

// FromConfig loads the schema sets and routes a configuration names.
func FromConfig(cfg *config.Config) (*Snapshot, error) {
	s := &Snapshot{Config: cfg, Schemas: map[string]*xoev.SchemaSet{}}
	var errs []error
	for _, sc := range cfg.Schemas {
		set, err := xoev.LoadSchemaSet(xoev.SchemaSetConfig{
			ID: sc.ID, Root: cfg.Path(sc.Root), Namespaces: sc.Namespaces,
			Catalog: cfg.Path(sc.Catalog), CodeLists: cfg.Paths(sc.CodeLists), Standard: sc.Standard, Version: sc.Version,
		})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		s.Schemas[sc.ID] = set
	}
	table, err := routes.Load(cfg.Path(cfg.RoutesFile), routes.Checks{
		Schemas: s.Schemas,
		Destination: func(id string) bool {
			_, ok := cfg.Destination(id)
			return ok
		},
		PaymentProvider: func(id string) bool {
			_, ok := cfg.Payment.Provider(id)
			return ok
		},
	})
	if err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		s.close()
		return nil, errors.Join(errs...)
	}
	s.Routes = table
	return s, nil
}

// Files are the configuration files a reload depends on: the config file, the routes file, the
// mapping files and their partials, JSON Schemas and labels files.
func (s *Snapshot) Files() []string {
	files := []string{s.Config.File, s.Routes.File}
	seen := map[string]bool{}
	for _, r := range s.Routes.Routes {
		var deps []string
		if d := r.ApplicationDocument; d != nil && d.File != "" {
			deps = append(deps, d.File)
		}
		if r.Schema != nil {
			deps = append(deps, r.Schema.File)
		}
		for _, t := range r.Targets {
			deps = append(deps, t.Files...)
		}
		for _, f := range deps {
			if !seen[f] {
				seen[f] = true
				files = append(files, f)
			}
		}
	}
	return files
}

// SchemaSetFor returns the schema set whose messages have this root namespace.
func (s *Snapshot) SchemaSetFor(namespace string) *xoev.SchemaSet {
	for _, set := range s.Schemas {
		for _, ns := range set.Namespaces {
			if ns == namespace {
				return set
			}
		}
	}
	return nil
}

// Acquire marks the snapshot in use; Release ends that use.
func (s *Snapshot) Acquire() *Snapshot {
	s.mu.Lock()
	s.users++
	s.mu.Unlock()
	return s
}

// Release ends one use; a retired snapshot is freed with its last use.
func (s *Snapshot) Release() {
	s.mu.Lock()
	s.users--
	free := s.retired && s.users == 0
	s.mu.Unlock()
	if free {
		s.close()
	}
}

// Retire marks a snapshot replaced: it is freed once no one uses it.
func (s *Snapshot) Retire() {
	s.mu.Lock()
	s.retired = true
	free := s.users == 0
	s.mu.Unlock()
	if free {
		s.close()
	}
}

func (s *Snapshot) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	for _, set := range s.Schemas {
		set.Close()
	}
}

// Close frees the snapshot now (for tools that own it alone).
func (s *Snapshot) Close() { s.close() }

// RestartNeeded names what differs between two configurations that a reload cannot change
// (listeners, storage, destinations and their adapters, pipeline settings, FIT-Connect), or ""
// if nothing.
func RestartNeeded(old, new *config.Config) string {
	var changed []string
	for name, pair := range map[string][2]any{
		"server":       {old.Server, new.Server},
		"admin":        {old.Admin, new.Admin},
		"receipts":     {old.Receipts, new.Receipts},
		"replies":      {old.Replies, new.Replies},
		"retention":    {old.Retention, new.Retention},
		"tracing":      {old.Tracing, new.Tracing},
		"storage":      {old.Storage, new.Storage},
		"pipeline":     {old.Pipeline, new.Pipeline},
		"destinations": {old.Destinations, new.Destinations},
		"log":          {old.Log, new.Log},
		"fitconnect":   {old.FitConnect, new.FitConnect},
		"payment":      {old.Payment, new.Payment},
	} {
		if !reflect.DeepEqual(pair[0], pair[1]) {
			changed = append(changed, name)
		}
	}
	if len(changed) == 0 {
		return ""
	}
	return fmt.Sprintf("%s changed; these take effect only after a restart", strings.Join(slices.Sorted(slices.Values(changed)), ", "))
}

// Warnings are what in a configuration works but is probably not meant so: `config check`
// prints them and the daemon logs them at start and on reload.
func (s *Snapshot) Warnings() []string {
	var out []string
	for _, r := range s.Routes.Routes {
		for _, t := range r.Targets {
			m, ok := t.Mapper.(interface{ Type() string })
			if !ok || !strings.HasPrefix(m.Type(), "Abgabe.Abgabe.") {
				continue
			}
			if s.Config.Sender.Same(t.Recipient) {
				out = append(out, fmt.Sprintf("%s: route %q, destination %s: sender and recipient are the same authority (%s %s), "+
					"but a %s transfers records and responsibility to another authority; to hand an application to an E-Akte "+
					"use Geschaeftsgang.Geschaeftsgang.0201, to a DMS Information.Information.0101 (docs/mapping.md)",
					r.Where, r.ID, t.Destination, t.Recipient.Praefix, t.Recipient.Kennung, m.Type()))
			}
		}
	}
	out = append(out, s.replyWarnings()...)
	for _, d := range s.Config.Destinations {
		if v, _ := d.Options["allow_unencrypted_personal_data"].(bool); v {
			out = append(out, fmt.Sprintf("%s: destination %s: allow_unencrypted_personal_data is set: its packages cross the network unencrypted",
				s.Config.File, d.ID))
		}
	}
	return out
}
