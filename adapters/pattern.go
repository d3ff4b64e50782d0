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
// (nil: as they are). It scans the text once, as a strings.Replacer of the placeholders would,
// without building one for every package.
func (t Pattern) Fill(p *Package, clean func(string) string) string {
	if clean == nil {
		clean = func(s string) string { return s }
	}
	text := t.text
	var b strings.Builder
	b.Grow(len(text) + 64)
	for {
		i := strings.IndexByte(text, '{')
		if i < 0 {
			b.WriteString(text)
			return b.String()
		}
		b.WriteString(text[:i])
		text = text[i:]
		if ph, value, ok := placeholderAt(text, p, clean); ok {
			b.WriteString(value)
			text = text[len(ph):]
			continue
		}
		b.WriteByte('{')
		text = text[1:]
	}
}

// placeholderAt tells which placeholder text starts with, and its value for p. A placeholder
// holds no brace, so it can only be text up to its first closing brace.
func placeholderAt(text string, p *Package, clean func(string) string) (ph, value string, ok bool) {
	end := strings.IndexByte(text, '}')
	if end < 0 {
		return "", "", false
	}
	ph = text[:end+1]
	switch ph {
	case "{message_id}":
		return ph, clean(p.MessageID), true
	case "{message_type}":
		return ph, clean(p.MessageType), true
	case "{leistung}":
		return ph, clean(p.Leistung), true
	case "{ags}":
		return ph, clean(p.AGS), true
	case "{date}":
		return ph, p.CreatedAt.UTC().Format("20060102"), true
	case "{submission_id}":
		return ph, clean(p.SubmissionID), true
	}
	return "", "", false
}

// Name is the file name the pattern gives the package, without extension, made safe
// (SafeName): every part that comes from a submission is untrusted.
func (t Pattern) Name(p *Package) string {
	return SafeName(t.Fill(p, nil))
}
