package admin

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"

	"github.com/amtsbote/amtsbote/config"
)

// Principal is who makes a request: an admin user with their role.
type Principal struct {
	Name string `json:"name"`
	Role string `json:"role"` // config.RoleViewer or config.RoleOperator
	// Via is how the user came: "admin-api" (a bearer token; the default) or "console" (a
	// console session). It names the user in the audit trail: "<via>:<name>".
	Via string `json:"-"`
	// Credential tells the user's token apart from an earlier one without revealing it: a
	// fingerprint of its hash. A console session keeps it, so a new token ends the old sessions.
	Credential string `json:"-"`
}

// Operator reports whether the principal may act (replay, reprocess), not only read.
func (p Principal) Operator() bool { return p.Role == config.RoleOperator }

type principalKey struct{}

// WithPrincipal returns a context in which requests and service functions act as p. Only code of
// this process can put a principal into a request's context: the console does so for its
// signed-in user, and the admin routes then take it instead of a bearer token.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns who the context acts as.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok && p.Name != ""
}

// adminUser is a configured user with the decoded hash of their token.
type adminUser struct {
	Principal
	hash []byte
}

func adminUsers(users []config.AdminUser) []adminUser {
	out := make([]adminUser, 0, len(users))
	for _, u := range users {
		h, err := hex.DecodeString(u.TokenSHA256) // checked by config.Validate
		if err != nil || len(h) != sha256.Size {
			continue
		}
		fp := sha256.Sum256(append([]byte("amtsbote console credential\x00"), h...))
		out = append(out, adminUser{Principal: Principal{Name: u.Name, Role: u.Role, Credential: hex.EncodeToString(fp[:16])}, hash: h})
	}
	return out
}

// HasUsers reports whether any admin user is configured; without, the token-protected routes
// and the console's sign-in are off.
func (s *Server) HasUsers() bool { return len(s.users) > 0 }

// Authenticate finds the user whose token this is. The token's hash is compared with every
// user's in constant time, so the answer's timing tells nothing about which user nearly matched.
func (s *Server) Authenticate(token string) (Principal, bool) {
	token = strings.TrimSpace(token)
	if token == "" {
		return Principal{}, false
	}
	sum := sha256.Sum256([]byte(token))
	found := -1
	for i, u := range s.users {
		if subtle.ConstantTimeCompare(sum[:], u.hash) == 1 {
			found = i
		}
	}
	if found < 0 {
		return Principal{}, false
	}
	return s.users[found].Principal, true
}

// User returns the configured user of this name, as the configuration now says (the console
// checks every session's user against it).
func (s *Server) User(name string) (Principal, bool) {
	for _, u := range s.users {
		if u.Name == name {
			return u.Principal, true
		}
	}
	return Principal{}, false
}

// viewer guards what any admin user may read; operator what changes state (replay, reprocess).
func (s *Server) viewer(next http.Handler) http.Handler { return s.authenticated(next, false) }

func (s *Server) operator(next http.Handler) http.Handler { return s.authenticated(next, true) }

// authenticated lets a request through with a principal in its context: the one already there
// (the console's), or the bearer token's user.
func (s *Server) authenticated(next http.Handler, operator bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := PrincipalFrom(r.Context())
		if !ok {
			if len(s.users) == 0 {
				writeJSON(w, http.StatusForbidden, map[string]string{"error": "no admin users are configured (admin.users, admin.token_sha256)"})
				return
			}
			token, bearer := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if bearer {
				p, ok = s.Authenticate(token)
			}
			if !ok {
				w.Header().Set("WWW-Authenticate", `Bearer realm="amtsbote-admin"`)
				writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "admin token missing or wrong"})
				return
			}
			p.Via = "admin-api"
			r = r.WithContext(WithPrincipal(r.Context(), p))
		}
		if operator && !p.Operator() {
			writeJSON(w, http.StatusForbidden, map[string]string{"error": fmt.Sprintf(
				"%s %s needs the role operator; %s is a %s", r.Method, r.URL.Path, p.Name, p.Role)})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Actor names who acts, for the audit trail: "admin-api:<name>" or "console:<name>". The user
// "admin" (admin.token_sha256, shared by whoever holds it) may name themselves with the
// X-Amtsbote-Actor header: "admin-api:<header>".
func Actor(r *http.Request) string {
	p, ok := PrincipalFrom(r.Context())
	via := p.Via
	if via == "" {
		via = "admin-api"
	}
	if !ok {
		return via
	}
	if p.Name == "admin" && via == "admin-api" {
		if a := strings.TrimSpace(r.Header.Get("X-Amtsbote-Actor")); a != "" && len(a) <= 100 {
			return via + ":" + a
		}
	}
	return via + ":" + p.Name
}
