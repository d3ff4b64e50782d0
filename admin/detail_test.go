package admin_test

import (
	"strings"
	"testing"
	"time"

	"github.com/amtsbote/amtsbote/admin"
	"github.com/amtsbote/amtsbote/store"
)

const storedXML = `<?xml version="1.0" encoding="UTF-8"?><xdomea:Geschaeftsgang.Geschaeftsgang.0201 xmlns:xdomea="urn:xoev-de:xdomea:schema:3.0.0"><xdomea:Kopf><xdomea:ProzessID>p-1</xdomea:ProzessID></xdomea:Kopf></xdomea:Geschaeftsgang.Geschaeftsgang.0201>`

// The generated message downloads as stored, or indented; after retention purged it the
// answer is 410, for an unknown destination 404.
func TestMessageDownload(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		id := "5e1d2c3b-0000-4000-8000-000000000001"
		e.seed(seed{id: id, route: "gewerbeanmeldung", status: store.StatusDelivered, at: e.now.Add(-time.Hour),
			messages: map[string]string{"eakte": storedXML}})
		code, h, body := e.do("GET", "/v1/submissions/"+id+"/messages/eakte", nil)
		if code != 200 || string(body) != storedXML || h.Get("Content-Type") != "application/xml" ||
			h.Get("Content-Disposition") != `attachment; filename="`+id+`-eakte.xml"` {
			t.Fatalf("download: %d %v %s", code, h, body)
		}
		code, _, body = e.do("GET", "/v1/submissions/"+id+"/messages/eakte?pretty=true", nil)
		if code != 200 || !strings.Contains(string(body), "\n  <xdomea:Kopf>\n    <xdomea:ProzessID>p-1</xdomea:ProzessID>") {
			t.Fatalf("pretty: %d %s", code, body)
		}
		e.json("GET", "/v1/submissions/"+id+"/messages/eakte?pretty=maybe", nil, 400, nil)
		e.json("GET", "/v1/submissions/"+id+"/messages/dms", nil, 404, nil)
		e.json("GET", "/v1/submissions/no-such-id/messages/eakte", nil, 404, nil)
		e.purge(id)
		body = e.json("GET", "/v1/submissions/"+id+"/messages/eakte", nil, 410, nil)
		contains(t, body, "Retention deleted")
	})
}

// A submission's detail lists its messages with their download links, its receipts, the
// reason it failed (rule file:line, XSD problems), and says when retention purged it.
func TestSubmissionDetailExtensions(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		ok := "5e1d2c3b-0000-4000-8000-000000000002"
		e.seed(seed{id: ok, route: "gewerbeanmeldung", status: store.StatusAcknowledged, at: e.now.Add(-time.Hour),
			messages: map[string]string{"eakte": storedXML},
			receipts: []store.Receipt{{File: "quittung.xml", ReceivedAt: e.now, Kind: "Abgabe.ImportBestaetigen.0402", MessageID: "msg-5e1d-eakte",
				SubmissionID: ok, Destination: "eakte", Outcome: "acknowledged"}, {File: "other.xml", ReceivedAt: e.now, Kind: "unknown",
				SubmissionID: "", Outcome: "unmatched"}}})
		var v admin.SubmissionView
		e.json("GET", "/v1/submissions/"+ok, nil, 200, &v)
		if len(v.Messages) != 1 || v.Messages[0].Size != int64(len(storedXML)) || v.Messages[0].MessageID != "msg-5e1d-eakte" ||
			v.Messages[0].Links.Download != "/v1/submissions/"+ok+"/messages/eakte" || v.Messages[0].MediaType != "application/xml" {
			t.Fatalf("messages: %+v", v.Messages)
		}
		if len(v.Receipts) != 1 || v.Receipts[0].Outcome != "acknowledged" || v.Receipts[0].Kind != "Abgabe.ImportBestaetigen.0402" {
			t.Fatalf("receipts: %+v", v.Receipts)
		}
		if v.Failure != nil || v.PurgedNote != "" {
			t.Fatalf("a delivered submission with a failure or purge note: %+v %q", v.Failure, v.PurgedNote)
		}

		failed := "5e1d2c3b-0000-4000-8000-000000000003"
		at := e.now.Add(-30 * time.Minute)
		e.seed(seed{id: failed, route: "gewerbeanmeldung", status: store.StatusFailed, at: e.now.Add(-time.Hour), events: []store.Event{
			{At: at.Add(-time.Hour), Type: "mapping_failed", Destination: "eakte", Detail: "mapping old.yaml failed:\nold.yaml:1: an earlier failure"},
			{At: at, Type: "mapping_failed", Destination: "eakte", Detail: "mapping mappings/x.yaml failed:\n" +
				"mappings/partials/xdomea-person-geburt.yaml:5: xdomea:Datum: value date(person.geburtsdatum): \"1985-13-01\" is not a date (1:1)\n" +
				" | date(person.geburtsdatum)\n | ^"},
			{At: at, Type: "validation_failed", Destination: "dms", Detail: "Information.Information.0101 (mapping mappings/i.yaml) is not valid against xdomea-3.0.0:\n" +
				"line 12, column 4: /xdomea:Information.Information.0101/xdomea:Kopf: element is missing (mapping rule mappings/i.yaml:17)"},
		}})
		v = admin.SubmissionView{}
		e.json("GET", "/v1/submissions/"+failed, nil, 200, &v)
		f := v.Failure
		if f == nil || f.Type != "mapping_failed" || f.Summary != "mapping mappings/x.yaml failed:" || !f.At.Equal(at) || len(f.Problems) != 2 {
			t.Fatalf("failure: %+v", f)
		}
		if got := strings.Join(f.Rules, " "); got != "mappings/partials/xdomea-person-geburt.yaml:5 mappings/i.yaml:17" {
			t.Errorf("rules: %s", got)
		}
		if p := f.Problems[1]; p.Destination != "dms" || p.Line != 12 || p.Column != 4 || p.Message != "/xdomea:Information.Information.0101/xdomea:Kopf: element is missing" {
			t.Errorf("XSD problem: %+v", p)
		}
		if p := f.Problems[0]; p.Destination != "eakte" || !strings.HasSuffix(p.Message, "(1:1)\n | date(person.geburtsdatum)\n | ^") {
			t.Errorf("mapping problem: %+v", p)
		}

		e.purge(ok)
		v = admin.SubmissionView{}
		e.json("GET", "/v1/submissions/"+ok, nil, 200, &v)
		if !strings.HasPrefix(v.PurgedNote, "Retention deleted this submission's personal data on") || !v.Messages[0].Purged || v.Messages[0].Size != 0 {
			t.Fatalf("purged: %q %+v", v.PurgedNote, v.Messages)
		}
	})
}

