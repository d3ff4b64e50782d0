package daemon_test

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/amtsbote/amtsbote/console/browsertest"
)

// navigate runs an action that leaves the page (a click on a link, a form's submission) and
// waits for the next page: the old one is marked, so that its <main> does not count.
func navigate(t *testing.T, ctx context.Context, action chromedp.Action[chromedp.Void]) {
	t.Helper()
	browsertest.Eval[bool](t, ctx, `(document.body.dataset.verlassen = "1", true)`)
	browsertest.Do(t, ctx, action, chromedp.WaitReady(chromedp.CSS(`body:not([data-verlassen]) main`)))
}

// texts are the trimmed text contents of the elements a CSS selector matches, without their
// visually hidden parts.
func texts(t *testing.T, ctx context.Context, selector string) []string {
	t.Helper()
	return browsertest.Eval[[]string](t, ctx, fmt.Sprintf(`Array.from(document.querySelectorAll(%q), e => {
		const c = e.cloneNode(true);
		c.querySelectorAll(".sr").forEach(s => s.remove());
		return c.textContent.trim();
	})`, selector))
}

// A viewer finds submissions by status and reference, pages through them, opens one and its
// generated XML, and sees why a failed one failed, without operator actions; an operator
// reprocesses the failed one after a confirmation, and the history and the audit log name them.
func TestConsoleFindSubmissions(t *testing.T) {
	ctx := browsertest.New(t)
	h := start(t, consoleConfig(t))
	base := h.consoleURL()

	var delivered []string
	for i := range 3 {
		sub := demoSubmission(t)
		sub["reference"] = fmt.Sprintf("DEMO-2026-%06d", 11+i)
		delivered = append(delivered, h.submit(sub, demoToken, nil).Body["id"].(string))
	}
	bad := demoSubmission(t)
	bad["reference"] = "DEMO-2026-000099"
	delete(bad["data"].(map[string]any)["betrieb"].(map[string]any), "name")
	failed := h.submit(bad, demoToken, nil).Body["id"].(string)
	for _, id := range delivered {
		h.waitStatus(id, "delivered")
	}
	h.waitStatus(failed, "failed")

	browsertest.SignIn(t, ctx, base, consoleViewerToken)
	// The overview: figures, the destinations' circuits in words, the failed one linked.
	if got := browsertest.Eval[string](t, ctx, `document.querySelector('main a[href="/fehlgeschlagen"]').textContent`); got != "1 fehlgeschlagener Antrag" {
		t.Fatalf("overview's failed link %q", got)
	}
	if circuits := texts(t, ctx, "main table tbody td .kreis"); len(circuits) != len(h.cfg.Destinations) || circuits[0] != "geschlossen" {
		t.Fatalf("circuits on the overview: %q", circuits)
	}
	browsertest.Axe(t, ctx)

	// Keyboard: from the content, Tab reaches every field of the search in order, then the button.
	browsertest.Open(t, ctx, base+"/antraege")
	browsertest.Eval[bool](t, ctx, `(document.getElementById("inhalt").focus(), true)`)
	var order []string
	for range 40 {
		browsertest.Do(t, ctx, chromedp.KeyEvent(kb.Tab))
		id := browsertest.Eval[string](t, ctx, `document.activeElement.id || document.activeElement.tagName + ":" + document.activeElement.textContent.trim()`)
		if len(order) == 0 || order[len(order)-1] != id {
			order = append(order, id)
		}
		if id == "BUTTON:Suchen" {
			break
		}
	}
	want := []string{"f-id", "f-reference", "f-portal", "f-route", "f-status", "f-leistung", "f-ags", "f-from", "f-to", "f-limit", "BUTTON:Suchen"}
	if !slices.Equal(order, want) {
		t.Fatalf("Tab order on the search form: %q; want %q", order, want)
	}
	if rows := texts(t, ctx, "main table tbody tr"); len(rows) != 4 {
		t.Fatalf("all submissions: %d rows", len(rows))
	}
	browsertest.Axe(t, ctx)

	// By status.
	browsertest.Do(t, ctx, chromedp.SetValue(chromedp.ID("f-status"), "failed"))
	navigate(t, ctx, chromedp.Submit(chromedp.ID("f-status")))
	if rows := texts(t, ctx, "main table tbody th"); !slices.Equal(rows, []string{"DEMO-2026-000099"}) {
		t.Fatalf("status failed: %q", rows)
	}
	if got := texts(t, ctx, "main table tbody td .status"); !slices.Equal(got, []string{"Fehlgeschlagen"}) {
		t.Fatalf("status label %q", got)
	}
	// By reference (the status reset to any).
	browsertest.Do(t, ctx, chromedp.SetValue(chromedp.ID("f-status"), ""), chromedp.SendKeys(chromedp.ID("f-reference"), "DEMO-2026-000012"))
	navigate(t, ctx, chromedp.Submit(chromedp.ID("f-reference")))
	if rows := texts(t, ctx, "main table tbody th"); !slices.Equal(rows, []string{"DEMO-2026-000012"}) {
		t.Fatalf("reference: %q", rows)
	}
	browsertest.Axe(t, ctx)

	// Pages of three, newest first: the next page keeps the filters and holds the oldest one.
	browsertest.Open(t, ctx, base+"/antraege?portal=demo-portal&limit=3")
	first := texts(t, ctx, "main table tbody th")
	if !slices.Equal(first, []string{"DEMO-2026-000099", "DEMO-2026-000013", "DEMO-2026-000012"}) {
		t.Fatalf("first page %q", first)
	}
	browsertest.Axe(t, ctx)
	browsertest.Screenshot(t, ctx, "antraege")
	navigate(t, ctx, chromedp.Click(chromedp.CSS(`a[rel="next"]`)))
	if p := browsertest.Path(t, ctx); !strings.Contains(p, "portal=demo-portal") || !strings.Contains(p, "limit=3") || !strings.Contains(p, "after=") {
		t.Fatalf("next page at %s", p)
	}
	if rows := texts(t, ctx, "main table tbody th"); !slices.Equal(rows, []string{"DEMO-2026-000011"}) {
		t.Fatalf("second page %q", rows)
	}
	if browsertest.Eval[bool](t, ctx, `document.querySelector('a[rel="next"]') !== null`) {
		t.Fatal("the last page offers a next one")
	}
	browsertest.Axe(t, ctx)
	navigate(t, ctx, chromedp.Click(chromedp.CSS(`nav.seiten a:not([rel])`)))
	if rows := texts(t, ctx, "main table tbody th"); !slices.Equal(rows, first) {
		t.Fatalf("back on the first page: %q", rows)
	}

	// A bad parameter: the form, with a German message naming the field.
	browsertest.Open(t, ctx, base+"/antraege?status=verloren")
	if msg := browsertest.Eval[string](t, ctx, `document.querySelector('[role="alert"]').textContent`); !strings.Contains(msg, "„Status“") {
		t.Fatalf("error %q", msg)
	}
	if !browsertest.Eval[bool](t, ctx, `document.getElementById("f-status").getAttribute("aria-invalid") === "true"`) {
		t.Fatal("the status field is not marked invalid")
	}
	browsertest.Axe(t, ctx)

	// An id that matches exactly opens the submission; it shows its messages.
	browsertest.Open(t, ctx, base+"/antraege")
	browsertest.Do(t, ctx, chromedp.SendKeys(chromedp.ID("f-id"), delivered[0]))
	navigate(t, ctx, chromedp.Submit(chromedp.ID("f-id")))
	if p := browsertest.Path(t, ctx); p != "/antraege/"+delivered[0] {
		t.Fatalf("the exact id leads to %s", p)
	}
	if h1 := browsertest.Eval[string](t, ctx, `document.querySelector("h1").textContent`); h1 != "Antrag DEMO-2026-000011" {
		t.Fatalf("detail heading %q", h1)
	}
	if got := texts(t, ctx, "#nachrichten-titel + .tabelle tbody th"); !slices.Equal(got, []string{"eakte", "gewerbe-fachverfahren"}) {
		t.Fatalf("messages %q", got)
	}
	if events := strings.Join(texts(t, ctx, "table.verlauf tbody th"), "|"); !strings.Contains(events, "Eingegangen") || !strings.Contains(events, "Zugestellt") {
		t.Fatalf("history %q", events)
	}
	if browsertest.Eval[bool](t, ctx, `document.querySelector('a[href*="neu-verarbeiten"], a[href*="erneut-zustellen"], form[method="post"]:not([action="/abmelden"])') !== null`) {
		t.Fatal("a viewer is offered an operator action")
	}
	browsertest.Axe(t, ctx)
	browsertest.Screenshot(t, ctx, "antrag")

	// The XML, indented and escaped; the download is a file.
	navigate(t, ctx, chromedp.Click(chromedp.CSS(`a[href="/antraege/`+delivered[0]+`/nachrichten/eakte"]`)))
	xml := browsertest.Eval[string](t, ctx, `document.querySelector("pre").textContent`)
	if !strings.HasPrefix(xml, "<?xml") || !strings.Contains(xml, "\n  <") {
		t.Fatalf("message content %.200q", xml)
	}
	if n := browsertest.Eval[int](t, ctx, `document.querySelectorAll("pre *:not(code)").length`); n != 0 {
		t.Fatalf("the XML became %d elements of the page", n)
	}
	browsertest.Axe(t, ctx)
	browsertest.Screenshot(t, ctx, "nachricht")
	disposition := browsertest.Eval[string](t, ctx, `fetch(document.querySelector("a[download]").href).then(r => r.status + " " + r.headers.get("content-disposition"))`)
	if disposition != `200 attachment; filename="`+delivered[0]+`-eakte.xml"` {
		t.Fatalf("download: %s", disposition)
	}

	// The failed one: the mapping rule that failed, file:line.
	browsertest.Open(t, ctx, base+"/antraege/"+failed)
	rules := texts(t, ctx, ".regeln code")
	if len(rules) == 0 || !regexp.MustCompile(`^\S*gewerbeanmeldung-vorgang\.yaml:\d+$`).MatchString(rules[0]) {
		t.Fatalf("failing rules %q", rules)
	}
	if problems := strings.Join(texts(t, ctx, ".probleme li"), "\n"); !strings.Contains(problems, "betrieb.name") {
		t.Fatalf("problems %q", problems)
	}
	if browsertest.Eval[bool](t, ctx, `document.querySelector('a[href*="neu-verarbeiten"]') !== null`) {
		t.Fatal("a viewer is offered the reprocess")
	}
	browsertest.Axe(t, ctx)

	// Unknown ids: a German 404.
	browsertest.Open(t, ctx, base+"/antraege/00000000-0000-0000-0000-000000000000")
	if h1 := browsertest.Eval[string](t, ctx, `document.querySelector("h1").textContent`); h1 != "Seite nicht gefunden" {
		t.Fatalf("unknown id: %q", h1)
	}
	browsertest.Axe(t, ctx)

	// The operator reprocesses the failed one after a confirmation.
	navigate(t, ctx, chromedp.Click(chromedp.CSS(`form[action="/abmelden"] button`)))
	browsertest.SignIn(t, ctx, base, consoleOperatorToken)
	browsertest.Open(t, ctx, base+"/antraege/"+failed)
	browsertest.Axe(t, ctx)
	browsertest.Screenshot(t, ctx, "antrag-fehlgeschlagen")
	navigate(t, ctx, chromedp.Click(chromedp.CSS(`a[href="/antraege/`+failed+`/neu-verarbeiten"]`)))
	if q := browsertest.Eval[string](t, ctx, `document.querySelector("h1").textContent`); q != "Antrag „DEMO-2026-000099“ neu verarbeiten?" {
		t.Fatalf("confirmation %q", q)
	}
	browsertest.Axe(t, ctx)
	navigate(t, ctx, chromedp.Click(chromedp.CSS(`form.bestaetigung button`)))
	if p := browsertest.Path(t, ctx); p != "/antraege/"+failed {
		t.Fatalf("after the reprocess at %s", p)
	}
	if msg := browsertest.Eval[string](t, ctx, `document.querySelector('[role="status"]').textContent`); msg != "Der Antrag wird mit der aktuellen Konfiguration neu verarbeitet." {
		t.Fatalf("flash %q", msg)
	}
	browsertest.Axe(t, ctx)
	// The fault is still there: it fails again, and the history names who asked.
	deadline := time.Now().Add(15 * time.Second)
	for !slices.Contains(eventTypes(h.detail(failed)), "reprocess_requested") || h.detail(failed).Body["status"] != "failed" {
		if time.Now().After(deadline) {
			t.Fatalf("no reprocess: %s", h.detail(failed).Raw)
		}
		time.Sleep(20 * time.Millisecond)
	}
	browsertest.Open(t, ctx, base+"/antraege/"+failed)
	if history := strings.Join(texts(t, ctx, "table.verlauf tbody tr"), "\n"); !strings.Contains(history, "Neu verarbeiten angefordert") ||
		!strings.Contains(history, "reprocessed by console:otto") {
		t.Fatalf("history %q", history)
	}

	// The audit log: the reprocess by the operator, newest first, in pages.
	browsertest.Open(t, ctx, base+"/pruefprotokoll")
	rows := texts(t, ctx, "main table tbody tr")
	if len(rows) < 3 || !strings.Contains(rows[0], "console:otto") || !strings.Contains(rows[0], "console_sign_in") && !strings.Contains(rows[0], "reprocess") {
		t.Fatalf("audit log %q", rows)
	}
	browsertest.Axe(t, ctx)
	browsertest.Screenshot(t, ctx, "pruefprotokoll")
	browsertest.Do(t, ctx, chromedp.SendKeys(chromedp.ID("f-action"), "reprocess"))
	navigate(t, ctx, chromedp.Submit(chromedp.ID("f-action")))
	if rows := texts(t, ctx, "main table tbody tr"); len(rows) != 1 || !strings.Contains(rows[0], "console:otto") || !strings.Contains(rows[0], failed) {
		t.Fatalf("reprocess in the audit log: %q", rows)
	}
	browsertest.Open(t, ctx, base+"/pruefprotokoll?limit=1")
	newest := texts(t, ctx, "main table tbody tr")
	navigate(t, ctx, chromedp.Click(chromedp.CSS(`a[rel="next"]`)))
	older := texts(t, ctx, "main table tbody tr")
	if len(newest) != 1 || len(older) != 1 || newest[0] == older[0] || !strings.Contains(browsertest.Path(t, ctx), "before=") {
		t.Fatalf("audit pages %q then %q", newest, older)
	}
	if got := texts(t, ctx, "nav.seiten a"); !slices.Contains(got, "Neueste Einträge") {
		t.Fatalf("audit paging links %q", got)
	}
	browsertest.Open(t, ctx, base+"/pruefprotokoll?since=gestern")
	if msg := browsertest.Eval[string](t, ctx, `document.querySelector('[role="alert"]').textContent`); !strings.Contains(msg, "„Von“") {
		t.Fatalf("audit error %q", msg)
	}
	browsertest.Axe(t, ctx)
}
