package adapters_test

import (
	"archive/zip"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/amtsbote/amtsbote/adapters"
	"github.com/amtsbote/amtsbote/adapters/adaptertest"
	"github.com/amtsbote/amtsbote/xta"
	"github.com/amtsbote/amtsbote/xta/testserver"
)

const (
	xtaAuthor  = "gad:010100100000"
	xtaReader  = "gad:010200200000"
	xtaService = "urn:xoev-de:xdomea:schema:3.0.0"
)

// xtaBroker is a strict XTA-WS test server on loopback with a test PKI.
type xtaBroker struct {
	srv   *testserver.Server
	pki   *testserver.PKI
	state string
}

var (
	xtaPKIOnce sync.Once
	xtaPKI     *testserver.PKI
	xtaPKIErr  error
)

func startXTA(t testing.TB) *xtaBroker {
	t.Helper()
	xtaPKIOnce.Do(func() {
		dir, err := os.MkdirTemp("", "amtsbote-xta-pki-")
		if err != nil {
			xtaPKIErr = err
			return
		}
		xtaPKI, xtaPKIErr = testserver.NewPKI(dir, "amtsbote XTA test CA", "amtsbote")
	})
	if xtaPKIErr != nil {
		t.Fatal(xtaPKIErr)
	}
	srv, err := testserver.New(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	tlsConfig, err := xtaPKI.ServerTLS()
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start("127.0.0.1:0", tlsConfig); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	srv.AddAccount(xta.Party{ID: xtaAuthor}, nil)
	srv.AddAccount(xta.Party{ID: xtaReader}, []string{xtaService})
	return &xtaBroker{srv: srv, pki: xtaPKI, state: t.TempDir()}
}

func (b *xtaBroker) options() map[string]any {
	return map[string]any{
		"url": b.srv.Endpoint(xta.ManagementPort), "send_url": b.srv.Endpoint(xta.SendPort),
		"ca_file": b.pki.Path(testserver.CAFile), "client_cert_file": b.pki.Path(testserver.ClientCertFile),
		"client_key_file": b.pki.Path(testserver.ClientKeyFile),
		"author":          map[string]any{"identifier": xtaAuthor}, "reader": map[string]any{"identifier": xtaReader},
		"service": xtaService, "state_dir": b.state, "report_wait": "2s",
	}
}

// delivered lists the messages the reader's mailbox holds for a ProzessID (not red ones: the
// broker refused those).
func (b *xtaBroker) delivered(prozessID string) []*testserver.Message {
	var out []*testserver.Message
	for _, m := range b.srv.Messages(xtaReader) {
		if m.Meta.ProcessRef == prozessID && m.Status != xta.StatusRed {
			out = append(out, m)
		}
	}
	return out
}

func xtaZipEntries(t testing.TB, path string) map[string][]byte {
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Errorf("%s: %v", path, err)
		return nil
	}
	defer zr.Close()
	out := map[string][]byte{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Error(err)
			continue
		}
		out[f.Name], _ = io.ReadAll(rc)
		rc.Close()
	}
	return out
}

