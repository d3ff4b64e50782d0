package snapshot_test

import (
	"strings"
	"testing"

	"github.com/amtsbote/amtsbote/config"
	"github.com/amtsbote/amtsbote/snapshot"
)

// The admin users and their tokens are read at start: a reload that changes them is refused, so
// that the running daemon never holds users other than its configuration says after a restart.
func TestAdminUsersNeedARestart(t *testing.T) {
	old := &config.Config{Admin: config.Admin{Users: []config.AdminUser{{Name: "vera", Role: config.RoleViewer, TokenSHA256: strings.Repeat("a", 64)}}}}
	for _, tt := range []struct {
		name   string
		change func(*config.Admin)
	}{
		{"a user added", func(a *config.Admin) {
			a.Users = append(a.Users, config.AdminUser{Name: "otto", Role: config.RoleOperator, TokenSHA256: strings.Repeat("b", 64)})
		}},
		{"a role changed", func(a *config.Admin) { a.Users[0].Role = config.RoleOperator }},
		{"a token changed", func(a *config.Admin) { a.Users[0].TokenSHA256 = strings.Repeat("c", 64) }},
		{"a user removed", func(a *config.Admin) { a.Users = nil }},
	} {
		next := *old
		next.Admin.Users = append([]config.AdminUser(nil), old.Admin.Users...)
		tt.change(&next.Admin)
		if why := snapshot.RestartNeeded(old, &next); !strings.Contains(why, "admin") {
			t.Errorf("%s: %q; want admin to need a restart", tt.name, why)
		}
	}
	same := *old
	if why := snapshot.RestartNeeded(old, &same); why != "" {
		t.Errorf("unchanged: %q", why)
	}
}
