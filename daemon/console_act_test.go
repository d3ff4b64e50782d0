package daemon_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/amtsbote/amtsbote/config"
	"github.com/amtsbote/amtsbote/console/browsertest"
)

// forgedPost posts a form from the page's own script, with the session's CSRF token (read from
// the sign-out form), and returns the answer's status: what a user could send by hand.
func forgedPost(t *testing.T, ctx context.Context, path, body string) int {
	t.Helper()
	return browsertest.Eval[int](t, ctx, `(async () => {
		const csrf = document.querySelector('form[action="/abmelden"] input[name="csrf"]').value;
		const r = await fetch(`+jsString(path)+`, {method: "POST", headers: {"Content-Type": "application/x-www-form-urlencoded"},
			body: "csrf=" + encodeURIComponent(csrf) + "&" + `+jsString(body)+`, redirect: "manual"});
		return r.type === "opaqueredirect" ? 303 : r.status;
	})()`)
}

// jsString quotes s for JavaScript.
func jsString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	return `"` + r.Replace(s) + `"`
}

// flashText is the flash message on the page.
func flashText(t *testing.T, ctx context.Context) string {
	t.Helper()
	browsertest.Do(t, ctx, chromedp.WaitVisible(chromedp.CSS(`[role="status"]`)))
	return browsertest.Eval[string](t, ctx, `document.querySelector('[role="status"]').textContent`)
}

// Two deliveries die; a viewer sees them without actions and is refused a forged replay; an
// operator first sends an empty selection, then selects both, confirms, and both are delivered,
// with the operator in their history.
func TestConsoleActDeadLetterSelection(t *testing.T) {
	ctx := browsertest.New(t)
	cfg := consoleConfig(t)
	cfg.Destinations[0].Retry.MaxAttempts = 2
	h := start(t, cfg)
	os.WriteFile(h.outDir, []byte("in the way"), 0o600) // the E-Akte's directory is broken
	var ids []string
	for _, key := range []string{"act-1", "act-2"} {
		ids = append(ids, h.submit(demoSubmission(t), demoToken, map[string]string{"Idempotency-Key": key}).Body["id"].(string))
	}
	for _, id := range ids {
		h.waitStatus(id, "dead")
	}
	os.Remove(h.outDir)
	base := h.consoleURL()

	// The viewer sees the list, no action, and a replay they forge is refused.
	viewer := browsertest.New(t)
	browsertest.SignIn(t, viewer, base, consoleViewerToken)
	browsertest.Open(t, viewer, base+"/unzustellbar")
	if n := browsertest.Eval[int](t, viewer, `document.querySelectorAll("main tbody tr").length`); n != 2 {
		t.Fatalf("the viewer sees %d dead letters, want 2", n)
	}
	if n := browsertest.Eval[int](t, viewer, `document.querySelectorAll('main input[type="checkbox"], main a.knopf, main form[method="post"]').length`); n != 0 {
		t.Fatalf("the viewer is offered %d actions", n)
	}
	browsertest.Axe(t, viewer)
	if st := forgedPost(t, viewer, "/unzustellbar/auswahl/erneut-zustellen", "auswahl="+ids[0]+"%2Feakte"); st != 403 {
		t.Fatalf("a viewer's forged replay: %d, want 403", st)
	}
	if st := forgedPost(t, viewer, "/unzustellbar/erneut-zustellen", "ziel=eakte"); st != 403 {
		t.Fatalf("a viewer's forged replay of a destination: %d, want 403", st)
	}

	browsertest.SignIn(t, ctx, base, consoleOperatorToken)
	browsertest.Open(t, ctx, base+"/unzustellbar?ziel=eakte")
	// Nothing selected: a German error, nothing replayed.
	browsertest.Do(t, ctx, chromedp.Click(chromedp.CSS(`#auswahl-form button[type="submit"]`)))
	if msg := flashText(t, ctx); !strings.Contains(msg, "Keine Zustellung ausgewählt") {
		t.Fatalf("empty selection: %q", msg)
	}
	if p := browsertest.Path(t, ctx); p != "/unzustellbar?ziel=eakte" {
		t.Fatalf("after the empty selection the browser is at %s", p)
	}
	browsertest.Axe(t, ctx)
	browsertest.Open(t, ctx, base+"/unzustellbar")
	for _, id := range ids {
		if label := browsertest.Eval[string](t, ctx, `document.querySelector('input[value="`+id+`/eakte"]').labels[0].textContent`); label != "Antrag "+id+" an eakte auswählen" {
			t.Fatalf("checkbox label %q", label)
		}
	}
	browsertest.Axe(t, ctx)
	browsertest.Screenshot(t, ctx, "unzustellbar")

	browsertest.Do(t, ctx,
		chromedp.Click(chromedp.CSS(`input[value="`+ids[0]+`/eakte"]`)),
		chromedp.Click(chromedp.CSS(`input[value="`+ids[1]+`/eakte"]`)),
		chromedp.Click(chromedp.CSS(`#auswahl-form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/unzustellbar/auswahl/erneut-zustellen"]`)),
	)
	if q := browsertest.Eval[string](t, ctx, `document.querySelector("h1").textContent`); q != "2 ausgewählte Zustellungen erneut zustellen?" {
		t.Fatalf("confirmation: %q", q)
	}
	listed := browsertest.Eval[string](t, ctx, `document.querySelector(".auswahl-liste").textContent`)
	for _, id := range ids {
		if !strings.Contains(listed, id) {
			t.Fatalf("the confirmation does not list %s: %q", id, listed)
		}
	}
	browsertest.Axe(t, ctx)
	browsertest.Screenshot(t, ctx, "unzustellbar-auswahl-bestaetigen")
	browsertest.Do(t, ctx, chromedp.Click(chromedp.CSS(`form[action="/unzustellbar/auswahl/erneut-zustellen"] button`)))
	if msg := flashText(t, ctx); msg != "2 Zustellungen erneut in die Warteschlange gestellt." {
		t.Fatalf("flash message %q", msg)
	}
	browsertest.Axe(t, ctx)
	for _, id := range ids {
		h.waitStatus(id, "delivered")
		if d := h.detail(id); !strings.Contains(d.Raw, "replayed by console:otto") {
			t.Fatalf("the history does not name the operator: %s", d.Raw)
		}
	}
	// Again: nothing is dead any more, both are skipped.
	if st := forgedPost(t, ctx, "/unzustellbar/auswahl/erneut-zustellen", "auswahl="+ids[0]+"%2Feakte"); st != 303 {
		t.Fatalf("replaying a delivered one: %d", st)
	}
	browsertest.Open(t, ctx, base+"/unzustellbar")
	if msg := flashText(t, ctx); !strings.Contains(msg, "0 Zustellungen erneut") || !strings.Contains(msg, "1 Zustellung übersprungen") {
		t.Fatalf("flash after a skipped replay: %q", msg)
	}
}

