package snapshot

import (
	"strings"
	"testing"

	"github.com/amtsbote/amtsbote/config"
	"github.com/amtsbote/amtsbote/routes"
)

// config check warns about a reply channel a route lists that the configuration cannot use.
func TestReplyWarnings(t *testing.T) {
	tests := []struct {
		name     string
		cfg      config.Config
		channels []string
		want     []string // substrings, one warning each
	}{
		{"nothing configured", config.Config{}, []string{"email", "print", "portal", "fitconnect"},
			[]string{"lists email, but replies.email is not configured", "lists print, but replies.print_destination is not set",
				"lists portal, but no portal has postbox: true", "lists fitconnect, but fitconnect is not enabled"}},
		{"all there", config.Config{Replies: config.Replies{PrintDestination: "druck", Email: map[string]any{"host": "mail"}},
			Portals: []config.Portal{{ID: "p", Postbox: true}}, FitConnect: config.FitConnect{Enabled: true}},
			[]string{"email", "print", "portal", "fitconnect"}, nil},
		{"default policy warns about nothing", config.Config{}, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := routes.Route{ID: "r", Where: "routes.yaml:3"}
			if tt.channels != nil {
				r.Replies = &routes.ReplyPolicy{Channels: tt.channels}
			}
			s := &Snapshot{Config: &tt.cfg, Routes: &routes.Table{Routes: []routes.Route{r}}}
			got := s.replyWarnings()
			if len(got) != len(tt.want) {
				t.Fatalf("warnings %q, want %d", got, len(tt.want))
			}
			for i, w := range tt.want {
				if !strings.Contains(got[i], w) || !strings.HasPrefix(got[i], `routes.yaml:3: route "r": replies.channels`) {
					t.Errorf("warning %q, want %q", got[i], w)
				}
			}
		})
	}
}
