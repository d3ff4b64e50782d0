package daemon_test

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/amtsbote/amtsbote/xoev"
)

// The demo submission travels end to end and fans out: 202, mapped and validated for both
// destinations; the E-Akte's zip holds a valid xdomea Geschaeftsgang 0201 whose first Dokument
// is the application (a PDF/A and the data as received), then the attachments; the
// Fachverfahren's zip holds the form data as JSON in its own intake format with the same files.
func TestDemoSubmissionFansOutAsValidXdomeaZips(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		h := start(t, backendConfig(t, backend))
		r := h.submit(demoSubmission(t), demoToken, nil)
		if r.Status != http.StatusAccepted {
			t.Fatalf("POST: %d %s", r.Status, r.Raw)
		}
		id := r.Body["id"].(string)
		if r.Body["status"] != "received" || r.Body["links"].(map[string]any)["self"] != "/v1/submissions/"+id {
			t.Fatalf("unexpected 202 body: %s", r.Raw)
		}
		st := h.waitStatus(id, "delivered")
		types := eventTypes(st)
		for typ, n := range map[string]int{"received": 1, "mapped": 2, "validated": 2, "delivered": 2} {
			if count(types, typ) != n {
				t.Errorf("%d %s events, want %d: %v", count(types, typ), typ, n, types)
			}
		}
		schema, err := xoev.Compile("xdomea-3.0.0", "", "../fixtures/xoev/xdomea-3.0.0/schema/xdomea.xsd")
		if err != nil {
			t.Fatal(err)
		}
		defer schema.Close()
		full := h.detail(id)
		for _, dest := range []string{"eakte", "gewerbe-fachverfahren"} {
			if d := delivery(t, full, dest); d["status"] != "delivered" || d["attempts"].(float64) != 1 {
				t.Fatalf("delivery = %v", d)
			}
		}
		eakte := openZip(t, delivery(t, full, "eakte")["artefact"].(string), "Geschaeftsgang.Geschaeftsgang.0201", ".xml")
		xmlDoc := eakte.message
		if err := schema.Validate(xmlDoc); err != nil {
			t.Fatalf("delivered XML is not valid: %v", err)
		}
		pdf, data := eakte.file(t, "Antrag.pdf"), eakte.file(t, "Antrag.json")
		if !bytes.HasPrefix(eakte.files[pdf], []byte("%PDF-")) || !bytes.Contains(eakte.files[pdf], []byte("pdfaid:part")) {
			t.Errorf("the application is not a PDF/A")
		}
		sent, _ := json.Marshal(demoSubmission(t)["data"])
		if !jsonEqual(eakte.files[data], sent) {
			t.Errorf("the data file is not the form data as sent:\n%s", eakte.files[data])
		}
		// The application is the first Dokument, its two files one version; the attachments follow.
		first := strings.Index(string(xmlDoc), "<xdomea:Dokument>")
		for i, name := range []string{pdf, data, eakte.file(t, "Personalausweis.pdf"), eakte.file(t, "Meisterbrief.png")} {
			at := strings.Index(string(xmlDoc), "<xdomea:Dateiname>"+name+"</xdomea:Dateiname>")
			if at < first {
				t.Errorf("the message does not reference %s inside a Dokument", name)
			}
			if i < 2 && strings.Count(string(xmlDoc[first:at]), "<xdomea:Dokument>") != 1 {
				t.Errorf("%s is not in the first Dokument", name)
			}
		}
		if !strings.Contains(string(xmlDoc), "<xdomea:Typ>Antrag</xdomea:Typ>") ||
			!strings.Contains(string(xmlDoc), "<xdomea:FremdesGeschaeftszeichen>DEMO-2026-000001</xdomea:FremdesGeschaeftszeichen>") {
			t.Error("the application's Dokument lacks its Typ or the portal's reference")
		}

		fv := openZip(t, delivery(t, full, "gewerbe-fachverfahren")["artefact"].(string), "Gewerbeanmeldung", ".json")
		var msg struct {
			MessageID  string `json:"message_id"`
			Submission struct{ ID, Reference string }
			Data       json.RawMessage `json:"data"`
			Files      []struct{ Name, Origin string }
		}
		if err := json.Unmarshal(fv.message, &msg); err != nil {
			t.Fatalf("the Fachverfahren's message is not JSON: %v", err)
		}
		if msg.MessageID != fv.processID || msg.Submission.ID != id || !jsonEqual(msg.Data, sent) || len(msg.Files) != 4 {
			t.Fatalf("the Fachverfahren's message: %s", fv.message)
		}
		for _, f := range msg.Files {
			if len(fv.files[f.Name]) == 0 {
				t.Errorf("the package lacks %s", f.Name)
			}
		}
		// The objects are the same in both packages: the same files under the same names.
		if fv.file(t, "Antrag.pdf") != pdf || fv.file(t, "Personalausweis.pdf") != eakte.file(t, "Personalausweis.pdf") {
			t.Error("the two packages name the same files differently")
		}
	})
}

