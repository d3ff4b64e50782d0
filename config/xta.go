package config

import (
	"fmt"
	"net/url"
	"strings"
	"time"
)

// XTA configures intake from XTA 2 mailboxes: amtsbote polls the mailboxes of its reader
// identities at an XTA server (a state's OSCI message broker) and stores what arrives as
// submissions (docs/xta.md).
type XTA struct {
	// Inboxes are the mailboxes amtsbote polls. Default: none.
	Inboxes []XTAInbox `mapstructure:"inboxes"`
}

// XTAInbox is one XTA server account and the reader identities whose mailboxes amtsbote empties.
type XTAInbox struct {
	// ID names the inbox: its submissions carry it as their portal (routes: match.portal).
	ID string `mapstructure:"id"`
	// URL is the endpoint of the server's msgBox port (https://).
	URL string `mapstructure:"url"`
	// CAFile is a PEM bundle of the CAs that may issue the server's certificate, relative to
	// the config file. Default: the system's CAs.
	CAFile string `mapstructure:"ca_file"`
	// ClientCertFile and ClientKeyFile are the client certificate of the account and its key
	// (PEM, relative to the config file); or PKCS12File with PKCS12Password.
	ClientCertFile string `mapstructure:"client_cert_file"`
	ClientKeyFile  string `mapstructure:"client_key_file"`
	PKCS12File     string `mapstructure:"pkcs12_file"`
	PKCS12Password Secret `mapstructure:"pkcs12_password"`
	// Readers are the identities whose mailboxes are polled: identifier (e.g. gad:010200200000)
	// and type (default xoev).
	Readers []XTAParty `mapstructure:"readers"`
	// Services and MessageTypes select the messages to take, by their metadata, before any is
	// downloaded; the others stay in the mailbox. Default: every message.
	Services     []string `mapstructure:"services"`
	MessageTypes []string `mapstructure:"message_types"`
	// Route is the route the messages take. Default: the routes' matching (portal: the inbox's
	// id, channel: xta, leistung and ags as configured here).
	Route string `mapstructure:"route"`
	// Leistung and AGS are what the inbox's submissions say about their service and
	// municipality, for route matching and mappings. Optional.
	Leistung string `mapstructure:"leistung"`
	AGS      string `mapstructure:"ags"`
	// PollInterval is how often the mailboxes are polled. Default: 1m.
	PollInterval time.Duration `mapstructure:"poll_interval"`
	// Timeout bounds one call to the server. Default: 60s.
	Timeout time.Duration `mapstructure:"timeout"`
	// MaxMessageBytes bounds a message's content (each of its parts). Default: 256 MiB.
	MaxMessageBytes int64 `mapstructure:"max_message_bytes"`
}

// XTAParty is an XTA identity (oscimeta:Identifier).
type XTAParty struct {
	// Identifier is the identity, e.g. gad:010200200000.
	Identifier string `mapstructure:"identifier"`
	// Type is the identifier's type. Default: xoev.
	Type string `mapstructure:"type"`
	// Name and Category describe the identity. Optional.
	Name     string `mapstructure:"name"`
	Category string `mapstructure:"category"`
}

func (x *XTA) setDefaults() {
	for i := range x.Inboxes {
		in := &x.Inboxes[i]
		if in.PollInterval == 0 {
			in.PollInterval = time.Minute
		}
		if in.Timeout == 0 {
			in.Timeout = 60 * time.Second
		}
		if in.MaxMessageBytes == 0 {
			in.MaxMessageBytes = 256 << 20
		}
		for j := range in.Readers {
			if in.Readers[j].Type == "" {
				in.Readers[j].Type = "xoev"
			}
		}
	}
}

func (x *XTA) validate(c *Config, bad func(key, format string, args ...any), unique func(key, kind, id string)) {
	for i, in := range x.Inboxes {
		key := fmt.Sprintf("xta.inboxes[%d]", i)
		if in.ID != "" && !idPattern.MatchString(in.ID) {
			bad(key+".id", "%q must match %s", in.ID, idPattern)
		}
		unique(key, "portal", in.ID) // its submissions carry it as their portal
		if u, err := url.Parse(in.URL); err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil {
			bad(key+".url", "must be the https:// endpoint of the XTA server's msgBox port, without credentials")
		}
		switch {
		case in.PKCS12File != "" && (in.ClientCertFile != "" || in.ClientKeyFile != ""):
			bad(key+".pkcs12_file", "set pkcs12_file or client_cert_file/client_key_file, not both")
		case in.PKCS12File == "" && (in.ClientCertFile == "" || in.ClientKeyFile == ""):
			bad(key+".client_cert_file", "XTA servers authenticate by client certificate: set client_cert_file and client_key_file, or pkcs12_file")
		}
		if in.PKCS12File != "" {
			if _, err := in.PKCS12Password.Value(c); err != nil && (in.PKCS12Password != Secret{}) {
				bad(key+".pkcs12_password", "%v", err)
			}
		}
		if len(in.Readers) == 0 {
			bad(key+".readers", "name at least one reader identity whose mailbox to poll")
		}
		for j, r := range in.Readers {
			if strings.TrimSpace(r.Identifier) == "" || strings.ContainsAny(r.Identifier, "\r\n\t") {
				bad(fmt.Sprintf("%s.readers[%d].identifier", key, j), "must name the identity, e.g. gad:010200200000")
			}
		}
		if in.PollInterval < 100*time.Millisecond {
			bad(key+".poll_interval", "%s: expected at least 100ms", in.PollInterval)
		}
		if in.Timeout <= 0 {
			bad(key+".timeout", "%s: expected a positive duration", in.Timeout)
		}
		if in.MaxMessageBytes < 0 {
			bad(key+".max_message_bytes", "must be positive")
		}
	}
}
