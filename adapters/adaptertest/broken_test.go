package adaptertest_test

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/amtsbote/amtsbote/adapters"
	"github.com/amtsbote/amtsbote/adapters/adaptertest"
)

// The suite must fail what must fail. Each test here runs it against a small directory adapter
// with one deliberate flaw and expects exactly the rule that flaw breaks to fail; the same
// adapter without a flaw passes every rule.

// flaw is what is wrong with a drop adapter.
type flaw string

const (
	sound             flaw = ""
	noArtefact        flaw = "does not say where the package went"
	allPermanent      flaw = "takes every failure for a permanent one"
	refusesRedelivery flaw = "refuses a package it delivered before as a duplicate"
	overwrites        flaw = "renames over a different file under the package's name"
	closeNoWait       flaw = "Close neither waits for deliveries in flight nor refuses new ones"
	ignoresContext    flaw = "ignores its context"
	publishesPartial  flaw = "gives what it has written its final name when its context is cancelled"
	uniqueOnCollision flaw = "picks another name when it loses a race for the package's name"
	buffers           flaw = "builds the package in memory"
	truncates         flaw = "copies at most 8 MiB of an attachment"
	leavesTemps       flaw = "leaves its temporary file behind"
	acceptsAnything   flaw = "accepts any options"
)

// brokenAdapter is a flaw and the rule it breaks.
type brokenAdapter struct {
	flaw flaw
	rule string
}

var broken = []brokenAdapter{
	{noArtefact, adaptertest.RuleDeliver},
	{allPermanent, adaptertest.RuleTransient},
	{overwrites, adaptertest.RulePermanent},
	{refusesRedelivery, adaptertest.RuleRedeliver},
	{uniqueOnCollision, adaptertest.RuleConcurrent},
	{closeNoWait, adaptertest.RuleClose},
	{ignoresContext, adaptertest.RuleCancel},
	{publishesPartial, adaptertest.RuleCancel},
	{buffers, adaptertest.RuleLarge},
	{truncates, adaptertest.RuleLarge},
	{leavesTemps, adaptertest.RuleNoTemp},
	{acceptsAnything, adaptertest.RuleOptions},
}

func TestSuiteCatchesEachBrokenRule(t *testing.T) {
	for _, tt := range broken {
		t.Run(string(tt.flaw), func(t *testing.T) {
			findings := record(t, dropHarness(tt.flaw))
			var failed []string
			for _, f := range findings {
				if !slices.Contains(failed, f.rule) {
					failed = append(failed, f.rule)
				}
			}
			if !slices.Equal(failed, []string{tt.rule}) {
				t.Errorf("an adapter that %s failed %q, want exactly %q; findings:\n%s", tt.flaw, failed, tt.rule, list(findings))
			}
		})
	}
}

// TestSuitePassesASoundAdapter: without a flaw the drop adapter passes, so the failures above
// are the flaws'.
func TestSuitePassesASoundAdapter(t *testing.T) {
	if findings := record(t, dropHarness(sound)); len(findings) > 0 {
		t.Errorf("a sound adapter failed the suite:\n%s", list(findings))
	}
	adaptertest.Run(t, dropHarness(sound))
}

// TestEveryRuleHasABrokenAdapter keeps the table above complete as rules are added.
func TestEveryRuleHasABrokenAdapter(t *testing.T) {
	for _, rule := range adaptertest.Rules {
		if !slices.ContainsFunc(broken, func(b brokenAdapter) bool { return b.rule == rule }) {
			t.Errorf("no broken adapter shows that the suite catches %q", rule)
		}
	}
}

type finding struct{ rule, message string }

func list(findings []finding) string {
	var b strings.Builder
	for _, f := range findings {
		fmt.Fprintf(&b, "  %s: %s\n", f.rule, f.message)
	}
	return b.String()
}

// record runs the suite with a recorder and returns what it reported.
func record(t *testing.T, h adaptertest.Harness) []finding {
	var findings []finding
	root := &recorder{TB: t, mu: new(sync.Mutex), findings: &findings}
	adaptertest.Check(root, h)
	return findings
}

// recorder is an adaptertest.T that keeps failures instead of failing the test. What it does
// not override (TempDir, Logf, Name, …) goes to the real test.
type recorder struct {
	testing.TB
	rule     string
	mu       *sync.Mutex
	findings *[]finding
	failed   bool
	cleanups []func()
}

