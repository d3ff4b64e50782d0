package adapters

import (
	"fmt"
	"regexp"
	"strings"
)

// Pattern is an option that names or describes a package by placeholders: {message_id} (the
// ProzessID), {message_type}, {leistung}, {ags}, {date} (YYYYMMDD of the package's creation)
// and {submission_id}.
type Pattern struct {
	text string
}

// DefaultName is the name pattern of the xdomea convention, <ProzessID>_<message type>.
const DefaultName = "{message_id}_{message_type}"

// Placeholders lists every placeholder a Pattern knows.
var Placeholders = []string{"{message_id}", "{message_type}", "{leistung}", "{ags}", "{date}", "{submission_id}"}

var placeholder = regexp.MustCompile(`\{[a-z_]+\}`)

// ParsePattern checks text, the value of the option named option (e.g. "options.subject"),
// against the placeholders allowed there (all of Placeholders when none are given).
func ParsePattern(option, text string, allowed ...string) (Pattern, error) {
	if len(allowed) == 0 {
		allowed = Placeholders
	}
	for _, ph := range placeholder.FindAllString(text, -1) {
		known := false
		for _, a := range allowed {
			known = known || a == ph
		}
		if !known {
			return Pattern{}, fmt.Errorf("%s %q: unknown placeholder %s (known: %s)", option, text, ph, strings.Join(allowed, ", "))
		}
	}
	return Pattern{text: text}, nil
}

// ParseName checks a name pattern, the option `name` of adapters that write files: empty means
// DefaultName, and the pattern must hold {message_id} or {submission_id} so that every message
// gets its own name.
func ParseName(text string) (Pattern, error) {
	if text == "" {
		text = DefaultName
	}
	p, err := ParsePattern("options.name", text)
	if err != nil {
		return p, err
	}
	if !strings.Contains(text, "{message_id}") && !strings.Contains(text, "{submission_id}") {
		return p, fmt.Errorf("options.name %q must contain {message_id} or {submission_id}: names must be unique per message", text)
	}
	return p, nil
}

// Fill replaces the placeholders by the package's values, each passed through clean first
// (nil: as they are).
func (t Pattern) Fill(p *Package, clean func(string) string) string {
	if clean == nil {
		clean = func(s string) string { return s }
	}
	return strings.NewReplacer(
		"{message_id}", clean(p.MessageID), "{message_type}", clean(p.MessageType), "{leistung}", clean(p.Leistung),
		"{ags}", clean(p.AGS), "{date}", p.CreatedAt.UTC().Format("20060102"), "{submission_id}", clean(p.SubmissionID),
	).Replace(t.text)
}

// Name is the file name the pattern gives the package, without extension, made safe
// (SafeName): every part that comes from a submission is untrusted.
func (t Pattern) Name(p *Package) string {
	return SafeName(t.Fill(p, nil))
}