// deliveredZip is a delivered package: <ProzessID>_<type>.zip holding the message and files.
type deliveredZip struct {
	processID string
	message   []byte
	files     map[string][]byte
}

// file finds the file <UUID>_<name> in the package.
func (z deliveredZip) file(t *testing.T, name string) string {
	t.Helper()
	for n := range z.files {
		if strings.HasSuffix(n, "_"+name) && len(n) == 37+len(name) && len(z.files[n]) > 0 {
			return n
		}
	}
	t.Fatalf("the package lacks <UUID>_%s (has %v)", name, keys(z.files))
	return ""
}

func openZip(t *testing.T, artefact, msgType, ext string) deliveredZip {
	t.Helper()
	name := filepath.Base(artefact)
	processID, ok := strings.CutSuffix(name, "_"+msgType+".zip")
	if !ok || len(processID) != 36 {
		t.Fatalf("zip name %q is not <ProzessID>_%s.zip", name, msgType)
	}
	zr, err := zip.OpenReader(artefact)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	z := deliveredZip{processID: processID, files: map[string][]byte{}}
	for _, f := range zr.File {
		rc, _ := f.Open()
		z.files[f.Name], _ = io.ReadAll(rc)
		rc.Close()
	}
	if z.message, ok = z.files[processID+"_"+msgType+ext]; !ok {
		t.Fatalf("zip holds %v, no message %s", keys(z.files), processID+"_"+msgType+ext)
	}
	if !bytes.Contains(z.message, []byte(processID)) {
		t.Error("the message does not carry the ProzessID of its file name")
	}
	return z
}

// jsonEqual reports whether two JSON texts hold the same value.
func jsonEqual(a, b []byte) bool {
	var x, y any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal(b, &y) == nil && reflect.DeepEqual(x, y)
}

