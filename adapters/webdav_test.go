package adapters_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/net/webdav"

	"github.com/amtsbote/amtsbote/adapters"
	"github.com/amtsbote/amtsbote/adapters/adaptertest"
)

// davServer is a real WebDAV server (golang.org/x/net/webdav) on loopback, serving root. broken,
// when set, answers instead; auth, when set, must be the request's Authorization.
type davServer struct {
	root    string
	srv     *httptest.Server
	mu      sync.Mutex
	broken  http.HandlerFunc
	auth    string
	methods []string
}

func startDAV(t testing.TB, tlsConfig *tls.Config) *davServer {
	t.Helper()
	d := &davServer{root: t.TempDir()}
	dav := &webdav.Handler{FileSystem: webdav.Dir(d.root), LockSystem: webdav.NewMemLS()}
	d.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.mu.Lock()
		broken, auth := d.broken, d.auth
		d.methods = append(d.methods, r.Method)
		d.mu.Unlock()
		switch {
		case auth != "" && r.Header.Get("Authorization") != auth:
			w.WriteHeader(http.StatusUnauthorized)
		case broken != nil:
			broken(w, r)
		default:
			dav.ServeHTTP(w, r)
		}
	}))
	d.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	if tlsConfig != nil {
		d.srv.TLS = tlsConfig
		d.srv.StartTLS()
	} else {
		d.srv.Start()
	}
	t.Cleanup(d.srv.Close)
	return d
}

func (d *davServer) set(f func(*davServer)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	f(d)
}

func newWebDAVAdapter(t testing.TB, options map[string]any) adapters.Adapter {
	t.Helper()
	a, err := adapters.New("webdav", options)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

func TestWebDAVConformance(t *testing.T) {
	var d *davServer
	dir := func() string { return filepath.Join(d.root, "eakte", "in") }
	adaptertest.Run(t, adaptertest.Harness{
		Factory: func(o map[string]any) (adapters.Adapter, error) { return adapters.New("webdav", o) },
		Options: func(t testing.TB) map[string]any {
			d = startDAV(t, nil)
			return map[string]any{"url": d.srv.URL + "/eakte/in"}
		},
		InvalidOptions: map[string]map[string]any{
			"no url":                 {"url": nil},
			"a url that is not http": {"url": "ftp://127.0.0.1/x"},
			"an unknown format":      {"format": "tar"},
			"an unknown placeholder": {"name": "{nope}_{message_id}"},
		},
		Received: func(t testing.TB, messageID string) [][]byte { return adaptertest.ZippedXML(dir(), messageID) },
		Attachment: func(t testing.TB, messageID, name string) ([]byte, bool) {
			return adaptertest.ZippedFile(dir(), messageID, name)
		},
		Files: func(t testing.TB) map[string][]byte { return adaptertest.DirFiles(t, d.root) },
		BreakTransiently: func(t testing.TB) func() {
			d.set(func(d *davServer) {
				d.broken = func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) }
			})
			return func() { d.set(func(d *davServer) { d.broken = nil }) }
		},
		BreakPermanently: func(t testing.TB, p *adapters.Package) func() {
			os.MkdirAll(dir(), 0o750)
			name := filepath.Join(dir(), p.MessageID+"_"+p.MessageType+".zip")
			os.WriteFile(name, []byte("another file"), 0o600)
			return func() { os.Remove(name) }
		},
	})
}

// The file under the package's name is never replaced: the same package again is success, a
// different file there a permanent error that leaves it as it was; collections are created;
// no temporary file stays behind.
func TestWebDAVNeverOverwritesAndCreatesCollections(t *testing.T) {
	d := startDAV(t, nil)
	for _, format := range []string{"zip", "files"} {
		t.Run(format, func(t *testing.T) {
			a := newWebDAVAdapter(t, map[string]any{"url": d.srv.URL + "/a/" + format + "/c", "format": format, "name": "{ags}_{message_id}"})
			p := adaptertest.Package()
			artefact, err := a.Deliver(context.Background(), p)
			if err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join(d.root, "a", format, "c")
			want := p.AGS + "_" + p.MessageID + map[string]string{"zip": ".zip", "files": ".xml"}[format]
			if !strings.HasSuffix(artefact, "/a/"+format+"/c/"+want) {
				t.Errorf("artefact %q, want the URL of %s", artefact, want)
			}
			for i := 0; i < 2; i++ {
				if _, err := a.Deliver(context.Background(), p); err != nil {
					t.Fatalf("redelivery: %v", err)
				}
			}
			entries, _ := os.ReadDir(dir)
			if n := map[string]int{"zip": 1, "files": 3}[format]; len(entries) != n {
				t.Fatalf("%d files in the collection, want %d: %v", len(entries), n, entries)
			}
			os.WriteFile(filepath.Join(dir, want), []byte("another file"), 0o600)
			_, err = a.Deliver(context.Background(), p)
			if !adapters.IsPermanent(err) || !strings.Contains(err.Error(), "different content") {
				t.Fatalf("a different file under the name: want a permanent error, got %v", err)
			}
			if b, _ := os.ReadFile(filepath.Join(dir, want)); string(b) != "another file" {
				t.Error("the different file was overwritten")
			}
			if entries, _ := os.ReadDir(dir); len(entries) != map[string]int{"zip": 1, "files": 3}[format] {
				t.Errorf("files left behind: %v", entries)
			}
		})
	}
}

