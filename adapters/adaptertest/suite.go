// Package adaptertest is the conformance suite every transport adapter passes. An adapter's test
// supplies a Harness for a real receiving side (a directory, a real sshd, an HTTP server, an SMTP
// server) and calls Run. The suite checks one rule per subtest (see Rules): deliver; a transient
// failure, then success; a permanent failure that leaves the receiver's file untouched; harmless
// redelivery; one artefact when the same package is delivered concurrently; Close with work in
// flight; a cancelled context; a large attachment streamed and byte-exact; no temporary files
// left behind; invalid options refused at construction.
//
// The Close contract the suite checks is the one adapters.Adapter states: Close may be called
// while Deliver calls are in flight; it waits for them, and Deliver calls that start after Close
// began fail with a transient error.
package adaptertest

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/amtsbote/amtsbote/adapters"
)

// T is what the suite needs of a test. Run hands it a *testing.T; a test of the suite itself
// hands it a recorder, to see which rules a deliberately broken adapter fails.
type T interface {
	testing.TB
	Run(name string, f func(t T)) bool
}

// Harness connects the suite to one adapter and its receiving side.
type Harness struct {
	// Factory builds the adapter from its options, e.g.
	// func(o map[string]any) (adapters.Adapter, error) { return adapters.New("filedrop", o) }.
	Factory adapters.Factory
	// Options prepares a fresh receiving side and returns valid options that deliver to it. The
	// suite calls it once per rule; Received, Attachment, Files and the Break hooks that follow
	// refer to the receiving side it prepared last.
	Options func(t testing.TB) map[string]any
	// InvalidOptions are mistakes construction must refuse, by name: each is a change to the
	// valid options, applied with With (a nil value removes the key). The suite adds an unknown
	// key of its own.
	InvalidOptions map[string]map[string]any
	// Received returns what the receiving side holds for a message id: one entry per distinct
	// artefact (file, distinct request or mail as the receiver de-duplicates by message id),
	// each the message as received (or the whole artefact, if the message is inside it).
	Received func(t testing.TB, messageID string) [][]byte
	// Attachment returns the attachment with the given name from what the receiving side holds
	// for the message, byte for byte; ok is false if there is none.
	Attachment func(t testing.TB, messageID, name string) (content []byte, ok bool)
	// Files lists everything the receiving side holds, by name, with its content: every file in
	// the directory, hidden and temporary ones included; every stored object; every mail. The
	// name of what a delivery leaves must contain the package's message id, as artefact names
	// do; anything else counts as left behind.
	Files func(t testing.TB) map[string][]byte
	// BreakTransiently makes the receiving side fail in a way worth retrying (down, 503, …)
	// until the returned function is called.
	BreakTransiently func(t testing.TB) (restore func())
	// BreakPermanently makes the receiving side refuse the package in a way retrying cannot fix
	// until the returned function is called. Where the receiving side holds files or objects by
	// name, it places a different one under the package's name (a 400 or a rejected recipient
	// where it does not): the adapter must give a permanent error and leave it untouched.
	BreakPermanently func(t testing.TB, p *adapters.Package) (restore func())
}

// The rules, one subtest each.
const (
	RuleDeliver    = "deliver"
	RuleTransient  = "transient failure then success"
	RulePermanent  = "permanent failure leaves the receiver's file untouched"
	RuleRedeliver  = "redelivery is harmless"
	RuleConcurrent = "concurrent delivery of one package leaves one artefact"
	RuleClose      = "close waits for deliveries in flight and refuses new ones"
	RuleCancel     = "cancelled context returns promptly and writes nothing partial"
	RuleLarge      = "large attachment is streamed and arrives byte-exact"
	RuleNoTemp     = "no temporary files are left behind"
	RuleOptions    = "invalid options are refused at construction"
)

// Rules lists the rules in the order the suite checks them.
var Rules = []string{RuleDeliver, RuleTransient, RulePermanent, RuleRedeliver, RuleConcurrent, RuleClose,
	RuleCancel, RuleLarge, RuleNoTemp, RuleOptions}

