package testserver_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/amtsbote/amtsbote/xta"
	"github.com/amtsbote/amtsbote/xta/testserver"
)

const (
	author  = "gad:010100100000"
	reader  = "gad:010200200000"
	service = "urn:xoev-de:xdomea:schema:3.0.0"
)

func setup(t testing.TB) (*testserver.Server, *testserver.PKI, *xta.Client) {
	t.Helper()
	pki, err := testserver.NewPKI(t.TempDir(), "test CA", "amtsbote")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := testserver.New(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	tc, _ := pki.ServerTLS()
	if err := srv.Start("127.0.0.1:0", tc); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	srv.AddAccount(xta.Party{ID: author}, nil)
	srv.AddAccount(xta.Party{ID: reader}, []string{service})
	cc, err := xta.TLSOptions{CAFile: pki.Path(testserver.CAFile), ClientCertFile: pki.Path(testserver.ClientCertFile),
		ClientKeyFile: pki.Path(testserver.ClientKeyFile)}.Config("")
	if err != nil {
		t.Fatal(err)
	}
	c, err := xta.NewClient(xta.ClientOptions{ManagementURL: srv.Endpoint(xta.ManagementPort), SendURL: srv.Endpoint(xta.SendPort),
		MsgBoxURL: srv.Endpoint(xta.MsgBoxPort), TLS: cc, Timeout: 5 * time.Second, TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	return srv, pki, c
}

func md(id string) xta.MessageMetaData {
	return xta.MessageMetaData{MessageID: id, Author: xta.Party{ID: author}, Reader: xta.Party{ID: reader}, Service: service,
		Undefined: "Abgabe", MessageType: xta.Code{ListURI: "urn:de:payloadSchema:elementName", ListVersion: "1.0", Code: "Abgabe.Abgabe.0401"},
		PayloadSchema: "urn:xoev-de:xdomea:schema:3.0.0"}
}

func content(name, s string) xta.Content {
	return xta.Content{Filename: name, ContentType: "application/xml", Write: func(w io.Writer) error { _, err := w.Write([]byte(s)); return err }}
}

// A message sent by one account arrives in the reader's mailbox: listed with its metadata,
// fetched byte for byte, gone after close; the sender's report is green.
func TestSendListFetchClose(t *testing.T) {
	srv, _, c := setup(t)
	ctx := context.Background()
	if err := c.CheckAccountActive(ctx, xta.Party{ID: author}); err != nil {
		t.Fatal(err)
	}
	if ok, known, err := c.LookupService(ctx, xta.Party{ID: author}, xta.Party{ID: reader}, service); err != nil || !ok || !known {
		t.Fatalf("lookupService: %v %v %v", ok, known, err)
	}
	id, err := c.CreateMessageID(ctx, xta.Party{ID: author})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SendMessage(ctx, md(id), content("m.xml", "<m/>"), []xta.Content{content("a.txt", "Anhang")}); err != nil {
		t.Fatal(err)
	}
	if err := c.SendMessage(ctx, md(id), content("m.xml", "<m/>"), nil); xta.FaultCode(err) != xta.CodeMessageIDUsed {
		t.Fatalf("the same MessageID again: want fault 9024, got %v", err)
	}
	if r, err := c.TransportReport(ctx, xta.Party{ID: author}, id); err != nil || r.Status != xta.StatusGreen || r.MessageID != id {
		t.Fatalf("report %+v, %v", r, err)
	}
	list, err := c.StatusList(ctx, xta.Party{ID: reader}, 10)
	if err != nil || len(list.Messages) != 1 || list.Messages[0].MessageID != id || list.Messages[0].Service != service {
		t.Fatalf("status list %+v, %v", list, err)
	}
	f, err := c.GetMessage(ctx, xta.Party{ID: reader}, id)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Remove()
	m, _ := os.ReadFile(f.Message.Path)
	a, _ := os.ReadFile(f.Attachments[0].Path)
	if string(m) != "<m/>" || string(a) != "Anhang" || f.Attachments[0].Filename != "a.txt" {
		t.Fatalf("fetched %q and %q", m, a)
	}
	if err := c.Close(ctx, xta.Party{ID: reader}, "urn:made:up", id); xta.FaultCode(err) != xta.CodeInvalidParameters {
		t.Fatalf("close with a request id the server never gave: want 9022, got %v", err)
	}
	if err := c.Close(ctx, xta.Party{ID: reader}, f.RequestID, id); err != nil {
		t.Fatal(err)
	}
	if list, _ := c.StatusList(ctx, xta.Party{ID: reader}, 10); len(list.Messages) != 0 {
		t.Fatalf("closed message still listed: %+v", list)
	}
	if _, err := c.GetMessage(ctx, xta.Party{ID: author}, id); xta.FaultCode(err) != xta.CodeUnknownMessageID {
		t.Fatalf("another account fetching the message: want 9070, got %v", err)
	}
	if _, err := c.TransportReport(ctx, xta.Party{ID: reader}, id); xta.FaultCode(err) != xta.CodeUnknownMessageID {
		t.Fatalf("the reader asking for the sender's report: want 9070, got %v", err)
	}
	if err := c.SendMessage(ctx, md("urn:de:xta:messageid:made-up"), content("m.xml", "<m/>"), nil); xta.FaultCode(err) != xta.CodeUnknownMessageID {
		t.Fatalf("a MessageID the server did not create: want 9070, got %v", err)
	}
	if len(srv.Messages(reader)) != 1 {
		t.Fatal("refused sends stored something")
	}
}

// The server refuses what breaks XTA-WS: each request is a valid one changed in one place.
func TestServerIsStrict(t *testing.T) {
	srv, pki, _ := setup(t)
	cert, err := tls.LoadX509KeyPair(pki.Path(testserver.ClientCertFile), pki.Path(testserver.ClientKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pki.Pool, Certificates: []tls.Certificate{cert}}}}
	mgmt := srv.Endpoint(xta.ManagementPort)
	valid := func(action, to string) *xta.Envelope {
		e := xta.NewEnvelope(action, to, xta.NewMessageID(), "")
		xta.WriteParty(e.Header, "oscimeta:Author", xta.Party{ID: author})
		return e
	}
	post := func(url, contentType string, body []byte) (int, string) {
		resp, err := hc.Post(url, contentType, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	ct := xta.SoapContentType(xta.ActionCreateMessageID)
	if status, body := post(mgmt, ct, valid(xta.ActionCreateMessageID, mgmt).Bytes()); status != 200 || !strings.Contains(body, "MessageID") {
		t.Fatalf("the valid request: %d %s", status, body)
	}
	cases := map[string]struct {
		url, contentType string
		body             func() []byte
		want             string
	}{
		"wrong wsa:To": {mgmt, ct, func() []byte { return valid(xta.ActionCreateMessageID, "https://elsewhere.example/x").Bytes() }, "wsa:To"},
		"action of another port": {mgmt, xta.SoapContentType(xta.ActionSendMessage), func() []byte {
			return valid(xta.ActionSendMessage, mgmt).Bytes()
		}, "send port"},
		"Content-Type action differs": {mgmt, xta.SoapContentType(xta.ActionCheckAccountActive), func() []byte {
			return valid(xta.ActionCreateMessageID, mgmt).Bytes()
		}, "differs"},
		"no wsa:MessageID": {mgmt, ct, func() []byte {
			e := valid(xta.ActionCreateMessageID, mgmt)
			e.Header.RemoveChild(xta.Child(e.Header, xta.NSWSA, "MessageID"))
			return e.Bytes()
		}, "MessageID"},
		"unknown header block": {mgmt, ct, func() []byte {
			e := valid(xta.ActionCreateMessageID, mgmt)
			e.Header.CreateElement("xta:Extra")
			return e.Bytes()
		}, "unknown header"},
		"body where none belongs": {mgmt, ct, func() []byte {
			e := valid(xta.ActionCreateMessageID, mgmt)
			e.Body.CreateElement("wsa:MessageID").SetText("urn:x")
			return e.Bytes()
		}, "must be empty"},
		"invalid against the XSD": {mgmt, xta.SoapContentType(xta.ActionLookupService), func() []byte {
			e := valid(xta.ActionLookupService, mgmt)
			e.Body.CreateElement("xta:LookupServiceRequest") // needs a LookupServiceRequestList
			return e.Bytes()
		}, "schemas"},
		"an Identifier without its type": {mgmt, ct, func() []byte {
			e := valid(xta.ActionCreateMessageID, mgmt)
			xta.Child(xta.Child(e.Header, xta.NSOSCIMeta, "Author"), xta.NSOSCIMeta, "Identifier").RemoveAttr("type")
			return e.Bytes()
		}, "schemas"},
		"SOAP 1.1": {mgmt, "text/xml", func() []byte { return []byte(`<e/>`) }, "SOAP 1.2"},
		"not XML":  {mgmt, ct, func() []byte { return []byte(`<env:Envelope`) }, "well-formed"},
		"no such account": {mgmt, ct, func() []byte {
			e := xta.NewEnvelope(xta.ActionCreateMessageID, mgmt, xta.NewMessageID(), "")
			xta.WriteParty(e.Header, "oscimeta:Author", xta.Party{ID: "gad:unbekannt"})
			return e.Bytes()
		}, "9012"},
	}
	for name, c := range cases {
		status, body := post(c.url, c.contentType, c.body())
		if status != 400 || !strings.Contains(body, c.want) || !strings.Contains(body, "env:Fault") {
			t.Errorf("%s: got %d %s, want a fault 400 saying %q", name, status, body, c.want)
		}
	}
	// No client certificate, or one of another CA: the handshake fails.
	other, _ := testserver.NewPKI(filepath.Join(t.TempDir(), "other"), "other CA", "amtsbote")
	otherCert, _ := tls.LoadX509KeyPair(other.Path(testserver.ClientCertFile), other.Path(testserver.ClientKeyFile))
	for name, certs := range map[string][]tls.Certificate{"none": nil, "another CA": {otherCert}} {
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pki.Pool, Certificates: certs}}}
		resp, err := c.Post(mgmt, ct, bytes.NewReader(valid(xta.ActionCreateMessageID, mgmt).Bytes()))
		if err == nil {
			resp.Body.Close()
			t.Errorf("client certificate %s: the server answered %d", name, resp.StatusCode)
		} else if !xta.TLSRefused(err) {
			t.Errorf("client certificate %s: %v is not recognised as a refused certificate", name, err)
		}
	}
}

// Certificates may be bound to accounts: another certificate of the same CA gets 9014.
func TestCertificateBoundToAccount(t *testing.T) {
	srv, _, c := setup(t)
	srv.AddAccount(xta.Party{ID: "gad:gebunden"}, nil, "someone-else")
	if err := c.CheckAccountActive(context.Background(), xta.Party{ID: "gad:gebunden"}); xta.FaultCode(err) != xta.CodeCertNotAuthor {
		t.Fatalf("want 9014, got %v", err)
	}
}

// BenchmarkSend measures messages sent per second through the test server on loopback (mTLS,
// every request validated): createMessageID, sendMessage with a 64 KiB attachment,
// getTransportReport.
func BenchmarkSend(b *testing.B) {
	_, _, c := setup(b)
	ctx := context.Background()
	payload := strings.Repeat("x", 64<<10)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id, err := c.CreateMessageID(ctx, xta.Party{ID: author})
			if err != nil {
				b.Fatal(err)
			}
			if err := c.SendMessage(ctx, md(id), content("m.xml", "<m/>"), []xta.Content{content("a.bin", payload)}); err != nil {
				b.Fatal(err)
			}
			if _, err := c.TransportReport(ctx, xta.Party{ID: author}, id); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkFetch measures messages fetched per second: getStatusList, getMessage, close.
func BenchmarkFetch(b *testing.B) {
	srv, _, c := setup(b)
	ctx := context.Background()
	dir := b.TempDir()
	path := filepath.Join(dir, "m.xml")
	os.WriteFile(path, []byte(strings.Repeat("<m/>", 16<<10)), 0o600)
	for range b.N {
		if _, err := srv.Deposit(md(""), xta.Content{Filename: "m.xml", ContentType: "application/xml", Path: path}); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for done := 0; done < b.N; {
		list, err := c.StatusList(ctx, xta.Party{ID: reader}, 100)
		if err != nil {
			b.Fatal(err)
		}
		for _, m := range list.Messages {
			f, err := c.GetMessage(ctx, xta.Party{ID: reader}, m.MessageID)
			if err != nil {
				b.Fatal(err)
			}
			f.Remove()
			if err := c.Close(ctx, xta.Party{ID: reader}, f.RequestID, m.MessageID); err != nil {
				b.Fatal(err)
			}
			done++
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
