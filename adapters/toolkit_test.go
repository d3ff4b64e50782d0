package adapters_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/amtsbote/amtsbote/adapters"
	"github.com/amtsbote/amtsbote/adapters/adaptertest"
)

func TestInflightCloseWaitsAndRefusesLaterDeliveries(t *testing.T) {
	var f adapters.Inflight
	done, err := f.Begin("x")
	if err != nil {
		t.Fatal(err)
	}
	closed := make(chan struct{})
	go func() { f.Close(); close(closed) }()
	// Close has begun once Begin fails; the delivery in flight still holds it open.
	deadline := time.Now().Add(5 * time.Second)
	for {
		d, err := f.Begin("x")
		if err != nil {
			if adapters.IsPermanent(err) || !strings.Contains(err.Error(), "after the adapter was closed") {
				t.Fatalf("delivery after Close began: want a transient error, got %v", err)
			}
			break
		}
		d()
		if time.Now().After(deadline) {
			t.Fatal("Begin still succeeds 5s after Close was called")
		}
		time.Sleep(time.Millisecond)
	}
	select {
	case <-closed:
		t.Fatal("Close returned with a delivery in flight")
	case <-time.After(20 * time.Millisecond):
	}
	done()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return after the last delivery ended")
	}
	f.Close() // twice is fine
}

func TestPatterns(t *testing.T) {
	p := adaptertest.Package()
	p.MessageID, p.AGS = "a:b", "09162000"
	for _, c := range []struct {
		name, text, want, wantErr string
	}{
		{"default", "", "a_b_Abgabe.Abgabe.0401", ""},
		{"date and ags", "{ags}_{date}_{message_id}", "09162000_20261129_a_b", ""},
		{"unknown placeholder", "{message_id}_{nope}", "", "unknown placeholder {nope}"},
		{"not unique", "{ags}_{date}", "", "must contain {message_id} or {submission_id}"},
	} {
		t.Run(c.name, func(t *testing.T) {
			pat, err := adapters.ParseName(c.text)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) || !strings.Contains(err.Error(), "options.name") {
					t.Fatalf("want an error about options.name with %q, got %v", c.wantErr, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := pat.Name(p); got != c.want {
				t.Errorf("name %q, want %q", got, c.want)
			}
		})
	}
	if _, err := adapters.ParsePattern("options.subject", "{date}", "{message_id}"); err == nil || !strings.Contains(err.Error(), "known: {message_id}") {
		t.Errorf("a placeholder not allowed there: got %v", err)
	}
}

func FuzzParsePattern(f *testing.F) {
	for _, s := range []string{"", "{message_id}", "{ags}_{date}", "{x", "{message_id}{", "{{message_id}}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		pat, err := adapters.ParseName(text)
		if err != nil {
			return
		}
		name := pat.Name(adaptertest.Package())
		if name != adapters.SafeName(name) || strings.ContainsAny(name, "/\\") {
			t.Fatalf("pattern %q gave the unsafe name %q", text, name)
		}
	})
}

// Fill replaces exactly what a strings.Replacer of the placeholders would: the leftmost
// placeholder at each position, a brace that starts none kept as it is.
func FuzzPatternFill(f *testing.F) {
	for _, s := range []string{"", "{message_id}", "{ags}_{date}", "{x", "{message_id}{", "{{message_id}}", "{message_{ags}}", "a{leistung}b{submission_id}{message_type}"} {
		f.Add(s)
	}
	p := adaptertest.Package()
	p.MessageID, p.AGS, p.Leistung, p.SubmissionID = "m{ags}", "09162000", "99050012104000", "s-1"
	upper := strings.ToUpper
	f.Fuzz(func(t *testing.T, text string) {
		pat, err := adapters.ParsePattern("options.name", text)
		if err != nil {
			return
		}
		for _, clean := range []func(string) string{nil, upper} {
			c := clean
			if c == nil {
				c = func(s string) string { return s }
			}
			want := strings.NewReplacer("{message_id}", c(p.MessageID), "{message_type}", c(p.MessageType), "{leistung}", c(p.Leistung),
				"{ags}", c(p.AGS), "{date}", p.CreatedAt.UTC().Format("20060102"), "{submission_id}", c(p.SubmissionID)).Replace(text)
			if got := pat.Fill(p, clean); got != want {
				t.Fatalf("Fill(%q) = %q, want %q", text, got, want)
			}
		}
	})
}