const (
	// LargeSize is the size of the large attachment. An adapter that holds it in memory, or in
	// a buffer of a fixed size, cannot pass.
	LargeSize = 32 << 20
	// MaxHeapGrowth bounds how much the heap may grow while the large attachment is delivered:
	// a quarter of it. It measures the whole process, so a receiving side that runs in the
	// test must not hold what it receives in memory either (spool it to disk).
	MaxHeapGrowth = LargeSize / 4
	// PromptReturn is how soon Deliver must return once its context is cancelled.
	PromptReturn = 2 * time.Second
	// guard bounds every call the suite waits for, so that a hanging adapter fails the rule
	// instead of the whole test binary.
	guard = 60 * time.Second
)

// Package returns a small package with a fresh message id, two attachments and XML that
// carries the id, as the pipeline builds them.
func Package() *adapters.Package {
	id := uuid.NewString()
	files := []struct{ name, mt, content string }{
		{uuid.NewString() + "_Antrag.pdf", "application/pdf", "%PDF-1.4 test"},
		{uuid.NewString() + "_Foto.png", "image/png", "\x89PNG test"},
	}
	p := &adapters.Package{
		SubmissionID: uuid.NewString(), MessageID: id, MessageType: "Abgabe.Abgabe.0401",
		CreatedAt: time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC), Leistung: "99050012104000", AGS: "09162000",
		XML: []byte(`<?xml version="1.0" encoding="UTF-8"?><m:Nachricht xmlns:m="urn:test"><m:ProzessID>` + id + `</m:ProzessID></m:Nachricht>`),
	}
	for _, f := range files {
		p.Files = append(p.Files, bytesFile(f.name, f.mt, []byte(f.content)))
	}
	return p
}

func bytesFile(name, mediaType string, content []byte) adapters.File {
	return adapters.File{Name: name, MediaType: mediaType, Size: int64(len(content)),
		Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(content)), nil }}
}

// Run runs the conformance suite.
func Run(t *testing.T, h Harness) {
	Check(testingT{t}, h)
}

// testingT makes a *testing.T a T.
type testingT struct{ *testing.T }

func (t testingT) Run(name string, f func(t T)) bool {
	return t.T.Run(name, func(t *testing.T) { f(testingT{t}) })
}

// Check runs the conformance suite on any T.
func Check(t T, h Harness) {
	t.Run(RuleDeliver, func(t T) { checkDeliver(t, h) })
	t.Run(RuleTransient, func(t T) { checkTransient(t, h) })
	t.Run(RulePermanent, func(t T) { checkPermanent(t, h) })
	t.Run(RuleRedeliver, func(t T) { checkRedeliver(t, h) })
	t.Run(RuleConcurrent, func(t T) { checkConcurrent(t, h) })
	t.Run(RuleClose, func(t T) { checkClose(t, h) })
	t.Run(RuleCancel, func(t T) { checkCancel(t, h) })
	t.Run(RuleLarge, func(t T) { checkLarge(t, h) })
	t.Run(RuleNoTemp, func(t T) { checkNoTemp(t, h) })
	t.Run(RuleOptions, func(t T) { checkOptions(t, h) })
}

// newAdapter prepares a receiving side and builds an adapter for it; the caller closes it.
func newAdapter(t T, h Harness) adapters.Adapter {
	t.Helper()
	a, err := h.Factory(h.Options(t))
	if err != nil {
		t.Fatalf("valid options refused: %v", err)
	}
	return a
}

// deliver calls Deliver, failing the rule if it does not return within guard.
func deliver(t T, a adapters.Adapter, ctx context.Context, p *adapters.Package) (string, error) {
	t.Helper()
	type result struct {
		artefact string
		err      error
	}
	done := make(chan result, 1)
	go func() {
		artefact, err := a.Deliver(ctx, p)
		done <- result{artefact, err}
	}()
	select {
	case r := <-done:
		return r.artefact, r.err
	case <-time.After(guard):
		t.Fatalf("Deliver did not return within %s", guard)
		return "", nil
	}
}

