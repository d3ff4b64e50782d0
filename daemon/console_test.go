package daemon_test

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/amtsbote/amtsbote/config"
	"github.com/amtsbote/amtsbote/console/browsertest"
)

// The console's users in the browser tests (the tokens' SHA-256 in consoleConfig).
const (
	consoleViewerToken   = "console-viewer-token"
	consoleOperatorToken = "console-operator-token"
)

// consoleConfig is testConfig with a viewer "vera" and an operator "otto".
func consoleConfig(t *testing.T) *config.Config {
	cfg := testConfig(t)
	cfg.Admin.Users = []config.AdminUser{
		{Name: "vera", Role: config.RoleViewer, TokenSHA256: sha256Hex(consoleViewerToken)},
		{Name: "otto", Role: config.RoleOperator, TokenSHA256: sha256Hex(consoleOperatorToken)},
	}
	return cfg
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// consoleURL is the console of a running daemon.
func (h *harness) consoleURL() string { return "http://" + h.d.AdminAddr() }

// A viewer signs in (after a wrong token), sees the overview without operator actions, reaches
// the content with the first Tab, and signs out.
func TestConsoleSignInAsViewer(t *testing.T) {
	ctx := browsertest.New(t)
	h := start(t, consoleConfig(t))
	base := h.consoleURL()

	browsertest.Open(t, ctx, base+"/")
	if p := browsertest.Path(t, ctx); p != "/anmelden" {
		t.Fatalf("without a session / leads to %s", p)
	}
	browsertest.Axe(t, ctx)
	browsertest.Screenshot(t, ctx, "anmelden")
	browsertest.Do(t, ctx,
		chromedp.SendKeys(chromedp.ID("token"), "not-a-token"),
		chromedp.Submit(chromedp.ID("token")),
		chromedp.WaitVisible(chromedp.ID("anmelden-fehler")),
	)
	if msg := browsertest.Eval[string](t, ctx, `document.getElementById("anmelden-fehler").textContent`); !strings.Contains(msg, "Zugangstoken ist falsch") {
		t.Fatalf("error message %q", msg)
	}
	browsertest.Axe(t, ctx)

	browsertest.SignIn(t, ctx, base, consoleViewerToken)
	title := browsertest.Eval[string](t, ctx, `document.title`)
	header := browsertest.Eval[string](t, ctx, `document.querySelector("header").textContent`)
	current := browsertest.Eval[string](t, ctx, `document.querySelector('nav [aria-current="page"]').textContent`)
	if title != "Übersicht – amtsbote" || !strings.Contains(header, "vera") || !strings.Contains(header, "Lesezugriff") || current != "Übersicht" {
		t.Fatalf("overview: title %q, header %q, current %q", title, header, current)
	}
	if browsertest.Eval[bool](t, ctx, `document.querySelector('a[href^="/unzustellbar/erneut-zustellen"]') !== null`) {
		t.Fatal("a viewer is offered the replay")
	}
	browsertest.Axe(t, ctx)

	// Keyboard: the first Tab reaches the skip link, Enter moves to the content.
	browsertest.Do(t, ctx, chromedp.KeyEvent(kb.Tab))
	if got := browsertest.FocusedText(t, ctx); got != "Zum Inhalt springen" {
		t.Fatalf("first Tab stop: %q", got)
	}
	if visible := browsertest.Eval[bool](t, ctx, `document.activeElement.getBoundingClientRect().top >= 0`); !visible {
		t.Fatal("the focused skip link is not visible")
	}
	browsertest.Do(t, ctx, chromedp.KeyEvent(kb.Enter))
	if got := browsertest.Eval[string](t, ctx, `document.activeElement.id`); got != "inhalt" {
		t.Fatalf("after the skip link the focus is on %q", got)
	}

	browsertest.Do(t, ctx,
		chromedp.Click(chromedp.CSS(`form[action="/abmelden"] button`)),
		chromedp.WaitVisible(chromedp.ID("token")),
	)
	browsertest.Open(t, ctx, base+"/")
	if p := browsertest.Path(t, ctx); p != "/anmelden" {
		t.Fatalf("after sign-out / leads to %s", p)
	}
}

// An operator sees the dead letters on the overview, confirms their replay, and the delivery is
// made; the audit trail names them.
func TestConsoleOperatorReplays(t *testing.T) {
	ctx := browsertest.New(t)
	cfg := consoleConfig(t)
	cfg.Destinations[0].Retry.MaxAttempts = 2
	h := start(t, cfg)
	os.WriteFile(h.outDir, []byte("in the way"), 0o600) // the E-Akte's directory is broken
	id := h.submit(demoSubmission(t), demoToken, nil).Body["id"].(string)
	h.waitStatus(id, "dead")
	os.Remove(h.outDir)

	browsertest.SignIn(t, ctx, h.consoleURL(), consoleOperatorToken)
	row := browsertest.Eval[string](t, ctx, `document.querySelector("main table tbody tr").textContent`)
	if !strings.Contains(row, "eakte") || !strings.Contains(row, "1") {
		t.Fatalf("dead letters on the overview: %q", row)
	}
	browsertest.Axe(t, ctx)
	browsertest.Screenshot(t, ctx, "uebersicht")

	browsertest.Do(t, ctx,
		chromedp.Click(chromedp.CSS(`a[href="/unzustellbar/erneut-zustellen?ziel=eakte"]`)),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/unzustellbar/erneut-zustellen"]`)),
	)
	if q := browsertest.Eval[string](t, ctx, `document.querySelector("h1").textContent`); !strings.Contains(q, "1 unzustellbare Zustellung an „eakte“ erneut zustellen?") {
		t.Fatalf("confirmation: %q", q)
	}
	browsertest.Axe(t, ctx)
	browsertest.Screenshot(t, ctx, "erneut-zustellen")
	browsertest.Do(t, ctx,
		chromedp.Click(chromedp.CSS(`form[action="/unzustellbar/erneut-zustellen"] button`)),
		chromedp.WaitVisible(chromedp.CSS(`[role="status"]`)),
	)
	if msg := browsertest.Eval[string](t, ctx, `document.querySelector('[role="status"]').textContent`); msg != "1 Zustellung an „eakte“ erneut in die Warteschlange gestellt." {
		t.Fatalf("flash message %q", msg)
	}
	browsertest.Axe(t, ctx)
	h.waitStatus(id, "delivered")
	if d := h.detail(id); !strings.Contains(d.Raw, "replayed by console:otto") {
		t.Fatalf("the history does not name the operator: %s", d.Raw)
	}
}
