package console_test

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	wmsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"

	"github.com/amtsbote/amtsbote/console"
	"github.com/amtsbote/amtsbote/pipeline"
	"github.com/amtsbote/amtsbote/store"
)

// The submissions of the finding pages' tests.
const (
	subDelivered = "a1a1a1a1-0000-4000-8000-000000000001"
	subOlder     = "a2a2a2a2-0000-4000-8000-000000000002"
	subFailed    = "f1f1f1f1-0000-4000-8000-000000000003"
	subDead      = "d1d1d1d1-0000-4000-8000-000000000004"
	subPurged    = "e1e1e1e1-0000-4000-8000-000000000005"
	subUnknown   = "00000000-0000-4000-8000-000000000000"
)

// message is a generated message whose text must reach the page escaped.
const message = `<?xml version="1.0" encoding="UTF-8"?><a><b>x &lt;script&gt;alert(1)&lt;/script&gt;</b></a>`

// seedFind stores the submissions: delivered ones with a message, a failed one with a mapping
// failure, one with a dead delivery and one whose data retention purged.
func (e *env) seedFind() {
	e.t.Helper()
	ctx := context.Background()
	at := e.clock.Now().Add(-time.Hour)
	// The queues a reprocess and a replay put their work in.
	if err := e.st.PrepareQueues(ctx, []string{pipeline.TopicSubmissions, pipeline.TopicCallbacks, pipeline.DeliveryTopic("eakte")}, pipeline.TopicCallbacks); err != nil {
		e.t.Fatal(err)
	}
	type seed struct {
		id, ref, status string
		at              time.Time
		message, dead   bool
		events          []store.Event
	}
	seeds := []seed{
		{subOlder, "REF-OLDER", store.StatusDelivered, at.Add(-time.Minute), true, false, nil},
		{subDelivered, "REF-DELIVERED", store.StatusDelivered, at, true, false, nil},
		{subFailed, "REF-FAILED", store.StatusFailed, at.Add(time.Second), false, false, []store.Event{{At: at.Add(time.Second), Type: "mapping_failed", Destination: "eakte",
			Detail: "mapping mappings/vorgang.yaml failed:\nmappings/vorgang.yaml:12: xdomea:Name: required value data.betrieb.name is empty or missing"}}},
		{subDead, "REF-DEAD", store.StatusDead, at.Add(2 * time.Second), true, true, nil},
		{subPurged, "REF-PURGED", store.StatusDelivered, at.Add(3 * time.Second), true, false, nil},
	}
	for _, s := range seeds {
		err := e.st.InTx(ctx, func(tx wmsql.Tx) error {
			sub := store.Submission{ID: s.id, Portal: "demo-portal", Reference: s.ref, Leistung: "99050012104000", AGS: "09162000",
				Route: "gewerbeanmeldung", Status: store.StatusReceived, Data: []byte(`{"name":"Anna"}`), ReceivedAt: s.at}
			if err := store.InsertSubmission(ctx, tx, sub, nil); err != nil {
				return err
			}
			if err := store.AddEvent(ctx, tx, s.id, store.Event{At: s.at, Type: "received"}); err != nil {
				return err
			}
			if s.message {
				if err := store.InsertMessage(ctx, tx, store.Message{SubmissionID: s.id, Destination: "eakte", MessageID: "msg-" + s.id[:4],
					MessageType: "Geschaeftsgang.Geschaeftsgang.0201", SchemaSet: "xdomea-3.0.0", CreatedAt: s.at, XML: []byte(message)}); err != nil {
					return err
				}
				if err := store.InsertDelivery(ctx, tx, s.id, "eakte", s.at); err != nil {
					return err
				}
				st := store.DeliveryDelivered
				if s.dead {
					st = store.DeliveryDead
				}
				if _, err := store.UpdateDelivery(ctx, tx, store.Delivery{SubmissionID: s.id, Destination: "eakte", Status: st, Attempts: 3,
					LastError: "connection refused", UpdatedAt: s.at.Add(time.Minute)}, 0); err != nil {
					return err
				}
			}
			for _, ev := range s.events {
				if err := store.AddEvent(ctx, tx, s.id, ev); err != nil {
					return err
				}
			}
			return store.SetStatus(ctx, tx, s.id, s.status, s.at.Add(time.Minute))
		})
		if err != nil {
			e.t.Fatal(err)
		}
	}
	err := e.st.InTx(ctx, func(tx wmsql.Tx) error {
		_, err := store.Purge(ctx, tx, subPurged, e.clock.Now(), store.PurgeDue{Before: e.clock.Now().Add(time.Hour), Statuses: []string{store.StatusDelivered}})
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

// The overview, the search, a submission, its messages and the audit log render for viewers and
// refuse bad parameters with a German message naming the field; operator actions are refused
// to viewers.
func TestFindPages(t *testing.T) {
	e := newEnv(t, false)
	e.seedFind()
	viewer, operator := e.browser(), e.browser()
	viewerCSRF := e.signIn(viewer, viewerToken)
	e.signIn(operator, operatorToken)
	for _, tt := range []struct {
		name     string
		client   *http.Client
		method   string
		path     string
		want     int
		contains []string
		lacks    []string
	}{
		{"overview", viewer, "GET", "/", 200, []string{"Auf einen Blick", `<a href="/fehlgeschlagen">1 fehlgeschlagener Antrag</a>`,
			`<a href="/unzustellbar">1 unzustellbare Zustellung</a>`, "<th scope=\"row\">eakte"}, []string{"erneut-zustellen"}},
		{"overview: operator", operator, "GET", "/", 200, []string{`href="/unzustellbar/erneut-zustellen?ziel=eakte"`}, nil},
		{"search: all, newest first", viewer, "GET", "/antraege", 200, []string{"5 Anträge", "REF-PURGED", "Daten gelöscht", `<option value="failed">Fehlgeschlagen</option>`}, []string{"Nächste Seite"}},
		{"search: by status", viewer, "GET", "/antraege?status=failed", 200, []string{"1 Antrag,", "REF-FAILED", `<option value="failed" selected>`}, []string{"REF-DELIVERED"}},
		{"search: by reference", viewer, "GET", "/antraege?reference=REF-DEAD", 200, []string{"REF-DEAD", `value="REF-DEAD"`, "Unzustellbar"}, []string{"REF-FAILED"}},
		{"search: by day", viewer, "GET", "/antraege?from=2026-12-02&to=2026-12-02", 200, []string{"5 Anträge"}, nil},
		{"search: another day", viewer, "GET", "/antraege?to=2026-12-01", 200, []string{"Keine Anträge gefunden"}, nil},
		{"search: bad status", viewer, "GET", "/antraege?status=verloren", 400, []string{`role="alert"`, "Im Feld „Status“ steht kein bekannter Status",
			`id="f-status" name="status" aria-invalid="true" aria-describedby="suche-fehler"`}, []string{"Treffer"}},
		{"search: bad date", viewer, "GET", "/antraege?from=gestern", 400, []string{"Im Feld „Eingang von“ steht kein gültiges Datum"}, nil},
		{"search: bad year", viewer, "GET", "/antraege?to=1999-01-01", 400, []string{"Im Feld „Eingang bis“ muss das Jahr zwischen 2000 und 9999 liegen"}, nil},
		{"search: empty range", viewer, "GET", "/antraege?from=2026-12-02&to=2026-12-01", 400, []string{"„Eingang bis“ muss nach „Eingang von“ liegen."}, nil},
		{"search: bad page size", viewer, "GET", "/antraege?limit=0", 400, []string{"„Anzahl je Seite“ muss eine Zahl von 1 bis 500 sein."}, nil},
		{"search: bad cursor", viewer, "GET", "/antraege?after=xyz", 400, []string{"Der Verweis auf die nächste Seite ist ungültig"}, nil},
		{"search: twice", viewer, "GET", "/antraege?portal=a&portal=b", 400, []string{"Das Feld „Portal“ ist mehrfach angegeben"}, nil},
		{"search: too long", viewer, "GET", "/antraege?reference=" + strings.Repeat("x", 201), 400, []string{"Das Feld „Referenz“ ist zu lang"}, nil},
		{"detail", viewer, "GET", "/antraege/" + subDelivered, 200, []string{"<h1>Antrag REF-DELIVERED</h1>", "Erzeugte Nachrichten",
			`href="/antraege/` + subDelivered + `/nachrichten/eakte"`, `/nachrichten/eakte/herunterladen" download>`, "Eingegangen"}, []string{"neu-verarbeiten", "erneut-zustellen", "Aufbewahrungsfrist"}},
		{"detail: failed", viewer, "GET", "/antraege/" + subFailed, 200, []string{"Warum der Antrag fehlgeschlagen ist", "<li><code>mappings/vorgang.yaml:12</code></li>",
			"required value data.betrieb.name is empty or missing", "Mapping fehlgeschlagen"}, []string{"neu-verarbeiten"}},
		{"detail: failed, operator", operator, "GET", "/antraege/" + subFailed, 200, []string{`href="/antraege/` + subFailed + `/neu-verarbeiten"`}, nil},
		{"detail: dead, operator", operator, "GET", "/antraege/" + subDead, 200, []string{`href="/antraege/` + subDead + `/zustellungen/eakte/erneut-zustellen"`, "connection refused"}, nil},
		{"detail: dead, viewer", viewer, "GET", "/antraege/" + subDead, 200, []string{"connection refused"}, []string{"erneut-zustellen"}},
		{"detail: purged", viewer, "GET", "/antraege/" + subPurged, 200, []string{"Die Antragsdaten wurden nach Ablauf der Aufbewahrungsfrist gelöscht; Verlauf und Metadaten bleiben.", "gelöscht"}, []string{"/nachrichten/eakte"}},
		{"detail: unknown", viewer, "GET", "/antraege/" + subUnknown, 404, []string{"Es gibt keinen Antrag mit der ID"}, nil},
		{"message", viewer, "GET", "/antraege/" + subDelivered + "/nachrichten/eakte", 200, []string{"<pre", "&lt;a&gt;", "&amp;lt;script&amp;gt;", "Herunterladen"}, []string{"<script"}},
		{"message: no such destination", viewer, "GET", "/antraege/" + subDelivered + "/nachrichten/nirgends", 404, []string{"keine Nachricht an das Ziel „nirgends“"}, nil},
		{"message: purged", viewer, "GET", "/antraege/" + subPurged + "/nachrichten/eakte", 410, []string{"Aufbewahrungsfrist gelöscht"}, nil},
		{"download: purged", viewer, "GET", "/antraege/" + subPurged + "/nachrichten/eakte/herunterladen", 410, []string{"Aufbewahrungsfrist gelöscht"}, nil},
		{"reprocess: viewer's confirmation", viewer, "GET", "/antraege/" + subFailed + "/neu-verarbeiten", 403, []string{"vorbehalten"}, nil},
		{"replay: viewer's confirmation", viewer, "GET", "/antraege/" + subDead + "/zustellungen/eakte/erneut-zustellen", 403, []string{"vorbehalten"}, nil},
		{"reprocess: confirmation", operator, "GET", "/antraege/" + subFailed + "/neu-verarbeiten", 200, []string{"Antrag „REF-FAILED“ neu verarbeiten?",
			`action="/antraege/` + subFailed + `/neu-verarbeiten"`, `href="/antraege/` + subFailed + `" class="abbrechen"`}, nil},
		{"reprocess: not failed", operator, "GET", "/antraege/" + subDelivered + "/neu-verarbeiten", 409, []string{"nicht fehlgeschlagen"}, nil},
		{"replay: confirmation", operator, "GET", "/antraege/" + subDead + "/zustellungen/eakte/erneut-zustellen", 200, []string{"Antrag „REF-DEAD“ erneut an „eakte“ zustellen?", "3 Versuche"}, nil},
		{"replay: not dead", operator, "GET", "/antraege/" + subDelivered + "/zustellungen/eakte/erneut-zustellen", 404, []string{"ist nicht unzustellbar"}, nil},
		{"audit log", viewer, "GET", "/pruefprotokoll", 200, []string{"console:vera", "console_sign_in", "neueste zuerst"}, []string{"Ältere Einträge"}},
		{"audit log: by actor", viewer, "GET", "/pruefprotokoll?actor=console:otto", 200, []string{"console:otto"}, []string{"console:vera"}},
		{"audit log: bad since", viewer, "GET", "/pruefprotokoll?since=gestern", 400, []string{"Im Feld „Von“ steht kein gültiges Datum", `id="f-since" name="since" value="gestern" aria-invalid="true"`}, nil},
		{"audit log: bad page", viewer, "GET", "/pruefprotokoll?before=-1", 400, []string{"Der Verweis auf die nächste Seite ist ungültig"}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := e.send(tt.client, tt.method, tt.path, nil, nil)
			if a.Status != tt.want {
				t.Fatalf("%d; want %d: %s", a.Status, tt.want, a.Body)
			}
			for _, w := range tt.contains {
				if !strings.Contains(a.Body, w) {
					t.Errorf("the page lacks %q:\n%s", w, a.Body)
				}
			}
			for _, w := range tt.lacks {
				if strings.Contains(a.Body, w) {
					t.Errorf("the page has %q", w)
				}
			}
		})
	}
	// The viewer's POSTs are refused even with the session's token.
	for _, path := range []string{"/antraege/" + subFailed + "/neu-verarbeiten", "/antraege/" + subDead + "/zustellungen/eakte/erneut-zustellen"} {
		if a := e.send(viewer, "POST", path, url.Values{"csrf": {viewerCSRF}}, nil); a.Status != http.StatusForbidden {
			t.Errorf("viewer POST %s: %d", path, a.Status)
		}
	}
}

// An exact id opens its submission; the next page keeps the filters; the download is the file.
func TestSearchPagingAndDownload(t *testing.T) {
	e := newEnv(t, false)
	e.seedFind()
	c := e.browser()
	e.signIn(c, viewerToken)
	if a := e.get(c, "/antraege?id="+subDelivered); a.Status != http.StatusSeeOther || a.Header.Get("Location") != "/antraege/"+subDelivered {
		t.Fatalf("exact id: %d %s", a.Status, a.Header.Get("Location"))
	}
	if a := e.get(c, "/antraege?id="+subUnknown); a.Status != 200 || !strings.Contains(a.Body, "Keine Anträge gefunden") {
		t.Fatalf("unknown id: %d", a.Status)
	}
	var refs []string
	next := "/antraege?status=delivered&limit=1"
	refRow := regexp.MustCompile(`<th scope="row"><a href="/antraege/[^"]+">(REF-[A-Z]+)<span class="sr">`)
	nextLink := regexp.MustCompile(`<a href="([^"]+)" rel="next">Nächste Seite</a>`)
	for i := 0; next != ""; i++ {
		if i > 5 {
			t.Fatal("paging does not end")
		}
		a := e.get(c, next)
		if a.Status != 200 {
			t.Fatalf("%s: %d %s", next, a.Status, a.Body)
		}
		for _, m := range refRow.FindAllStringSubmatch(a.Body, -1) {
			refs = append(refs, m[1])
		}
		if i > 0 && !strings.Contains(a.Body, `<a href="/antraege?limit=1&amp;status=delivered">Erste Seite</a>`) {
			t.Errorf("page %d has no link to the first", i+1)
		}
		next = ""
		if m := nextLink.FindStringSubmatch(a.Body); m != nil {
			next = html.UnescapeString(m[1])
			if !strings.Contains(next, "status=delivered") || !strings.Contains(next, "limit=1") {
				t.Fatalf("next page loses the filters: %s", next)
			}
		}
	}
	if strings.Join(refs, ",") != "REF-PURGED,REF-DELIVERED,REF-OLDER" {
		t.Fatalf("pages: %v", refs)
	}
	a := e.get(c, "/antraege/"+subDelivered+"/nachrichten/eakte/herunterladen")
	if a.Status != 200 || a.Body != message || a.Header.Get("Content-Disposition") != `attachment; filename="`+subDelivered+`-eakte.xml"` ||
		!strings.HasPrefix(a.Header.Get("Content-Type"), "application/xml") {
		t.Fatalf("download: %d %v %q", a.Status, a.Header, a.Body)
	}
	// The audit log in pages of one.
	e.signIn(e.browser(), operatorToken)
	first := e.get(c, "/pruefprotokoll?limit=1")
	m := regexp.MustCompile(`<a href="([^"]+)" rel="next">Ältere Einträge</a>`).FindStringSubmatch(first.Body)
	if m == nil || !strings.Contains(first.Body, "console:otto") {
		t.Fatalf("first audit page: %s", first.Body)
	}
	older := e.get(c, html.UnescapeString(m[1]))
	if older.Status != 200 || !strings.Contains(older.Body, "console:vera") || !strings.Contains(older.Body, "Neueste Einträge") {
		t.Fatalf("older audit page: %d %s", older.Status, older.Body)
	}
}

// An operator reprocesses a failed submission and replays a dead delivery from their pages: a
// redirect back with a flash, and the history names them.
func TestReprocessAndReplayFromTheDetail(t *testing.T) {
	e := newEnv(t, false)
	e.seedFind()
	c := e.browser()
	csrf := e.signIn(c, operatorToken)
	for _, tt := range []struct {
		path, back, flash, event string
	}{
		{"/antraege/" + subFailed + "/neu-verarbeiten", "/antraege/" + subFailed, "Der Antrag wird mit der aktuellen Konfiguration neu verarbeitet.", "reprocessed by console:otto"},
		{"/antraege/" + subDead + "/zustellungen/eakte/erneut-zustellen", "/antraege/" + subDead, "Die Zustellung an „eakte“ ist erneut in die Warteschlange gestellt.", "replayed by console:otto"},
	} {
		a := e.send(c, "POST", tt.path, url.Values{"csrf": {csrf}}, nil)
		if a.Status != http.StatusSeeOther || a.Header.Get("Location") != tt.back {
			t.Fatalf("POST %s: %d %s\n%s", tt.path, a.Status, a.Header.Get("Location"), e.logs.String())
		}
		page := e.get(c, tt.back)
		if !strings.Contains(page.Body, `role="status">`+tt.flash) || !strings.Contains(page.Body, tt.event) {
			t.Fatalf("%s after the action lacks the flash or the event:\n%s", tt.back, page.Body)
		}
		// Again: nothing left to do, and it says so.
		a = e.send(c, "POST", tt.path, url.Values{"csrf": {csrf}}, nil)
		if page := e.get(c, tt.back); a.Status != http.StatusSeeOther || !strings.Contains(page.Body, `meldung-fehler" role="status">`) {
			t.Fatalf("second POST %s: %d", tt.path, a.Status)
		}
	}
	if a := e.send(c, "POST", "/antraege/"+subUnknown+"/neu-verarbeiten", url.Values{"csrf": {csrf}}, nil); a.Status != http.StatusNotFound {
		t.Fatalf("reprocess of an unknown id: %d", a.Status)
	}
}

func TestDurationAndDecimal(t *testing.T) {
	for in, want := range map[float64]string{0: "—", -3: "—", 12.7: "12 Sek.", 60: "1 Min.", 199: "3 Min.", 3600: "1 Std.", 7500: "2 Std. 5 Min.",
		86400: "1 Tg.", 3*86400 + 4*3600 + 59: "3 Tg. 4 Std."} {
		if got := console.Duration(in); got != want {
			t.Errorf("Duration(%v) = %q; want %q", in, got, want)
		}
	}
	for in, want := range map[float64]string{0: "0", 0.4: "0,4", 12: "12", 1234.56: "1.234,6", 0.04: "0"} {
		if got := console.Decimal(in); got != want {
			t.Errorf("Decimal(%v) = %q; want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{"closed": "geschlossen", "open": "offen", "half-open": "halb offen"} {
		if got := console.CircuitState(in); got != want {
			t.Errorf("CircuitState(%s) = %q", in, got)
		}
	}
	if console.EventLabel("mapping_failed") != "Mapping fehlgeschlagen" || console.EventLabel("neu") != "neu" {
		t.Error("event labels")
	}
}