// closeAdapter calls Close, failing the rule if it does not return within guard.
func closeAdapter(t T, a adapters.Adapter) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- a.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(guard):
		t.Fatalf("Close did not return within %s", guard)
	}
}

// complete fails the rule for every artefact of p that is not whole (does not carry its id),
// and returns how many there are.
func complete(t T, h Harness, p *adapters.Package, what string) int {
	t.Helper()
	got := h.Received(t, p.MessageID)
	for _, g := range got {
		if !bytes.Contains(g, []byte(p.MessageID)) {
			t.Errorf("%s left a half-written artefact: %q", what, truncate(g))
		}
	}
	return len(got)
}

func checkDeliver(t T, h Harness) {
	a := newAdapter(t, h)
	defer closeAdapter(t, a)
	p := Package()
	artefact, err := deliver(t, a, context.Background(), p)
	if err != nil {
		t.Fatalf("deliver: %v", err)
	}
	if artefact == "" {
		t.Error("deliver returned no artefact description")
	}
	got := h.Received(t, p.MessageID)
	if len(got) != 1 || !bytes.Contains(got[0], []byte(p.MessageID)) {
		t.Fatalf("receiver holds %d artefacts for the message, want 1 carrying its id", len(got))
	}
	for _, f := range p.Files {
		content, ok := h.Attachment(t, p.MessageID, adapters.SafeName(f.Name))
		if want := readAll(f); !ok || !bytes.Equal(content, want) {
			t.Errorf("attachment %s arrived as %q (found: %v), want %q", f.Name, truncate(content), ok, want)
		}
	}
}

func readAll(f adapters.File) []byte {
	rc, err := f.Open()
	if err != nil {
		return nil
	}
	defer rc.Close()
	b, _ := io.ReadAll(rc)
	return b
}

func checkTransient(t T, h Harness) {
	a := newAdapter(t, h)
	defer closeAdapter(t, a)
	p := Package()
	restore := h.BreakTransiently(t)
	_, err := deliver(t, a, context.Background(), p)
	restore()
	if err == nil || adapters.IsPermanent(err) {
		t.Fatalf("while broken: want a transient error, got %v", err)
	}
	if _, err := deliver(t, a, context.Background(), p); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
	if got := h.Received(t, p.MessageID); len(got) != 1 {
		t.Fatalf("receiver holds %d artefacts, want 1", len(got))
	}
}

// checkPermanent: a permanent refusal is a permanent error, and what the receiving side held
// before (a different file under the package's name) is there unchanged afterwards.
func checkPermanent(t T, h Harness) {
	a := newAdapter(t, h)
	defer closeAdapter(t, a)
	p := Package()
	restore := h.BreakPermanently(t, p)
	defer restore()
	before := h.Files(t)
	_, err := deliver(t, a, context.Background(), p)
	if !adapters.IsPermanent(err) {
		t.Errorf("want a permanent error, got %v", err)
	}
	after := h.Files(t)
	for name, content := range before {
		now, ok := after[name]
		switch {
		case !ok:
			t.Errorf("%s, which the receiver held before, is gone", name)
		case !bytes.Equal(now, content):
			t.Errorf("%s, which the receiver held before, was changed: %q, was %q", name, truncate(now), truncate(content))
		}
	}
}

func checkRedeliver(t T, h Harness) {
	a := newAdapter(t, h)
	defer closeAdapter(t, a)
	p := Package()
	for i := 0; i < 3; i++ {
		if _, err := deliver(t, a, context.Background(), p); err != nil {
			t.Fatalf("delivery %d: %v", i+1, err)
		}
	}
	if got := h.Received(t, p.MessageID); len(got) != 1 {
		t.Fatalf("three deliveries of one message left %d distinct artefacts, want 1", len(got))
	}
}