func TestParseFailure(t *testing.T) {
	for _, tt := range []struct {
		typ, detail, summary string
		want                 []admin.FailureProblem
	}{
		{"routing_failed", `route "x" is no longer configured`, `route "x" is no longer configured`, nil},
		{"mapping_failed", "mapping m.yaml failed:\nm.yaml:3: a:B: bad\n  more", "mapping m.yaml failed:",
			[]admin.FailureProblem{{Rule: "m.yaml:3", Message: "a:B: bad\n  more"}}},
		{"mapping_failed", "the data is XML that does not parse", "the data is XML that does not parse",
			[]admin.FailureProblem{{Message: "the data is XML that does not parse"}}},
		{"validation_failed", "X is not valid against s:\nline 2: /a: bad (mapping rule m.yaml:9)\n/b: worse", "X is not valid against s:",
			[]admin.FailureProblem{{Line: 2, Rule: "m.yaml:9", Message: "/a: bad"}, {Message: "/b: worse"}}},
		{"validation_failed", "the form data is not valid against f.json:\ndata.name: required", "the form data is not valid against f.json:",
			[]admin.FailureProblem{{Message: "data.name: required"}}},
	} {
		summary, got := admin.ParseFailure(tt.typ, tt.detail)
		if summary != tt.summary || len(got) != len(tt.want) {
			t.Errorf("%s %q: %q %+v", tt.typ, tt.detail, summary, got)
			continue
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("%s %q: problem %d %+v, want %+v", tt.typ, tt.detail, i, got[i], tt.want[i])
			}
		}
	}
}

// Event details quote what submissions sent: reading them never panics and keeps every line.
func FuzzParseFailure(f *testing.F) {
	f.Add("mapping_failed", "mapping m.yaml failed:\nm.yaml:3: a:B: bad\n  more")
	f.Add("validation_failed", "X is not valid:\nline 2, column 3: /a: bad (mapping rule m.yaml:9)")
	f.Add("validation_failed", "")
	f.Add("mapping_failed", "\n\n: :\nline 9999999999999999999: x (mapping rule ))")
	f.Fuzz(func(t *testing.T, typ, detail string) {
		summary, problems := admin.ParseFailure(typ, detail)
		if !strings.HasPrefix(detail, summary) {
			t.Fatalf("summary %q is not the detail's first line", summary)
		}
		for _, p := range problems {
			if p.Line < 0 || p.Column < 0 {
				t.Fatalf("negative place: %+v", p)
			}
		}
	})
}
