package mapping

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/beevik/etree"
)

// XMLData turns form data sent as XML (a FIT-Connect submission whose data schema is an XSD)
// into the tree mappings see as data, written as JSON: the root element's children by their
// local names; an element with only text is its text, one with children or attributes a map
// (attributes as "@name", text beside children as "#text"); repeated elements are a list.
func XMLData(raw []byte) (json.RawMessage, error) {
	doc := etree.NewDocument()
	doc.ReadSettings.Permissive = false
	if err := doc.ReadFromBytes(raw); err != nil {
		return nil, fmt.Errorf("the data is not well-formed XML: %v", err)
	}
	root := doc.Root()
	if root == nil {
		return nil, fmt.Errorf("the data has no root element")
	}
	tree, ok := xmlValue(root).(map[string]any)
	if !ok {
		tree = map[string]any{"#text": xmlValue(root)}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(tree); err != nil {
		return nil, err
	}
	return bytes.TrimSpace(buf.Bytes()), nil
}

func xmlValue(el *etree.Element) any {
	children := el.ChildElements()
	var attrs []etree.Attr
	for _, a := range el.Attr {
		if a.Space != "xmlns" && a.Key != "xmlns" && a.Space != "xsi" {
			attrs = append(attrs, a)
		}
	}
	var b strings.Builder
	for _, tok := range el.Child {
		if cd, ok := tok.(*etree.CharData); ok {
			b.WriteString(cd.Data)
		}
	}
	text := strings.TrimSpace(b.String())
	if len(children) == 0 && len(attrs) == 0 {
		return text
	}
	m := map[string]any{}
	for _, a := range attrs {
		m["@"+a.Key] = a.Value
	}
	for _, c := range children {
		v := xmlValue(c)
		switch prev, ok := m[c.Tag]; {
		case !ok:
			m[c.Tag] = v
		case isList(prev):
			m[c.Tag] = append(prev.([]any), v)
		default:
			m[c.Tag] = []any{prev, v}
		}
	}
	if text != "" {
		m["#text"] = text
	}
	return m
}

func isList(v any) bool {
	_, ok := v.([]any)
	return ok
}