// checkConcurrent: the same package delivered by several handlers at once (a replay while an
// attempt is still running, two instances) ends as one artefact. A delivery that lost the race
// may fail transiently, never permanently.
func checkConcurrent(t T, h Harness) {
	a := newAdapter(t, h)
	defer closeAdapter(t, a)
	p := Package()
	const n = 4
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, errs[i] = a.Deliver(context.Background(), p)
		}()
	}
	close(start)
	if !waitFor(&wg, guard) {
		t.Fatalf("concurrent deliveries did not return within %s", guard)
	}
	succeeded := 0
	for i, err := range errs {
		switch {
		case err == nil:
			succeeded++
		case adapters.IsPermanent(err):
			t.Errorf("delivery %d of the same package failed permanently: %v", i+1, err)
		}
	}
	if succeeded == 0 {
		t.Errorf("none of %d concurrent deliveries succeeded: %v", n, errs)
	}
	if got := complete(t, h, p, "a concurrent delivery"); got != 1 {
		t.Errorf("%d concurrent deliveries of one package left %d distinct artefacts, want 1", n, got)
	}
}

func waitFor(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

// checkClose: a delivery blocks (its attachment does not yield a byte) until Close has been
// called; Close must not return before it, a Deliver that starts meanwhile or afterwards must
// fail transiently, and the blocked delivery completes.
func checkClose(t T, h Harness) {
	a := newAdapter(t, h)
	p := Package()
	started, release := make(chan struct{}), make(chan struct{})
	var releaseOnce sync.Once
	unblock := func() { releaseOnce.Do(func() { close(release) }) }
	defer unblock()
	p.Files = append(p.Files, gatedFile(uuid.NewString()+"_Anlage.pdf", []byte("%PDF-1.4 gated"), started, release))
	inflight := make(chan error, 1)
	go func() {
		_, err := a.Deliver(context.Background(), p)
		inflight <- err
	}()
	select {
	case <-started:
	case err := <-inflight:
		t.Fatalf("Deliver returned (%v) without reading the attachment", err)
	case <-time.After(guard):
		t.Fatalf("Deliver did not read the attachment within %s", guard)
	}
	closed := make(chan error, 1)
	go func() { closed <- a.Close() }()
	select {
	case err := <-closed:
		t.Errorf("Close returned while a delivery was in flight; it must wait for it")
		closed <- err
	case <-time.After(200 * time.Millisecond):
	}
	late := Package()
	if _, err := deliver(t, a, context.Background(), late); err == nil || adapters.IsPermanent(err) {
		t.Errorf("Deliver after Close began: want a transient error, got %v", err)
	}
	unblock()
	select {
	case err := <-inflight:
		if err != nil {
			t.Errorf("the delivery in flight when Close began failed: %v; Close must let it finish", err)
		} else if got := complete(t, h, p, "the delivery in flight"); got != 1 {
			t.Errorf("the delivery in flight reported success but the receiver holds %d artefacts", got)
		}
	case <-time.After(guard):
		t.Fatalf("the delivery in flight did not return within %s of its release", guard)
	}
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(guard):
		t.Fatalf("Close did not return within %s of the last delivery", guard)
	}
	after := Package()
	if _, err := deliver(t, a, context.Background(), after); err == nil || adapters.IsPermanent(err) {
		t.Errorf("Deliver after Close returned: want a transient error, got %v", err)
	}
	for _, q := range []*adapters.Package{late, after} {
		if got := h.Received(t, q.MessageID); len(got) != 0 {
			t.Errorf("a delivery refused after Close left %d artefacts", len(got))
		}
	}
}

