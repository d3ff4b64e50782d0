package admin_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/amtsbote/amtsbote/admin"
	"github.com/amtsbote/amtsbote/pipeline"
	"github.com/amtsbote/amtsbote/store"
)

// Dead letters filter by destination, route and time; a replay takes a selection, refusing a
// bad item by its index, or — without a body — all that the query selects.
func TestDeadLettersFilterAndSelection(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		a, b, c := "d1000000-0000-4000-8000-00000000000a", "d1000000-0000-4000-8000-00000000000b", "d1000000-0000-4000-8000-00000000000c"
		e.seed(seed{id: a, route: "gewerbeanmeldung", status: store.StatusDead, at: e.now.Add(-48 * time.Hour),
			messages: map[string]string{"eakte": storedXML}, dead: []string{"eakte"}})
		e.seed(seed{id: b, route: "gewerbeanmeldung", status: store.StatusDead, at: e.now.Add(-2 * time.Hour),
			messages: map[string]string{"eakte": storedXML, "gewerbe-fachverfahren": "{}"}, dead: []string{"eakte", "gewerbe-fachverfahren"}})
		e.seed(seed{id: c, route: "bewohnerparkausweis", status: store.StatusDead, at: e.now.Add(-time.Hour),
			messages: map[string]string{"parkraum-fachverfahren": "{}"}, dead: []string{"parkraum-fachverfahren"}})
		since := e.now.Add(-3 * time.Hour).Format(time.RFC3339)
		for _, tt := range []struct {
			query string
			want  []string
		}{
			{"", []string{a + "/eakte", b + "/eakte", b + "/gewerbe-fachverfahren", c + "/parkraum-fachverfahren"}},
			{"?destination=eakte", []string{a + "/eakte", b + "/eakte"}},
			{"?route=bewohnerparkausweis", []string{c + "/parkraum-fachverfahren"}},
			{"?destination=eakte&since=" + since, []string{b + "/eakte"}},
			{"?route=nope", nil},
		} {
			var res struct {
				DeadLetters []admin.DeadLetterView `json:"dead_letters"`
			}
			e.json("GET", "/v1/dead-letters"+tt.query, nil, 200, &res)
			var got []string
			for _, dl := range res.DeadLetters {
				got = append(got, dl.SubmissionID+"/"+dl.Destination)
			}
			if strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Errorf("%s: %v, want %v", tt.query, got, tt.want)
			}
		}
		body := e.json("GET", "/v1/dead-letters?since=yesterday", nil, 400, nil)
		contains(t, body, `"field": "since"`)

		for _, tt := range []struct{ body, field string }{
			{`{"items": [{"submission_id": "` + a + `", "destination": "eakte"}, {"submission_id": "` + b + `"}]}`, "items[1].destination"},
			{`{"items": [{"destination": "eakte"}]}`, "items[0].submission_id"},
			{`{"items": [{"submission_id": "x", "destination": "eakte", "extra": 1}]}`, "items[0]"},
			{`{"items": ["x"]}`, "items[0]"},
			{`{"selection": []}`, "body"},
			{`{}`, "items"},
			{`[`, "body"},
			{`{"items": [` + strings.Repeat(`{"submission_id": "x", "destination": "y"},`, admin.MaxReplaySelection) + `{"submission_id": "x", "destination": "y"}]}`, "items"},
		} {
			body := e.json("POST", "/v1/dead-letters/replay", []byte(tt.body), 400, nil)
			contains(t, body, `"field": "`+tt.field+`"`)
		}

		var res struct{ Replayed, Skipped []pipeline.DeliveryKey }
		e.json("POST", "/v1/dead-letters/replay", []byte(`{"items": [{"submission_id": "`+b+`", "destination": "eakte"},
			{"submission_id": "`+c+`", "destination": "eakte"}]}`), 202, &res)
		if len(res.Replayed) != 1 || res.Replayed[0].SubmissionID != b || len(res.Skipped) != 1 || res.Skipped[0].SubmissionID != c {
			t.Fatalf("selection: %+v", res)
		}
		left, _ := e.srv.DeadLetters(context.Background(), admin.DeadLetterQuery{Destination: "eakte"})
		if len(left) != 1 || left[0].SubmissionID != a {
			t.Fatalf("after the selection, dead at eakte: %+v", left)
		}
		// Without a body: what the query selects.
		e.json("POST", "/v1/dead-letters/replay?route=bewohnerparkausweis", nil, 202, &res)
		if len(res.Replayed) != 1 || res.Replayed[0].SubmissionID != c {
			t.Fatalf("replay of a route: %+v", res)
		}
		e.json("POST", "/v1/dead-letters/replay", nil, 202, &res)
		if len(res.Replayed) != 2 {
			t.Fatalf("replay of all: %+v", res)
		}
		audit, _ := e.st.AuditTrail(context.Background(), time.Time{}, 100)
		if len(audit) != 4 || audit[0].Actor != "admin-api:admin" || audit[0].Action != "replay" {
			t.Fatalf("audit: %+v", audit)
		}
	})
}