func (r *recorder) report(msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failed = true
	*r.findings = append(*r.findings, finding{r.rule, msg})
}

func (r *recorder) Helper()                           {}
func (r *recorder) Error(args ...any)                 { r.report(fmt.Sprint(args...)) }
func (r *recorder) Errorf(format string, args ...any) { r.report(fmt.Sprintf(format, args...)) }
func (r *recorder) Fail()                             { r.report("failed") }
func (r *recorder) Fatal(args ...any)                 { r.report(fmt.Sprint(args...)); runtime.Goexit() }
func (r *recorder) Fatalf(format string, args ...any) {
	r.report(fmt.Sprintf(format, args...))
	runtime.Goexit()
}
func (r *recorder) FailNow() { r.Fail(); runtime.Goexit() }
func (r *recorder) Failed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failed
}

// The suite must not skip a rule: a skip counts as a failure.
func (r *recorder) Skip(args ...any)                 { r.report("skipped: " + fmt.Sprint(args...)); runtime.Goexit() }
func (r *recorder) Skipf(format string, args ...any) { r.Skip(fmt.Sprintf(format, args...)) }
func (r *recorder) SkipNow()                         { r.Skip() }
func (r *recorder) Cleanup(f func())                 { r.cleanups = append(r.cleanups, f) }

func (r *recorder) Run(name string, f func(t adaptertest.T)) bool {
	sub := &recorder{TB: r.TB, rule: strings.TrimPrefix(r.rule+"/"+name, "/"), mu: r.mu, findings: r.findings}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() {
			for i := len(sub.cleanups) - 1; i >= 0; i-- {
				sub.cleanups[i]()
			}
		}()
		f(sub)
	}()
	<-done
	return !sub.Failed()
}

// dropHarness runs the suite against a drop adapter with the given flaw.
func dropHarness(f flaw) adaptertest.Harness {
	var dir string
	return adaptertest.Harness{
		Factory: newDrop(f),
		Options: func(t testing.TB) map[string]any {
			dir = filepath.Join(t.TempDir(), "drop")
			return map[string]any{"path": dir}
		},
		InvalidOptions: map[string]map[string]any{"no path": {"path": nil}},
		Received:       func(t testing.TB, messageID string) [][]byte { return adaptertest.ZippedXML(dir, messageID) },
		Attachment: func(t testing.TB, messageID, name string) ([]byte, bool) {
			return adaptertest.ZippedFile(dir, messageID, name)
		},
		Files: func(t testing.TB) map[string][]byte { return adaptertest.DirFiles(t, dir) },
		BreakTransiently: func(t testing.TB) func() {
			os.RemoveAll(dir)
			os.WriteFile(dir, nil, 0o600) // a file where the directory should be
			return func() { os.Remove(dir) }
		},
		BreakPermanently: func(t testing.TB, p *adapters.Package) func() {
			os.MkdirAll(dir, 0o750)
			name := filepath.Join(dir, p.MessageID+"_"+p.MessageType+".zip")
			os.WriteFile(name, []byte("another file"), 0o600)
			return func() { os.Remove(name) }
		},
	}
}

// drop writes each package as <message id>_<message type>.zip into a directory: to a temporary
// file first, then linked to its name, which fails rather than overwrite; an existing file with
// the same bytes is the same delivery (success), a different one a permanent error. Its flaw,
// if it has one, breaks one of these.
type drop struct {
	dir  string
	flaw flaw

	mu        sync.Mutex
	closed    bool
	inflight  sync.WaitGroup
	delivered map[string]bool // with refusesRedelivery
}

func newDrop(f flaw) adapters.Factory {
	return func(options map[string]any) (adapters.Adapter, error) {
		var o struct {
			Path string `mapstructure:"path"`
		}
		if f == acceptsAnything {
			o.Path, _ = options["path"].(string)
			return &drop{dir: o.Path, flaw: f, delivered: map[string]bool{}}, nil
		}
		if err := adapters.DecodeOptions(options, &o); err != nil {
			return nil, err
		}
		if o.Path == "" {
			return nil, errors.New("options.path must name the drop directory")
		}
		return &drop{dir: o.Path, flaw: f, delivered: map[string]bool{}}, nil
	}
}

