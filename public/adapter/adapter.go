// Package adapter is the public API for writing a destination adapter, in or out of this
// repository: the contract (Adapter, Package, Register), the failure classification
// (Permanent, Transient), and the toolkit that leaves an adapter nothing but its transport —
// name patterns, the zip and files formats, the comparison that keeps a redelivery from
// overwriting, in-flight tracking for Close, a temp-file spooler and an HTTP client layer.
// Its conformance suite is public/adapter/adaptertest.
//
// An adapter outside this repository registers itself in init() and is built into amtsbote by
// a main package of its own that imports it and calls public/amtsbote.Main (see
// docs/adapters.md, "Writing an adapter").
//
// Everything here is an alias of package adapters, so an adapter written against this package
// and one written inside the repository are the same thing.
package adapter

import (
	"context"
	"io"
	"time"

	"github.com/amtsbote/amtsbote/adapters"
)

// The contract.
type (
	// Adapter delivers packages to one destination (see adapters.Adapter for the rules).
	Adapter = adapters.Adapter
	// Package is what a destination receives: one message and the files it references.
	Package = adapters.Package
	// File is an attachment of a Package.
	File = adapters.File
	// Factory builds an adapter from the destination's options.
	Factory = adapters.Factory
	// PermanentError is a failure that retrying cannot fix: the delivery becomes a dead letter.
	PermanentError = adapters.PermanentError
	// TransientError is a failure worth retrying, no sooner than its RetryAfter.
	TransientError = adapters.TransientError
)

// Register makes an adapter type available to the configuration (destinations[].type). Call it
// from init(); a duplicate name panics.
func Register(typ string, f Factory) { adapters.Register(typ, f) }

// Types lists the registered adapter types.
func Types() []string { return adapters.Types() }

// New builds an adapter of a registered type from its options.
func New(typ string, options map[string]any) (Adapter, error) { return adapters.New(typ, options) }

// DecodeOptions decodes a destination's options into the adapter's options struct
// (mapstructure tags); unknown keys are an error.
func DecodeOptions(options map[string]any, into any) error {
	return adapters.DecodeOptions(options, into)
}

// Permanent marks err as a failure retrying cannot fix.
func Permanent(err error) error { return adapters.Permanent(err) }

// Transient marks err as worth retrying, no sooner than retryAfter (0: no wish).
func Transient(err error, retryAfter time.Duration) error { return adapters.Transient(err, retryAfter) }

// IsPermanent tells whether err must not be retried.
func IsPermanent(err error) bool { return adapters.IsPermanent(err) }

// The toolkit.
type (
	// Inflight implements Close's contract: it waits for deliveries in flight and refuses,
	// transiently, those that start after Close began.
	Inflight = adapters.Inflight
	// FileOptions are the options name and format of adapters that place files; embed them
	// with `mapstructure:",squash"`.
	FileOptions = adapters.FileOptions
	// Pattern is a name or subject pattern with placeholders ({message_id}, …).
	Pattern = adapters.Pattern
	// Format is how a package becomes files: FormatZip or FormatFiles.
	Format = adapters.Format
	// PackageFile is one file a package becomes, with its comparison for redeliveries.
	PackageFile = adapters.PackageFile
	// Spooled is content in a temporary file.
	Spooled = adapters.Spooled
	// HTTPClientOptions are the options every HTTP adapter shares; embed them with
	// `mapstructure:",squash"`.
	HTTPClientOptions = adapters.HTTPClientOptions
	// HTTPClient is the client HTTPClientOptions.Client builds.
	HTTPClient = adapters.HTTPClient
)

const (
	FormatZip   = adapters.FormatZip
	FormatFiles = adapters.FormatFiles
	DefaultName = adapters.DefaultName
)

// ParseName checks the option `name`: a file name pattern unique per message.
func ParseName(text string) (Pattern, error) { return adapters.ParseName(text) }

// ParsePattern checks a pattern option against the placeholders allowed there.
func ParsePattern(option, text string, allowed ...string) (Pattern, error) {
	return adapters.ParsePattern(option, text, allowed...)
}

// ParseFormat checks the option `format`: zip (default) or files.
func ParseFormat(text string) (Format, error) { return adapters.ParseFormat(text) }

// SafeName turns a name from a submission into a plain, safe file name.
func SafeName(name string) string { return adapters.SafeName(name) }

// WriteZip writes the package's xdomea zip, streaming.
func WriteZip(w io.Writer, messageName string, p *Package) error {
	return adapters.WriteZip(w, messageName, p)
}

// WriteAttachment copies an attachment's content to w.
func WriteAttachment(w io.Writer, f File) error { return adapters.WriteAttachment(w, f) }

// SameZip tells whether two zips hold the same entries, with data that matches their checksums.
func SameZip(a io.ReaderAt, sizeA int64, b io.ReaderAt, sizeB int64) (bool, error) {
	return adapters.SameZip(a, sizeA, b, sizeB)
}

// SameBytes tells whether two streams hold the same bytes.
func SameBytes(a, b io.Reader) (bool, error) { return adapters.SameBytes(a, b) }

// Spool writes what write produces to a temporary file in dir ("": the system's), stopping
// once ctx is done.
func Spool(ctx context.Context, dir string, write func(io.Writer) error) (*Spooled, error) {
	return adapters.Spool(ctx, dir, write)
}

// SpoolReader spools what r holds.
func SpoolReader(ctx context.Context, dir string, r io.Reader) (*Spooled, error) {
	return adapters.SpoolReader(ctx, dir, r)
}

// StatusTransient tells whether an HTTP status is worth retrying.
func StatusTransient(code int) bool { return adapters.StatusTransient(code) }

// ParseRetryAfter reads an HTTP Retry-After header (seconds or a date) relative to now.
func ParseRetryAfter(v string, now time.Time) time.Duration { return adapters.ParseRetryAfter(v, now) }
