package daemon_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/text/encoding/charmap"

	"github.com/amtsbote/amtsbote/dataschema"
)

// jsonReceiver is a REST endpoint that keeps what it was sent.
type jsonReceiver struct {
	mu       sync.Mutex
	requests []*http.Request
	bodies   [][]byte
}

func (j *jsonReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	j.mu.Lock()
	j.requests, j.bodies = append(j.requests, r), append(j.bodies, body)
	j.mu.Unlock()
	w.WriteHeader(http.StatusCreated)
}

// The demo's resident parking permit reaches the parking office's REST API as JSON — the
// document checked against the API's JSON Schema, first part of a multipart request, the
// registration certificate beside it — and the course booking reaches the course
// administration's import folder as a Windows-1252 CSV with semicolons and CRLF.
func TestParkingPermitAsJSONOverHTTPAndCourseBookingAsCSV(t *testing.T) {
	api := &jsonReceiver{}
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	cfg := testConfig(t)
	csvDir := filepath.Join(t.TempDir(), "vhs")
	for i, d := range cfg.Destinations {
		switch d.ID {
		case "parkraum-fachverfahren":
			cfg.Destinations[i].Type = "http"
			cfg.Destinations[i].Options = map[string]any{"url": srv.URL + "/api/v1/antraege", "package": "multipart"}
		case "vhs-kursverwaltung":
			cfg.Destinations[i].Options = map[string]any{"path": csvDir, "format": "files"}
		}
	}
	h := start(t, cfg)

	parking := sampleSubmission(t, "bewohnerparkausweis.json")
	booking := sampleSubmission(t, "vhs-kursbuchung.json")
	var ids []string
	for _, sub := range []map[string]any{parking, booking} {
		r := h.submit(sub, demoToken, nil)
		if r.Status != http.StatusAccepted {
			t.Fatalf("POST: %d %s", r.Status, r.Raw)
		}
		ids = append(ids, r.Body["id"].(string))
	}
	parkingDetail, bookingDetail := h.detail(h.waitStatus(ids[0], "delivered").Body["id"].(string)), h.detail(h.waitStatus(ids[1], "delivered").Body["id"].(string))
	for _, e := range parkingDetail.Body["events"].([]any) {
		if ev := e.(map[string]any); ev["type"] == "validated" && !strings.Contains(ev["detail"].(string), "bewohnerparkausweis-antrag.schema.json") {
			t.Errorf("validated against %v, want the API's JSON Schema", ev["detail"])
		}
	}

	// The JSON, over HTTP.
	api.mu.Lock()
	if len(api.requests) != 1 {
		t.Fatalf("the API got %d requests, want 1", len(api.requests))
	}
	req, body := api.requests[0], api.bodies[0]
	api.mu.Unlock()
	mt, params, err := mime.ParseMediaType(req.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" || req.URL.Path != "/api/v1/antraege" {
		t.Fatalf("request %s %s", req.URL.Path, req.Header.Get("Content-Type"))
	}
	mr := multipart.NewReader(strings.NewReader(string(body)), params["boundary"])
	first, err := mr.NextPart()
	if err != nil {
		t.Fatal(err)
	}
	doc, _ := io.ReadAll(first)
	processID := req.Header.Get("X-Amtsbote-Message-Id")
	if first.FormName() != "message" || first.Header.Get("Content-Type") != "application/json" ||
		first.FileName() != processID+"_Bewohnerparkausweis.json" || req.Header.Get("Idempotency-Key") != processID {
		t.Fatalf("first part %q %v, message id %s", first.FileName(), first.Header, processID)
	}
	schema, err := dataschema.Load("../fixtures/demo/schemas/bewohnerparkausweis-antrag.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := schema.Validate(doc); err != nil {
		t.Fatalf("the delivered document does not fit the API's schema: %v\n%s", err, doc)
	}
	var got struct {
		Vorgang struct {
			ProzessID string `json:"prozess_id"`
			Referenz  string `json:"referenz"`
		} `json:"vorgang"`
		Antragsteller struct{ Nachname string } `json:"antragsteller"`
		Fahrzeuge     []struct {
			Kennzeichen string `json:"kennzeichen"`
			Elektro     bool   `json:"elektro"`
		} `json:"fahrzeuge"`
		Laufzeit  int     `json:"laufzeit_monate"`
		Gebuehr   float64 `json:"gebuehr_eur"`
		Nachweise []struct {
			Datei  string `json:"datei"`
			SHA256 string `json:"sha256"`
		} `json:"nachweise"`
	}
	if err := json.Unmarshal(doc, &got); err != nil {
		t.Fatal(err)
	}
	if got.Vorgang.ProzessID != processID || got.Vorgang.Referenz != "DEMO-2026-PARK-000042" || got.Antragsteller.Nachname != "Weiß" ||
		len(got.Fahrzeuge) != 2 || got.Fahrzeuge[0].Kennzeichen != "M-JW 1234" || !got.Fahrzeuge[1].Elektro ||
		got.Laufzeit != 12 || got.Gebuehr != 30 || len(got.Nachweise) != 1 {
		t.Fatalf("the delivered document:\n%s", doc)
	}
	second, err := mr.NextPart()
	if err != nil {
		t.Fatalf("no part with the registration certificate: %v", err)
	}
	pdf, _ := io.ReadAll(second)
	sent, _ := base64.StdEncoding.DecodeString(parking["attachments"].([]any)[0].(map[string]any)["content_base64"].(string))
	sum := sha256.Sum256(pdf)
	if second.FileName() != got.Nachweise[0].Datei || string(pdf) != string(sent) || hex.EncodeToString(sum[:]) != got.Nachweise[0].SHA256 {
		t.Errorf("the certificate part %q does not match the document's nachweise %+v", second.FileName(), got.Nachweise)
	}
	if dl := delivery(t, parkingDetail, "parkraum-fachverfahren"); dl["status"] != "delivered" {
		t.Errorf("delivery %v", dl)
	}

	// The CSV, as a plain file in the import folder.
	artefact := delivery(t, bookingDetail, "vhs-kursverwaltung")["artefact"].(string)
	if filepath.Dir(artefact) != csvDir || !strings.HasSuffix(artefact, "_VHS-Kursbuchung.csv") {
		t.Fatalf("artefact %s", artefact)
	}
	raw, err := os.ReadFile(artefact)
	if err != nil {
		t.Fatal(err)
	}
	text, err := charmap.Windows1252.NewDecoder().String(string(raw))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(text, "\r\n"), "\r\n")
	if len(lines) != 3 || strings.Contains(strings.ReplaceAll(text, "\r\n", ""), "\n") {
		t.Fatalf("want a header and two CRLF rows:\n%q", text)
	}
	if !strings.HasPrefix(lines[0], "Buchungsnummer;Buchungsdatum;Kursnummer;Kurstitel;Teilnehmer-Nr;Anrede;Vorname;Nachname;") ||
		!strings.Contains(lines[0], ";Ermäßigung;Entgelt;Rechnungsempfänger;Straße;") {
		t.Errorf("header %q", lines[0])
	}
	want := []string{"DEMO-2026-VHS-000317;", `;"Italienisch für Anfänger – A1 ""Buongiorno!""";1;Frau;Zoë;Brückner;02.08.1979;`,
		";'+49 89 7654321;;89,00;Zoë Brückner;Tegernseer Landstraße 161;81539;München;Lastschrift;DE02120300000000202051;" +
			`"Wir kommen zu zweit; bitte Plätze nebeneinander, ""wenn möglich""."`}
	for _, w := range want {
		if !strings.Contains(lines[1], w) {
			t.Errorf("row 1 lacks %q:\n%s", w, lines[1])
		}
	}
	if !strings.Contains(lines[2], ";2;;Lukas;Brückner;02.05.2010;;;Schüler/in;44,50;") {
		t.Errorf("row 2: %s", lines[2])
	}
	// Windows-1252 bytes: ü is FC, – is 96, € would be 80; no UTF-8 sequences.
	if !strings.Contains(string(raw), "Br\xfcckner") || !strings.Contains(string(raw), "\x96 A1") || strings.Contains(string(raw), "\xc3") {
		t.Errorf("not Windows-1252: % x", raw[:80])
	}
	entries, _ := os.ReadDir(csvDir)
	if len(entries) != 1 {
		t.Errorf("the import folder holds %d files, want only the CSV", len(entries))
	}
}