func count(list []string, v string) int {
	n := 0
	for _, x := range list {
		if x == v {
			n++
		}
	}
	return n
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Every refused request gets the right status and a message naming the problem, and nothing is
// stored for it.
func TestRefusedRequestsStoreNothing(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		cfg := backendConfig(t, backend)
		cfg.Server.MaxBodyBytes = 64 << 10
		h := start(t, cfg)
		valid := func(change func(m map[string]any)) []byte {
			m := demoSubmission(t)
			change(m)
			return mustJSON(t, m)
		}
		tests := []struct {
			name       string
			token      string
			body       []byte
			wantStatus int
			wantText   []string // in the error body
		}{
			{"no token", "", valid(func(map[string]any) {}), 401, []string{"missing bearer token"}},
			{"unknown token", "not-a-portal", valid(func(map[string]any) {}), 401, []string{"unknown portal token"}},
			{"malformed JSON", demoToken, []byte(`{"leistung": "99050012104000",`), 400, []string{"malformed JSON"}},
			{"empty body", demoToken, nil, 400, []string{"empty"}},
			{"not an object", demoToken, []byte(`[1,2]`), 400, []string{"must be a JSON object"}},
			{"unknown field", demoToken, valid(func(m map[string]any) { m["leistungg"] = "1" }), 400, []string{"leistungg", "unknown field"}},
			{"missing fields", demoToken, []byte(`{"data": {}}`), 400, []string{`"leistung"`, `"ags"`, `"reference"`}},
			{"leistung too short", demoToken, valid(func(m map[string]any) { m["leistung"] = "9905" }), 400, []string{`"field": "leistung"`, "14-digit"}},
			{"ags with letters", demoToken, valid(func(m map[string]any) { m["ags"] = "0916200X" }), 400, []string{`"field": "ags"`, "8-digit"}},
			{"data not an object", demoToken, valid(func(m map[string]any) { m["data"] = "text" }), 400, []string{`"field": "data"`}},
			{"wrong type", demoToken, valid(func(m map[string]any) { m["reference"] = 12 }), 400, []string{`"field": "reference"`, "must be a JSON string"}},
			{"bad base64", demoToken, valid(func(m map[string]any) {
				m["attachments"].([]any)[1].(map[string]any)["content_base64"] = "!!!"
			}), 400, []string{"attachments[1].content_base64", "not valid base64"}},
			{"bad media type", demoToken, valid(func(m map[string]any) {
				m["attachments"].([]any)[0].(map[string]any)["media_type"] = "pdf"
			}), 400, []string{"attachments[0].media_type"}},
			{"no route", demoToken, valid(func(m map[string]any) { m["ags"] = "05315000" }), 422, []string{"no route", "99050012104000", "05315000"}},
			{"too large", demoToken, valid(func(m map[string]any) {
				m["data"].(map[string]any)["blob"] = strings.Repeat("x", 70<<10)
			}), 413, []string{"larger than the limit"}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := h.do("POST", "/v1/submissions", tt.token, tt.body, nil)
				if r.Status != tt.wantStatus {
					t.Fatalf("status %d, want %d: %s", r.Status, tt.wantStatus, r.Raw)
				}
				for _, want := range tt.wantText {
					if !strings.Contains(r.Raw, want) {
						t.Errorf("error body lacks %q: %s", want, r.Raw)
					}
				}
			})
		}
		for _, table := range []string{"submissions", "attachments", "events", `"watermill_submissions"`} {
			if n := h.count(table); n != 0 {
				t.Errorf("%s has %d rows after refused requests, want 0", table, n)
			}
		}
	})
}

// Repeating a request with the same Idempotency-Key returns the same submission and stores
// nothing new; reusing the key for another body is refused; keys are per portal.
func TestIdempotencyKey(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		h := start(t, backendConfig(t, backend))
		sub := demoSubmission(t)
		key := map[string]string{"Idempotency-Key": "portal-req-0001"}
		first := h.submit(sub, demoToken, key)
		again := h.submit(sub, demoToken, key)
		if first.Status != 202 || again.Status != 202 {
			t.Fatalf("statuses %d, %d: %s %s", first.Status, again.Status, first.Raw, again.Raw)
		}
		if first.Body["id"] != again.Body["id"] || again.Header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("repeat gave id %v (replayed=%q), want %v", again.Body["id"], again.Header.Get("Idempotent-Replayed"), first.Body["id"])
		}
		sub["reference"] = "DEMO-2026-000002"
		if r := h.submit(sub, demoToken, key); r.Status != 422 || !strings.Contains(r.Raw, "different request body") {
			t.Fatalf("key reused for another body: %d %s", r.Status, r.Raw)
		}
		other := h.submit(demoSubmission(t), otherToken, key)
		if other.Status != 202 || other.Body["id"] == first.Body["id"] {
			t.Fatalf("same key from another portal: %d %s", other.Status, other.Raw)
		}
		if n := h.count("submissions"); n != 2 {
			t.Fatalf("%d submissions stored, want 2", n)
		}
	})
}

// Only the portal that submitted may read the status; anyone else gets 404 like for a missing id.
func TestStatusIsOnlyForTheSubmittingPortal(t *testing.T) {
	h := start(t, testConfig(t))
	id := h.submit(demoSubmission(t), demoToken, nil).Body["id"].(string)
	tests := []struct {
		name, token, id string
		want            int
	}{
		{"owner", demoToken, id, 200},
		{"other portal", otherToken, id, 404},
		{"unknown id", demoToken, "00000000-0000-4000-8000-000000000000", 404},
		{"no token", "", id, 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if r := h.do("GET", "/v1/submissions/"+tt.id, tt.token, nil, nil); r.Status != tt.want {
				t.Fatalf("status %d, want %d: %s", r.Status, tt.want, r.Raw)
			}
		})
	}
}

