package daemon_test

import (
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/amtsbote/amtsbote/adapters"
	"github.com/amtsbote/amtsbote/config"
)

// gate is a transport the test holds in its hand: every Deliver reads the whole package, reports
// that it entered, and waits for the test's verdict (release) unless open.
type gate struct {
	calls   atomic.Int64
	entered chan *adapters.Package
	verdict chan error
	open    atomic.Bool

	mu   sync.Mutex
	read map[string]int64 // bytes read per file name, last delivery
	errs []error          // errors reading files
}

var (
	gatesMu sync.Mutex
	gates   = map[string]*gate{}
)

func init() {
	adapters.Register("test-gate", func(o map[string]any) (adapters.Adapter, error) {
		gatesMu.Lock()
		defer gatesMu.Unlock()
		g, ok := gates[fmt.Sprint(o["gate"])]
		if !ok {
			return nil, fmt.Errorf("no gate %v", o["gate"])
		}
		return g, nil
	})
}

// useGate makes destination i of cfg deliver through a new gate.
func useGate(t *testing.T, cfg *config.Config, i int) *gate {
	t.Helper()
	g, name := newGate(t)
	cfg.Destinations[i].Type = "test-gate"
	cfg.Destinations[i].Options["gate"] = name
	return g
}

// newGate makes a gate a destination can use with type test-gate and options {gate: name}.
func newGate(t *testing.T) (*gate, string) {
	t.Helper()
	g := &gate{entered: make(chan *adapters.Package, 100), verdict: make(chan error, 100), read: map[string]int64{}}
	name := t.Name()
	gatesMu.Lock()
	gates[name] = g
	gatesMu.Unlock()
	t.Cleanup(func() {
		g.open.Store(true)
		gatesMu.Lock()
		delete(gates, name)
		gatesMu.Unlock()
	})
	return g, name
}

func (g *gate) Deliver(ctx context.Context, p *adapters.Package) (string, error) {
	g.calls.Add(1)
	read := map[string]int64{}
	var errs []error
	for _, f := range p.Files {
		r, err := f.Open()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		n, err := io.Copy(io.Discard, r)
		r.Close()
		read[f.Name] = n
		if err != nil {
			errs = append(errs, err)
		}
	}
	g.mu.Lock()
	g.read, g.errs = read, errs
	g.mu.Unlock()
	if len(errs) > 0 {
		return "", errs[0]
	}
	if g.open.Load() {
		return "gate:" + p.MessageID, nil
	}
	g.entered <- p
	select {
	case err := <-g.verdict:
		if err != nil {
			return "", err
		}
		return "gate:" + p.MessageID, nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

func (g *gate) Close() error { return nil }
