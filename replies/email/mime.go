package email

import (
	"fmt"
	"mime"
	"strconv"
	"strings"
	"unicode"
)

// attachmentName is a document's file name for the mail: control characters and path
// separators removed, "Dokument-<n>.pdf" if nothing is left.
func attachmentName(name string, i int) string {
	name = strings.TrimSpace(strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '/' || r == '\\' || r == '\u2028' || r == '\u2029' {
			return -1
		}
		return r
	}, strings.ToValidUTF8(name, "")))
	if name == "" || name == "." || name == ".." {
		return "Dokument-" + strconv.Itoa(i+1) + ".pdf"
	}
	return truncate(name, 200)
}

// mediaType is a document's media type as a MIME type without parameters, or
// application/octet-stream.
func mediaType(mt string) string {
	parsed, _, err := mime.ParseMediaType(mt)
	if err != nil || !strings.Contains(parsed, "/") {
		return "application/octet-stream"
	}
	return parsed
}

// encodeWord encodes a header value for a mail header (RFC 2047 where it is not ASCII), folded
// between encoded words so that lines stay short.
func encodeWord(v string) string {
	return strings.ReplaceAll(mime.QEncoding.Encode("utf-8", v), "?= =?", "?=\r\n =?")
}

// withParams is a header value with parameters, each on its own folded line. A value that is
// a plain token stays as it is; one that needs quoting is quoted; one that is not ASCII, or
// too long for a line, is RFC 2231 encoded (utf-8”, percent-encoded, split into
// continuations name*0*=, name*1*=, …).
func withParams(value string, params ...[2]string) string {
	var b strings.Builder
	b.WriteString(value)
	for _, p := range params {
		for _, piece := range encodeParam(p[0], p[1]) {
			b.WriteString(";\r\n ")
			b.WriteString(piece)
		}
	}
	return b.String()
}

const paramChunk = 60 // characters of a quoted value on its line

func encodeParam(name, value string) []string {
	ascii := true
	for _, r := range value {
		if r < 0x20 || r > 0x7e {
			ascii = false
			break
		}
	}
	if ascii {
		if value != "" && len(value) <= paramChunk && strings.IndexFunc(value, func(r rune) bool { return !isTokenChar(r) }) < 0 {
			return []string{name + "=" + value}
		}
		if quoted := strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(value); len(quoted) <= paramChunk {
			return []string{name + `="` + quoted + `"`}
		}
	}
	// Each piece goes on a line of its own: " name*<i>*=" (and "utf-8''" first), the
	// percent-encoded chunk and ";" within 78 characters.
	limit := func(i int) int {
		n := 78 - len(" ;"+name+"*"+strconv.Itoa(i)+"*=")
		if i == 0 {
			n -= len("utf-8''")
		}
		return n
	}
	var chunks []string
	var cur strings.Builder
	for i := 0; i < len(value); i++ {
		c := value[i]
		piece := string(c)
		if !isAttrChar(c) {
			piece = fmt.Sprintf("%%%02X", c)
		}
		if cur.Len()+len(piece) > limit(len(chunks)) {
			chunks = append(chunks, cur.String())
			cur.Reset()
		}
		cur.WriteString(piece)
	}
	chunks = append(chunks, cur.String())
	if len(chunks) == 1 {
		return []string{name + "*=utf-8''" + chunks[0]}
	}
	out := make([]string, len(chunks))
	for i, c := range chunks {
		prefix := ""
		if i == 0 {
			prefix = "utf-8''"
		}
		out[i] = name + "*" + strconv.Itoa(i) + "*=" + prefix + c
	}
	return out
}

// isTokenChar: RFC 2045 token characters.
func isTokenChar(r rune) bool {
	return r > 0x20 && r < 0x7f && !strings.ContainsRune(`()<>@,;:\"/[]?=`, r)
}

// isAttrChar: RFC 2231 attribute-char, what stays unencoded in an extended value.
func isAttrChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$&+-.^_`|~", c) >= 0
}