// A destination that cannot be written is retried with backoff while the other destination of
// the route is served at once; once it works the submission is delivered, and the failed
// attempts stay visible.
func TestTransientFailureIsRetriedUntilDelivered(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		cfg := backendConfig(t, backend)
		h := start(t, cfg)
		// A file where the drop directory should be: every attempt fails until it is removed.
		if err := os.WriteFile(h.outDir, []byte("in the way"), 0o600); err != nil {
			t.Fatal(err)
		}
		id := h.submit(demoSubmission(t), demoToken, nil).Body["id"].(string)
		// Wait until the E-Akte has failed twice and the Fachverfahren has its package: the failing
		// destination keeps retrying while the other one is served.
		deadline := time.Now().Add(10 * time.Second)
		for {
			r := h.do("GET", "/v1/submissions/"+id, demoToken, nil, nil)
			if len(r.Body["deliveries"].([]any)) == 2 && delivery(t, r, "eakte")["attempts"].(float64) >= 2 &&
				delivery(t, r, "gewerbe-fachverfahren")["status"] == "delivered" {
				if r.Body["status"] != "processing" || delivery(t, r, "eakte")["last_error"] == nil {
					t.Fatalf("while failing: %s", r.Raw)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no retries of the E-Akte, or no delivery to the Fachverfahren: %s", r.Raw)
			}
			time.Sleep(10 * time.Millisecond)
		}
		os.Remove(h.outDir)
		st := h.waitStatus(id, "delivered")
		if !slices.Contains(eventTypes(st), "delivery_failed") {
			t.Errorf("history lacks the failed attempts: %v", eventTypes(st))
		}
		if d := firstDelivery(t, st); d["last_error"] != nil {
			t.Errorf("last_error still set after success: %v", d)
		}
	})
}

// After the configured attempts a delivery is dead, with its last error, and nothing is written.
func TestDeliveryBecomesDeadAfterMaxAttempts(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		cfg := backendConfig(t, backend)
		cfg.Destinations[0].Retry.MaxAttempts = 3
		h := start(t, cfg)
		os.WriteFile(h.outDir, []byte("in the way"), 0o600)
		id := h.submit(demoSubmission(t), demoToken, nil).Body["id"].(string)
		st := h.waitStatus(id, "dead")
		d := firstDelivery(t, h.detail(id))
		if d["status"] != "dead" || d["attempts"].(float64) != 3 || !strings.Contains(d["last_error"].(string), "not a directory") {
			t.Fatalf("dead delivery = %v", d)
		}
		if count(eventTypes(st), "dead") != 1 || delivery(t, st, "gewerbe-fachverfahren")["status"] != "delivered" {
			t.Fatalf("want eakte dead and the Fachverfahren delivered: %s", st.Raw)
		}
	})
}

// A submission whose form data lacks what the mapping needs fails with the field named and is
// not delivered.
func TestMappingFailureNamesTheField(t *testing.T) {
	h := start(t, testConfig(t))
	sub := demoSubmission(t)
	delete(sub["data"].(map[string]any)["betrieb"].(map[string]any), "name")
	id := h.submit(sub, demoToken, nil).Body["id"].(string)
	st := h.waitStatus(id, "failed")
	var mappingFailed, validationFailed map[string]any
	for _, e := range st.Body["events"].([]any) {
		switch ev := e.(map[string]any); ev["type"] {
		case "mapping_failed":
			mappingFailed = ev
		case "validation_failed":
			validationFailed = ev
		}
	}
	if mappingFailed == nil || mappingFailed["destination"] != "eakte" ||
		!strings.Contains(mappingFailed["detail"].(string), "required value data.betrieb.name (in trim(betrieb.name ?? \"\")) is empty or missing") ||
		!strings.Contains(mappingFailed["detail"].(string), "gewerbeanmeldung-vorgang.yaml:") {
		t.Fatalf("mapping_failed event = %v (%s)", mappingFailed, st.Raw)
	}
	// The Fachverfahren's target checks the data against the form's JSON Schema.
	if validationFailed == nil || validationFailed["destination"] != "gewerbe-fachverfahren" ||
		!strings.Contains(validationFailed["detail"].(string), "betrieb: missing property 'name'") {
		t.Fatalf("validation_failed event = %v (%s)", validationFailed, st.Raw)
	}
	if len(st.Body["deliveries"].([]any)) != 0 {
		t.Fatalf("a failed submission has deliveries: %s", st.Raw)
	}
}