// gatedFile is an attachment whose reader closes started on its first Read and then waits
// for release.
func gatedFile(name string, content []byte, started, release chan struct{}) adapters.File {
	var once sync.Once
	return adapters.File{Name: name, MediaType: "application/pdf", Size: int64(len(content)),
		Open: func() (io.ReadCloser, error) {
			r := bytes.NewReader(content)
			return io.NopCloser(readerFunc(func(b []byte) (int, error) {
				once.Do(func() { close(started) })
				<-release
				return r.Read(b)
			})), nil
		}}
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(b []byte) (int, error) { return f(b) }

// checkCancel: a context cancelled before Deliver, and one cancelled half-way through the
// attachment, make Deliver return promptly with an error that is not permanent (the delivery
// is retried), and leave no artefact, least of all a half-written one. After the cancellation
// the attachment yields its rest slowly, like a slow network: an adapter that ignores its
// context takes far longer than PromptReturn.
func checkCancel(t T, h Harness) {
	a := newAdapter(t, h)
	defer closeAdapter(t, a)

	p := Package()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	_, err := deliver(t, a, ctx, p)
	checkCancelled(t, h, p, "a context cancelled before Deliver", err, time.Since(start))

	p = Package()
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	f, cancelledAt := cancellingFile(cancel)
	p.Files = append(p.Files, f)
	_, err = deliver(t, a, ctx, p)
	returned := time.Now()
	at, ok := cancelledAt()
	if !ok {
		t.Fatalf("Deliver returned (%v) before it read half the attachment", err)
	}
	checkCancelled(t, h, p, "a context cancelled during Deliver", err, returned.Sub(at))
}

func checkCancelled(t T, h Harness, p *adapters.Package, what string, err error, took time.Duration) {
	t.Helper()
	switch {
	case err == nil:
		t.Errorf("%s: Deliver reported success", what)
	case adapters.IsPermanent(err):
		t.Errorf("%s: Deliver failed permanently (%v); a cancelled delivery must be retried", what, err)
	}
	if took > PromptReturn {
		t.Errorf("%s: Deliver took %s to return, want at most %s", what, took.Round(time.Millisecond), PromptReturn)
	}
	if n := complete(t, h, p, what); n != 0 && err != nil {
		t.Errorf("%s: Deliver failed (%v) but the receiver holds %d artefacts", what, err, n)
	}
}

// cancellingFile is a 4 MiB attachment that calls cancel once half of it is read; from then on
// it yields 4 KiB every 10 ms. cancelledAt tells when it cancelled.
func cancellingFile(cancel func()) (f adapters.File, cancelledAt func() (time.Time, bool)) {
	const size, half = 4 << 20, 2 << 20
	var at atomic.Pointer[time.Time]
	f = adapters.File{Name: uuid.NewString() + "_Scan.pdf", MediaType: "application/pdf", Size: size,
		Open: func() (io.ReadCloser, error) {
			r := newStream(1, size)
			read := 0
			return io.NopCloser(readerFunc(func(b []byte) (int, error) {
				if read >= half {
					if at.Load() == nil {
						now := time.Now()
						at.Store(&now)
						cancel()
					}
					time.Sleep(10 * time.Millisecond)
					b = b[:min(len(b), 4<<10)]
				} else {
					b = b[:min(len(b), half-read)]
				}
				n, err := r.Read(b)
				read += n
				return n, err
			})), nil
		}}
	return f, func() (time.Time, bool) {
		if p := at.Load(); p != nil {
			return *p, true
		}
		return time.Time{}, false
	}
}

// checkLarge delivers a LargeSize attachment, generated while it is read, and checks that the
// heap did not grow by more than MaxHeapGrowth meanwhile and that the receiver holds it byte
// for byte.
func checkLarge(t T, h Harness) {
	a := newAdapter(t, h)
	defer closeAdapter(t, a)
	p := Package()
	large := adapters.File{Name: uuid.NewString() + "_Akte.pdf", MediaType: "application/pdf", Size: LargeSize,
		Open: func() (io.ReadCloser, error) { return io.NopCloser(newStream(2, LargeSize)), nil }}
	p.Files = append(p.Files, large)
	var err error
	growth := peakHeapGrowth(func() { _, err = deliver(t, a, context.Background(), p) })
	if err != nil {
		t.Fatalf("deliver: %v", err)
	}
	t.Logf("the heap grew by %.1f MiB while a %d MiB attachment was delivered", float64(growth)/(1<<20), LargeSize>>20)
	if growth > MaxHeapGrowth {
		t.Errorf("the heap grew by %d MiB while a %d MiB attachment was delivered, want at most %d MiB: the attachment must be streamed, not held in memory",
			growth>>20, LargeSize>>20, MaxHeapGrowth>>20)
	}
	got, ok := h.Attachment(t, p.MessageID, adapters.SafeName(large.Name))
	if !ok {
		t.Fatalf("the receiver holds no %s", large.Name)
	}
	want := sha256.New()
	io.Copy(want, newStream(2, LargeSize))
	if len(got) != LargeSize || sha256.Sum256(got) != [32]byte(want.Sum(nil)) {
		t.Errorf("the %d MiB attachment arrived as %d bytes that differ from what was sent", LargeSize>>20, len(got))
	}
}

// stream is a reproducible pseudo-random byte stream of a given size: content that does not
// compress and need not be held in memory.
type stream struct {
	rng  *rand.PCG
	buf  [8]byte
	have int
	left int64
}

func newStream(seed uint64, size int64) *stream {
	return &stream{rng: rand.NewPCG(seed, seed), left: size}
}

func (s *stream) Read(b []byte) (int, error) {
	if s.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(b)) > s.left {
		b = b[:s.left]
	}
	n := 0
	for n < len(b) {
		if s.have == 0 {
			v := s.rng.Uint64()
			for i := range s.buf {
				s.buf[i] = byte(v >> (8 * i))
			}
			s.have = len(s.buf)
		}
		c := copy(b[n:], s.buf[len(s.buf)-s.have:])
		s.have -= c
		n += c
	}
	s.left -= int64(n)
	return n, nil
}