// A submission fails in mapping; the operator reprocesses it from the list without fixing
// anything: it is queued, fails again, and its history keeps both failures and the reprocess.
func TestConsoleActReprocess(t *testing.T) {
	ctx := browsertest.New(t)
	h := start(t, consoleConfig(t))
	id := h.submit(sampleSubmission(t, "tests/course-booking-unwritable-character/input.json"), demoToken, nil).Body["id"].(string)
	h.waitStatus(id, "failed")
	base := h.consoleURL()

	browsertest.SignIn(t, ctx, base, consoleOperatorToken)
	browsertest.Open(t, ctx, base+"/fehlgeschlagen")
	row := browsertest.Eval[string](t, ctx, `document.querySelector("main tbody tr").textContent`)
	if !strings.Contains(row, id) || !strings.Contains(row, "vhs-kursbuchung") || !strings.Contains(row, "mapping_failed") {
		t.Fatalf("failed list row: %q", row)
	}
	if !strings.Contains(browsertest.Eval[string](t, ctx, `document.querySelector("main").textContent`), "der Konfiguration, die heute gilt") {
		t.Fatal("the page does not explain what reprocessing does")
	}
	browsertest.Axe(t, ctx)
	browsertest.Screenshot(t, ctx, "fehlgeschlagen")

	// Bad filter: a German error naming the field.
	browsertest.Open(t, ctx, base+"/fehlgeschlagen?seit=gestern")
	if msg := browsertest.Eval[string](t, ctx, `document.getElementById("f-seit-fehler").textContent`); !strings.Contains(msg, "Fehlgeschlagen seit") {
		t.Fatalf("filter error %q", msg)
	}
	browsertest.Axe(t, ctx)

	browsertest.Open(t, ctx, base+"/fehlgeschlagen")
	browsertest.Do(t, ctx,
		chromedp.Click(chromedp.CSS(`a[href^="/fehlgeschlagen/neu-verarbeiten?antrag=`+id+`"]`)),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/fehlgeschlagen/neu-verarbeiten"]`)),
	)
	if q := browsertest.Eval[string](t, ctx, `document.querySelector("h1").textContent`); q != "Antrag "+id+" neu verarbeiten?" {
		t.Fatalf("confirmation %q", q)
	}
	browsertest.Axe(t, ctx)
	browsertest.Do(t, ctx, chromedp.Click(chromedp.CSS(`form[action="/fehlgeschlagen/neu-verarbeiten"] button`)))
	if msg := flashText(t, ctx); msg != "1 Antrag zur Neuverarbeitung in die Warteschlange gestellt." {
		t.Fatalf("flash %q", msg)
	}
	waitEvents(t, h, id, "mapping_failed", 2)
	d := h.detail(id)
	if !strings.Contains(d.Raw, "reprocess_requested") || !strings.Contains(d.Raw, "reprocessed by console:otto") {
		t.Fatalf("the history lacks the reprocess: %s", d.Raw)
	}
}

