package adapters

import (
	"path/filepath"
	"strings"
	"unicode"
	"unicode/utf8"
)

// SafeName turns a name from user input into a plain file name: no directories, no parent
// references, no control, format or reserved characters, no leading or trailing dots and
// spaces, at most 120 bytes.
//
// Format characters (Unicode category Cf: bidi overrides and isolates, zero-width characters,
// the byte order mark, the soft hyphen) are invisible or reorder what is shown:
// "Bescheid\u202efdp.exe" shows as "Bescheidexe.pdf". Windows drops trailing dots and spaces,
// so "a.pdf" and "a.pdf." would collide there, and "name." hides the extension.
func SafeName(name string) string {
	name = strings.ReplaceAll(name, "\\", "/")
	name = strings.TrimPrefix(filepath.Base("/"+name), "/")
	var b strings.Builder
	for _, r := range name {
		switch {
		case unicode.IsControl(r) || unicode.Is(unicode.Cf, r):
			continue
		case strings.ContainsRune(`/:*?"<>|`, r):
			b.WriteRune('_')
		default:
			b.WriteRune(r)
		}
	}
	out := trimDotsAndSpaces(b.String())
	if len(out) > 120 {
		ext := filepath.Ext(out)
		if len(ext) > 20 {
			ext = ""
		}
		// The cut may end in a dot or a space again.
		out = trimDotsAndSpaces(truncateUTF8(out, 120-len(ext))) + ext
	}
	if out == "" {
		out = "unnamed"
	}
	return out
}

// PackageName is the name of a file in a delivered package: id (a UUID, as xdomea wants file
// names to start with one), "_", and the file's own name made safe — shortened, keeping its
// extension, so that the whole stays within SafeName's 120 bytes and SafeName leaves it as is.
func PackageName(id, name string) string {
	safe := SafeName(name)
	if room := 120 - len(id) - 1; len(safe) > room {
		ext := filepath.Ext(safe)
		if len(ext) > 20 || len(ext) >= room {
			ext = ""
		}
		safe = trimDotsAndSpaces(truncateUTF8(safe, room-len(ext))) + ext
		if safe == "" {
			safe = "unnamed"
		}
	}
	return SafeName(id + "_" + safe)
}

// trimDotsAndSpaces removes dots and white space at both ends: a leading dot hides the file on
// Unix, a trailing one (or space) is dropped by Windows.
func trimDotsAndSpaces(s string) string {
	return strings.TrimFunc(s, func(r rune) bool { return r == '.' || unicode.IsSpace(r) })
}

func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
