package config

import (
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"
)

var adminUserName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

// validateAdminUsers checks the console's users: unique names and tokens, known roles, and
// session lifetimes that make sense.
func (c *Config) validateAdminUsers(bad func(key, format string, args ...any)) {
	names := map[string]bool{}
	tokens := map[string]string{}
	if c.Admin.TokenSHA256 != "" {
		names["admin"] = true
		tokens[strings.ToLower(c.Admin.TokenSHA256)] = "admin.token_sha256"
	}
	for i, u := range c.Admin.Users {
		key := fmt.Sprintf("admin.users[%d]", i)
		switch {
		case !adminUserName.MatchString(u.Name):
			bad(key+".name", "%q must be 1–64 lower-case letters, digits, '.', '_' or '-', starting with a letter or digit", u.Name)
		case names[u.Name]:
			bad(key+".name", "%q is taken (\"admin\" is the user of admin.token_sha256)", u.Name)
		}
		names[u.Name] = true
		if u.Role != RoleViewer && u.Role != RoleOperator {
			bad(key+".role", "%q must be viewer or operator", u.Role)
		}
		if b, err := hex.DecodeString(u.TokenSHA256); err != nil || len(b) != 32 {
			bad(key+".token_sha256", "must be the 64 hex digits of the user's token's SHA-256")
		} else if other, ok := tokens[strings.ToLower(u.TokenSHA256)]; ok {
			bad(key+".token_sha256", "is the same token as %s: every user needs a token of their own", other)
		} else {
			tokens[strings.ToLower(u.TokenSHA256)] = key + ".token_sha256"
		}
	}
	if c.Admin.SessionIdle <= 0 || c.Admin.SessionMaxAge <= 0 {
		bad("admin.session_idle", "session_idle and session_max_age must be positive durations")
	} else if c.Admin.SessionIdle > c.Admin.SessionMaxAge {
		bad("admin.session_idle", "%s is longer than session_max_age (%s)", c.Admin.SessionIdle, c.Admin.SessionMaxAge)
	}
}