// A message the route's schema set rejects fails with the XSD's reason and is not delivered.
func TestValidationFailureGivesTheSchemaReason(t *testing.T) {
	cfg := testConfig(t)
	abs, _ := filepath.Abs("testdata/other.xsd")
	cfg.Schemas[0].Root = abs
	h := start(t, cfg)
	id := h.submit(demoSubmission(t), demoToken, nil).Body["id"].(string)
	st := h.waitStatus(id, "failed")
	last := lastEvent(st)
	if last["type"] != "validation_failed" || !strings.Contains(last["detail"].(string), "No matching global declaration") ||
		!strings.Contains(last["detail"].(string), "mapping rule") {
		t.Fatalf("last event = %v", last)
	}
	entries, _ := os.ReadDir(h.outDir)
	if len(entries) != 0 {
		t.Fatalf("drop directory holds %d files after a validation failure", len(entries))
	}
}

// Work queued at shutdown survives it: after a restart on the same data directory the
// submission is delivered.
func TestQueuedWorkSurvivesShutdownAndRestart(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		cfg := backendConfig(t, backend)
		blocked := cfg.Destinations[0].Options["path"].(string)
		os.MkdirAll(filepath.Dir(blocked), 0o750)
		os.WriteFile(blocked, nil, 0o600) // delivery impossible: the retry stays queued
		h := start(t, cfg)
		id := h.submit(demoSubmission(t), demoToken, nil).Body["id"].(string)
		h.waitAttempts(id, 1)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := h.d.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}

		os.Remove(blocked)
		h2 := start(t, cfg)
		st := h2.waitStatus(id, "delivered")
		if d := firstDelivery(t, st); d["attempts"].(float64) < 2 {
			t.Fatalf("delivery after restart = %v", d)
		}
	})
}

func (h *harness) waitAttempts(id string, n float64) {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		r := h.do("GET", "/v1/submissions/"+id, demoToken, nil, nil)
		if d, ok := r.Body["deliveries"].([]any); ok && len(d) > 0 && d[0].(map[string]any)["attempts"].(float64) >= n {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	h.t.Fatalf("submission %s: fewer than %v attempts", id, n)
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A portal sees what happened to its submission, not the internals behind it: no artefact paths,
// no transport errors naming internal hosts or directories, no operator names. Operators see all
// of it in the admin API.
func TestPortalSeesNoInternals(t *testing.T) {
	cfg := testConfig(t)
	cfg.Destinations[0].Retry.MaxAttempts = 2
	h := start(t, cfg)
	os.WriteFile(h.outDir, []byte("in the way"), 0o600) // the E-Akte's directory is broken
	id := h.submit(demoSubmission(t), demoToken, nil).Body["id"].(string)
	h.waitStatus(id, "dead")
	os.Remove(h.outDir)
	if r := h.admin("POST", "/v1/dead-letters/"+id+"/eakte/replay"); r.Status != 202 {
		t.Fatalf("replay: %d", r.Status)
	}
	st := h.waitStatus(id, "delivered")
	full := h.detail(id)
	for _, internal := range []string{h.outDir, h.fvDir, "not a directory", "admin-api", ".zip"} {
		if strings.Contains(st.Raw, internal) {
			t.Errorf("the portal's view shows %q:\n%s", internal, st.Raw)
		}
		if internal != "admin-api" && !strings.Contains(full.Raw, internal) {
			t.Errorf("the operators' view lacks %q", internal)
		}
	}
	for _, d := range st.Body["deliveries"].([]any) {
		if _, ok := d.(map[string]any)["artefact"]; ok {
			t.Errorf("the portal's view has an artefact: %v", d)
		}
	}
	for _, e := range st.Body["events"].([]any) {
		if ev := e.(map[string]any); ev["type"] == "dead" && ev["detail"] != "the delivery failed for good; an operator can deliver it again" {
			t.Errorf("dead event for the portal: %v", ev)
		}
	}
}
