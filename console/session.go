package console

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	wmsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"

	"github.com/amtsbote/amtsbote/admin"
	"github.com/amtsbote/amtsbote/store"
)

// Cookies of the console.
const (
	// sessionCookie holds the session's id.
	sessionCookie = "amtsbote_session"
	// signInCookie holds the sign-in form's CSRF token (double submit: no session exists yet).
	signInCookie = "amtsbote_anmeldung"
	// flashCookie carries a message from a POST to the page after its redirect.
	flashCookie = "amtsbote_meldung"
)

// secure reports whether the request came over TLS, directly or through a proxy that says so:
// the console's cookies are then sent over TLS only.
func secure(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

func (c *Console) setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: secure(r)})
}

// sameOrigin reports whether a state-changing request comes from the console's own pages, as
// far as the browser says: Sec-Fetch-Site same-origin (or none: typed by the user) and an Origin
// of this host. Requests without these headers (older browsers, tools) rely on the CSRF token.
// Under the console's Referrer-Policy no-referrer, browsers send "Origin: null" with its own
// forms; that counts only together with Sec-Fetch-Site same-origin.
func sameOrigin(r *http.Request) bool {
	site := r.Header.Get("Sec-Fetch-Site")
	if site != "" && site != "same-origin" && site != "none" {
		return false
	}
	if o := r.Header.Get("Origin"); o == "null" {
		return site == "same-origin"
	} else if o != "" {
		u, err := url.Parse(o)
		if err != nil || u.Host == "" || !strings.EqualFold(u.Host, r.Host) {
			return false
		}
	}
	return true
}

// localPath returns p if it is a path of this console (no scheme, no host, no "//"), else "/":
// the sign-in's redirect goes nowhere else.
func localPath(p string) string {
	if p == "" || !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.HasPrefix(p, "/\\") ||
		strings.ContainsAny(p, "\\\r\n\t") {
		return "/"
	}
	u, err := url.Parse(p)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || strings.HasPrefix(u.Path, "/anmelden") {
		return "/"
	}
	return p
}

// signInURL is the sign-in page that leads back to the request's page.
func signInURL(r *http.Request, expired bool) string {
	q := url.Values{}
	if r.Method == http.MethodGet && r.URL.Path != "/" {
		q.Set("weiter", localPath(r.URL.RequestURI()))
	}
	if expired {
		q.Set("abgelaufen", "1")
	}
	if len(q) == 0 {
		return "/anmelden"
	}
	return "/anmelden?" + q.Encode()
}

// session finds the request's session and keeps it alive; ok false when there is none (any
// more). expired tells that the browser had a cookie that no longer signs in.
func (c *Console) session(w http.ResponseWriter, r *http.Request) (_ *http.Request, ok, expired bool) {
	ck, err := r.Cookie(sessionCookie)
	if err != nil || ck.Value == "" {
		return r, false, false
	}
	sess, err := c.adm.Store.TouchSession(r.Context(), ck.Value, c.opts.Now(), c.lifetime)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			c.log.Error("console session", "error", err)
		}
		c.setCookie(w, r, sessionCookie, "", -1)
		return r, false, true
	}
	// The user must still exist with the same role and token: a changed configuration (a user
	// removed, another role, a new token) ends their sessions.
	u, exists := c.adm.User(sess.Name)
	if !exists || u.Role != sess.Role || u.Credential != sess.Credential {
		_ = c.adm.Store.DeleteSession(r.Context(), ck.Value)
		c.setCookie(w, r, sessionCookie, "", -1)
		return r, false, true
	}
	u.Via = "console"
	ctx := admin.WithPrincipal(withSession(r.Context(), sess), u)
	return r.WithContext(ctx), true, false
}

// viewer guards a page any signed-in user may see; its POSTs must pass the CSRF check.
func (c *Console) viewer(next http.HandlerFunc) http.Handler { return c.signedIn(next, false) }

// operator guards an operator's action (replay, reprocess): viewers get 403.
func (c *Console) operator(next http.HandlerFunc) http.Handler { return c.signedIn(next, true) }

func (c *Console) signedIn(next http.HandlerFunc, operator bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r, ok, expired := c.session(w, r)
		if !ok {
			http.Redirect(w, r, signInURL(r, expired), http.StatusSeeOther)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			sess, _ := sessionFrom(r.Context())
			if !sameOrigin(r) {
				c.errorPage(w, r, http.StatusForbidden, "Die Anfrage kam nicht von einer Seite dieser Konsole und wurde deshalb nicht ausgeführt. Öffnen Sie die Seite erneut und senden Sie das Formular noch einmal.")
				return
			}
			if subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(sess.CSRF)) != 1 {
				c.errorPage(w, r, http.StatusForbidden, "Das Formular war ungültig oder veraltet (Schutz vor untergeschobenen Anfragen). Öffnen Sie die Seite erneut und senden Sie das Formular noch einmal.")
				return
			}
		}
		if operator {
			if u, _ := admin.PrincipalFrom(r.Context()); !u.Operator() {
				c.errorPage(w, r, http.StatusForbidden, "Diese Aktion ist der Rolle Bedienung vorbehalten; "+u.Name+" hat Lesezugriff.")
				return
			}
		}
		next(w, r)
	})
}

// optionalSession takes the session if there is one (error pages show the navigation then).
func (c *Console) optionalSession(next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r2, ok, _ := c.session(w, r); ok {
			r = r2
		}
		next(w, r)
	})
}

