// Package console is the operator console: server-rendered German HTML pages on the admin
// listener, for people who sign in with their admin token. Every page works without JavaScript.
//
// Adding a page takes three things:
//
//   - a template templates/<name>.html that defines "inhalt" (the page's body inside <main>),
//   - a handler that gathers the page's data and calls c.render(w, r, "<name>", "Titel", data),
//     registered in routes with c.viewer (any signed-in user) or c.operator (operators only:
//     replay, reprocess) — POSTs are checked for the session's CSRF token and the same origin
//     there, before the handler runs,
//   - a browser test beside daemon/console_test.go that opens it, runs axe-core and takes its
//     screenshot (console/browsertest).
//
// Dangerous actions show a confirmation page first (c.confirm: a GET that says what will
// happen, with a POST button) and answer their POST with a redirect and a flash message
// (c.redirect).
package console

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"github.com/amtsbote/amtsbote/admin"
	"github.com/amtsbote/amtsbote/config"
	"github.com/amtsbote/amtsbote/store"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Options configure the console.
type Options struct {
	// Users may sign in (config.Admin.AdminUsers); the admin server checks the tokens.
	Users []config.AdminUser
	// SessionIdle ends a session after this long without a request; SessionMaxAge this long
	// after sign-in.
	SessionIdle, SessionMaxAge time.Duration
	// Location is the zone of the dates shown (the configuration's time_zone).
	Location *time.Location
	Logger   *slog.Logger
	// Now is the clock (tests set it); nil: time.Now.
	Now func() time.Time
}

// Console serves the operator console.
type Console struct {
	adm      *admin.Server
	opts     Options
	lifetime store.SessionLifetime
	log      *slog.Logger
	pages    map[string]*template.Template
	mux      *http.ServeMux
	// api is the admin server's JSON API: the console's actions call it as the signed-in user.
	api func() http.Handler
	// cssVersion makes the stylesheet's URL change with its content, so it may be cached.
	cssVersion string
}