// peakHeapGrowth runs f and returns by how much the heap (live and not yet collected objects)
// grew above what it held before, at its peak, sampled every millisecond.
func peakHeapGrowth(f func()) uint64 {
	runtime.GC()
	heap := func() uint64 {
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		metrics.Read(s)
		return s[0].Value.Uint64()
	}
	base := heap()
	var peak atomic.Uint64
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			if v := heap(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	f()
	close(stop)
	<-stopped
	if p := peak.Load(); p > base {
		return p - base
	}
	return 0
}

// checkNoTemp runs deliveries that succeed, are repeated, are refused permanently, fail
// transiently and are cancelled (before and during), and compares what the receiving side
// holds before and after each: a failed delivery adds nothing, a successful one adds only what
// carries its message id.
func checkNoTemp(t T, h Harness) {
	a := newAdapter(t, h)
	defer closeAdapter(t, a)
	step := func(what string, p *adapters.Package, ctx context.Context, brk func() func()) {
		t.Helper()
		restore := func() {}
		if brk != nil {
			restore = brk()
		}
		before := h.Files(t)
		_, err := deliver(t, a, ctx, p)
		after := h.Files(t)
		restore()
		var added []string
		for name := range after {
			if _, ok := before[name]; !ok {
				added = append(added, name)
			}
		}
		slices.Sort(added)
		if err != nil {
			// An artefact a failed delivery left is for RuleCancel to judge; anything more
			// was left behind.
			if artefacts := len(h.Received(t, p.MessageID)); len(added) > artefacts {
				t.Errorf("%s failed (%v) and left %d files behind besides %d artefacts: %q", what, err, len(added)-artefacts, artefacts, added)
			}
			return
		}
		for _, name := range added {
			if !strings.Contains(name, p.MessageID) {
				t.Errorf("%s left %s behind, which does not carry its message id %s", what, name, p.MessageID)
			}
		}
	}
	p := Package()
	step("a delivery", p, context.Background(), nil)
	step("a redelivery", p, context.Background(), nil)
	refused := Package()
	step("a refused delivery", refused, context.Background(), func() func() { return h.BreakPermanently(t, refused) })
	step("a delivery while the receiver is down", Package(), context.Background(), func() func() { return h.BreakTransiently(t) })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	step("a delivery with a cancelled context", Package(), ctx, nil)
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	f, _ := cancellingFile(cancel)
	cancelled := Package()
	cancelled.Files = append(cancelled.Files, f)
	step("a delivery cancelled half-way", cancelled, ctx, nil)
}

// checkOptions: construction refuses an unknown option and every mistake the harness lists,
// with an error that says something.
func checkOptions(t T, h Harness) {
	valid := h.Options(t)
	mistakes := map[string]map[string]any{"an unknown option": {"no_such_option": "x"}}
	for name, change := range h.InvalidOptions {
		mistakes[name] = change
	}
	for name, change := range mistakes {
		a, err := h.Factory(With(valid, change))
		if err == nil {
			t.Errorf("%s (%v) was accepted", name, change)
			a.Close()
			continue
		}
		if err.Error() == "" {
			t.Errorf("%s (%v) was refused without a message", name, change)
		}
	}
}

func truncate(b []byte) string {
	if len(b) > 80 {
		return fmt.Sprintf("%s…", b[:80])
	}
	return string(b)
}

// ZippedXML reads the message XML out of every <messageID>_*.zip in dir: the Received of
// adapters that deliver xdomea zips into a directory (filedrop, and sftp on this machine).
// A zip that cannot be read counts as an artefact without the message.
func ZippedXML(dir, messageID string) [][]byte {
	matches, _ := filepath.Glob(filepath.Join(dir, messageID+"_*.zip"))
	var out [][]byte
	for _, m := range matches {
		zr, err := zip.OpenReader(m)
		if err != nil {
			out = append(out, []byte("unreadable zip"))
			continue
		}
		for _, f := range zr.File {
			if strings.HasSuffix(f.Name, ".xml") {
				rc, _ := f.Open()
				b, _ := io.ReadAll(rc)
				rc.Close()
				out = append(out, b)
			}
		}
		zr.Close()
	}
	return out
}

// ZippedFile reads the named file out of the first <messageID>_*.zip in dir: the Attachment
// of adapters that deliver xdomea zips into a directory.
func ZippedFile(dir, messageID, name string) ([]byte, bool) {
	matches, _ := filepath.Glob(filepath.Join(dir, messageID+"_*.zip"))
	if len(matches) == 0 {
		return nil, false
	}
	zr, err := zip.OpenReader(matches[0])
	if err != nil {
		return nil, false
	}
	defer zr.Close()
	return zipEntry(&zr.Reader, name)
}

// ZipEntry reads the named file out of a zip held in memory.
func ZipEntry(zipped []byte, name string) ([]byte, bool) {
	zr, err := zip.NewReader(bytes.NewReader(zipped), int64(len(zipped)))
	if err != nil {
		return nil, false
	}
	return zipEntry(zr, name)
}

func zipEntry(zr *zip.Reader, name string) ([]byte, bool) {
	for _, f := range zr.File {
		if f.Name == name {
			rc, err := f.Open()
			if err != nil {
				return nil, false
			}
			defer rc.Close()
			b, err := io.ReadAll(rc)
			return b, err == nil
		}
	}
	return nil, false
}

// DirFiles lists the regular files in dir and below, hidden ones included, by their path
// relative to dir: the Files of adapters that deliver into a directory. A missing directory, or
// a file where it should be, holds nothing.
func DirFiles(t testing.TB, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	info, err := os.Stat(dir)
	if err != nil || !info.IsDir() {
		return out
	}
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(dir, path)
		b, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil // removed since it was listed
		}
		if err != nil {
			return err
		}
		out[rel] = b
		return nil
	})
	if err != nil {
		t.Fatalf("list %s: %v", dir, err)
	}
	return out
}

// With returns base changed by change: a nil value removes the key. Adapter tests build their
// table of option mistakes with it.
func With(base, change map[string]any) map[string]any {
	out := make(map[string]any, len(base))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range change {
		if v == nil {
			delete(out, k)
		} else {
			out[k] = v
		}
	}
	return out
}
