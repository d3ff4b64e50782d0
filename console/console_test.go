package console_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/amtsbote/amtsbote/admin"
	"github.com/amtsbote/amtsbote/config"
	"github.com/amtsbote/amtsbote/console"
	"github.com/amtsbote/amtsbote/store"
)

const (
	viewerToken   = "viewer-token-for-tests"
	operatorToken = "operator-token-for-tests"
)

func hash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// clock is a settable time for session expiry.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// logBuffer collects everything logged.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}
func (l *logBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.buf.String() }

type env struct {
	t     *testing.T
	srv   *httptest.Server
	st    *store.Store
	clock *clock
	logs  *logBuffer
}

// newEnv serves the admin API with the console over a SQLite store, with a viewer "vera" and an
// operator "otto".
func newEnv(t *testing.T, tlsServer bool) *env {
	t.Helper()
	st, err := store.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return newEnvWith(t, tlsServer, st, []config.AdminUser{
		{Name: "vera", Role: config.RoleViewer, TokenSHA256: hash(viewerToken)},
		{Name: "otto", Role: config.RoleOperator, TokenSHA256: hash(operatorToken)},
	})
}

// newEnvWith serves the admin API with the console over st for these users.
func newEnvWith(t *testing.T, tlsServer bool, st *store.Store, users []config.AdminUser) *env {
	t.Helper()
	logs := &logBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	clk := &clock{t: time.Date(2026, 12, 2, 13, 5, 9, 0, time.UTC)}
	adm := admin.New(st, users, log)
	adm.Now = clk.Now
	berlin, _ := time.LoadLocation("Europe/Berlin")
	adm.UI = console.New(adm, console.Options{Users: users, SessionIdle: 30 * time.Minute, SessionMaxAge: 8 * time.Hour,
		Location: berlin, Logger: log, Now: clk.Now})
	var srv *httptest.Server
	if tlsServer {
		srv = httptest.NewTLSServer(adm.Handler())
	} else {
		srv = httptest.NewServer(adm.Handler())
	}
	t.Cleanup(srv.Close)
	return &env{t: t, srv: srv, st: st, clock: clk, logs: logs}
}

