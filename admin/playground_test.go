package admin_test

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/amtsbote/amtsbote/admin"
)

func playgroundBody(t *testing.T, fields map[string]any) []byte {
	t.Helper()
	b, err := json.Marshal(fields)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The playground maps with the configuration in force, as `amtsbote map` does: a valid
// submission gives the messages, pretty XML and no errors; a broken one the mapping rule's
// file:line.
func TestPlayground(t *testing.T) {
	e := newEnv(t, "sqlite")
	demo := json.RawMessage(demoSubmission(t))
	var res admin.PlaygroundResult
	e.json("POST", "/v1/playground", playgroundBody(t, map[string]any{"submission": demo}), 200, &res)
	if res.Route != "gewerbeanmeldung" || !res.Valid || len(res.Errors) != 0 || len(res.Messages) != 2 || res.ConfigVersion != "0123456789ab" {
		t.Fatalf("valid submission: %+v", res)
	}
	m := res.Messages[0]
	if m.Destination != "eakte" || !strings.Contains(m.Content, "Geschaeftsgang.Geschaeftsgang.0201") || len(m.Errors) != 0 ||
		!strings.Contains(m.Pretty, "\n  <") || m.Source != "mappings/gewerbeanmeldung-geschaeftsgang-0201.yaml" {
		t.Fatalf("eakte message: %+v", m)
	}
	if f := res.Messages[1]; f.Destination != "gewerbe-fachverfahren" || f.Source != "form data" || !strings.HasPrefix(f.MediaType, "application/json") {
		t.Fatalf("form data message: %+v", f)
	}

	// One destination only.
	e.json("POST", "/v1/playground", playgroundBody(t, map[string]any{"submission": demo, "destination": "gewerbe-fachverfahren"}), 200, &res)
	if len(res.Messages) != 1 || res.Messages[0].Destination != "gewerbe-fachverfahren" {
		t.Fatalf("one destination: %+v", res.Messages)
	}

	broken, _ := os.ReadFile("../fixtures/demo/tests/invalid-birth-date/input.json")
	res = admin.PlaygroundResult{}
	e.json("POST", "/v1/playground", playgroundBody(t, map[string]any{"submission": json.RawMessage(broken)}), 200, &res)
	if res.Valid || len(res.Messages) != 2 || res.Messages[0].Content != "" || len(res.Messages[0].Errors) != 1 ||
		!strings.HasPrefix(res.Messages[0].Errors[0], "eakte: mappings/partials/xdomea-person-geburt.yaml:5: xdomea:Datum:") ||
		len(res.Errors) != 1 {
		t.Fatalf("broken submission: %+v", res)
	}
}

func TestPlaygroundRefusesBadInput(t *testing.T) {
	e := newEnv(t, "sqlite")
	demo := json.RawMessage(demoSubmission(t))
	for _, tt := range []struct {
		name  string
		body  []byte
		code  int
		field string
	}{
		{"not JSON", []byte(`{"submission": `), 400, "body"},
		{"unknown field", []byte(`{"submision": {}}`), 400, "body"},
		{"nothing to map", []byte(`{}`), 400, "submission"},
		{"both", playgroundBody(t, map[string]any{"submission": demo, "submission_id": "x"}), 400, "submission_id"},
		{"submission not an object", []byte(`{"submission": [1]}`), 400, "submission"},
		{"unknown route", playgroundBody(t, map[string]any{"submission": demo, "route": "nope"}), 422, "route"},
		{"unknown destination", playgroundBody(t, map[string]any{"submission": demo, "destination": "nope"}), 422, "destination"},
		{"no route matches", playgroundBody(t, map[string]any{"submission": json.RawMessage(`{"leistung": "1", "ags": "2", "data": {}}`)}), 422, "submission"},
		{"unknown stored submission", playgroundBody(t, map[string]any{"submission_id": "no-such-id"}), 404, "submission_id"},
		{"too large", append([]byte(`{"submission": {"data": "`), append(bytes.Repeat([]byte("x"), admin.MaxPlaygroundBytes), `"}}`...)...), 413, "body"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var res struct {
				Error    string `json:"error"`
				Problems []struct{ Field string }
			}
			e.json("POST", "/v1/playground", tt.body, tt.code, &res)
			if len(res.Problems) != 1 || res.Problems[0].Field != tt.field || !strings.HasPrefix(res.Error, tt.field+": ") {
				t.Fatalf("%+v, want the field %s named", res, tt.field)
			}
		})
	}
}

// A stored submission maps from its data and its attachments' descriptions; once retention
// purged it, there is nothing to map.
func TestPlaygroundStoredSubmission(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		var req struct{ Data json.RawMessage }
		json.Unmarshal(demoSubmission(t), &req)
		id := "7d0c8f0e-9a57-4a39-9d0e-1f3a8f0c2b11"
		e.seed(seed{id: id, route: "gewerbeanmeldung", status: "failed", data: string(req.Data), at: e.now.Add(-48 * time.Hour)})
		var res admin.PlaygroundResult
		e.json("POST", "/v1/playground", playgroundBody(t, map[string]any{"submission_id": id}), 200, &res)
		if !res.Valid || res.Route != "gewerbeanmeldung" || len(res.Messages) != 2 || !strings.Contains(res.Messages[0].Content, "Müller") {
			t.Fatalf("stored submission: %+v", res)
		}
		e.purge(id)
		body := e.json("POST", "/v1/playground", playgroundBody(t, map[string]any{"submission_id": id}), 410, nil)
		contains(t, body, "submission_id: retention deleted")
	})
}