func (d *drop) Deliver(ctx context.Context, p *adapters.Package) (string, error) {
	if d.flaw != closeNoWait {
		d.mu.Lock()
		if d.closed {
			d.mu.Unlock()
			return "", adapters.Transient(errors.New("drop: closed"), 0)
		}
		d.inflight.Add(1)
		d.mu.Unlock()
		defer d.inflight.Done()
	}
	if d.flaw == ignoresContext {
		ctx = context.Background()
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if err := os.MkdirAll(d.dir, 0o750); err != nil {
		if d.flaw == allPermanent {
			return "", adapters.Permanent(err)
		}
		return "", err
	}
	if d.flaw == refusesRedelivery {
		d.mu.Lock()
		dup := d.delivered[p.MessageID]
		d.mu.Unlock()
		if dup {
			return "", adapters.Permanent(fmt.Errorf("drop: %s was delivered before", p.MessageID))
		}
		defer func() {
			d.mu.Lock()
			d.delivered[p.MessageID] = true
			d.mu.Unlock()
		}()
	}
	target := filepath.Join(d.dir, p.MessageID+"_"+p.MessageType+".zip")
	_, statErr := os.Stat(target)
	existed := statErr == nil
	tmp, err := os.CreateTemp(d.dir, ".drop-*.tmp")
	if err != nil {
		return "", err
	}
	if d.flaw != leavesTemps {
		defer os.Remove(tmp.Name())
	}
	err = d.writeZip(ctx, tmp, p)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = ctx.Err()
	}
	if err != nil && d.flaw == publishesPartial && ctx.Err() != nil {
		os.Link(tmp.Name(), target)
	}
	if err != nil {
		return "", err
	}
	if d.flaw == overwrites {
		return target, os.Rename(tmp.Name(), target)
	}
	if d.flaw == uniqueOnCollision || d.flaw == refusesRedelivery {
		time.Sleep(20 * time.Millisecond) // a slow disk: the others are about to link too
	}
	artefact := target
	if d.flaw == noArtefact {
		artefact = ""
	}
	err = os.Link(tmp.Name(), target)
	if !errors.Is(err, fs.ErrExist) {
		return artefact, err
	}
	if d.flaw == uniqueOnCollision && !existed {
		other := strings.TrimSuffix(target, ".zip") + "_2.zip"
		return other, os.Link(tmp.Name(), other)
	}
	ours, err := os.ReadFile(tmp.Name())
	if err != nil {
		return "", err
	}
	theirs, err := os.ReadFile(target)
	if err != nil {
		return "", err
	}
	if !bytes.Equal(ours, theirs) {
		return "", adapters.Permanent(fmt.Errorf("drop: %s holds another file", target))
	}
	return artefact, nil
}

func (d *drop) writeZip(ctx context.Context, w io.Writer, p *adapters.Package) error {
	if d.flaw == buffers {
		var buf bytes.Buffer
		if err := d.zip(ctxWriter{ctx, &buf}, p); err != nil {
			return err
		}
		_, err := w.Write(buf.Bytes())
		return err
	}
	return d.zip(ctxWriter{ctx, w}, p)
}

func (d *drop) zip(w io.Writer, p *adapters.Package) error {
	zw := zip.NewWriter(w)
	add := func(name string, r io.Reader) error {
		fw, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store, Modified: p.CreatedAt})
		if err != nil {
			return err
		}
		if d.flaw == truncates {
			_, err = io.CopyN(fw, r, 8<<20)
			if errors.Is(err, io.EOF) {
				err = nil
			}
			return err
		}
		_, err = io.Copy(fw, r)
		return err
	}
	if err := add(p.MessageID+"_"+p.MessageType+".xml", bytes.NewReader(p.XML)); err != nil {
		return err
	}
	for _, f := range p.Files {
		rc, err := f.Open()
		if err != nil {
			return err
		}
		err = add(adapters.SafeName(f.Name), rc)
		rc.Close()
		if err != nil {
			return err
		}
	}
	return zw.Close()
}

func (d *drop) Close() error {
	if d.flaw == closeNoWait {
		return nil
	}
	d.mu.Lock()
	d.closed = true
	d.mu.Unlock()
	d.inflight.Wait()
	return nil
}

// ctxWriter stops writing once the context is done.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (w ctxWriter) Write(b []byte) (int, error) {
	if err := w.ctx.Err(); err != nil {
		return 0, err
	}
	return w.w.Write(b)
}
