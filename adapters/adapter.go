package adapters

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"sort"
	"sync"
	"time"

	"github.com/go-viper/mapstructure/v2"
)

// Package is what a destination receives: one XÖV message and the files it references.
type Package struct {
	SubmissionID string
	Route        string // the route that sent it, for logs
	// MessageID is the ProzessID; every delivered artefact carries it so receivers can de-duplicate.
	MessageID   string
	MessageType string // e.g. Abgabe.Abgabe.0401
	CreatedAt   time.Time
	Leistung    string
	AGS         string
	// XML is the message: an XÖV message, or JSON or CSV where MediaType says so.
	XML []byte
	// MediaType is the message's media type: "" or application/xml for XÖV messages,
	// application/json for form data and JSON mappings, text/csv (with its charset) for CSV
	// mappings. It picks the message file's extension (MessageExt).
	MediaType string
	Files     []File
}

// MessageMediaType is the message's media type (application/xml unless set).
func (p *Package) MessageMediaType() string {
	if p.MediaType == "" {
		return "application/xml"
	}
	return p.MediaType
}

// MessageExt is the extension of the message file in a package: .xml, .json for JSON, .csv
// for CSV.
func (p *Package) MessageExt() string {
	mt, _, err := mime.ParseMediaType(p.MessageMediaType())
	switch {
	case err != nil:
		return ".xml"
	case mt == "application/json":
		return ".json"
	case mt == "text/csv":
		return ".csv"
	}
	return ".xml"
}

// File is an attachment of a package.
type File struct {
	// Name is the safe, unique name the message refers to.
	Name      string
	MediaType string
	Size      int64
	Open      func() (io.ReadCloser, error)
}

// Adapter delivers packages to one destination. Deliver is called concurrently (up to the
// destination's max_in_flight), must honour ctx, and must be idempotent: delivering the same
// package again (after a crash or a replay) must not create a second, different artefact.
//
// Close may be called while Deliver calls are in flight; it waits for them, and Deliver calls
// that start after Close began fail with a transient error. (The daemon closes its adapters
// once on shutdown, after the pipeline stopped or server.shutdown_timeout passed, whichever
// came first: deliveries may still be running then.) adaptertest checks all of this.
type Adapter interface {
	// Deliver hands the package over and returns where it went (e.g. a file path).
	Deliver(ctx context.Context, p *Package) (artefact string, err error)
	// Close waits for the deliveries in flight, refuses new ones and releases connections
	// (see Adapter). It is called once; Inflight implements it.
	Close() error
}

// Factory builds an adapter from its options (the destination's "options" map).
type Factory func(options map[string]any) (Adapter, error)

var (
	mu       sync.RWMutex
	registry = map[string]Factory{}
)

// Register makes an adapter type available to the configuration. It panics on a duplicate name,
// which is a programming error.
func Register(typ string, f Factory) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := registry[typ]; dup {
		panic("adapters: type registered twice: " + typ)
	}
	registry[typ] = f
}

// New builds an adapter of the registered type.
func New(typ string, options map[string]any) (Adapter, error) {
	mu.RLock()
	f, ok := registry[typ]
	mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("unknown adapter type %q (known: %v)", typ, Types())
	}
	return f(options)
}

// Types lists the registered adapter types.
func Types() []string {
	mu.RLock()
	defer mu.RUnlock()
	out := make([]string, 0, len(registry))
	for t := range registry {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// DecodeOptions decodes an adapter's options into its config struct; unknown keys are an error.
func DecodeOptions(options map[string]any, into any) error {
	dec, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{
		ErrorUnused:      true,
		WeaklyTypedInput: true,
		DecodeHook:       mapstructure.StringToTimeDurationHookFunc(),
		Result:           into,
	})
	if err != nil {
		return err
	}
	if err := dec.Decode(options); err != nil {
		return fmt.Errorf("options: %w", err)
	}
	return nil
}

// PermanentError marks a failure that retrying cannot fix; the delivery goes to the dead letters.
type PermanentError struct {
	Err error
}

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent wraps err as a PermanentError.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &PermanentError{Err: err}
}

// TransientError is a failure worth retrying; RetryAfter, when set, is the earliest time the
// receiver asked for (e.g. HTTP Retry-After).
type TransientError struct {
	Err        error
	RetryAfter time.Duration
}

func (e *TransientError) Error() string { return e.Err.Error() }
func (e *TransientError) Unwrap() error { return e.Err }

// Transient wraps err as a TransientError asking to wait at least retryAfter (0: no wish).
func Transient(err error, retryAfter time.Duration) error {
	if err == nil {
		return nil
	}
	return &TransientError{Err: err, RetryAfter: retryAfter}
}

// RetryAfter returns how long the receiver asked to wait before the next attempt.
func RetryAfter(err error) time.Duration {
	var t *TransientError
	if errors.As(err, &t) {
		return t.RetryAfter
	}
	return 0
}

// IsPermanent tells whether err must not be retried.
func IsPermanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}
