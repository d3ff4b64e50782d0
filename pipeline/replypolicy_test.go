package pipeline

import (
	"slices"
	"testing"

	"github.com/amtsbote/amtsbote/replies"
	"github.com/amtsbote/amtsbote/routes"
)

// The reply goes over the first channel of the route's list that reaches the applicant, and to
// the portal's postbox as well unless the route says no.
func TestPlanChannels(t *testing.T) {
	no := false
	all := func(string) bool { return true }
	only := func(chs ...string) func(string) bool {
		return func(ch string) bool { return slices.Contains(chs, ch) }
	}
	email := replies.Address{Email: "erika@example.org"}
	fit := replies.Address{FitConnect: &replies.FitConnectAddress{SubmissionID: "s"}}
	both := replies.Address{Email: "erika@example.org", FitConnect: fit.FitConnect}
	def := routes.DefaultReplyPolicy()
	tests := []struct {
		name       string
		policy     routes.ReplyPolicy
		reach      Reach
		want       []string
		wantUsable map[string]bool
	}{
		{"default: fitconnect first", def,
			Reach{Address: both, Configured: all, Postbox: true, Kind: replies.KindBescheid, Documents: 1},
			[]string{"fitconnect", "portal"}, nil},
		{"fitconnect address but no fitconnect sender: email", def,
			Reach{Address: both, Configured: only("email", "portal", "print"), Kind: replies.KindBescheid, Documents: 1},
			[]string{"email"}, map[string]bool{"fitconnect": false, "portal": false}},
		{"no e-mail address: portal postbox", def,
			Reach{Configured: all, Postbox: true, Kind: replies.KindBescheid, Documents: 1},
			[]string{"portal"}, nil},
		{"e-mail configured but no address, no postbox: print", def,
			Reach{Configured: all, Kind: replies.KindBescheid, Documents: 1},
			[]string{"print"}, map[string]bool{"email": false}},
		{"e-mail address, e-mail not configured: print", def,
			Reach{Address: email, Configured: only("print"), Kind: replies.KindNachforderung},
			[]string{"print"}, map[string]bool{"email": false}},
		{"status without documents is not printed", def,
			Reach{Configured: all, Kind: replies.KindStatus},
			nil, map[string]bool{"print": false}},
		{"status with a document is printed", def,
			Reach{Configured: all, Kind: replies.KindStatus, Documents: 1},
			[]string{"print"}, nil},
		{"nachforderung without documents is printed (its text is the letter)", def,
			Reach{Configured: all, Kind: replies.KindNachforderung},
			[]string{"print"}, nil},
		{"print not configured, nothing else: none", def,
			Reach{Configured: only("email", "portal"), Kind: replies.KindBescheid, Documents: 1},
			nil, nil},
		{"route prefers print over e-mail", routes.ReplyPolicy{Channels: []string{"print", "email"}},
			Reach{Address: email, Configured: all, Kind: replies.KindBescheid, Documents: 1},
			[]string{"print"}, nil},
		{"route lists only e-mail; postbox added anyway", routes.ReplyPolicy{Channels: []string{"email"}},
			Reach{Address: email, Configured: all, Postbox: true, Kind: replies.KindBescheid},
			[]string{"email", "portal"}, nil},
		{"also_portal false", routes.ReplyPolicy{Channels: []string{"email"}, AlsoPortal: &no},
			Reach{Address: email, Configured: all, Postbox: true, Kind: replies.KindBescheid},
			[]string{"email"}, nil},
		{"portal chosen first is not added twice", routes.ReplyPolicy{Channels: []string{"portal", "email"}},
			Reach{Address: email, Configured: all, Postbox: true, Kind: replies.KindBescheid},
			[]string{"portal"}, nil},
		{"only e-mail listed, unusable, also_portal false: none", routes.ReplyPolicy{Channels: []string{"email"}, AlsoPortal: &no},
			Reach{Configured: all, Postbox: true, Kind: replies.KindBescheid, Documents: 1},
			nil, nil},
		{"postbox without a portal sender", def,
			Reach{Configured: only("print"), Postbox: true, Kind: replies.KindBescheid, Documents: 1},
			[]string{"print"}, map[string]bool{"portal": false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := PlanChannels(tt.policy, tt.reach); !slices.Equal(got, tt.want) {
				t.Fatalf("channels %v, want %v", got, tt.want)
			}
			for ch, want := range tt.wantUsable {
				if got := tt.reach.Usable(ch); got != want {
					t.Errorf("usable(%s) = %v, want %v", ch, got, want)
				}
			}
		})
	}
}
