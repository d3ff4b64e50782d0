// Package schedule reads the cron expressions of the configuration — delivery windows and
// batches, the retention and receipts jobs — as times on the wall clock of one time zone, with
// the daylight saving changes a cron user expects: a time that falls into the hour skipped in
// spring runs when the clocks have gone forward, and a time in the hour repeated in autumn runs
// once. robfig/cron alone skips the spring day and knows only the process's zone.
package schedule

import (
	"errors"
	"fmt"
	"strings"
	"time"
	_ "time/tzdata" // the zone database, for containers without /usr/share/zoneinfo

	"github.com/robfig/cron/v3"
)

// DefaultZone is the zone of schedules when the configuration names none.
const DefaultZone = "Europe/Berlin"

var parser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// Schedule is a parsed cron expression in a time zone, or a fixed interval (@every).
type Schedule struct {
	spec  *cron.SpecSchedule // on the naive wall clock (fields read as UTC); nil for @every
	every cron.Schedule
	loc   *time.Location
}

// ErrNeverMatches is a cron expression that names no time that exists, e.g. 30 February.
var ErrNeverMatches = errors.New("matches no time in the next five years (e.g. a day the month does not have)")

// Parse reads spec — five fields (minute hour day month weekday), a descriptor such as @daily,
// or @every with a duration — for the wall clock in loc. A CRON_TZ= or TZ= prefix names the
// zone instead. It refuses an expression that never matches: a schedule that is never due
// would otherwise read as due at once, over and over.
func Parse(spec string, loc *time.Location) (*Schedule, error) {
	spec = strings.TrimSpace(spec)
	if name, rest, ok := cutZone(spec); ok {
		l, err := time.LoadLocation(name)
		if err != nil {
			return nil, fmt.Errorf("unknown time zone %q: %w", name, err)
		}
		loc, spec = l, rest
	}
	parsed, err := parser.Parse(spec)
	if err != nil {
		return nil, err
	}
	s := &Schedule{loc: loc}
	switch p := parsed.(type) {
	case *cron.SpecSchedule:
		naive := *p
		naive.Location = time.UTC
		s.spec = &naive
		if naive.Next(time.Now().UTC()).IsZero() {
			return nil, ErrNeverMatches
		}
	default:
		s.every = p
	}
	return s, nil
}

func cutZone(spec string) (zone, rest string, ok bool) {
	for _, prefix := range []string{"CRON_TZ=", "TZ="} {
		if after, found := strings.CutPrefix(spec, prefix); found {
			zone, rest, _ = strings.Cut(after, " ")
			return zone, strings.TrimSpace(rest), true
		}
	}
	return "", spec, false
}

// Interval reports whether the schedule is a fixed interval (@every) rather than wall-clock
// times.
func (s *Schedule) Interval() bool { return s.every != nil }

// Next is the first time after t the schedule is due; zero if none (never for a parsed one).
func (s *Schedule) Next(t time.Time) time.Time {
	if s.every != nil {
		return s.every.Next(t)
	}
	t = t.In(s.loc)
	wall := naive(t)
	for i := 0; i < 1000; i++ {
		n := s.spec.Next(wall)
		if n.IsZero() {
			return time.Time{}
		}
		if at := s.instant(n); at.After(t) {
			return at
		}
		// The first of a wall-clock time the clocks show twice (autumn) has passed: it was due
		// then, once.
		wall = n
	}
	return time.Time{}
}

// Contains reports whether the minute of t on the wall clock is one of the schedule's (a
// delivery window's minutes). An interval contains every time.
func (s *Schedule) Contains(t time.Time) bool {
	if s.every != nil {
		return true
	}
	minute := naive(t.In(s.loc)).Truncate(time.Minute)
	return s.spec.Next(minute.Add(-time.Nanosecond)).Equal(minute)
}

// naive is t's wall clock read as UTC.
func naive(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC)
}

// instant is the first moment the wall clock in loc reads w, or — when the clocks skip w
// (spring forward) — the moment they skip it.
func (s *Schedule) instant(w time.Time) time.Time {
	var found []time.Time
	for _, probe := range []time.Duration{-26 * time.Hour, 0, 26 * time.Hour} {
		_, offset := w.Add(probe).In(s.loc).Zone() // the zone's offsets around w
		cand := w.Add(-time.Duration(offset) * time.Second)
		if naive(cand.In(s.loc)).Equal(w) && !containsTime(found, cand) {
			found = append(found, cand)
		}
	}
	if len(found) > 0 {
		first := found[0]
		for _, f := range found[1:] {
			if f.Before(first) {
				first = f
			}
		}
		return first
	}
	// Skipped: read with the offset before the change, w lies after the change; the change is
	// the last moment before it whose offset is still the earlier one.
	_, before := w.Add(-26 * time.Hour).In(s.loc).Zone()
	hi := w.Add(-time.Duration(before) * time.Second) // later offset already in force here
	lo := hi.Add(-26 * time.Hour)
	for hi.Sub(lo) > time.Second {
		mid := lo.Add(hi.Sub(lo) / 2)
		if _, off := mid.In(s.loc).Zone(); off == before {
			lo = mid
		} else {
			hi = mid
		}
	}
	return hi.Truncate(time.Second)
}

func containsTime(ts []time.Time, t time.Time) bool {
	for _, x := range ts {
		if x.Equal(t) {
			return true
		}
	}
	return false
}

// Parser parses cron expressions for robfig/cron's scheduler in a zone (cron.WithParser).
type Parser struct{ Location *time.Location }

// Parse implements cron.ScheduleParser.
func (p Parser) Parse(spec string) (cron.Schedule, error) { return Parse(spec, p.Location) }