type signInData struct {
	Weiter  string
	CSRF    string
	Error   string
	Notice  string
	NoUsers bool
}

func randomString() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (c *Console) signInForm(w http.ResponseWriter, r *http.Request) {
	d := signInData{Weiter: localPath(r.URL.Query().Get("weiter")), NoUsers: !c.adm.HasUsers()}
	if r.URL.Query().Get("abgelaufen") != "" {
		d.Notice = "Ihre Sitzung ist abgelaufen. Bitte melden Sie sich erneut an."
	}
	c.showSignIn(w, r, http.StatusOK, d)
}

// showSignIn renders the sign-in form with a new CSRF token in its cookie and hidden field.
func (c *Console) showSignIn(w http.ResponseWriter, r *http.Request, status int, d signInData) {
	d.CSRF = randomString()
	c.setCookie(w, r, signInCookie, d.CSRF, 3600)
	c.renderStatus(w, r, status, "anmelden", "Anmelden", d)
}

func (c *Console) signIn(w http.ResponseWriter, r *http.Request) {
	d := signInData{Weiter: localPath(r.PostFormValue("weiter")), NoUsers: !c.adm.HasUsers()}
	ck, err := r.Cookie(signInCookie)
	if !sameOrigin(r) || err != nil || ck.Value == "" ||
		subtle.ConstantTimeCompare([]byte(ck.Value), []byte(r.PostFormValue("csrf"))) != 1 {
		d.Error = "Das Anmeldeformular war ungültig oder veraltet. Bitte versuchen Sie es noch einmal."
		c.showSignIn(w, r, http.StatusForbidden, d)
		return
	}
	u, ok := c.adm.Authenticate(r.PostFormValue("token"))
	if !ok {
		c.log.Warn("console sign-in refused: unknown token", "remote", r.RemoteAddr)
		d.Error = "Das Zugangstoken ist falsch. Bitte prüfen Sie es und versuchen Sie es erneut."
		c.showSignIn(w, r, http.StatusUnauthorized, d)
		return
	}
	now := c.opts.Now()
	if _, err := c.adm.Store.PurgeSessions(r.Context(), now); err != nil {
		c.log.Warn("console: purge ended sessions", "error", err)
	}
	sess, err := c.adm.Store.CreateSession(r.Context(), u.Name, u.Role, u.Credential, now, c.lifetime)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.audit(r.Context(), "console:"+u.Name, "console_sign_in", now)
	c.log.Info("console sign-in", "user", u.Name, "role", u.Role)
	c.setCookie(w, r, signInCookie, "", -1)
	c.setCookie(w, r, sessionCookie, sess.ID, 0)
	http.Redirect(w, r, d.Weiter, http.StatusSeeOther)
}

func (c *Console) signOut(w http.ResponseWriter, r *http.Request) {
	if ck, err := r.Cookie(sessionCookie); err == nil {
		if err := c.adm.Store.DeleteSession(r.Context(), ck.Value); err != nil {
			c.fail(w, r, err)
			return
		}
	}
	u, _ := admin.PrincipalFrom(r.Context())
	c.audit(r.Context(), "console:"+u.Name, "console_sign_out", c.opts.Now())
	c.setCookie(w, r, sessionCookie, "", -1)
	http.Redirect(w, r, "/anmelden", http.StatusSeeOther)
}

func (c *Console) audit(ctx context.Context, actor, action string, at time.Time) {
	err := c.adm.Store.InTx(ctx, func(tx wmsql.Tx) error {
		return store.Audit(ctx, tx, store.AuditEntry{At: at, Actor: actor, Action: action})
	})
	if err != nil {
		c.log.Warn("console: audit", "action", action, "error", err)
	}
}

// flash is a message shown once on the page after a POST's redirect.
type flash struct {
	// Kind is "ok" or "fehler".
	Kind    string
	Message string
}

// redirect ends a POST: the message goes in a cookie, signed with the session's CSRF token so
// that no one else can plant one, and the browser GETs to.
func (c *Console) redirect(w http.ResponseWriter, r *http.Request, to string, f flash) {
	if sess, ok := sessionFrom(r.Context()); ok && f.Message != "" {
		payload := f.Kind + "\x00" + f.Message
		mac := hmac.New(sha256.New, []byte(sess.CSRF))
		mac.Write([]byte(payload))
		c.setCookie(w, r, flashCookie, base64.RawURLEncoding.EncodeToString([]byte(payload))+"."+
			base64.RawURLEncoding.EncodeToString(mac.Sum(nil)), 60)
	}
	http.Redirect(w, r, localPath(to), http.StatusSeeOther)
}

// takeFlash reads (and clears) the message of the last redirect.
func (c *Console) takeFlash(w http.ResponseWriter, r *http.Request, sess store.Session) *flash {
	ck, err := r.Cookie(flashCookie)
	if err != nil {
		return nil
	}
	c.setCookie(w, r, flashCookie, "", -1)
	enc, sig, _ := strings.Cut(ck.Value, ".")
	payload, err1 := base64.RawURLEncoding.DecodeString(enc)
	got, err2 := base64.RawURLEncoding.DecodeString(sig)
	if err1 != nil || err2 != nil {
		return nil
	}
	mac := hmac.New(sha256.New, []byte(sess.CSRF))
	mac.Write(payload)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return nil
	}
	kind, msg, _ := strings.Cut(string(payload), "\x00")
	return &flash{Kind: kind, Message: msg}
}