// New builds the console on the admin server: its store, its users and its JSON API.
func New(adm *admin.Server, opts Options) http.Handler {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Location == nil {
		opts.Location = time.UTC
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.SessionIdle <= 0 {
		opts.SessionIdle = 30 * time.Minute
	}
	if opts.SessionMaxAge <= 0 {
		opts.SessionMaxAge = 8 * time.Hour
	}
	c := &Console{adm: adm, opts: opts, log: opts.Logger,
		lifetime: store.SessionLifetime{Idle: opts.SessionIdle, MaxAge: opts.SessionMaxAge},
		api:      sync.OnceValue(adm.Handler)}
	css, err := fs.ReadFile(staticFS, "static/console.css")
	if err != nil {
		panic(err)
	}
	sum := sha256.Sum256(css)
	c.cssVersion = hex.EncodeToString(sum[:6])
	c.pages = parsePages(c.funcs())
	c.mux = http.NewServeMux()
	c.routes()
	return c
}

// routes registers the console's pages. Paths are German, like the pages.
func (c *Console) routes() {
	c.mux.HandleFunc("GET /anmelden", c.signInForm)
	c.mux.HandleFunc("POST /anmelden", c.signIn)
	c.mux.Handle("POST /abmelden", c.viewer(c.signOut))
	c.mux.Handle("GET /static/", c.static())

	c.mux.Handle("GET /{$}", c.viewer(c.overview))
	c.mux.Handle("GET /unzustellbar", c.viewer(c.deadLettersPage))
	c.mux.Handle("GET /unzustellbar/erneut-zustellen", c.operator(c.replayConfirm))
	c.mux.Handle("POST /unzustellbar/erneut-zustellen", c.operator(c.replay))
	c.mux.Handle("POST /unzustellbar/auswahl", c.operator(c.replaySelectionConfirm))
	c.mux.Handle("POST /unzustellbar/auswahl/erneut-zustellen", c.operator(c.replaySelection))
	c.mux.Handle("GET /unzustellbar/antworten/erneut-senden", c.operator(c.replyReplayConfirm))
	c.mux.Handle("POST /unzustellbar/antworten/erneut-senden", c.operator(c.replyReplay))
	c.mux.Handle("GET /fehlgeschlagen", c.viewer(c.failedPage))
	c.mux.Handle("GET /fehlgeschlagen/neu-verarbeiten", c.operator(c.reprocessConfirm))
	c.mux.Handle("POST /fehlgeschlagen/neu-verarbeiten", c.operator(c.reprocess))
	c.mux.Handle("POST /fehlgeschlagen/auswahl", c.operator(c.reprocessSelectionConfirm))
	c.mux.Handle("GET /konfiguration", c.viewer(c.configPage))
	c.mux.Handle("GET /konfiguration/dateien", c.viewer(c.configFilePage))
	c.mux.Handle("GET /mapping-test", c.viewer(c.mappingTestForm))
	c.mux.Handle("POST /mapping-test", c.viewer(c.mappingTest))

	c.mux.Handle("GET /antraege", c.viewer(c.submissions))
	c.mux.Handle("GET /antraege/{id}", c.viewer(c.submission))
	c.mux.Handle("GET /antraege/{id}/nachrichten/{ziel}", c.viewer(c.message))
	c.mux.Handle("GET /antraege/{id}/nachrichten/{ziel}/herunterladen", c.viewer(c.messageDownload))
	c.mux.Handle("GET /antraege/{id}/neu-verarbeiten", c.operator(c.reprocessSubmissionConfirm))
	c.mux.Handle("POST /antraege/{id}/neu-verarbeiten", c.operator(c.reprocessSubmission))
	c.mux.Handle("GET /antraege/{id}/zustellungen/{ziel}/erneut-zustellen", c.operator(c.replayOneConfirm))
	c.mux.Handle("POST /antraege/{id}/zustellungen/{ziel}/erneut-zustellen", c.operator(c.replayOne))
	c.mux.Handle("GET /pruefprotokoll", c.viewer(c.auditLog))

	c.mux.Handle("/", c.optionalSession(func(w http.ResponseWriter, r *http.Request) {
		c.errorPage(w, r, http.StatusNotFound, "Die Seite gibt es nicht. Prüfen Sie die Adresse oder wählen Sie einen Eintrag aus der Navigation.")
	}))
}

// navItem is an entry of the main navigation.
type navItem struct {
	Path, Label string
}

// nav is the main navigation, the same on every page.
var nav = []navItem{
	{"/", "Übersicht"},
	{"/antraege", "Anträge"},
	{"/unzustellbar", "Unzustellbar"},
	{"/fehlgeschlagen", "Fehlgeschlagen"},
	{"/konfiguration", "Konfiguration"},
	{"/mapping-test", "Mapping-Test"},
	{"/pruefprotokoll", "Prüfprotokoll"},
}

// ServeHTTP answers every request with the console's security headers.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'; form-action 'self'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	if !strings.HasPrefix(r.URL.Path, "/static/") {
		h.Set("Cache-Control", "no-store")
	}
	c.mux.ServeHTTP(w, r)
}

func (c *Console) static() http.Handler {
	sub, _ := fs.Sub(staticFS, "static")
	files := http.StripPrefix("/static/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("v") == c.cssVersion {
			w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			w.Header().Set("Cache-Control", "no-cache")
		}
		files.ServeHTTP(w, r)
	})
}

// page is what the layout renders around a page's body.
type page struct {
	// Title names the page: "<Title> – amtsbote".
	Title string
	// Path is the request's path; the navigation marks its item as the current page.
	Path string
	// User is the signed-in user; nil on the sign-in page and error pages without a session.
	User *admin.Principal
	// CSRF is the session's token for the page's forms.
	CSRF  string
	Flash *flash
	Nav   []navItem
	CSS   string
	// Data is the page's own.
	Data any
}

// ActiveNav is the navigation item of the page: the one whose path is the page's first segment.
func (p page) ActiveNav() string {
	seg, _, _ := strings.Cut(strings.TrimPrefix(p.Path, "/"), "/")
	return "/" + seg
}

// parsePages parses every page template together with the layout.
func parsePages(funcs template.FuncMap) map[string]*template.Template {
	entries, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		panic(err)
	}
	pages := map[string]*template.Template{}
	for _, e := range entries {
		name := strings.TrimSuffix(strings.TrimPrefix(e, "templates/"), ".html")
		if name == "layout" {
			continue
		}
		pages[name] = template.Must(template.New(name).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", e))
	}
	return pages
}