func TestXTAConformance(t *testing.T) {
	var b *xtaBroker
	adaptertest.Run(t, adaptertest.Harness{
		Factory: func(o map[string]any) (adapters.Adapter, error) { return adapters.New("xta", o) },
		Options: func(t testing.TB) map[string]any { b = startXTA(t); return b.options() },
		InvalidOptions: map[string]map[string]any{
			"no url":                     {"url": nil},
			"plain http":                 {"url": "http://127.0.0.1:1/x"},
			"no client certificate":      {"client_cert_file": nil, "client_key_file": nil},
			"a certificate without key":  {"client_key_file": nil},
			"pem and pkcs12 together":    {"pkcs12_file": "x.p12"},
			"no service":                 {"service": nil},
			"no state_dir":               {"state_dir": nil},
			"a scenario without a list":  {"business_scenario": "XDOMEAGAD_DATA"},
			"an unknown format":          {"format": "tar"},
			"a reader with a line break": {"reader": map[string]any{"identifier": "a\nb"}},
			"a missing CA file":          {"ca_file": "/nonexistent/ca.pem"},
		},
		Received: func(t testing.TB, id string) [][]byte {
			var out [][]byte
			for _, m := range b.delivered(id) {
				for name, content := range xtaZipEntries(t, m.Message.Path) {
					if strings.HasSuffix(name, ".xml") {
						out = append(out, content)
					}
				}
			}
			return out
		},
		Attachment: func(t testing.TB, id, name string) ([]byte, bool) {
			for _, m := range b.delivered(id) {
				if c, ok := xtaZipEntries(t, m.Message.Path)[name]; ok {
					return c, true
				}
			}
			return nil, false
		},
		Files: func(t testing.TB) map[string][]byte {
			out := map[string][]byte{}
			for _, m := range b.srv.Messages(xtaReader) {
				if m.Status == xta.StatusRed {
					continue
				}
				c, _ := os.ReadFile(m.Message.Path)
				out[m.Message.Filename+"@"+m.Meta.MessageID] = c
			}
			// Whatever an upload left in the server's spool is left behind. The server removes a
			// request's spool when its handler ends, which may be just after the client gave up
			// (a cancelled upload): what is still there after a moment stays.
			spooled := func() map[string][]byte {
				files := map[string][]byte{}
				filepath.Walk(b.srv.IncomingDir(), func(path string, fi os.FileInfo, err error) error {
					if err == nil && !fi.IsDir() {
						c, _ := os.ReadFile(path)
						files[path] = c
					}
					return nil
				})
				return files
			}
			left := spooled()
			for deadline := time.Now().Add(5 * time.Second); len(left) > 0 && time.Now().Before(deadline); left = spooled() {
				time.Sleep(20 * time.Millisecond)
			}
			for path, c := range left {
				out[path] = c
			}
			return out
		},
		BreakTransiently: func(t testing.TB) func() { return b.srv.Break(http.StatusServiceUnavailable) },
		BreakPermanently: func(t testing.TB, p *adapters.Package) func() {
			b.srv.SetRed(xtaReader, "Zustellung abgelehnt")
			return func() { b.srv.SetRed(xtaReader, "") }
		},
	})
}

