// Package browsertest drives the operator console in a real browser for tests: a headless
// Chromium under chromedp, axe-core's accessibility checks on the page, and screenshots for the
// documentation.
//
// The tests need Chromium: AMTSBOTE_TEST_CHROMIUM is the path of its binary (CI sets it to
// /usr/bin/chromium); without it they are skipped. Screenshots are written to docs/ui/ only
// with the test flag -update-screenshots:
//
//	AMTSBOTE_TEST_CHROMIUM=/usr/bin/chromium go test ./daemon -run Console -update-screenshots
package browsertest

import (
	"context"
	_ "embed"
	"encoding/json"
	"flag"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// EnvChromium names the environment variable with the Chromium binary's path.
const EnvChromium = "AMTSBOTE_TEST_CHROMIUM"

var updateScreenshots = flag.Bool("update-screenshots", false, "write the console's screenshots to docs/ui/")

//go:embed axe/axe.min.js
var axeSource string

// Timeout bounds each step (a navigation, a click, a check).
const Timeout = 30 * time.Second

// New starts a headless Chromium for the test and returns the context of its first tab; the
// browser is stopped when the test ends. It skips the test when AMTSBOTE_TEST_CHROMIUM is unset.
func New(t testing.TB) context.Context {
	t.Helper()
	path := os.Getenv(EnvChromium)
	if path == "" {
		t.Skipf("browser test: set %s to a Chromium binary (e.g. /usr/bin/chromium) to run it", EnvChromium)
	}
	// Chromium now and then exits during start-up on a loaded machine, before it listens for
	// DevTools; that is not what the tests check, so a start is tried up to three times, each
	// with a fresh profile.
	var err error
	for attempt := 1; attempt <= 3; attempt++ {
		var ctx context.Context
		if ctx, err = startBrowser(t, path); err == nil {
			return ctx
		}
		t.Logf("start %s (attempt %d): %v", path, attempt, err)
	}
	t.Fatalf("start %s: %v", path, err)
	return nil
}

// startBrowser starts one headless Chromium with a fresh profile; the browser is stopped when
// the test ends, or at once when it did not start.
func startBrowser(t testing.TB, path string) (context.Context, error) {
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("lang", "de-DE"),
		chromedp.Flag("user-data-dir", t.TempDir()),
		chromedp.WindowSize(1280, 800),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelBrowser := chromedp.NewContext(allocCtx)
	stop := func() {
		cancelBrowser()
		cancelAlloc() // waits for the browser process to exit
	}
	if err := chromedp.Do(ctx); err != nil { // starts the browser, bound to ctx
		stop()
		return nil, err
	}
	t.Cleanup(stop)
	return ctx, nil
}

// Do runs steps in the browser, each within Timeout; a failure ends the test.
func Do(t testing.TB, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, Timeout*time.Duration(max(1, len(steps))))
	defer cancel()
	if err := chromedp.Do(sctx, steps...); err != nil {
		t.Fatalf("browser: %v", err)
	}
}

// Eval evaluates a JavaScript expression in the page and decodes its value.
func Eval[T any](t testing.TB, ctx context.Context, expression string) T {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	v, err := chromedp.Run(sctx, chromedp.Evaluate[T](expression, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("browser: evaluate %s: %v", expression, err)
	}
	return v
}

// Open navigates to a URL and waits for the page's <main>.
func Open(t testing.TB, ctx context.Context, u string) {
	t.Helper()
	Do(t, ctx, chromedp.Navigate(u), chromedp.WaitReady(chromedp.CSS("main")))
}

// SignIn signs in on the console at baseURL with a token, through the sign-in form, and waits
// for the overview.
func SignIn(t testing.TB, ctx context.Context, baseURL, token string) {
	t.Helper()
	Open(t, ctx, strings.TrimSuffix(baseURL, "/")+"/anmelden")
	Do(t, ctx,
		chromedp.SendKeys(chromedp.ID("token"), token),
		chromedp.Submit(chromedp.ID("token")),
		chromedp.WaitReady(chromedp.CSS(`nav[aria-label="Hauptnavigation"]`)),
	)
	if loc := Location(t, ctx); !strings.HasPrefix(loc, strings.TrimSuffix(baseURL, "/")) || strings.Contains(loc, "/anmelden") {
		t.Fatalf("after sign-in the browser is at %s", loc)
	}
}

// Location is the page's URL.
func Location(t testing.TB, ctx context.Context) string {
	t.Helper()
	return Eval[string](t, ctx, `location.href`)
}

// Path is the page's path and query.
func Path(t testing.TB, ctx context.Context) string {
	t.Helper()
	u, err := url.Parse(Location(t, ctx))
	if err != nil {
		t.Fatal(err)
	}
	return u.RequestURI()
}

// Violation is one rule of axe-core that the page breaks.
type Violation struct {
	ID     string `json:"id"`
	Impact string `json:"impact"`
	Help   string `json:"help"`
	Nodes  []struct {
		Target []any `json:"target"`
	} `json:"nodes"`
}

// Axe runs axe-core (WCAG 2.1 A and AA, and best practices) on the page and fails the test for
// every violation of impact serious or critical, naming the rule, its help and the elements.
// Minor and moderate ones are logged.
func Axe(t testing.TB, ctx context.Context) {
	t.Helper()
	loaded := Eval[bool](t, ctx, `typeof window.axe === "object"`)
	if !loaded {
		// Evaluated through the DevTools protocol: the page's Content-Security-Policy does not
		// apply to it.
		sctx, cancel := context.WithTimeout(ctx, Timeout)
		defer cancel()
		if _, err := chromedp.Run(sctx, chromedp.Evaluate[bool](axeSource+"\n;true")); err != nil {
			t.Fatalf("inject axe-core: %v", err)
		}
	}
	raw := Eval[string](t, ctx, `axe.run(document, {
		runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]},
		resultTypes: ["violations"]
	}).then(r => JSON.stringify(r.violations))`)
	var violations []Violation
	if err := json.Unmarshal([]byte(raw), &violations); err != nil {
		t.Fatalf("axe-core's answer: %v", err)
	}
	page := Path(t, ctx)
	for _, v := range violations {
		var targets []string
		for _, n := range v.Nodes {
			targets = append(targets, fmt.Sprint(n.Target...))
		}
		msg := fmt.Sprintf("axe %s on %s: %s (%s) at %s", v.Impact, page, v.ID, v.Help, strings.Join(targets, ", "))
		if v.Impact == "serious" || v.Impact == "critical" {
			t.Error(msg)
		} else {
			t.Log(msg)
		}
	}
}

// Screenshot writes a full-page PNG of the page to docs/ui/<name>.png when the test runs with
// -update-screenshots; otherwise it does nothing.
func Screenshot(t testing.TB, ctx context.Context, name string) {
	t.Helper()
	if !*updateScreenshots {
		return
	}
	sctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	png, err := chromedp.Run(sctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	dir := filepath.Join(repoRoot(t), "docs", "ui")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote docs/ui/%s.png", name)
}

// repoRoot is the repository's directory: two above this file's.
func repoRoot(t testing.TB) string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the repository")
	}
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// FocusedText is the text of the element that has the keyboard focus.
func FocusedText(t testing.TB, ctx context.Context) string {
	t.Helper()
	return Eval[string](t, ctx, `document.activeElement ? document.activeElement.textContent.trim() : ""`)
}