func TestSpoolAndCompare(t *testing.T) {
	dir := t.TempDir()
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	spool := func(b []byte) *adapters.Spooled {
		s, err := adapters.SpoolReader(context.Background(), dir, bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	a, b := spool(big), spool(big)
	if a.Size() != int64(len(big)) {
		t.Fatalf("size %d, want %d", a.Size(), len(big))
	}
	other := bytes.Clone(big)
	other[len(other)-1] ^= 1
	c := spool(other)
	for _, x := range []struct {
		name string
		b    *adapters.Spooled
		want bool
	}{{"same", b, true}, {"last byte differs", c, false}} {
		same, err := adapters.PackageFile{}.Same(a, a.Size(), x.b, x.b.Size())
		if err != nil || same != x.want {
			t.Errorf("%s: same %v, %v; want %v", x.name, same, err, x.want)
		}
	}
	got, _ := io.ReadAll(a.Reader())
	if !bytes.Equal(got, big) {
		t.Error("the spooled content reads back differently")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("the spooler leaves %d files in its directory while open; want 0 (unlinked at once)", len(entries))
	}
	failed := errors.New("stop")
	if _, err := adapters.Spool(context.Background(), dir, func(w io.Writer) error { return failed }); !errors.Is(err, failed) {
		t.Errorf("a failed write: got %v", err)
	}
}

// A package's zip and its files: the zip compares by entries, so our own zip written twice is
// the same, and one holding another message is not.
func TestFormatFiles(t *testing.T) {
	p := adaptertest.Package()
	spool := func(pf adapters.PackageFile) *adapters.Spooled {
		s, err := adapters.Spool(context.Background(), t.TempDir(), pf.Write)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	zipped := adapters.FormatZip.Files("base", p)
	if len(zipped) != 1 || zipped[0].Name != "base.zip" || !zipped[0].Zip {
		t.Fatalf("zip format: %+v", zipped)
	}
	files := adapters.FormatFiles.Files("base", p)
	if len(files) != 3 || files[2].Name != "base.xml" || files[0].Name != adapters.SafeName(p.Files[0].Name) {
		t.Fatalf("files format: %+v", files)
	}
	a, b := spool(zipped[0]), spool(zipped[0])
	q := adaptertest.Package()
	c := spool(adapters.FormatZip.Files("base", q)[0])
	if same, err := zipped[0].Same(a, a.Size(), b, b.Size()); !same || err != nil {
		t.Errorf("the same zip written twice: %v, %v", same, err)
	}
	if same, err := zipped[0].Same(a, a.Size(), c, c.Size()); same || err != nil {
		t.Errorf("a zip of another message: %v, %v", same, err)
	}
	for _, bad := range []string{"tar", "ZIP"} {
		if _, err := adapters.ParseFormat(bad); err == nil || !strings.Contains(err.Error(), "options.format") {
			t.Errorf("format %q: got %v", bad, err)
		}
	}
}

// A spool stops as soon as its context is done, even while the content is still being written.
func TestSpoolStopsWhenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	written := 0
	_, err := adapters.Spool(ctx, t.TempDir(), func(w io.Writer) error {
		for i := 0; i < 1000; i++ {
			if i == 10 {
				cancel()
			}
			if _, err := w.Write(make([]byte, 4096)); err != nil {
				return err
			}
			written++
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) || written > 10 {
		t.Fatalf("got %v after %d writes; want context.Canceled after 10", err, written)
	}
}