// The configuration page shows no secret; a mapping file opens with line anchors; the mapping
// test maps the demo's example into valid XML and names the rule of a broken value; bad JSON
// gets a German error with its position. A viewer may use all of it.
func TestConsoleActConfigAndMappingTest(t *testing.T) {
	ctx := browsertest.New(t)
	const secret = "geheimes-Passwort-4711"
	cfg := consoleConfig(t)
	cfg.Destinations = append(cfg.Destinations, config.Destination{ID: "archiv", Type: "webdav",
		Options: map[string]any{"url": "http://127.0.0.1:9/archiv/", "basic_user": "amtsbote", "basic_password": secret}})
	h := start(t, cfg)
	base := h.consoleURL()
	browsertest.SignIn(t, ctx, base, consoleViewerToken)

	browsertest.Open(t, ctx, base+"/konfiguration")
	html := browsertest.Eval[string](t, ctx, `document.documentElement.outerHTML`)
	if strings.Contains(html, secret) {
		t.Fatal("the configuration page shows the password")
	}
	for _, want := range []string{"gewerbeanmeldung", "archiv", "basic_password", "••• (set)", "mappings/"} {
		if !strings.Contains(html, want) {
			t.Fatalf("the configuration page lacks %q", want)
		}
	}
	browsertest.Axe(t, ctx)
	browsertest.Screenshot(t, ctx, "konfiguration")

	browsertest.Open(t, ctx, base+"/konfiguration/dateien?pfad=mappings/partials/xdomea-person-geburt.yaml#L5")
	if line := browsertest.Eval[string](t, ctx, `document.getElementById("L5").textContent`); !strings.HasPrefix(line, "5") {
		t.Fatalf("line 5: %q", line)
	}
	browsertest.Axe(t, ctx)
	browsertest.Open(t, ctx, base+"/konfiguration/dateien?pfad=mappings/vhs-kursbuchung.yaml#L38")
	browsertest.Screenshot(t, ctx, "konfiguration-datei")
	browsertest.Open(t, ctx, base+"/konfiguration/dateien?pfad=../amtsbote.yaml")
	if title := browsertest.Eval[string](t, ctx, `document.title`); !strings.HasPrefix(title, "Seite nicht gefunden") {
		t.Fatalf("a file outside the routes' files: %q", title)
	}

	browsertest.Open(t, ctx, base+"/mapping-test")
	browsertest.Do(t, ctx, chromedp.WaitReady(chromedp.ID("daten")))
	if v := browsertest.Eval[string](t, ctx, `document.getElementById("daten").value`); v != "" {
		t.Fatalf("the form is prefilled: %q", v)
	}
	browsertest.Axe(t, ctx)
	browsertest.Do(t, ctx,
		chromedp.Click(chromedp.CSS(`a[href="/mapping-test?beispiel=1"]`)),
		chromedp.WaitReady(chromedp.ID("daten")),
	)
	if v := browsertest.Eval[string](t, ctx, `document.getElementById("daten").value`); !strings.Contains(v, "DEMO-2026-000001") {
		t.Fatalf("the example is not filled in: %q", v)
	}
	browsertest.Do(t, ctx,
		chromedp.SetValue(chromedp.ID("ziel"), "eakte"),
		chromedp.Click(chromedp.CSS(`form[action="/mapping-test"] button`)),
		chromedp.WaitVisible(chromedp.ID("ergebnis-titel")),
	)
	result := browsertest.Eval[string](t, ctx, `document.querySelector(".ergebnis").textContent`)
	if !strings.Contains(result, "gültig") || strings.Contains(result, "ungültig") || !strings.Contains(result, "gewerbeanmeldung") {
		t.Fatalf("result: %q", result)
	}
	if xml := browsertest.Eval[string](t, ctx, `document.querySelector("pre.nachricht-inhalt").textContent`); !strings.Contains(xml, "<xdomea:") || !strings.Contains(xml, "\n  <") {
		t.Fatalf("the XML is not shown pretty-printed: %.300q", xml)
	}
	browsertest.Axe(t, ctx)
	browsertest.Screenshot(t, ctx, "mapping-test")

	broken, err := os.ReadFile("../fixtures/demo/tests/invalid-birth-date/input.json")
	if err != nil {
		t.Fatal(err)
	}
	browsertest.Open(t, ctx, base+"/mapping-test")
	browsertest.Do(t, ctx,
		chromedp.WaitReady(chromedp.ID("daten")),
		chromedp.SetValue(chromedp.ID("daten"), string(broken)),
		chromedp.Click(chromedp.CSS(`form[action="/mapping-test"] button`)),
		chromedp.WaitVisible(chromedp.ID("ergebnis-titel")),
	)
	link := browsertest.Eval[string](t, ctx, `(document.querySelector('.probleme a') || {}).href || ""`)
	if !strings.HasSuffix(link, "/konfiguration/dateien?pfad=mappings%2Fpartials%2Fxdomea-person-geburt.yaml#L5") {
		t.Fatalf("the rule's link: %q", link)
	}
	if txt := browsertest.Eval[string](t, ctx, `document.querySelector(".probleme").textContent`); !strings.Contains(txt, "mappings/partials/xdomea-person-geburt.yaml:5") || !strings.Contains(txt, "is not a date") {
		t.Fatalf("problems: %q", txt)
	}
	if !strings.Contains(browsertest.Eval[string](t, ctx, `document.querySelector(".ergebnis").textContent`), "ungültig") {
		t.Fatal("the broken submission is not marked invalid")
	}
	browsertest.Axe(t, ctx)
	browsertest.Screenshot(t, ctx, "mapping-test-fehler")

	browsertest.Do(t, ctx,
		chromedp.SetValue(chromedp.ID("daten"), "{\n  \"leistung\": \"1\",\n  \"ags\": 09\n}"),
		chromedp.Click(chromedp.CSS(`form[action="/mapping-test"] button`)),
		chromedp.WaitVisible(chromedp.ID("daten-fehler")),
	)
	if msg := browsertest.Eval[string](t, ctx, `document.getElementById("daten-fehler").textContent`); !strings.Contains(msg, "Antragsdaten") || !strings.Contains(msg, "Zeile 3, Spalte") {
		t.Fatalf("JSON error %q", msg)
	}
	browsertest.Axe(t, ctx)

	// The mapping test stores nothing, but its POST is still checked for the session's token.
	status := browsertest.Eval[int](t, ctx, `fetch("/mapping-test", {method: "POST", headers: {"Content-Type": "application/x-www-form-urlencoded"},
		body: "daten=%7B%7D", redirect: "manual"}).then(r => r.status)`)
	if status != 403 {
		t.Fatalf("mapping test without the CSRF token: %d, want 403", status)
	}
	if n := h.count("submissions"); n != 0 {
		t.Fatalf("the mapping test stored %d submissions", n)
	}
}
