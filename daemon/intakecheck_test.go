package daemon_test

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// A route with check_at_intake refuses, before anything is stored, a submission that would fail
// later — with every problem: the field, the message and the mapping rule — and accepts one that
// maps to valid messages. Without it the same submission is accepted and fails in processing.
func TestCheckAtIntake(t *testing.T) {
	dir := demoCopy(t)
	routesFile := filepath.Join(dir, "routes.yaml")
	replaceIn(t, routesFile, "    targets:\n", "    json_schema: schemas/gewerbeanmeldung.schema.json\n    check_at_intake: true\n    targets:\n")
	h := startFile(t, filepath.Join(dir, "amtsbote.yaml"))

	type problem struct{ Destination, Field, Message, Rule string }
	tests := []struct {
		name   string
		change func(data map[string]any)
		want   []problem // each must be among the problems (substrings)
	}{
		{"impossible birth date", func(d map[string]any) {
			d["inhaber"].(map[string]any)["geburtsdatum"] = "31.02.1985"
		}, []problem{{"eakte", "data.inhaber.geburtsdatum", `"31.02.1985" is not a date`, "mappings/partials/xdomea-person-geburt.yaml:5"}}},
		{"no owner", func(d map[string]any) { delete(d, "inhaber") }, []problem{
			{"", "data", "missing property 'inhaber' (gewerbeanmeldung.schema.json)", ""},
			{"eakte", "data.inhaber.nachname", "required value data.inhaber.nachname", "mappings/partials/xdomea-person.yaml:16"},
			{"gewerbe-fachverfahren", "data", "missing property 'inhaber'", ""},
		}},
		{"start date not a date", func(d map[string]any) {
			d["betrieb"].(map[string]any)["beginn"] = "31.02.2027"
		}, []problem{{"eakte", "data.betrieb.beginn", "variable beginn", "mappings/gewerbeanmeldung-geschaeftsgang-0201.yaml:"}}},
		{"name too long for the XSD", func(d map[string]any) {
			d["betrieb"].(map[string]any)["name"] = strings.Repeat("Bäckerei ", 2000)
		}, []problem{{"", "data.betrieb.name", "maxLength", ""}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sub := demoSubmission(t)
			tt.change(sub["data"].(map[string]any))
			r := h.submit(sub, demoToken, nil)
			if r.Status != http.StatusUnprocessableEntity {
				t.Fatalf("status %d, want 422: %s", r.Status, r.Raw)
			}
			var body struct {
				Error    string
				Problems []problem
			}
			json.Unmarshal([]byte(r.Raw), &body)
			for _, w := range tt.want {
				found := false
				for _, p := range body.Problems {
					if p.Destination == w.Destination && p.Field == w.Field && strings.Contains(p.Message, w.Message) && strings.HasPrefix(p.Rule, w.Rule) {
						found = true
					}
				}
				if !found {
					t.Errorf("no problem like %+v in %s", w, r.Raw)
				}
			}
			if !strings.Contains(body.Error, "nothing was stored") {
				t.Errorf("error %q", body.Error)
			}
		})
	}
	// A mapping that writes the date as the portal sent it: the XSD refuses it, and the problem
	// names the element and the rule that produced it.
	replaceIn(t, filepath.Join(dir, "mappings/partials/xdomea-person-geburt.yaml"), "value: date(person.geburtsdatum)", "value: person.geburtsdatum")
	if err := h.d.Reload(); err != nil {
		t.Fatal(err)
	}
	sub := demoSubmission(t)
	sub["data"].(map[string]any)["inhaber"].(map[string]any)["geburtsdatum"] = "12.04.1985"
	r := h.submit(sub, demoToken, nil)
	if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Raw, `"rule": "mappings/partials/xdomea-person-geburt.yaml:5"`) ||
		!strings.Contains(r.Raw, "xdomea:Geburt/xdomea:Datum") || !strings.Contains(r.Raw, "not valid against xdomea-3.0.0") {
		t.Fatalf("XSD problem at intake: %d %s", r.Status, r.Raw)
	}
	replaceIn(t, filepath.Join(dir, "mappings/partials/xdomea-person-geburt.yaml"), "value: person.geburtsdatum", "value: date(person.geburtsdatum)")
	if err := h.d.Reload(); err != nil {
		t.Fatal(err)
	}
	if n := h.count("submissions"); n != 0 {
		t.Fatalf("%d submissions stored from refused requests", n)
	}
	r = h.submit(demoSubmission(t), demoToken, nil)
	if r.Status != http.StatusAccepted {
		t.Fatalf("a good submission: %d %s", r.Status, r.Raw)
	}
	h.waitStatus(r.Body["id"].(string), "delivered")

	// Without the check, the same bad data is accepted and fails later, as before.
	replaceIn(t, routesFile, "    check_at_intake: true\n", "")
	replaceIn(t, routesFile, "    json_schema: schemas/gewerbeanmeldung.schema.json\n", "")
	if err := h.d.Reload(); err != nil {
		t.Fatal(err)
	}
	sub = demoSubmission(t)
	sub["data"].(map[string]any)["inhaber"].(map[string]any)["geburtsdatum"] = "31.02.1985"
	r = h.submit(sub, demoToken, nil)
	if r.Status != http.StatusAccepted {
		t.Fatalf("without the check: %d %s", r.Status, r.Raw)
	}
	h.waitStatus(r.Body["id"].(string), "failed")
}