func newXTAAdapter(t testing.TB, options map[string]any) adapters.Adapter {
	t.Helper()
	a, err := adapters.New("xta", options)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

// What goes to the broker: the metadata from the options and the package, the zip as the
// message, the account checked and the service looked up before the first sending.
func TestXTASendsMetadataAndChecksFirst(t *testing.T) {
	b := startXTA(t)
	o := b.options()
	o["business_scenario"], o["business_scenario_list"], o["business_scenario_list_version"] = "XDOMEAGAD_DATA", "urn:de:dataport:codeliste:business.scenario", "1"
	a := newXTAAdapter(t, o)
	p := adaptertest.Package()
	artefact, err := a.Deliver(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	got := b.delivered(p.MessageID)
	if len(got) != 1 {
		t.Fatalf("%d messages delivered, want 1", len(got))
	}
	m := got[0]
	if !strings.Contains(artefact, m.Meta.MessageID) || !strings.Contains(artefact, xtaReader) {
		t.Errorf("artefact %q should name the XTA message id %s and the reader", artefact, m.Meta.MessageID)
	}
	md := m.Meta
	if md.Author.ID != xtaAuthor || md.Author.Type != "xoev" || md.Reader.ID != xtaReader || md.Service != xtaService ||
		md.MessageType.Code != p.MessageType || md.MessageType.ListURI != "urn:de:payloadSchema:elementName" ||
		md.PayloadSchema != "urn:test" || md.BusinessScenario.Code != "XDOMEAGAD_DATA" || md.ProcessRef != p.MessageID {
		t.Errorf("metadata %+v", md)
	}
	if m.Message.ContentType != "application/zip" || m.Message.Filename != p.MessageID+"_"+p.MessageType+".zip" {
		t.Errorf("message content %+v", m.Message)
	}
	want := []string{xta.ActionCheckAccountActive, xta.ActionLookupService, xta.ActionCreateMessageID, xta.ActionSendMessage, xta.ActionGetTransportReport}
	if acts := b.srv.Actions(); strings.Join(acts, " ") != strings.Join(want, " ") {
		t.Errorf("actions %v, want %v", acts, want)
	}
}

// format files: the XÖV message is the content container's message, the files its attachments.
func TestXTAFilesFormat(t *testing.T) {
	b := startXTA(t)
	o := b.options()
	o["format"] = "files"
	a := newXTAAdapter(t, o)
	p := adaptertest.Package()
	if _, err := a.Deliver(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	m := b.delivered(p.MessageID)[0]
	msg, _ := os.ReadFile(m.Message.Path)
	if string(msg) != string(p.XML) || m.Message.ContentType != "application/xml" || len(m.Attached) != 2 {
		t.Fatalf("message %q (%s), %d attachments", msg, m.Message.ContentType, len(m.Attached))
	}
	if a0, _ := os.ReadFile(m.Attached[0].Path); string(a0) != "%PDF-1.4 test" || m.Attached[0].ContentType != "application/pdf" {
		t.Errorf("first attachment %q %s", a0, m.Attached[0].ContentType)
	}
}

// The bad cases: each is classified so that what a retry cannot fix goes to the dead letters
// at once, and what it can is retried without a second message.
func TestXTAFailures(t *testing.T) {
	t.Run("client certificate missing", func(t *testing.T) {
		b := startXTA(t)
		o := b.options()
		other, err := testserver.NewPKI(t.TempDir(), "another CA", "amtsbote")
		if err != nil {
			t.Fatal(err)
		}
		o["client_cert_file"], o["client_key_file"] = other.Path(testserver.ClientCertFile), other.Path(testserver.ClientKeyFile)
		_, err = newXTAAdapter(t, o).Deliver(context.Background(), adaptertest.Package())
		if !adapters.IsPermanent(err) || !strings.Contains(err.Error(), "certificate") {
			t.Fatalf("a client certificate from another CA: want a permanent error about the certificate, got %v", err)
		}
	})
	t.Run("server certificate from another CA", func(t *testing.T) {
		b := startXTA(t)
		o := b.options()
		other, _ := testserver.NewPKI(t.TempDir(), "another CA", "amtsbote")
		o["ca_file"] = other.Path(testserver.CAFile)
		_, err := newXTAAdapter(t, o).Deliver(context.Background(), adaptertest.Package())
		if !adapters.IsPermanent(err) || !strings.Contains(err.Error(), "ca_file") {
			t.Fatalf("want a permanent error naming ca_file, got %v", err)
		}
	})
	t.Run("pkcs12 client certificate", func(t *testing.T) {
		b := startXTA(t)
		o := b.options()
		delete(o, "client_cert_file")
		delete(o, "client_key_file")
		o["pkcs12_file"], o["pkcs12_password"] = b.pki.Path(testserver.ClientP12File), testserver.ClientP12Secret
		if _, err := newXTAAdapter(t, o).Deliver(context.Background(), adaptertest.Package()); err != nil {
			t.Fatal(err)
		}
		o["pkcs12_password"] = "wrong"
		if _, err := adapters.New("xta", o); err == nil || !strings.Contains(err.Error(), "password") {
			t.Fatalf("a wrong PKCS#12 password: want an error saying so, got %v", err)
		}
	})
	t.Run("inactive account", func(t *testing.T) {
		b := startXTA(t)
		b.srv.SetActive(xtaAuthor, false)
		_, err := newXTAAdapter(t, b.options()).Deliver(context.Background(), adaptertest.Package())
		if !adapters.IsPermanent(err) || xta.FaultCode(err) != xta.CodeAccountLocked || !strings.Contains(err.Error(), "options.author") {
			t.Fatalf("want a permanent 9011 fault, got %v", err)
		}
		if acts := b.srv.Actions(); len(acts) != 0 {
			t.Errorf("the server recorded %v for a locked account", acts)
		}
	})
	t.Run("unknown service", func(t *testing.T) {
		b := startXTA(t)
		o := b.options()
		o["service"] = "urn:nowhere"
		_, err := newXTAAdapter(t, o).Deliver(context.Background(), adaptertest.Package())
		if !adapters.IsPermanent(err) || !strings.Contains(err.Error(), "does not receive the service") {
			t.Fatalf("want a permanent error, got %v", err)
		}
		if len(b.srv.Messages("")) != 0 {
			t.Error("a message was sent for a service the reader does not receive")
		}
	})
	t.Run("red report", func(t *testing.T) {
		b := startXTA(t)
		b.srv.SetRed(xtaReader, "Empfänger nicht erreichbar")
		_, err := newXTAAdapter(t, b.options()).Deliver(context.Background(), adaptertest.Package())
		if !adapters.IsPermanent(err) || !strings.Contains(err.Error(), "Empfänger nicht erreichbar") {
			t.Fatalf("want a permanent error with the broker's reason, got %v", err)
		}
	})
	t.Run("pending report is retried without resending", func(t *testing.T) {
		b := startXTA(t)
		b.srv.Hold(true)
		o := b.options()
		o["report_wait"] = "300ms"
		a := newXTAAdapter(t, o)
		p := adaptertest.Package()
		for i := range 2 {
			_, err := a.Deliver(context.Background(), p)
			if err == nil || adapters.IsPermanent(err) || !strings.Contains(err.Error(), "open") {
				t.Fatalf("attempt %d: an open report: want a transient error, got %v", i+1, err)
			}
		}
		ms := b.srv.Messages(xtaReader)
		if len(ms) != 1 {
			t.Fatalf("%d messages at the broker, want 1", len(ms))
		}
		b.srv.SetStatus(ms[0].Meta.MessageID, xta.StatusYellow, "")
		if _, err := a.Deliver(context.Background(), p); err == nil || adapters.IsPermanent(err) {
			t.Fatalf("a yellow report: want a transient error, got %v", err)
		}
		b.srv.SetStatus(ms[0].Meta.MessageID, xta.StatusGreen, "")
		if _, err := a.Deliver(context.Background(), p); err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(strings.Join(b.srv.Actions(), " "), xta.ActionSendMessage); n != 1 {
			t.Errorf("sendMessage called %d times, want 1", n)
		}
	})
	t.Run("broker down then up reuses the message id", func(t *testing.T) {
		b := startXTA(t)
		a := newXTAAdapter(t, b.options())
		p := adaptertest.Package()
		b.srv.FailNext(xta.ActionSendMessage, 1, nil, http.StatusBadGateway)
		_, err := a.Deliver(context.Background(), p)
		if err == nil || adapters.IsPermanent(err) {
			t.Fatalf("a 502: want a transient error, got %v", err)
		}
		b.srv.FailNext(xta.ActionSendMessage, 1, xta.NewFault(xta.CodeInternal, "Wartung"), 0)
		if _, err = a.Deliver(context.Background(), p); err == nil || adapters.IsPermanent(err) || xta.FaultCode(err) != xta.CodeInternal {
			t.Fatalf("a 9030 fault: want a transient error, got %v", err)
		}
		if _, err := a.Deliver(context.Background(), p); err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(strings.Join(b.srv.Actions(), " "), xta.ActionCreateMessageID); n != 1 {
			t.Errorf("createMessageID called %d times: a retry must reuse the message id", n)
		}
		if got := b.delivered(p.MessageID); len(got) != 1 {
			t.Errorf("%d messages delivered, want 1", len(got))
		}
	})
	t.Run("slow broker: timeout, then the same message id is found sent", func(t *testing.T) {
		b := startXTA(t)
		o := b.options()
		o["timeout"] = "1s"
		a := newXTAAdapter(t, o)
		p := adaptertest.Package()
		if _, err := a.Deliver(context.Background(), p); err != nil { // account checked, a first package
			t.Fatal(err)
		}
		b.srv.SetDelay(1500 * time.Millisecond)
		q := adaptertest.Package()
		_, err := a.Deliver(context.Background(), q)
		if err == nil || adapters.IsPermanent(err) {
			t.Fatalf("a slow broker: want a transient error, got %v", err)
		}
		b.srv.SetDelay(0)
		if _, err := a.Deliver(context.Background(), q); err != nil {
			t.Fatal(err)
		}
		if got := b.delivered(q.MessageID); len(got) != 1 {
			t.Errorf("%d messages delivered, want 1", len(got))
		}
	})
	t.Run("answer lost after the broker took the message", func(t *testing.T) {
		b := startXTA(t)
		a := newXTAAdapter(t, b.options())
		p := adaptertest.Package()
		// The broker takes the message, then the answer is lost: the adapter's next attempt
		// sends again under the same id, hears 9024 and asks for the report.
		b.srv.Hold(true)
		o := b.options()
		o["report_wait"] = "100ms"
		if _, err := newXTAAdapter(t, o).Deliver(context.Background(), p); err == nil {
			t.Fatal("want pending")
		}
		b.srv.Hold(false)
		state, _ := os.ReadFile(filepath.Join(b.state, p.MessageID+".json"))
		os.WriteFile(filepath.Join(b.state, p.MessageID+".json"), []byte(strings.Replace(string(state), `"sent":true`, `"sent":false`, 1)), 0o600)
		b.srv.SetStatus(b.srv.Messages(xtaReader)[0].Meta.MessageID, xta.StatusGreen, "")
		if _, err := a.Deliver(context.Background(), p); err != nil {
			t.Fatal(err)
		}
		if got := b.srv.Messages(xtaReader); len(got) != 1 {
			t.Errorf("%d messages at the broker, want 1", len(got))
		}
	})
	t.Run("reader and author from the message header", func(t *testing.T) {
		b := startXTA(t)
		o := b.options()
		delete(o, "author")
		delete(o, "reader")
		a := newXTAAdapter(t, o)
		p := adaptertest.Package()
		p.XML = []byte(`<?xml version="1.0"?><x:m xmlns:x="urn:x"><nachrichtenkopf.g2g><leser><kennung>` + xtaReader +
			`</kennung></leser><autor><kennung>` + xtaAuthor + `</kennung></autor></nachrichtenkopf.g2g><x:id>` + p.MessageID + `</x:id></x:m>`)
		if _, err := a.Deliver(context.Background(), p); err != nil {
			t.Fatal(err)
		}
		if got := b.delivered(p.MessageID); len(got) != 1 || got[0].Meta.Author.ID != xtaAuthor {
			t.Fatalf("delivered %v", got)
		}
		p = adaptertest.Package() // no header
		if _, err := a.Deliver(context.Background(), p); !adapters.IsPermanent(err) || !strings.Contains(err.Error(), "options.author") {
			t.Fatalf("no author anywhere: want a permanent error, got %v", err)
		}
	})
}

func TestHeaderParties(t *testing.T) {
	for _, c := range []struct{ name, xml, author, reader string }{
		{"g2g", `<m><nachrichtenkopf.g2g><leser><verzeichnisdienst listVersionID="3"><code>DVDV</code></verzeichnisdienst><kennung>psw:11007007</kennung></leser><autor><kennung>ags:09162000</kennung></autor></nachrichtenkopf.g2g></m>`, "ags:09162000", "psw:11007007"},
		{"xdomea", `<x:M xmlns:x="urn:x"><x:Kopf><x:Absender><x:Behoerdenkennung><x:Kennung><code>09162000</code></x:Kennung><x:Praefix><code>ags</code></x:Praefix></x:Behoerdenkennung></x:Absender><x:Empfaenger><x:Behoerdenkennung><x:Kennung><code>010200200000</code></x:Kennung><x:Praefix><code>gad</code></x:Praefix></x:Behoerdenkennung></x:Empfaenger></x:Kopf></x:M>`, "ags:09162000", "gad:010200200000"},
		{"none", `<m/>`, "", ""},
		{"not xml", `{"a":1}`, "", ""},
	} {
		a, r := adapters.HeaderParties([]byte(c.xml))
		if a != c.author || r != c.reader {
			t.Errorf("%s: got %q, %q, want %q, %q", c.name, a, r, c.author, c.reader)
		}
	}
}

func FuzzHeaderParties(f *testing.F) {
	f.Add([]byte(`<m><nachrichtenkopf.g2g><leser><kennung>psw:1</kennung></leser><autor><kennung>ags:2</kennung></autor></nachrichtenkopf.g2g></m>`))
	f.Add([]byte(`<x:M xmlns:x="urn:x"><x:Kopf><x:Absender><x:Behoerdenkennung><x:Kennung><code>1</code></x:Kennung><x:Praefix><code>ags</code></x:Praefix></x:Behoerdenkennung></x:Absender></x:Kopf></x:M>`))
	f.Fuzz(func(t *testing.T, msg []byte) {
		a, r := adapters.HeaderParties(msg)
		if strings.TrimSpace(a) != a || strings.TrimSpace(r) != r {
			t.Fatalf("identifiers with surrounding space: %q %q", a, r)
		}
	})
}
