package schedule

import (
	"errors"
	"testing"
	"time"
)

func berlin(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// Next follows the wall clock of the configured zone through both daylight saving changes: a
// batch at 02:30 runs on the spring day (when the clocks jump from 02:00 to 03:00) and once on
// the autumn day (when 02:30 comes twice).
func TestNextAcrossDaylightSavingChanges(t *testing.T) {
	loc := berlin(t)
	at := func(s string) time.Time {
		v, err := time.ParseInLocation("2006-01-02 15:04 -0700", s, loc)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		name, spec string
		from       time.Time
		want       []time.Time // the next few times
	}{
		{"an ordinary day", "30 2 * * *", at("2027-01-10 12:00 +0100"),
			[]time.Time{at("2027-01-11 02:30 +0100"), at("2027-01-12 02:30 +0100")}},
		{"spring forward: the skipped 02:30 runs at 03:00", "30 2 * * *", at("2027-03-27 12:00 +0100"),
			[]time.Time{at("2027-03-28 03:00 +0200"), at("2027-03-29 02:30 +0200")}},
		{"spring forward: every quarter hour", "*/15 * * * *", at("2027-03-28 01:50 +0100"),
			[]time.Time{at("2027-03-28 03:00 +0200"), at("2027-03-28 03:15 +0200")}},
		{"fall back: 02:30 once", "30 2 * * *", at("2027-10-30 12:00 +0200"),
			[]time.Time{at("2027-10-31 02:30 +0200"), at("2027-11-01 02:30 +0100")}},
		{"fall back: the hour twice, every half hour", "0,30 * * * *", at("2027-10-31 01:45 +0200"),
			[]time.Time{at("2027-10-31 02:00 +0200"), at("2027-10-31 02:30 +0200"), at("2027-10-31 03:00 +0100")}},
		{"descriptor", "@daily", at("2027-03-27 12:00 +0100"),
			[]time.Time{at("2027-03-28 00:00 +0100"), at("2027-03-29 00:00 +0200")}},
		{"zone named in the expression", "CRON_TZ=UTC 0 12 * * *", at("2027-06-01 00:00 +0200"),
			[]time.Time{at("2027-06-01 14:00 +0200")}},
		{"interval", "@every 90m", at("2027-03-28 01:30 +0100"),
			[]time.Time{at("2027-03-28 04:00 +0200"), at("2027-03-28 05:30 +0200")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Parse(tt.spec, loc)
			if err != nil {
				t.Fatal(err)
			}
			from := tt.from
			for i, want := range tt.want {
				got := s.Next(from)
				if !got.Equal(want) {
					t.Fatalf("next #%d after %s = %s, want %s", i+1, from, got.In(loc), want.In(loc))
				}
				from = got
			}
		})
	}
}

// Contains reads the wall clock: a window of the 2 o'clock hour is closed on the spring day
// (the clocks never show it) and open for both of the autumn day's 2 o'clock hours.
func TestContainsReadsTheWallClock(t *testing.T) {
	loc := berlin(t)
	s, err := Parse("* 2 * * *", loc)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		at   time.Time
		want bool
	}{
		{time.Date(2027, 1, 10, 1, 30, 0, 0, time.UTC), true},   // 02:30 CET
		{time.Date(2027, 1, 10, 2, 30, 0, 0, time.UTC), false},  // 03:30 CET
		{time.Date(2027, 3, 28, 1, 0, 0, 0, time.UTC), false},   // 03:00 CEST, the clocks skipped 02:xx
		{time.Date(2027, 10, 31, 0, 30, 0, 0, time.UTC), true},  // 02:30 CEST
		{time.Date(2027, 10, 31, 1, 30, 0, 0, time.UTC), true},  // 02:30 CET, the second time
		{time.Date(2027, 10, 31, 2, 30, 0, 0, time.UTC), false}, // 03:30 CET
	}
	for _, tt := range tests {
		if got := s.Contains(tt.at); got != tt.want {
			t.Errorf("Contains(%s) = %v, want %v", tt.at.In(loc), got, tt.want)
		}
	}
}

// An expression that never matches is refused: it would read as due at once, over and over.
func TestParseRefuses(t *testing.T) {
	loc := berlin(t)
	tests := []struct {
		spec string
		is   error
	}{
		{"* * 30 2 *", ErrNeverMatches},
		{"0 0 31 4,6,9,11 *", ErrNeverMatches},
		{"* * * *", nil},
		{"61 * * * *", nil},
		{"CRON_TZ=Mars/Olympus 0 0 * * *", nil},
	}
	for _, tt := range tests {
		_, err := Parse(tt.spec, loc)
		if err == nil {
			t.Errorf("%q accepted", tt.spec)
			continue
		}
		if tt.is != nil && !errors.Is(err, tt.is) {
			t.Errorf("%q: %v, want %v", tt.spec, err, tt.is)
		}
	}
	if _, err := Parse("0 0 29 2 *", loc); err != nil {
		t.Errorf("29 February (leap years) refused: %v", err)
	}
}
