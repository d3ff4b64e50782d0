package daemon_test

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/amtsbote/amtsbote/daemon"
)

type filePart struct {
	name, mediaType string
	content         []byte
}

// multipartBody builds a multipart submission: the JSON part, then the files.
func multipartBody(t *testing.T, sub map[string]any, files []filePart, extra func(*multipart.Writer)) (string, []byte) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	if sub != nil {
		js, _ := json.Marshal(sub)
		hdr := textproto.MIMEHeader{"Content-Disposition": {`form-data; name="submission"`}, "Content-Type": {"application/json"}}
		p, _ := mw.CreatePart(hdr)
		p.Write(js)
	}
	for _, f := range files {
		hdr := textproto.MIMEHeader{"Content-Disposition": {`form-data; name="attachment"; filename="` + f.name + `"`}}
		if f.mediaType != "" {
			hdr.Set("Content-Type", f.mediaType)
		}
		p, _ := mw.CreatePart(hdr)
		p.Write(f.content)
	}
	if extra != nil {
		extra(mw)
	}
	mw.Close()
	return mw.FormDataContentType(), buf.Bytes()
}

func (h *harness) postMultipart(contentType string, body []byte, key string) response {
	h.t.Helper()
	header := map[string]string{"Content-Type": contentType}
	if key != "" {
		header["Idempotency-Key"] = key
	}
	return h.do("POST", "/v1/submissions", demoToken, body, header)
}

// Large files come as multipart parts, are streamed through the store and arrive unchanged in
// the delivered package; a repeated request with the same key gives the same submission.
func TestMultipartUpload(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		cfg := backendConfig(t, backend)
		cfg.Server.MaxBodyBytes = 64 << 20
		h := start(t, cfg)
		big := make([]byte, 3<<20+777)
		rand.Read(big)
		copy(big, "%PDF-1.7\n")
		sub := demoSubmission(t)
		delete(sub, "attachments")
		ct, body := multipartBody(t, sub, []filePart{
			{"Bauplan groß.pdf", "application/pdf", big},
			{"notiz.txt", "text/plain", []byte("Bitte Rückruf.")},
		}, nil)
		r := h.postMultipart(ct, body, "mp-1")
		if r.Status != http.StatusAccepted {
			t.Fatalf("multipart: %d %s", r.Status, r.Raw)
		}
		id := r.Body["id"].(string)
		if again := h.postMultipart(ct, body, "mp-1"); again.Body["id"] != id {
			t.Fatalf("repeated request: %s", again.Raw)
		}
		// A client repeating the request writes it with a new boundary: still the same request.
		files := []filePart{{"Bauplan groß.pdf", "application/pdf", big}, {"notiz.txt", "text/plain", []byte("Bitte Rückruf.")}}
		ct2, body2 := multipartBody(t, sub, files, nil)
		if ct2 == ct {
			t.Fatal("the boundary did not change")
		}
		if again := h.postMultipart(ct2, body2, "mp-1"); again.Status != http.StatusAccepted || again.Body["id"] != id {
			t.Fatalf("repeated request with a new boundary: %d %s", again.Status, again.Raw)
		}
		files[1].content = []byte("Bitte keinen Rückruf.")
		ct3, body3 := multipartBody(t, sub, files, nil)
		if other := h.postMultipart(ct3, body3, "mp-1"); other.Status != http.StatusUnprocessableEntity {
			t.Fatalf("the key reused for another file: %d %s", other.Status, other.Raw)
		}
		st := h.waitStatus(id, "delivered")
		zips, _ := filepath.Glob(filepath.Join(h.outDir, "*.zip"))
		if len(zips) != 1 {
			t.Fatalf("%d zips", len(zips))
		}
		zr, err := zip.OpenReader(zips[0])
		if err != nil {
			t.Fatal(err)
		}
		defer zr.Close()
		found := map[string][]byte{}
		for _, f := range zr.File {
			rc, _ := f.Open()
			b, _ := io.ReadAll(rc)
			rc.Close()
			found[f.Name] = b
		}
		var gotBig, gotNote bool
		for name, b := range found {
			gotBig = gotBig || (strings.HasSuffix(name, "Bauplan_gro_.pdf") || strings.Contains(name, "Bauplan")) && bytes.Equal(b, big)
			gotNote = gotNote || strings.HasSuffix(name, "notiz.txt") && string(b) == "Bitte Rückruf."
		}
		if !gotBig || !gotNote {
			names := []string{}
			for n := range found {
				names = append(names, n)
			}
			t.Fatalf("package lacks the files unchanged: %v (status %s)", names, st.Raw)
		}
	})
}

