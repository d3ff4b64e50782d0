package daemon_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/amtsbote/amtsbote/inbound"
)

// Real requests to the running daemon and its real answers match the OpenAPI document, and
// the document is served at /openapi.yaml.
func TestAPIMatchesOpenAPIDocument(t *testing.T) {
	ctx := context.Background()
	doc, err := openapi3.NewLoader().LoadFromData(inbound.OpenAPI)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(ctx); err != nil {
		t.Fatalf("the OpenAPI document is not valid: %v", err)
	}
	doc.Servers = nil // match any host: the test daemon listens on random ports
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t)
	cfg.Destinations[0].Retry.MaxAttempts = 1
	cfg.Admin.TokenSHA256 = otherHash
	h := start(t, cfg)
	demo, _ := os.ReadFile("../fixtures/demo/submission.json")
	check := func(method, base, path, token string, body []byte, wantStatus int) []byte {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, bytes.NewReader(body))
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		vreq := req.Clone(ctx)
		vreq.Body = io.NopCloser(bytes.NewReader(body))
		route, params, err := router.FindRoute(vreq)
		if err != nil {
			t.Fatalf("%s %s is not in the document: %v", method, path, err)
		}
		in := &openapi3filter.RequestValidationInput{Request: vreq, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
		reqErr := openapi3filter.ValidateRequest(ctx, in)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		resBody, _ := io.ReadAll(res.Body)
		if res.StatusCode != wantStatus {
			t.Fatalf("%s %s: %d, want %d: %s", method, path, res.StatusCode, wantStatus, resBody)
		}
		if wantStatus < 400 && reqErr != nil {
			t.Fatalf("%s %s: the request does not match the document: %v", method, path, reqErr)
		}
		err = openapi3filter.ValidateResponse(ctx, &openapi3filter.ResponseValidationInput{
			RequestValidationInput: in, Status: res.StatusCode, Header: res.Header, Body: io.NopCloser(bytes.NewReader(resBody)),
			Options: &openapi3filter.Options{IncludeResponseStatus: true},
		})
		if err != nil {
			t.Fatalf("%s %s: the %d answer does not match the document: %v", method, path, res.StatusCode, err)
		}
		return resBody
	}
	base, admin := h.base, "http://"+h.d.AdminAddr()
	os.WriteFile(h.outDir, nil, 0o600) // the E-Akte fails: a dead letter for the admin API
	accepted := check("POST", base, "/v1/submissions", demoToken, demo, 202)
	id := string(accepted[strings.Index(string(accepted), `"id": "`)+7:][:36])
	check("POST", base, "/v1/submissions", demoToken, []byte(`{"leistung": "1"}`), 400)
	check("POST", base, "/v1/submissions", "", demo, 401)
	check("POST", base, "/v1/submissions", demoToken, bytes.Replace(demo, []byte(`"09162000"`), []byte(`"05315000"`), 1), 422)
	h.waitStatus(id, "dead")
	check("GET", base, "/v1/submissions/"+id, demoToken, nil, 200)
	check("GET", base, "/v1/submissions/"+id, otherToken, nil, 404)
	check("GET", base, "/openapi.yaml", "", nil, 200)
	check("GET", admin, "/healthz", "", nil, 200)
	check("GET", admin, "/readyz", "", nil, 200)
	check("GET", admin, "/v1/dead-letters", otherToken, nil, 200)
	check("GET", admin, "/v1/dead-letters/"+id+"/eakte", otherToken, nil, 200)
	check("GET", admin, "/v1/audit", otherToken, nil, 200)
	check("GET", admin, "/v1/dead-letters?route=gewerbeanmeldung&since=2026-01-01T00:00:00Z", otherToken, nil, 200)
	check("GET", admin, "/v1/dead-letters?since=yesterday", otherToken, nil, 400)
	check("POST", admin, "/v1/dead-letters/replay", otherToken, []byte(`{"items": [{"submission_id": "no-such-submission", "destination": "eakte"}]}`), 202)
	check("POST", admin, "/v1/dead-letters/replay", otherToken, []byte(`{"items": [{"submission_id": "x"}]}`), 400)
	openapi3filter.RegisterBodyDecoder("application/xml", openapi3filter.FileBodyDecoder)
	check("GET", admin, "/v1/submissions/"+id+"/messages/eakte", otherToken, nil, 200)
	check("GET", admin, "/v1/submissions/"+id+"/messages/eakte?pretty=true", otherToken, nil, 200)
	check("GET", admin, "/v1/submissions/"+id+"/messages/nowhere", otherToken, nil, 404)
	check("GET", admin, "/v1/submissions/failed?limit=10", otherToken, nil, 200)
	check("GET", admin, "/v1/runtime", otherToken, nil, 200)
	check("GET", admin, "/v1/config", otherToken, nil, 200)
	check("POST", admin, "/v1/playground", otherToken, []byte(`{"submission": `+string(demo)+`}`), 200)
	check("POST", admin, "/v1/playground", otherToken, []byte(`{"submission": `+string(demo)+`, "route": "nope"}`), 422)
	check("POST", admin, "/v1/playground", otherToken, []byte(`{"submission_id": "no-such-submission"}`), 404)
	check("POST", admin, "/v1/playground", otherToken, []byte(`{"submission": `), 400)
	check("GET", admin, "/v1/audit?since=2026-01-01T00:00:00Z&actor=portal&action=submit&limit=5", otherToken, nil, 200)
	check("GET", admin, "/v1/audit?before=0", otherToken, nil, 400)
	check("GET", admin, "/v1/overview", otherToken, nil, 200)
	check("GET", admin, "/v1/overview", "", nil, 401)
	page := check("GET", admin, "/v1/submissions?status=dead&portal=demo-portal&limit=1", otherToken, nil, 200)
	if !bytes.Contains(page, []byte(`"id": "`+id+`"`)) {
		t.Fatalf("the search does not find the dead submission: %s", page)
	}
	check("GET", admin, "/v1/submissions?from=2026-12-01&to=2099-12-31T23:59", otherToken, nil, 200)
	check("GET", admin, "/v1/submissions?status=unterwegs", otherToken, nil, 400)
	check("GET", admin, "/v1/submissions?after=kaputt", otherToken, nil, 400)
	os.Remove(h.outDir)
	check("POST", admin, "/v1/dead-letters/"+id+"/eakte/replay", otherToken, nil, 202)

	// The return channel: the Fachverfahren replies, the portal reads the reply and its PDF.
	openapi3filter.RegisterBodyDecoder("application/pdf", openapi3filter.FileBodyDecoder)
	reply := []byte(`{"submission_id": "` + id + `", "id": "GA-1", "kind": "bescheid", "subject": "Bescheid",
		"documents": [{"filename": "Bescheid.pdf", "media_type": "application/pdf", "content_base64": "` +
		base64.StdEncoding.EncodeToString([]byte(bescheidPDF)) + `"}]}`)
	taken := check("POST", base, "/v1/replies", fvToken, reply, 202)
	replyID := string(taken[strings.Index(string(taken), `"id": "`)+7:][:36])
	check("POST", base, "/v1/replies", fvToken, reply, 200)
	check("POST", base, "/v1/replies", "", reply, 401)
	check("POST", base, "/v1/replies", fvToken, bytes.Replace(reply, []byte(id), []byte("no-such-submission"), 1), 404)
	check("POST", base, "/v1/replies", fvToken, bytes.Replace(reply, []byte(`"bescheid"`), []byte(`"widerruf"`), 1), 422)
	check("GET", base, "/v1/submissions/"+id+"/replies", demoToken, nil, 200)
	check("GET", base, "/v1/submissions/"+id+"/replies", otherToken, nil, 404)
	check("GET", base, "/v1/submissions/"+id+"/replies/"+replyID+"/documents/0", demoToken, nil, 200)
	check("GET", base, "/v1/submissions/"+id+"/replies/"+replyID+"/documents/1", demoToken, nil, 404)
	filed := check("GET", admin, "/v1/replies/filed", otherToken, nil, 200)
	if !bytes.Contains(filed, []byte(`"content": "/v1/replies/filed/`)) {
		t.Fatalf("no filed reply with content: %s", filed)
	}
	check("GET", admin, "/v1/replies/filed?outcome=unmatched&limit=5", otherToken, nil, 200)
	check("GET", admin, "/v1/replies/filed/2/content", otherToken, nil, 200)
	check("GET", admin, "/v1/replies/filed/999/content", otherToken, nil, 404)

	// A reply no channel reaches (the demo portal has no postbox, there is no print service).
	storeReply(t, h.d.Store(), id, "reply-openapi", "bescheid", false)
	waitReply(t, h.d.Store(), "reply-openapi", 1)
	check("GET", admin, "/v1/replies/dead", otherToken, nil, 200)
	check("GET", admin, "/v1/replies/dead?channel=none", otherToken, nil, 200)
	check("POST", admin, "/v1/replies/reply-openapi/channels/none/replay", otherToken, nil, 202)
	check("POST", admin, "/v1/replies/reply-openapi/channels/print/replay", otherToken, nil, 404)
}
