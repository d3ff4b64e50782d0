package daemon_test

import (
	"archive/zip"
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/amtsbote/amtsbote/config"
	"github.com/amtsbote/amtsbote/xta"
	"github.com/amtsbote/amtsbote/xta/testserver"
)

const (
	xtaInboxReader  = "gad:010200200000"
	xtaInboxService = "urn:xoev-de:xdomea:schema:3.0.0"
)

// xtaTestBroker starts the XTA test server with a reader account; its PKI is in dir.
func xtaTestBroker(t testing.TB, dir string) (*testserver.Server, *testserver.PKI) {
	t.Helper()
	pki, err := testserver.NewPKI(filepath.Join(dir, "pki"), "amtsbote XTA test CA", "amtsbote")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := testserver.New(filepath.Join(dir, "broker"), nil)
	if err != nil {
		t.Fatal(err)
	}
	tlsConfig, err := pki.ServerTLS()
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start("127.0.0.1:0", tlsConfig); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	srv.AddAccount(xta.Party{ID: xtaInboxReader}, []string{xtaInboxService})
	srv.AddAccount(xta.Party{ID: "gad:010100100000"}, nil)
	return srv, pki
}

// deposit puts a message from another authority into the reader's mailbox.
func deposit(t testing.TB, srv *testserver.Server, dir, service, filename, contentType string, content []byte, attachments ...xta.Content) string {
	t.Helper()
	path := filepath.Join(dir, filename)
	if err := os.WriteFile(path, content, 0o600); err != nil {
		t.Fatal(err)
	}
	id, err := srv.Deposit(xta.MessageMetaData{Author: xta.Party{ID: "gad:010100100000", Type: "xoev"}, Reader: xta.Party{ID: xtaInboxReader, Type: "xoev"},
		Service: service, Undefined: "Abgabe", MessageType: xta.Code{ListURI: "urn:de:payloadSchema:elementName", ListVersion: "1.0", Code: "Abgabe.Abgabe.0401"},
		PayloadSchema: "urn:test"}, xta.Content{Filename: filename, ContentType: contentType, Path: path}, attachments...)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func zipOf(t testing.TB, files map[string]string) []byte {
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for name, content := range files {
		w, _ := zw.Create(name)
		w.Write([]byte(content))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func xtaInbox(srv *testserver.Server, pki *testserver.PKI) config.XTAInbox {
	return config.XTAInbox{ID: "xta-eakte", URL: srv.Endpoint(xta.MsgBoxPort), CAFile: pki.Path(testserver.CAFile),
		ClientCertFile: pki.Path(testserver.ClientCertFile), ClientKeyFile: pki.Path(testserver.ClientKeyFile),
		Readers: []config.XTAParty{{Identifier: xtaInboxReader, Type: "xoev"}}, Services: []string{xtaInboxService},
		Route: "gewerbeanmeldung", PollInterval: 100 * time.Millisecond, Timeout: 5 * time.Second, MaxMessageBytes: 1 << 20}
}

// An XTA mailbox is emptied into submissions: the XÖV message of a zip as the data, its other
// files as attachments, the metadata kept; a message that is not well-formed, or fails its
// schema, is filed as a failed submission; a message of another service stays in the mailbox;
// a close that fails after the store is repeated without a second submission.
func TestXTAInboxIntake(t *testing.T) {
	dir := t.TempDir()
	srv, pki := xtaTestBroker(t, dir)
	good := deposit(t, srv, dir, xtaInboxService, "abgabe.zip", "application/zip", zipOf(t, map[string]string{
		"0401.xml": `<?xml version="1.0"?><m:Abgabe xmlns:m="urn:test"><m:id>A-1</m:id></m:Abgabe>`, "Bescheid.pdf": "%PDF-1.4 Bescheid"}))
	broken := deposit(t, srv, dir, xtaInboxService, "kaputt.xml", "application/xml", []byte(`<m:Abgabe xmlns:m="urn:test"><m:id>`))
	invalid := deposit(t, srv, dir, xtaInboxService, "ungueltig.xml", "application/xml",
		[]byte(`<?xml version="1.0"?><x:Abgabe.Abgabe.0401 xmlns:x="urn:xoev-de:xdomea:schema:3.0.0"><x:nichts/></x:Abgabe.Abgabe.0401>`))
	other := deposit(t, srv, dir, "urn:anderer:dienst", "andere.xml", "application/xml", []byte(`<m:x xmlns:m="urn:test"/>`))
	srv.FailNext(xta.ActionClose, 1, xta.NewFault(xta.CodeInternal, "Wartung"), 0)

	cfg := testConfig(t)
	cfg.XTA.Inboxes = []config.XTAInbox{xtaInbox(srv, pki)}
	h := start(t, cfg)

	deadline := time.Now().Add(20 * time.Second)
	closed := func() map[string]bool {
		out := map[string]bool{}
		for _, m := range srv.Messages(xtaInboxReader) {
			out[m.Meta.MessageID] = m.Closed
		}
		return out
	}
	for c := closed(); !(c[good] && c[broken] && c[invalid]); c = closed() {
		if time.Now().After(deadline) {
			t.Fatalf("messages not closed: %v", c)
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // another poll or two
	if c := closed(); c[other] {
		t.Error("a message of a service the inbox does not take was closed")
	}
	for _, m := range srv.Messages(xtaInboxReader) {
		if m.Meta.MessageID == other && m.Fetched != 0 {
			t.Error("a message of a service the inbox does not take was downloaded")
		}
	}
	db := h.d.Store().DB
	type row struct{ id, status, dataType, data string }
	byKey := map[string]row{}
	rows, err := db.Query(`SELECT idempotency_key, id, status, data_type, data FROM submissions WHERE channel = 'xta'`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var key string
		var r row
		rows.Scan(&key, &r.id, &r.status, &r.dataType, &r.data)
		if _, dup := byKey[key]; dup {
			t.Errorf("XTA message %s stored twice", key)
		}
		byKey[key] = r
	}
	rows.Close()
	if len(byKey) != 3 {
		t.Fatalf("%d submissions from XTA, want 3: %v", len(byKey), byKey)
	}
	g := byKey[good]
	if g.dataType != "application/xml" || !bytes.Contains([]byte(g.data), []byte("A-1")) {
		t.Errorf("the good message's data: %s %q", g.dataType, g.data)
	}
	var attName string
	var size int64
	db.QueryRow(`SELECT filename, size FROM attachments WHERE submission_id = $1`, g.id).Scan(&attName, &size)
	if attName != "Bescheid.pdf" || size != int64(len("%PDF-1.4 Bescheid")) {
		t.Errorf("the good message's attachment: %q, %d bytes", attName, size)
	}
	var meta string
	db.QueryRow(`SELECT meta FROM submissions WHERE id = $1`, g.id).Scan(&meta)
	if !bytes.Contains([]byte(meta), []byte(`"message_id":"`+good+`"`)) || !bytes.Contains([]byte(meta), []byte(xtaInboxService)) {
		t.Errorf("meta %s", meta)
	}
	for what, id := range map[string]string{"not well-formed": broken, "invalid against its schema": invalid} {
		r := byKey[id]
		if r.status != "failed" {
			t.Errorf("the %s message: status %q, want failed", what, r.status)
		}
		var detail string
		db.QueryRow(`SELECT detail FROM events WHERE submission_id = $1 AND type = 'xta_rejected'`, r.id).Scan(&detail)
		if detail == "" {
			t.Errorf("the %s message has no xta_rejected event saying why", what)
		}
		t.Logf("%s: %s", what, detail)
		var files int
		db.QueryRow(`SELECT count(*) FROM attachments WHERE submission_id = $1`, r.id).Scan(&files)
		if files != 1 {
			t.Errorf("the %s message is filed with %d files, want its content", what, files)
		}
	}
}