func TestWebDAVAuthentication(t *testing.T) {
	d := startDAV(t, nil)
	for _, c := range []struct {
		name    string
		options map[string]any
		auth    string
	}{
		{"basic", map[string]any{"basic_user": "amtsbote", "basic_password": "geheim"}, "Basic YW10c2JvdGU6Z2VoZWlt"},
		{"bearer", map[string]any{"bearer_token": "t0ken"}, "Bearer t0ken"},
	} {
		t.Run(c.name, func(t *testing.T) {
			d.set(func(d *davServer) { d.auth = c.auth })
			c.options["url"] = d.srv.URL + "/in"
			if _, err := newWebDAVAdapter(t, c.options).Deliver(context.Background(), adaptertest.Package()); err != nil {
				t.Fatalf("with the right credentials: %v", err)
			}
			_, err := newWebDAVAdapter(t, map[string]any{"url": d.srv.URL + "/in"}).Deliver(context.Background(), adaptertest.Package())
			if !adapters.IsPermanent(err) || !strings.Contains(err.Error(), "401") {
				t.Fatalf("without credentials: want a permanent 401 error, got %v", err)
			}
		})
	}
}

func TestWebDAVCustomCA(t *testing.T) {
	ca := newTestCA(t, "test-ca")
	serverCert, _, _ := ca.issue(t, "server", x509.ExtKeyUsageServerAuth)
	d := startDAV(t, &tls.Config{Certificates: []tls.Certificate{serverCert}})
	if _, err := newWebDAVAdapter(t, map[string]any{"url": d.srv.URL + "/in", "ca_file": ca.file}).Deliver(context.Background(), adaptertest.Package()); err != nil {
		t.Fatalf("with the issuing CA in ca_file: %v", err)
	}
	_, err := newWebDAVAdapter(t, map[string]any{"url": d.srv.URL + "/in"}).Deliver(context.Background(), adaptertest.Package())
	if !adapters.IsPermanent(err) || !strings.Contains(err.Error(), "options.ca_file") {
		t.Errorf("with the system's CAs: want a permanent error pointing at options.ca_file, got %v", err)
	}
}

// Concurrent deliveries of one package leave one file; those that lose the race to the name
// succeed or fail transiently, never permanently.
func TestWebDAVConcurrentRedelivery(t *testing.T) {
	d := startDAV(t, nil)
	a := newWebDAVAdapter(t, map[string]any{"url": d.srv.URL + "/in"})
	p := adaptertest.Package()
	var wg sync.WaitGroup
	var ok atomic.Int32
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := a.Deliver(context.Background(), p)
			if adapters.IsPermanent(err) {
				t.Errorf("a concurrent redelivery failed permanently: %v", err)
			}
			if err == nil {
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	if ok.Load() == 0 {
		t.Error("no delivery succeeded")
	}
	if entries, _ := os.ReadDir(filepath.Join(d.root, "in")); len(entries) != 1 {
		t.Errorf("%d files, want 1: %v", len(entries), entries)
	}
}

func TestWebDAVOptions(t *testing.T) {
	base := map[string]any{"url": "https://dms.example/dav/in"}
	for _, c := range []struct {
		change map[string]any
		want   string
	}{
		{map[string]any{"url": nil}, "options.url"},
		{map[string]any{"url": "http://dms.example/dav"}, "clear text"},
		{map[string]any{"name": "{ags}"}, "must contain {message_id}"},
		{map[string]any{"name": "{message_id}_{x}"}, "unknown placeholder {x}"},
		{map[string]any{"format": "tar"}, "options.format"},
		{map[string]any{"bearer_token": "t", "basic_user": "u"}, "not both"},
		{map[string]any{"ca_file": "/nonexistent.pem"}, "options.ca_file"},
		{map[string]any{"nope": 1}, "nope"},
	} {
		_, err := adapters.New("webdav", adaptertest.With(base, c.change))
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "webdav: ") {
			t.Errorf("%v: want an error about %q, got %v", c.change, c.want, err)
		}
	}
}
