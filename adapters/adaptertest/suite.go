// Package adaptertest is the conformance suite every transport adapter passes: deliver, a
// transient failure then success, a permanent failure, harmless redelivery of the same
// message, and close with work in flight. An adapter's test supplies a Harness for a real
// receiving side (a directory, a real sshd, an HTTP server, an SMTP server) and calls Run.
package adaptertest

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/amtsbote/amtsbote/adapters"
)

// Harness connects the suite to one adapter and its receiving side.
type Harness struct {
	// New builds an adapter that delivers to the receiving side.
	New func(t *testing.T) adapters.Adapter
	// Received returns what the receiving side holds for a message id: one entry per distinct
	// artefact (file, distinct request or mail as the receiver de-duplicates by message id),
	// each the message XML as received (or the whole artefact, if the XML is inside it).
	Received func(t *testing.T, messageID string) [][]byte
	// BreakTransiently makes the receiving side fail in a way worth retrying (down, 503, …)
	// until the returned function is called.
	BreakTransiently func(t *testing.T) (restore func())
	// BreakPermanently makes the receiving side refuse the package in a way retrying cannot fix
	// (400, a rejected recipient, a different file under its name, …) until the returned
	// function is called.
	BreakPermanently func(t *testing.T, p *adapters.Package) (restore func())
}

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
		content := f.content
		p.Files = append(p.Files, adapters.File{Name: f.name, MediaType: f.mt, Size: int64(len(content)),
			Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewBufferString(content)), nil }})
	}
	return p
}

// Run runs the conformance suite.
func Run(t *testing.T, h Harness) {
	ctx := context.Background()
	t.Run("deliver", func(t *testing.T) {
		a := h.New(t)
		defer a.Close()
		p := Package()
		artefact, err := a.Deliver(ctx, p)
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
	})
	t.Run("transient failure then success", func(t *testing.T) {
		a := h.New(t)
		defer a.Close()
		p := Package()
		restore := h.BreakTransiently(t)
		_, err := a.Deliver(ctx, p)
		if err == nil || adapters.IsPermanent(err) {
			restore()
			t.Fatalf("while broken: want a transient error, got %v", err)
		}
		restore()
		if _, err := a.Deliver(ctx, p); err != nil {
			t.Fatalf("after recovery: %v", err)
		}
		if got := h.Received(t, p.MessageID); len(got) != 1 {
			t.Fatalf("receiver holds %d artefacts, want 1", len(got))
		}
	})
	t.Run("permanent failure", func(t *testing.T) {
		a := h.New(t)
		defer a.Close()
		p := Package()
		restore := h.BreakPermanently(t, p)
		defer restore()
		_, err := a.Deliver(ctx, p)
		if !adapters.IsPermanent(err) {
			t.Fatalf("want a permanent error, got %v", err)
		}
	})
	t.Run("redelivery is harmless", func(t *testing.T) {
		a := h.New(t)
		defer a.Close()
		p := Package()
		for i := 0; i < 3; i++ {
			if _, err := a.Deliver(ctx, p); err != nil {
				t.Fatalf("delivery %d: %v", i+1, err)
			}
		}
		if got := h.Received(t, p.MessageID); len(got) != 1 {
			t.Fatalf("three deliveries of one message left %d distinct artefacts, want 1", len(got))
		}
	})
	t.Run("close with work in flight", func(t *testing.T) {
		a := h.New(t)
		var wg sync.WaitGroup
		pkgs := make([]*adapters.Package, 6)
		errs := make([]error, len(pkgs))
		for i := range pkgs {
			pkgs[i] = Package()
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = a.Deliver(ctx, pkgs[i])
			}()
		}
		time.Sleep(5 * time.Millisecond)
		closed := make(chan error, 1)
		go func() { closed <- a.Close() }()
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Fatal("deliveries did not return within 30s of Close")
		}
		select {
		case <-closed:
		case <-time.After(30 * time.Second):
			t.Fatal("Close did not return within 30s")
		}
		// A delivery that reported success is complete at the receiver; one that failed
		// left nothing or a complete artefact, never a partial one.
		for i, p := range pkgs {
			got := h.Received(t, p.MessageID)
			if errs[i] == nil && len(got) != 1 {
				t.Errorf("delivery %d reported success but the receiver holds %d artefacts", i, len(got))
			}
			for _, g := range got {
				if !bytes.Contains(g, []byte(p.MessageID)) {
					t.Errorf("delivery %d left an incomplete artefact: %q", i, truncate(g))
				}
			}
		}
	})
}

func truncate(b []byte) string {
	if len(b) > 80 {
		return fmt.Sprintf("%s…", b[:80])
	}
	return string(b)
}

// ZippedXML reads the message XML out of every <messageID>_*.zip in dir: the Received of
// adapters that deliver xdomea zips into a directory (filedrop, and sftp on this machine).
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
