// Package jsonfield says where and what is wrong in JSON that failed to decode, in the words
// every amtsbote API uses for it: the field as problems name it (attachments[1].content_base64)
// and the kind of value that was found.
package jsonfield

import (
	"strconv"
	"strings"

	"github.com/go-json-experiment/json/jsontext"
)

// Path writes a JSON pointer (/attachments/1/content_base64) the way problems name fields
// (attachments[1].content_base64). A name of digits after the first reads as an index; an
// empty name, or one with characters of this notation, is quoted (data["a.b"]).
func Path(p jsontext.Pointer) string {
	var b strings.Builder
	for tok := range p.Tokens() {
		switch {
		case tok != "" && strings.Trim(tok, "0123456789") == "" && b.Len() > 0:
			b.WriteString("[" + tok + "]")
		case tok == "" || strings.ContainsAny(tok, ".[]\""):
			b.WriteString("[" + strconv.Quote(tok) + "]")
		default:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(tok)
		}
	}
	return b.String()
}

// KindName names the kind of a JSON value with its article: "a string", "an object", "null".
func KindName(k jsontext.Kind) string {
	switch k {
	case '"':
		return "a string"
	case '0':
		return "a number"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	case '{':
		return "an object"
	case '[':
		return "an array"
	}
	return "a " + k.String()
}