// Failed submissions list with the first line of their reason, and reprocess through the
// service function the console calls.
func TestFailedSubmissionsAndReprocess(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		ids := []string{"f0000000-0000-4000-8000-000000000001", "f0000000-0000-4000-8000-000000000002"}
		for i, id := range ids {
			route := []string{"gewerbeanmeldung", "bewohnerparkausweis"}[i]
			e.seed(seed{id: id, route: route, status: store.StatusFailed, at: e.now.Add(time.Duration(i-3) * time.Hour), events: []store.Event{
				{At: e.now.Add(-4 * time.Hour), Type: "routing_failed", Detail: "an older failure"},
				{At: e.now.Add(time.Duration(i-3) * time.Hour), Type: "validation_failed", Destination: "eakte",
					Detail: fmt.Sprintf("failure %d\nline 2: /a: bad", i)}}})
		}
		var res struct {
			Failed []admin.FailedSubmissionView `json:"failed_submissions"`
		}
		e.json("GET", "/v1/submissions/failed", nil, 200, &res)
		if len(res.Failed) != 2 || res.Failed[0].ID != ids[0] || res.Failed[0].Failure != "failure 0" ||
			res.Failed[0].FailureType != "validation_failed" || res.Failed[0].Route != "gewerbeanmeldung" ||
			res.Failed[1].Links.Reprocess != "/v1/submissions/"+ids[1]+"/reprocess" {
			b, _ := json.Marshal(res)
			t.Fatalf("failed: %s", b)
		}
		e.json("GET", "/v1/submissions/failed?route=bewohnerparkausweis&limit=5", nil, 200, &res)
		if len(res.Failed) != 1 || res.Failed[0].ID != ids[1] {
			t.Fatalf("by route: %+v", res.Failed)
		}
		e.json("GET", "/v1/submissions/failed?limit=0", nil, 400, nil)

		queued, err := e.srv.Reprocess(context.Background(), "console:anna", []string{ids[0], "no-such-id"})
		if err != nil || len(queued) != 1 || queued[0] != ids[0] {
			t.Fatalf("reprocess: %v %v", queued, err)
		}
		list, _ := e.srv.FailedSubmissions(context.Background(), store.FailedFilter{})
		if len(list) != 1 || list[0].ID != ids[1] {
			t.Fatalf("after the reprocess: %+v", list)
		}
		var rp struct{ Reprocessed []string }
		e.json("POST", "/v1/submissions/reprocess?route=bewohnerparkausweis", nil, 202, &rp)
		if len(rp.Reprocessed) != 1 || rp.Reprocessed[0] != ids[1] {
			t.Fatalf("reprocess of a route: %+v", rp)
		}
		e.json("POST", "/v1/submissions/reprocess?since=x", nil, 400, nil)
	})
}
