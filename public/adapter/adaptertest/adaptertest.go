// Package adaptertest is the public face of the conformance suite every adapter passes
// (adapters/adaptertest): an adapter's test supplies a Harness for a real receiving side and
// calls Run.
package adaptertest

import (
	"testing"

	"github.com/amtsbote/amtsbote/adapters"
	"github.com/amtsbote/amtsbote/adapters/adaptertest"
)

// Harness connects the suite to one adapter and its receiving side.
type Harness = adaptertest.Harness

// Run runs the conformance suite.
func Run(t *testing.T, h Harness) { adaptertest.Run(t, h) }

// Package returns a package as the pipeline builds them, with a fresh message id.
func Package() *adapters.Package { return adaptertest.Package() }

// ZippedXML reads the message XML out of every <messageID>_*.zip in dir.
func ZippedXML(dir, messageID string) [][]byte { return adaptertest.ZippedXML(dir, messageID) }

// With returns base changed by change (a nil value removes the key).
func With(base, change map[string]any) map[string]any { return adaptertest.With(base, change) }