// browser is a client with cookies that does not follow redirects.
func (e *env) browser() *http.Client {
	jar, _ := cookiejar.New(nil)
	c := e.srv.Client()
	return &http.Client{Transport: c.Transport, Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

type answer struct {
	Status int
	Header http.Header
	Body   string
}

func (e *env) get(c *http.Client, path string) answer {
	e.t.Helper()
	return e.send(c, "GET", path, nil, nil)
}

func (e *env) send(c *http.Client, method, path string, form url.Values, header map[string]string) answer {
	e.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, e.srv.URL+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := c.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return answer{Status: res.StatusCode, Header: res.Header, Body: string(raw)}
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfOf(t *testing.T, a answer) string {
	t.Helper()
	m := csrfField.FindStringSubmatch(a.Body)
	if m == nil {
		t.Fatalf("no csrf field in %d %s", a.Status, a.Body)
	}
	return m[1]
}

// signIn signs a browser in and returns the session's CSRF token (from the overview's form).
func (e *env) signIn(c *http.Client, token string) string {
	e.t.Helper()
	form := e.get(c, "/anmelden")
	a := e.send(c, "POST", "/anmelden", url.Values{"csrf": {csrfOf(e.t, form)}, "token": {token}, "weiter": {"/"}}, nil)
	if a.Status != http.StatusSeeOther || a.Header.Get("Location") != "/" {
		e.t.Fatalf("sign-in: %d %s %s", a.Status, a.Header.Get("Location"), a.Body)
	}
	page := e.get(c, "/")
	if page.Status != 200 {
		e.t.Fatalf("overview after sign-in: %d", page.Status)
	}
	return csrfOf(e.t, page)
}

func TestSignInAndPages(t *testing.T) {
	e := newEnv(t, false)
	c := e.browser()
	form := e.get(c, "/anmelden")
	for _, want := range []string{`<html lang="de">`, `type="password"`, `autocomplete="off"`, `<label for="token">`,
		"<title>Anmelden – amtsbote</title>", "Zum Inhalt springen"} {
		if !strings.Contains(form.Body, want) {
			t.Errorf("sign-in form lacks %s", want)
		}
	}
	for name, want := range map[string]string{
		"Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; form-action 'self'",
		"X-Content-Type-Options":  "nosniff",
		"Referrer-Policy":         "no-referrer",
		"Cache-Control":           "no-store",
	} {
		if got := form.Header.Get(name); got != want {
			t.Errorf("%s: %q; want %q", name, got, want)
		}
	}
	wrong := e.send(c, "POST", "/anmelden", url.Values{"csrf": {csrfOf(t, form)}, "token": {"nope"}}, nil)
	if wrong.Status != http.StatusUnauthorized || !strings.Contains(wrong.Body, "Das Zugangstoken ist falsch") {
		t.Fatalf("wrong token: %d %s", wrong.Status, wrong.Body)
	}
	csrf := e.signIn(c, viewerToken)
	page := e.get(c, "/")
	for _, want := range []string{"vera", "Lesezugriff", `aria-current="page">Übersicht`, `<nav aria-label="Hauptnavigation"`,
		`<main id="inhalt"`, "Keine unzustellbaren Zustellungen"} {
		if !strings.Contains(page.Body, want) {
			t.Errorf("overview lacks %s", want)
		}
	}
	if css := e.get(c, regexp.MustCompile(`href="(/static/console.css\?v=[0-9a-f]+)"`).FindStringSubmatch(page.Body)[1]); css.Status != 200 ||
		!strings.HasPrefix(css.Header.Get("Content-Type"), "text/css") || !strings.Contains(css.Header.Get("Cache-Control"), "immutable") {
		t.Fatalf("stylesheet: %d %v", css.Status, css.Header)
	}
	if nf := e.get(c, "/gibt-es-nicht"); nf.Status != 404 || !strings.Contains(nf.Body, "Seite nicht gefunden") {
		t.Fatalf("404: %d %s", nf.Status, nf.Body)
	}
	if api := e.get(c, "/v1/nothing-here"); api.Status != 404 || !strings.Contains(api.Body, `"error"`) {
		t.Fatalf("unknown API path: %d %s", api.Status, api.Body)
	}
	out := e.send(c, "POST", "/abmelden", url.Values{"csrf": {csrf}}, nil)
	if out.Status != http.StatusSeeOther || out.Header.Get("Location") != "/anmelden" {
		t.Fatalf("sign-out: %d %s", out.Status, out.Header.Get("Location"))
	}
	if a := e.get(c, "/"); a.Status != http.StatusSeeOther || !strings.HasPrefix(a.Header.Get("Location"), "/anmelden") {
		t.Fatalf("after sign-out: %d %s", a.Status, a.Header.Get("Location"))
	}
	var n int
	e.st.DB.QueryRow(`SELECT count(*) FROM console_sessions`).Scan(&n)
	if n != 0 {
		t.Fatalf("%d sessions left after sign-out", n)
	}
	trail, _ := e.st.AuditTrail(context.Background(), time.Time{}, 10)
	var actions []string
	for _, a := range trail {
		actions = append(actions, a.Actor+" "+a.Action)
	}
	if strings.Join(actions, ",") != "console:vera console_sign_in,console:vera console_sign_out" {
		t.Fatalf("audit trail %v", actions)
	}
}

// Every way around the session, the CSRF token, the origin or the role is refused.
func TestRefusals(t *testing.T) {
	e := newEnv(t, false)
	viewer, operator, nobody := e.browser(), e.browser(), e.browser()
	viewerCSRF := e.signIn(viewer, viewerToken)
	operatorCSRF := e.signIn(operator, operatorToken)
	replay := url.Values{"ziel": {"eakte"}}
	with := func(v url.Values, k, val string) url.Values {
		out := url.Values{}
		for a, b := range v {
			out[a] = b
		}
		out.Set(k, val)
		return out
	}
	for _, tt := range []struct {
		name         string
		client       *http.Client
		method, path string
		form         url.Values
		header       map[string]string
		want         int
		location     string // of a redirect
		body         string
	}{
		{"no session: page", nobody, "GET", "/", nil, nil, 303, "/anmelden", ""},
		{"no session: deep link keeps its way", nobody, "GET", "/unzustellbar/erneut-zustellen?ziel=eakte", nil, nil, 303,
			"/anmelden?weiter=%2Funzustellbar%2Ferneut-zustellen%3Fziel%3Deakte", ""},
		{"no session: action", nobody, "POST", "/unzustellbar/erneut-zustellen", with(replay, "csrf", "x"), nil, 303, "/anmelden", ""},
		{"no token on the JSON API", nobody, "POST", "/v1/dead-letters/replay", nil, nil, 401, "", "admin token missing or wrong"},
		{"bad token on the JSON API", nobody, "POST", "/v1/dead-letters/replay", nil, map[string]string{"Authorization": "Bearer nope"}, 401, "", "missing or wrong"},
		{"viewer token on an operator JSON route", nobody, "POST", "/v1/dead-letters/replay", nil,
			map[string]string{"Authorization": "Bearer " + viewerToken}, 403, "", "needs the role operator; vera is a viewer"},
		{"viewer token on a viewer JSON route", nobody, "GET", "/v1/dead-letters", nil,
			map[string]string{"Authorization": "Bearer " + viewerToken}, 200, "", "dead_letters"},
		{"operator token on an operator JSON route", nobody, "POST", "/v1/dead-letters/replay", nil,
			map[string]string{"Authorization": "Bearer " + operatorToken}, 202, "", "replayed"},
		{"session cookie does not open the JSON API", operator, "POST", "/v1/dead-letters/replay", nil, nil, 401, "", ""},
		{"POST without CSRF token", operator, "POST", "/unzustellbar/erneut-zustellen", replay, nil, 403, "", "Schutz vor untergeschobenen Anfragen"},
		{"POST with a wrong CSRF token", operator, "POST", "/unzustellbar/erneut-zustellen", with(replay, "csrf", viewerCSRF), nil, 403, "", "Schutz vor"},
		{"POST from another origin", operator, "POST", "/unzustellbar/erneut-zustellen", with(replay, "csrf", operatorCSRF),
			map[string]string{"Origin": "https://evil.example"}, 403, "", "nicht von einer Seite dieser Konsole"},
		{"POST from an opaque origin", operator, "POST", "/unzustellbar/erneut-zustellen", with(replay, "csrf", operatorCSRF),
			map[string]string{"Origin": "null"}, 403, "", "nicht von einer Seite dieser Konsole"},
		{"POST from an opaque origin of another site", operator, "POST", "/unzustellbar/erneut-zustellen", with(replay, "csrf", operatorCSRF),
			map[string]string{"Origin": "null", "Sec-Fetch-Site": "cross-site"}, 403, "", "nicht von einer Seite dieser Konsole"},
		{"POST from another site", operator, "POST", "/unzustellbar/erneut-zustellen", with(replay, "csrf", operatorCSRF),
			map[string]string{"Sec-Fetch-Site": "cross-site"}, 403, "", "nicht von einer Seite dieser Konsole"},
		{"viewer POSTs an operator action", viewer, "POST", "/unzustellbar/erneut-zustellen", with(replay, "csrf", viewerCSRF), nil, 403, "",
			"der Rolle Bedienung vorbehalten; vera hat Lesezugriff"},
		{"viewer opens an operator's confirmation", viewer, "GET", "/unzustellbar/erneut-zustellen?ziel=eakte", nil, nil, 403, "", "vorbehalten"},
		{"operator POSTs from the same origin", operator, "POST", "/unzustellbar/erneut-zustellen", with(replay, "csrf", operatorCSRF),
			map[string]string{"Origin": e.srv.URL, "Sec-Fetch-Site": "same-origin"}, 303, "/", ""},
		{"sign-in without its form token", nobody, "POST", "/anmelden", url.Values{"token": {operatorToken}}, nil, 403, "", "Anmeldeformular war ungültig"},
		{"sign-out without CSRF", viewer, "POST", "/abmelden", url.Values{}, nil, 403, "", "Schutz vor"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := e.send(tt.client, tt.method, tt.path, tt.form, tt.header)
			if a.Status != tt.want {
				t.Fatalf("%d; want %d: %s", a.Status, tt.want, a.Body)
			}
			if tt.location != "" && a.Header.Get("Location") != tt.location {
				t.Fatalf("redirect to %q; want %q", a.Header.Get("Location"), tt.location)
			}
			if !strings.Contains(a.Body, tt.body) {
				t.Fatalf("answer lacks %q: %s", tt.body, a.Body)
			}
		})
	}
	// The viewer sees no operator action; the operator does, and the replay's flash message.
	if page := e.get(viewer, "/"); strings.Contains(page.Body, "erneut-zustellen") {
		t.Fatal("a viewer's overview offers the replay")
	}
	if page := e.get(operator, "/"); !strings.Contains(page.Body, `role="status">0 Zustellungen an „eakte“ erneut in die Warteschlange gestellt.`) {
		t.Fatalf("no flash message after the replay: %s", page.Body)
	}
	if page := e.get(operator, "/"); strings.Contains(page.Body, `role="status"`) {
		t.Fatal("the flash message shows twice")
	}
}

// The sign-in leads only to pages of the console.
func TestSignInRedirectStaysLocal(t *testing.T) {
	e := newEnv(t, false)
	for _, tt := range []struct{ weiter, want string }{
		{"/unzustellbar?ziel=eakte", "/unzustellbar?ziel=eakte"},
		{"https://evil.example/", "/"},
		{"//evil.example/", "/"},
		{"/\\evil.example", "/"},
		{"javascript:alert(1)", "/"},
		{"/anmelden", "/"},
		{"", "/"},
	} {
		c := e.browser()
		form := e.get(c, "/anmelden?weiter="+url.QueryEscape(tt.weiter))
		a := e.send(c, "POST", "/anmelden", url.Values{"csrf": {csrfOf(t, form)}, "token": {viewerToken}, "weiter": {tt.weiter}}, nil)
		if a.Status != 303 || a.Header.Get("Location") != tt.want {
			t.Errorf("weiter=%q: %d to %q; want %q", tt.weiter, a.Status, a.Header.Get("Location"), tt.want)
		}
	}
}

// A session ends after the idle time without a request, and at its maximum age however busy.
// A restart with another configuration ends the sessions of users it removed, gave another
// role or a new token; the others go on.
func TestSessionEndsWithItsUser(t *testing.T) {
	const newToken = "otto-neues-token-0123456789"
	for _, tt := range []struct {
		name  string
		users []config.AdminUser
		ended bool
	}{
		{"unchanged", []config.AdminUser{{Name: "otto", Role: config.RoleOperator, TokenSHA256: hash(operatorToken)}}, false},
		{"removed", []config.AdminUser{{Name: "vera", Role: config.RoleViewer, TokenSHA256: hash(viewerToken)}}, true},
		{"another role", []config.AdminUser{{Name: "otto", Role: config.RoleViewer, TokenSHA256: hash(operatorToken)}}, true},
		{"a new token", []config.AdminUser{{Name: "otto", Role: config.RoleOperator, TokenSHA256: hash(newToken)}}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			st, err := store.Open(context.Background(), t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			before := newEnvWith(t, false, st, []config.AdminUser{
				{Name: "vera", Role: config.RoleViewer, TokenSHA256: hash(viewerToken)},
				{Name: "otto", Role: config.RoleOperator, TokenSHA256: hash(operatorToken)},
			})
			c := before.browser()
			before.signIn(c, operatorToken)
			after := newEnvWith(t, false, st, tt.users) // the same store, restarted with other users
			a := after.get(c, "/")
			if tt.ended && (a.Status != http.StatusSeeOther || !strings.HasPrefix(a.Header.Get("Location"), "/anmelden")) {
				t.Fatalf("%d %q: the session should have ended", a.Status, a.Header.Get("Location"))
			}
			if !tt.ended && a.Status != http.StatusOK {
				t.Fatalf("%d: the session should go on", a.Status)
			}
		})
	}
}

func TestSessionExpiry(t *testing.T) {
	for _, tt := range []struct {
		name  string
		steps []time.Duration // waits between requests; the last request must find the session ended
	}{
		{"idle", []time.Duration{29 * time.Minute, 30 * time.Minute}},
		{"maximum age", []time.Duration{25 * time.Minute, 25 * time.Minute, 25 * time.Minute, 25 * time.Minute, 25 * time.Minute,
			25 * time.Minute, 25 * time.Minute, 25 * time.Minute, 25 * time.Minute, 25 * time.Minute, 25 * time.Minute,
			25 * time.Minute, 25 * time.Minute, 25 * time.Minute, 25 * time.Minute, 25 * time.Minute, 25 * time.Minute,
			25 * time.Minute, 25 * time.Minute, 25 * time.Minute}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, false)
			c := e.browser()
			e.signIn(c, viewerToken)
			var waited time.Duration
			for i, d := range tt.steps {
				e.clock.Add(d)
				waited += d
				a := e.get(c, "/")
				last := i == len(tt.steps)-1
				if !last && a.Status != 200 {
					t.Fatalf("after %s: %d; the session should live", waited, a.Status)
				}
				if last && (a.Status != 303 || a.Header.Get("Location") != "/anmelden?abgelaufen=1") {
					t.Fatalf("after %s: %d %q; want the sign-in", waited, a.Status, a.Header.Get("Location"))
				}
			}
			if a := e.get(c, "/anmelden?abgelaufen=1"); !strings.Contains(a.Body, "Ihre Sitzung ist abgelaufen") {
				t.Fatal("the sign-in does not say why")
			}
		})
	}
}