// A course booking with a name Windows-1252 cannot write fails before anything is delivered,
// and the operator reads which column, row and character.
func TestCourseBookingWithAnUnwritableNameFails(t *testing.T) {
	h := start(t, testConfig(t))
	booking := sampleSubmission(t, "vhs-kursbuchung.json")
	booking["data"].(map[string]any)["teilnehmende"].([]any)[1].(map[string]any)["nachname"] = "Dvořák"
	r := h.submit(booking, demoToken, nil)
	if r.Status != http.StatusAccepted {
		t.Fatalf("POST: %d %s", r.Status, r.Raw)
	}
	id := r.Body["id"].(string)
	h.waitStatus(id, "failed")
	detail := h.detail(id)
	found := false
	for _, e := range detail.Body["events"].([]any) {
		ev := e.(map[string]any)
		if ev["type"] == "mapping_failed" && strings.Contains(ev["detail"].(string),
			`vhs-kursbuchung.yaml:41: Nachname: row 2: value data.teilnehmende[1].nachname (in trim(person.nachname ?? "")) is "Dvořák", which has "ř" (U+0159) at character 4 that windows-1252 cannot represent`) {
			found = true
		}
	}
	if !found {
		t.Fatalf("no mapping_failed event naming the column, row and character: %s", detail.Raw)
	}
}
