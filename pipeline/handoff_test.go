package pipeline

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"reflect"
	"testing"
	"time"

	wmsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/amtsbote/amtsbote/adapters"
	"github.com/amtsbote/amtsbote/config"
	"github.com/amtsbote/amtsbote/snapshot"
	"github.com/amtsbote/amtsbote/store"
	"github.com/amtsbote/amtsbote/store/storetest"
)

// entryOf is an entry of submission id whose files hold size bytes.
func entryOf(id string, size int) *handoffEntry {
	return &handoffEntry{submissionID: id, pkg: adapters.Package{SubmissionID: id},
		files: &handoffFiles{bytes: int64(size), content: map[int][]byte{}}}
}

func TestHandoffKeepsAnEntryForItsMessageOnly(t *testing.T) {
	t0 := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		run  func(h *handoff) *handoffEntry // the last take
		want bool                           // whether it found the entry
		kept int                            // entries left
	}{
		{"taken by its message", func(h *handoff) *handoffEntry {
			h.put("m1", entryOf("s1", 10), t0)
			return h.take("m1", "s1", t0.Add(time.Second))
		}, true, 0},
		{"taken once", func(h *handoff) *handoffEntry {
			h.put("m1", entryOf("s1", 10), t0)
			h.take("m1", "s1", t0)
			return h.take("m1", "s1", t0)
		}, false, 0},
		{"another message of the submission does not find it", func(h *handoff) *handoffEntry {
			h.put("m1", entryOf("s1", 10), t0)
			return h.take("m2", "s1", t0)
		}, false, 1},
		{"a message about another submission drops it", func(h *handoff) *handoffEntry {
			h.put("m1", entryOf("s1", 10), t0)
			return h.take("m1", "s2", t0)
		}, false, 0},
		{"too old", func(h *handoff) *handoffEntry {
			h.put("m1", entryOf("s1", 10), t0)
			return h.take("m1", "s1", t0.Add(handoffMaxAge+time.Millisecond))
		}, false, 0},
		{"old entries go when a new one comes", func(h *handoff) *handoffEntry {
			h.put("m1", entryOf("s1", 10), t0)
			h.put("m2", entryOf("s2", 10), t0.Add(handoffMaxAge/2))
			h.put("m3", entryOf("s3", 10), t0.Add(handoffMaxAge+time.Second))
			return h.take("m2", "s2", t0.Add(handoffMaxAge+time.Second))
		}, true, 1},
		{"the oldest go when the entries hold too much", func(h *handoff) *handoffEntry {
			for i, key := range []string{"m1", "m2", "m3", "m4", "m5"} {
				h.put(key, entryOf("s"+key, handoffMaxBytes/4), t0.Add(time.Duration(i)*time.Millisecond))
			}
			return h.take("m1", "sm1", t0.Add(time.Second))
		}, false, 4},
		{"a large package is not kept", func(h *handoff) *handoffEntry {
			h.put("m1", entryOf("s1", handoffMaxBytes/4+1), t0)
			return h.take("m1", "s1", t0)
		}, false, 0},
		{"a second put for the message replaces the first", func(h *handoff) *handoffEntry {
			h.put("m1", entryOf("s1", 10), t0)
			h.put("m1", entryOf("s2", 10), t0)
			return h.take("m1", "s2", t0)
		}, true, 0},
		{"nothing to keep", func(h *handoff) *handoffEntry {
			h.put("m1", nil, t0)
			return h.take("m1", "s1", t0)
		}, false, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHandoff()
			got := tc.run(h)
			if (got != nil) != tc.want {
				t.Fatalf("take found an entry: %v, want %v", got != nil, tc.want)
			}
			if got != nil && (got.files == nil || got.pkg.SubmissionID != got.submissionID) {
				t.Errorf("the entry taken lost its content: %+v", got)
			}
			if n := h.len(); n != tc.kept {
				t.Errorf("%d entries kept, want %d", n, tc.kept)
			}
			if h.bytes < 0 || h.bytes > handoffMaxBytes {
				t.Errorf("the entries hold %d bytes", h.bytes)
			}
		})
	}
}

