package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/amtsbote/amtsbote/config"
)

// The reply channels' keys: defaults like destinations', a print destination that must exist,
// a portal's postbox.
func TestReplyDeliveryKeys(t *testing.T) {
	cfg, err := config.Load(write(t, strings.Replace(minimal, "token_sha256:", "postbox: true\n    token_sha256:", 1)+
		"replies:\n  print_destination: eakte\n"))
	if err != nil {
		t.Fatal(err)
	}
	r := cfg.Replies.Retry
	if r.MaxAttempts != 50 || r.InitialInterval != 10*time.Second || r.MaxInterval != time.Hour || r.Multiplier != 2 || r.MaxAge != 72*time.Hour {
		t.Fatalf("replies.retry defaults: %+v", r)
	}
	if cfg.Replies.MaxInFlight != 1 || cfg.Replies.PrintDestination != "eakte" || !cfg.Portals[0].Postbox {
		t.Fatalf("replies: %+v, portal %+v", cfg.Replies, cfg.Portals[0])
	}
	tests := []struct {
		name, replies string
		want          []string
	}{
		{"unknown print destination", "  print_destination: druck\n", []string{"replies.print_destination", `"druck" is not in destinations`}},
		{"too many in flight", "  max_in_flight: 100\n", []string{"replies.max_in_flight", "between 1 and 64"}},
		{"retry backwards", "  retry: {initial_interval: 1h, max_interval: 1m}\n", []string{"replies.retry", "max_interval >= initial_interval"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := write(t, minimal+"replies:\n"+tt.replies)
			_, err := config.Load(path)
			if err == nil {
				t.Fatal("want an error")
			}
			for _, want := range append(tt.want, path) {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error lacks %q:\n%v", want, err)
				}
			}
		})
	}
}