func TestSessionCookie(t *testing.T) {
	for _, tt := range []struct {
		name       string
		tls        bool
		header     map[string]string
		wantSecure bool
	}{
		{"plain HTTP", false, nil, false},
		{"TLS", true, nil, true},
		{"behind a TLS proxy", false, map[string]string{"X-Forwarded-Proto": "https"}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, tt.tls)
			c := e.browser()
			form := e.get(c, "/anmelden")
			a := e.send(c, "POST", "/anmelden", url.Values{"csrf": {csrfOf(t, form)}, "token": {viewerToken}}, tt.header)
			var session *http.Cookie
			for _, ck := range (&http.Response{Header: a.Header}).Cookies() {
				if ck.Name == "amtsbote_session" {
					session = ck
				}
			}
			if session == nil {
				t.Fatalf("no session cookie: %v", a.Header)
			}
			if !session.HttpOnly || session.SameSite != http.SameSiteStrictMode || session.Path != "/" || session.Secure != tt.wantSecure {
				t.Fatalf("cookie %+v; want HttpOnly, SameSite=Strict, Path=/, Secure=%v", session, tt.wantSecure)
			}
		})
	}
}

// Neither the token nor the session id reach the log, not even of a failed sign-in.
func TestNoSecretsInLogs(t *testing.T) {
	e := newEnv(t, false)
	c := e.browser()
	form := e.get(c, "/anmelden")
	e.send(c, "POST", "/anmelden", url.Values{"csrf": {csrfOf(t, form)}, "token": {"wrong-" + operatorToken}}, nil)
	e.signIn(c, operatorToken)
	e.get(c, "/")
	e.get(c, "/gibt-es-nicht")
	u, _ := url.Parse(e.srv.URL)
	var sessionID string
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == "amtsbote_session" {
			sessionID = ck.Value
		}
	}
	logs := e.logs.String()
	if sessionID == "" || !strings.Contains(logs, "console sign-in refused") || !strings.Contains(logs, "console sign-in") {
		t.Fatalf("session %q, logs:\n%s", sessionID, logs)
	}
	for _, secret := range []string{operatorToken, sessionID} {
		if strings.Contains(logs, secret) {
			t.Fatalf("the log holds a secret %q:\n%s", secret, logs)
		}
	}
}

