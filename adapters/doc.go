// Package adapters delivers messages to receiving systems. Every transport is an Adapter that
// registers itself by type name in init(), decodes its own options strictly, and classifies each
// failure: a PermanentError goes to the dead letters at once, anything else is retried with
// backoff. Adding a transport is one file with one registration.
package adapters