// Every malformed multipart request gets its 4xx naming the part, and stores nothing.
func TestMultipartErrors(t *testing.T) {
	cfg := testConfig(t)
	cfg.Server.MaxAttachmentBytes = 1000
	h := start(t, cfg)
	sub := demoSubmission(t)
	delete(sub, "attachments")
	small := []filePart{{"a.pdf", "application/pdf", []byte("%PDF-1.7 small")}}
	cases := []struct {
		name   string
		sub    map[string]any
		files  []filePart
		extra  func(*multipart.Writer)
		status int
		want   string
	}{
		{"no submission part", nil, small, nil, 400, "submission"},
		{"file too large", sub, []filePart{{"big.pdf", "application/pdf", make([]byte, 1001)}}, nil, 413, "attachments[0]"},
		{"no file name", sub, []filePart{{"", "application/pdf", []byte("x")}}, nil, 400, "attachments[0].filename"},
		{"no media type", sub, []filePart{{"a.pdf", "", []byte("x")}}, nil, 400, "attachments[0].media_type"},
		{"empty file", sub, []filePart{{"a.pdf", "application/pdf", nil}}, nil, 400, "empty"},
		{"unknown part", sub, small, func(mw *multipart.Writer) { mw.WriteField("comment", "hi") }, 400, "comment"},
		{"bad submission JSON", map[string]any{"leistung": "1"}, small, nil, 400, "leistung"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ct, body := multipartBody(t, c.sub, c.files, c.extra)
			r := h.postMultipart(ct, body, "")
			if r.Status != c.status || !strings.Contains(r.Raw, c.want) {
				t.Fatalf("got %d %s, want %d naming %q", r.Status, r.Raw, c.status, c.want)
			}
		})
	}
	// a file before the submission part
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	p, _ := mw.CreateFormFile("attachment", "a.pdf")
	p.Write([]byte("x"))
	mw.Close()
	if r := h.postMultipart(mw.FormDataContentType(), buf.Bytes(), ""); r.Status != 400 || !strings.Contains(r.Raw, "before") {
		t.Fatalf("file first: %d %s", r.Status, r.Raw)
	}
	if n := h.count("submissions"); n != 0 {
		t.Fatalf("%d submissions stored by refused requests", n)
	}
}

// A multipart body over server.max_body_bytes is refused with 413, like a JSON one.
func TestMultipartBodyLimit(t *testing.T) {
	cfg := testConfig(t)
	cfg.Server.MaxBodyBytes = 4000
	h := start(t, cfg)
	sub := demoSubmission(t)
	delete(sub, "attachments")
	ct, body := multipartBody(t, sub, []filePart{{"a.pdf", "application/pdf", make([]byte, 5000)}}, nil)
	if r := h.postMultipart(ct, body, ""); r.Status != 413 || !strings.Contains(r.Raw, "4000") {
		t.Fatalf("got %d %s", r.Status, r.Raw)
	}
	if n := h.count("submissions"); n != 0 {
		t.Fatalf("%d submissions stored", n)
	}
}

// Large uploads wait in amtsbote's own spool directory, not the shared temporary one; what a
// stopped process left there is removed at start, while what a running one holds stays.
func TestSpoolDirectory(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	cfg := testConfig(t)
	spool := filepath.Join(cfg.Storage.DataDir, "spool")
	left := filepath.Join(spool, "p123", "amtsbote-upload-123456")
	writeFile(t, left, "a citizen's document from before a crash")
	writeFile(t, filepath.Join(spool, "p123", ".lock"), "")
	h := start(t, cfg)
	if _, err := os.Stat(filepath.Dir(left)); !os.IsNotExist(err) {
		t.Fatalf("the upload a crashed process left is still there: %v", err)
	}

	// An upload in progress: the file part is read, the request not yet finished.
	sub := demoSubmission(t)
	delete(sub, "attachments")
	ct, body := multipartBody(t, sub, []filePart{{"gross.pdf", "application/pdf", bytes.Repeat([]byte("%PDF-1.4 "), 300_000)}}, nil)
	pr, pw := io.Pipe()
	answer := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest("POST", h.base+"/v1/submissions", pr)
		req.Header.Set("Authorization", "Bearer "+demoToken)
		req.Header.Set("Content-Type", ct)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			answer <- 0
			return
		}
		res.Body.Close()
		answer <- res.StatusCode
	}()
	cut := len(body) - 100
	pw.Write(body[:cut])
	spooledNow := func() []string {
		files, _ := filepath.Glob(filepath.Join(spool, "*", "amtsbote-upload-*"))
		return files
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(spooledNow()) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the upload was not spooled to the spool directory")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if elsewhere, _ := os.ReadDir(tmp); len(elsewhere) != 0 {
		t.Fatalf("the upload went to the shared temporary directory: %v", elsewhere)
	}

	// A second process sharing the directory (PostgreSQL instances on one host) starts now: it
	// must not take the running upload for a crashed one.
	second := testConfig(t)
	second.Server.SpoolDir = spool
	d2, err := daemon.Start(context.Background(), second, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Shutdown(context.Background())
	if len(spooledNow()) != 1 {
		t.Fatal("another process removed an upload in progress")
	}

	pw.Write(body[cut:])
	pw.Close()
	if code := <-answer; code != http.StatusAccepted {
		t.Fatalf("upload: %d", code)
	}
	if files := spooledNow(); len(files) != 0 {
		t.Fatalf("spooled files left after the request: %v", files)
	}
}