// A delivery whose package the process stage handed over sends what a delivery that reads the
// store sends (a retry, a replay, another instance): the same fields, the same files in the
// same order, byte for byte.
func TestHandedOffPackageIsTheStoredOne(t *testing.T) {
	eachReplyBackend(t, func(t *testing.T, backend string) {
		ctx := context.Background()
		cfg, err := config.Load("../fixtures/demo/amtsbote.yaml")
		if err != nil {
			t.Fatal(err)
		}
		snap, err := snapshot.FromConfig(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(snap.Close)
		o := store.Options{Driver: backend, DataDir: t.TempDir()}
		if backend == store.Postgres {
			o.DSN = storetest.Postgres(t)
		}
		st, err := store.OpenWith(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		p, err := New(Deps{Store: st, Config: cfg, Current: snap.Acquire, Adapters: map[string]adapters.Adapter{},
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}

		raw, err := os.ReadFile("../fixtures/demo/submission.json")
		if err != nil {
			t.Fatal(err)
		}
		var req struct {
			Leistung, AGS, Reference string
			Data                     json.RawMessage
		}
		if err := json.Unmarshal(raw, &req); err != nil {
			t.Fatal(err)
		}
		id := store.NewID()
		sub := store.Submission{ID: id, Portal: "demo-portal", Reference: req.Reference, Leistung: req.Leistung, AGS: req.AGS,
			Route: "gewerbeanmeldung", Status: store.StatusReceived, Data: req.Data, ReceivedAt: time.Now()}
		pdf := append([]byte("%PDF-1.7\n"), bytes.Repeat([]byte("Gewerbe "), 2000)...)
		atts := []store.Attachment{
			{Seq: 0, Filename: "ausweis.pdf", PackageName: id + "_ausweis.pdf", MediaType: "application/pdf", Content: store.Content(pdf)},
			{Seq: 1, Filename: "vollmacht.txt", PackageName: id + "_vollmacht.txt", MediaType: "text/plain", Content: store.Content([]byte("Vollmacht"))},
		}
		if err := st.InTx(ctx, func(tx wmsql.Tx) error { return store.InsertSubmission(ctx, tx, sub, atts) }); err != nil {
			t.Fatal(err)
		}
		if err := st.InTx(ctx, func(tx wmsql.Tx) error { return p.process(NewWork(ctx, id, time.Time{}), tx) }); err != nil {
			t.Fatal(err)
		}

		// The keys are the queue messages the process stage published.
		p.handoff.mu.Lock()
		keys := map[string]string{} // destination → queue message
		for key, e := range p.handoff.entries {
			for dest := range p.deliverers {
				if m, err := st.Message(ctx, id, dest); err == nil && bytes.Equal(m.XML, e.pkg.XML) {
					keys[dest] = key
				}
			}
		}
		p.handoff.mu.Unlock()
		if len(keys) != 2 {
			t.Fatalf("entries for %d destinations, want 2 (eakte, gewerbe-fachverfahren)", len(keys))
		}
		for dest, key := range keys {
			d := p.deliverers[dest]
			handed, _, err := d.prepare(message.NewMessage(key, []byte(id)), id)
			if err != nil {
				t.Fatal(err)
			}
			if p.handoff.len() == 2 {
				t.Errorf("%s: the entry was not taken", dest)
			}
			stored, _, err := d.prepare(message.NewMessage(key, []byte(id)), id) // taken: read from the store
			if err != nil {
				t.Fatal(err)
			}
			if got, want := filesOf(t, handed), filesOf(t, stored); !reflect.DeepEqual(got, want) {
				t.Errorf("%s: files handed over %v, from the store %v", dest, got, want)
			}
			if len(handed.Files) != 4 {
				t.Errorf("%s: %d files, want 4 (two attachments, the application as PDF and its data)", dest, len(handed.Files))
			}
			handed.Files, stored.Files = nil, nil
			if !reflect.DeepEqual(handed, stored) {
				t.Errorf("%s: package handed over\n%+v\nfrom the store\n%+v", dest, handed, stored)
			}
		}
	})
}

// filesOf lists a package's files with their content.
func filesOf(t *testing.T, pkg *adapters.Package) []string {
	t.Helper()
	var out []string
	for _, f := range pkg.Files {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%s %s %d %x", f.Name, f.MediaType, len(b), sha256.Sum256(b)))
		if int64(len(b)) != f.Size {
			t.Errorf("%s: %d bytes, Size says %d", f.Name, len(b), f.Size)
		}
	}
	return out
}
