package pipeline

import (
	"testing"
	"time"

	"github.com/amtsbote/amtsbote/config"
)

func TestBackoffGrowsWithJitterUpToTheCap(t *testing.T) {
	r := config.Retry{InitialInterval: 10 * time.Second, MaxInterval: time.Hour, Multiplier: 2}
	tests := []struct {
		attempts int
		base     time.Duration
	}{
		{1, 10 * time.Second},
		{2, 20 * time.Second},
		{5, 160 * time.Second},
		{12, time.Hour}, // 10s·2^11 is past the cap
		{40, time.Hour},
	}
	for _, tt := range tests {
		for i := 0; i < 50; i++ {
			got := Backoff(r, tt.attempts)
			lo, hi := time.Duration(float64(tt.base)*0.8), time.Duration(float64(tt.base)*1.2)
			if got < lo || got > hi {
				t.Fatalf("Backoff(attempt %d) = %v, want within [%v, %v]", tt.attempts, got, lo, hi)
			}
		}
	}
}