// Without users nobody signs in, and the page says what to do.
func TestNoUsers(t *testing.T) {
	st, err := store.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	adm := admin.New(st, nil, slog.New(slog.DiscardHandler))
	adm.UI = console.New(adm, console.Options{})
	srv := httptest.NewServer(adm.Handler())
	defer srv.Close()
	res, err := http.Get(srv.URL + "/anmelden")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.Contains(string(body), "admin.users") {
		t.Fatalf("sign-in without users: %s", body)
	}
	res, _ = http.Get(srv.URL + "/v1/dead-letters")
	if res.StatusCode != 403 {
		t.Fatalf("API without users: %d", res.StatusCode)
	}
	res.Body.Close()
}

func TestLabels(t *testing.T) {
	for _, s := range []string{store.StatusReceived, store.StatusProcessing, store.StatusDelivered, store.StatusFailed, store.StatusDead,
		store.StatusAcknowledged, store.StatusRejected, store.StatusAwaitingPayment, store.StatusPaymentFailed, store.StatusPaymentCanceled,
		store.StatusInProgress, store.StatusDecided, store.StatusClosed, store.DeliveryPending, store.DeliveryDelivered, store.DeliveryDead,
		store.DeliveryAcknowledged, store.DeliveryRejected, store.ReplyPending, store.ReplySent, store.ReplyDead,
		store.FiledUnmatched, store.FiledMalformed, store.FiledUnauthorised, store.FiledPurged} {
		if l := console.StatusLabel(s); l == s || l == "" {
			t.Errorf("status %q has no German label", s)
		}
	}
	for in, want := range map[string]string{"closed": "Stellt zu", "open": "Pausiert nach Fehlern", "half-open": "Probezustellung"} {
		if got := console.CircuitLabel(in); got != want {
			t.Errorf("circuit %s: %q", in, got)
		}
	}
	for in, want := range map[int]string{0: "0", 999: "999", 1000: "1.000", 1234567: "1.234.567", -4200: "-4.200"} {
		if got := console.Number(in); got != want {
			t.Errorf("Number(%d) = %q; want %q", in, got, want)
		}
	}
	for in, want := range map[int]string{0: "0 Anträge", 1: "1 Antrag", 1200: "1.200 Anträge"} {
		if got := console.Count(in, "Antrag", "Anträge"); got != want {
			t.Errorf("Count(%d) = %q; want %q", in, got, want)
		}
	}
	berlin, _ := time.LoadLocation("Europe/Berlin")
	if got := time.Date(2026, 12, 2, 13, 5, 9, 0, time.UTC).In(berlin).Format(console.DateLayout); got != "02.12.2026, 14:05:09" {
		t.Errorf("date %q", got)
	}
}
