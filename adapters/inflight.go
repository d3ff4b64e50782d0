package adapters

import (
	"fmt"
	"sync"
)

// Inflight implements the Close contract of an Adapter for it: Close may be called while
// Deliver calls are in flight; it waits for them, and Deliver calls that start after Close began
// fail with a transient error. The zero value is ready to use.
//
//	func (a *myAdapter) Deliver(ctx context.Context, p *Package) (string, error) {
//		done, err := a.inflight.Begin("my")
//		if err != nil {
//			return "", err
//		}
//		defer done()
//		…
//	}
//
//	func (a *myAdapter) Close() error {
//		a.inflight.Close()
//		… // release connections: no delivery is running any more
//	}
type Inflight struct {
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

// Begin registers a delivery of the adapter named name. Once Close has begun it returns a
// transient error (the delivery is retried, by the adapter that replaces this one); otherwise
// the caller must call done when the delivery returns.
func (f *Inflight) Begin(name string) (done func(), err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil, Transient(fmt.Errorf("%s: delivery after the adapter was closed", name), 0)
	}
	f.wg.Add(1)
	return f.wg.Done, nil
}

// Close refuses new deliveries and waits for those in flight. It may be called more than once.
func (f *Inflight) Close() {
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
	f.wg.Wait()
}
