package console_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// The pages of dead letters, failed submissions, the configuration and the mapping test: what
// they show without a running daemon, their German errors for bad parameters, and the refusal
// of viewers' actions.
func TestActPages(t *testing.T) {
	e := newEnv(t, false)
	viewer, operator := e.browser(), e.browser()
	viewerCSRF := e.signIn(viewer, viewerToken)
	operatorCSRF := e.signIn(operator, operatorToken)
	for _, tt := range []struct {
		name         string
		client       *http.Client
		method, path string
		form         url.Values
		want         int
		body         []string
	}{
		{"dead letters", viewer, "GET", "/unzustellbar", nil, 200,
			[]string{"<h1>Unzustellbar</h1>", "Keine unzustellbaren Zustellungen.", "Keine unzustellbaren Antworten.", `<label for="f-ziel">Ziel</label>`}},
		{"dead letters, bad since", viewer, "GET", "/unzustellbar?seit=gestern", nil, 400,
			[]string{`aria-invalid="true"`, "Unzustellbar seit: „gestern“ ist kein Zeitpunkt"}},
		{"dead letters, German date", viewer, "GET", "/unzustellbar?seit=01.12.2026", nil, 200, []string{"zu diesem Filter"}},
		{"failed", viewer, "GET", "/fehlgeschlagen", nil, 200,
			[]string{"<h1>Fehlgeschlagen</h1>", "Keine fehlgeschlagenen Anträge.", "der Konfiguration, die heute gilt"}},
		{"failed, bad since", viewer, "GET", "/fehlgeschlagen?seit=2026-13-01", nil, 400, []string{"Fehlgeschlagen seit: „2026-13-01“ ist kein Zeitpunkt"}},
		{"configuration without a daemon", viewer, "GET", "/konfiguration", nil, 503, []string{"kennt nur der laufende Dienst"}},
		{"configuration file without a path", viewer, "GET", "/konfiguration/dateien", nil, 400, []string{"Parameter pfad"}},
		{"mapping test form", viewer, "GET", "/mapping-test", nil, 200,
			[]string{`<label for="daten">Antragsdaten (JSON, wie ein Portal sie sendet)</label>`, `<option value="">automatisch`, `<option value="">alle Ziele`}},
		{"mapping test, nothing given", viewer, "POST", "/mapping-test", url.Values{"csrf": {viewerCSRF}}, 400,
			[]string{`id="daten-fehler" role="alert">Antragsdaten: Geben Sie die Antragsdaten`}},
		{"mapping test, bad JSON", viewer, "POST", "/mapping-test", url.Values{"csrf": {viewerCSRF}, "daten": {"{\n  \"a\": 1,\n  \"b\": x\n}"}}, 400,
			[]string{"Kein gültiges JSON in Zeile 3, Spalte 8"}},
		{"mapping test, cut short", viewer, "POST", "/mapping-test", url.Values{"csrf": {viewerCSRF}, "daten": {`{"a": [1, 2`}}, 400,
			[]string{"Das JSON endet vorzeitig (Zeile 1, Spalte 11)"}},
		{"mapping test, not an object", viewer, "POST", "/mapping-test", url.Values{"csrf": {viewerCSRF}, "daten": {`[1]`}}, 400,
			[]string{"ein JSON-Objekt"}},
		{"mapping test, both", viewer, "POST", "/mapping-test", url.Values{"csrf": {viewerCSRF}, "daten": {`{}`}, "antrag": {"x"}}, 400,
			[]string{`id="antrag-fehler" role="alert">Gespeicherter Antrag: Geben Sie entweder`}},
		{"mapping test without a daemon", viewer, "POST", "/mapping-test", url.Values{"csrf": {viewerCSRF}, "daten": {`{"leistung": "1"}`}}, 503,
			[]string{"braucht die Konfiguration des laufenden Dienstes"}},
		{"mapping test without CSRF", viewer, "POST", "/mapping-test", url.Values{"daten": {`{}`}}, 403, []string{"Schutz vor untergeschobenen Anfragen"}},
		{"example without a configuration", viewer, "GET", "/mapping-test?beispiel=1", nil, 404, []string{"kein Beispiel"}},

		{"viewer: replay confirmation", viewer, "GET", "/unzustellbar/erneut-zustellen?ziel=eakte", nil, 403, []string{"Rolle Bedienung"}},
		{"viewer: selection", viewer, "POST", "/unzustellbar/auswahl", url.Values{"csrf": {viewerCSRF}, "auswahl": {"a/eakte"}}, 403, []string{"Rolle Bedienung"}},
		{"viewer: replay selection", viewer, "POST", "/unzustellbar/auswahl/erneut-zustellen", url.Values{"csrf": {viewerCSRF}, "auswahl": {"a/eakte"}}, 403, nil},
		{"viewer: reply replay", viewer, "POST", "/unzustellbar/antworten/erneut-senden", url.Values{"csrf": {viewerCSRF}, "antwort": {"r"}, "kanal": {"c"}}, 403, nil},
		{"viewer: reprocess", viewer, "POST", "/fehlgeschlagen/neu-verarbeiten", url.Values{"csrf": {viewerCSRF}, "antrag": {"a"}}, 403, nil},
		{"viewer: reprocess selection", viewer, "POST", "/fehlgeschlagen/auswahl", url.Values{"csrf": {viewerCSRF}, "antrag": {"a"}}, 403, nil},
		{"viewer: reprocess confirmation", viewer, "GET", "/fehlgeschlagen/neu-verarbeiten?alle=1", nil, 403, nil},

		{"operator: empty selection", operator, "POST", "/unzustellbar/auswahl", url.Values{"csrf": {operatorCSRF}, "zurueck": {"/unzustellbar?ziel=eakte"}}, 303, nil},
		{"operator: bad selection", operator, "POST", "/unzustellbar/auswahl", url.Values{"csrf": {operatorCSRF}, "auswahl": {"no-slash"}}, 400, []string{"Feld Auswahl"}},
		{"operator: selection confirmation", operator, "POST", "/unzustellbar/auswahl", url.Values{"csrf": {operatorCSRF}, "auswahl": {"s1/eakte", "s2/fv"}}, 200,
			[]string{"2 ausgewählte Zustellungen erneut zustellen?", `name="auswahl" value="s1/eakte"`, `name="auswahl" value="s2/fv"`, "Antrag s1 an „eakte“ (nicht mehr unzustellbar)"}},
		{"operator: replay of nothing", operator, "POST", "/unzustellbar/auswahl/erneut-zustellen", url.Values{"csrf": {operatorCSRF}, "auswahl": {"s1/eakte"}}, 303, nil},
		{"operator: reprocess without what", operator, "GET", "/fehlgeschlagen/neu-verarbeiten", nil, 400, []string{"Parameter antrag"}},
		{"operator: reprocess one, confirmation", operator, "GET", "/fehlgeschlagen/neu-verarbeiten?antrag=s1", nil, 200,
			[]string{"Antrag s1 neu verarbeiten?", `name="antrag" value="s1"`}},
		{"operator: reprocess all, bad since", operator, "GET", "/fehlgeschlagen/neu-verarbeiten?alle=1&seit=x", nil, 400, []string{"Parameter seit"}},
		{"operator: reprocess all of nothing", operator, "GET", "/fehlgeschlagen/neu-verarbeiten?alle=1", nil, 404, []string{"keine fehlgeschlagenen Anträge"}},
		{"operator: reprocess unknown", operator, "POST", "/fehlgeschlagen/neu-verarbeiten", url.Values{"csrf": {operatorCSRF}, "antrag": {"s1"}}, 303, nil},
		{"operator: reply replay confirmation", operator, "GET", "/unzustellbar/antworten/erneut-senden?antwort=r1", nil, 400, []string{"Parameter kanal"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := e.send(tt.client, tt.method, tt.path, tt.form, nil)
			if a.Status != tt.want {
				t.Fatalf("%d, want %d: %s", a.Status, tt.want, a.Body)
			}
			for _, want := range tt.body {
				if !strings.Contains(a.Body, want) {
					t.Errorf("answer lacks %q: %s", want, a.Body)
				}
			}
		})
	}
	// The empty selection goes back to the list with its filter and a German message.
	a := e.send(operator, "POST", "/unzustellbar/auswahl", url.Values{"csrf": {operatorCSRF}, "zurueck": {"/unzustellbar?ziel=eakte"}}, nil)
	if loc := a.Header.Get("Location"); loc != "/unzustellbar?ziel=eakte" {
		t.Fatalf("empty selection leads to %q", loc)
	}
	if page := e.get(operator, "/unzustellbar?ziel=eakte"); !strings.Contains(page.Body, "Keine Zustellung ausgewählt") {
		t.Fatalf("no message after the empty selection: %s", page.Body)
	}
	// A "zurueck" elsewhere is not followed.
	a = e.send(operator, "POST", "/unzustellbar/auswahl/erneut-zustellen", url.Values{"csrf": {operatorCSRF}, "auswahl": {"s1/eakte"}, "zurueck": {"//evil.example/"}}, nil)
	if loc := a.Header.Get("Location"); loc != "/unzustellbar" {
		t.Fatalf("replay leads to %q", loc)
	}
	if page := e.get(operator, "/unzustellbar"); !strings.Contains(page.Body, "0 Zustellungen erneut in die Warteschlange gestellt. 1 Zustellung übersprungen") {
		t.Fatalf("flash after a skipped replay: %s", page.Body)
	}
	a = e.send(operator, "POST", "/fehlgeschlagen/neu-verarbeiten", url.Values{"csrf": {operatorCSRF}, "antrag": {"s1"}}, nil)
	if page := e.get(operator, a.Header.Get("Location")); !strings.Contains(page.Body, "0 Anträge zur Neuverarbeitung in die Warteschlange gestellt. 1 Antrag übersprungen") {
		t.Fatalf("flash after a skipped reprocess: %s", page.Body)
	}
	// Viewers see no actions.
	if page := e.get(viewer, "/fehlgeschlagen"); strings.Contains(page.Body, "/fehlgeschlagen/auswahl") {
		t.Fatal("a viewer is offered the reprocess")
	}
}
