package admin_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"net/http/httptest"
	"testing"

	"github.com/amtsbote/amtsbote/admin"
	"github.com/amtsbote/amtsbote/config"
)

func hash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

func TestAuthenticateAndActor(t *testing.T) {
	cfg := config.Admin{TokenSHA256: hash("legacy"), Users: []config.AdminUser{
		{Name: "vera", Role: config.RoleViewer, TokenSHA256: hash("v-token")},
		{Name: "otto", Role: config.RoleOperator, TokenSHA256: hash("o-token")},
	}}
	s := admin.New(nil, cfg.AdminUsers(), slog.New(slog.DiscardHandler))
	for _, tt := range []struct {
		token, name, role string
		ok                bool
	}{
		{"v-token", "vera", config.RoleViewer, true},
		{" o-token\n", "otto", config.RoleOperator, true},
		{"legacy", "admin", config.RoleOperator, true},
		{"", "", "", false},
		{"V-TOKEN", "", "", false},
	} {
		p, ok := s.Authenticate(tt.token)
		if ok != tt.ok || p.Name != tt.name || p.Role != tt.role {
			t.Errorf("token %q: %+v %v", tt.token, p, ok)
		}
	}
	for _, tt := range []struct {
		name   string
		p      *admin.Principal
		header string
		want   string
	}{
		{"API user", &admin.Principal{Name: "otto", Role: "operator", Via: "admin-api"}, "someone", "admin-api:otto"},
		{"shared admin token names its holder", &admin.Principal{Name: "admin", Role: "operator", Via: "admin-api"}, "ops-anna", "admin-api:ops-anna"},
		{"shared admin token without a name", &admin.Principal{Name: "admin", Role: "operator"}, "", "admin-api:admin"},
		{"console", &admin.Principal{Name: "admin", Role: "operator", Via: "console"}, "ops-anna", "console:admin"},
		{"nobody", nil, "", "admin-api"},
	} {
		r := httptest.NewRequest("POST", "/v1/dead-letters/replay", nil)
		if tt.header != "" {
			r.Header.Set("X-Amtsbote-Actor", tt.header)
		}
		if tt.p != nil {
			r = r.WithContext(admin.WithPrincipal(context.Background(), *tt.p))
		}
		if got := admin.Actor(r); got != tt.want {
			t.Errorf("%s: %q; want %q", tt.name, got, tt.want)
		}
	}
}