// render writes a page with status 200.
func (c *Console) render(w http.ResponseWriter, r *http.Request, name, title string, data any) {
	c.renderStatus(w, r, http.StatusOK, name, title, data)
}

func (c *Console) renderStatus(w http.ResponseWriter, r *http.Request, status int, name, title string, data any) {
	t, ok := c.pages[name]
	if !ok {
		c.fail(w, r, fmt.Errorf("no template %q", name))
		return
	}
	p := page{Title: title, Path: r.URL.Path, Nav: nav, CSS: "/static/console.css?v=" + c.cssVersion, Data: data}
	if sess, ok := sessionFrom(r.Context()); ok {
		u, _ := admin.PrincipalFrom(r.Context())
		p.User, p.CSRF = &u, sess.CSRF
		p.Flash = c.takeFlash(w, r, sess)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", p); err != nil {
		c.fail(w, r, fmt.Errorf("render %s: %w", name, err))
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}

// errorPage answers with a German error page.
func (c *Console) errorPage(w http.ResponseWriter, r *http.Request, status int, message string) {
	titles := map[int]string{
		http.StatusBadRequest:          "Ungültige Anfrage",
		http.StatusForbidden:           "Nicht erlaubt",
		http.StatusNotFound:            "Seite nicht gefunden",
		http.StatusConflict:            "Nicht möglich",
		http.StatusInternalServerError: "Interner Fehler",
	}
	title := titles[status]
	if title == "" {
		title = http.StatusText(status)
	}
	c.renderStatus(w, r, status, "fehler", title, struct {
		Status  int
		Message string
	}{status, message})
}

// fail logs an internal error and answers 500; the page names no detail.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, err error) {
	c.log.Error("console", "path", r.URL.Path, "error", err)
	if _, ok := c.pages["fehler"]; !ok || strings.HasPrefix(err.Error(), "render fehler") {
		http.Error(w, "Interner Fehler", http.StatusInternalServerError)
		return
	}
	c.renderStatus(w, r, http.StatusInternalServerError, "fehler", "Interner Fehler", struct {
		Status  int
		Message string
	}{
		http.StatusInternalServerError, "Bei der Bearbeitung ist ein Fehler aufgetreten. Die Einzelheiten stehen im Protokoll des Dienstes."})
}

// errAPI is an answer of the JSON API other than 2xx.
type errAPI struct {
	Status  int
	Message string
}

func (e *errAPI) Error() string { return fmt.Sprintf("admin API %d: %s", e.Status, e.Message) }

// callAPI calls the admin JSON API as the signed-in user (the request's principal) and decodes
// its answer into out. An answer other than 2xx is an *errAPI.
func (c *Console) callAPI(r *http.Request, method, path string, out any) error {
	return c.callAPIBody(r, method, path, nil, out)
}

// callAPIBody is callAPI with a JSON request body (nil: none).
func (c *Console) callAPIBody(r *http.Request, method, path string, in, out any) error {
	var reqBody io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		reqBody = bytes.NewReader(b)
	}
	req := httptest.NewRequestWithContext(r.Context(), method, path, reqBody)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	rec := httptest.NewRecorder()
	c.api().ServeHTTP(rec, req)
	body, _ := io.ReadAll(rec.Result().Body)
	if rec.Code < 200 || rec.Code > 299 {
		var e struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(body, &e)
		return &errAPI{Status: rec.Code, Message: e.Error}
	}
	if out != nil {
		return json.Unmarshal(body, out)
	}
	return nil
}

// apiError answers a failed API call: its refusals (4xx) as an error page with the API's reason,
// anything else as an internal error.
func (c *Console) apiError(w http.ResponseWriter, r *http.Request, err error) {
	var e *errAPI
	if errors.As(err, &e) && e.Status >= 400 && e.Status < 500 {
		c.errorPage(w, r, e.Status, e.Message)
		return
	}
	c.fail(w, r, err)
}

type sessionKey struct{}

func withSession(ctx context.Context, s store.Session) context.Context {
	return context.WithValue(ctx, sessionKey{}, s)
}

func sessionFrom(ctx context.Context) (store.Session, bool) {
	s, ok := ctx.Value(sessionKey{}).(store.Session)
	return s, ok
}
