package golden

import (
	"fmt"
	"sort"
	"strings"

	"github.com/beevik/etree"
)

// Canonical renders XML so that two documents that mean the same compare equal: attributes
// sorted, whitespace between elements dropped, text trimmed, two-space indentation, and
// generated values replaced by placeholders.
func Canonical(xml []byte) (string, error) {
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(xml); err != nil {
		return "", fmt.Errorf("not well-formed XML: %w", err)
	}
	root := doc.Root()
	if root == nil {
		return "", fmt.Errorf("no root element")
	}
	canonicalize(root)
	out := etree.NewDocument()
	out.SetRoot(root)
	out.Indent(2)
	s, err := out.WriteToString()
	if err != nil {
		return "", err
	}
	return placeholders(strings.TrimSpace(s)), nil
}

func canonicalize(el *etree.Element) {
	sort.Slice(el.Attr, func(i, j int) bool { return el.Attr[i].FullKey() < el.Attr[j].FullKey() })
	var keep []etree.Token
	for _, t := range el.Child {
		switch c := t.(type) {
		case *etree.Element:
			canonicalize(c)
			keep = append(keep, c)
		case *etree.CharData:
			if text := strings.TrimSpace(c.Data); text != "" {
				keep = append(keep, etree.NewText(text))
			}
		}
	}
	el.Child = nil
	for _, t := range keep {
		el.AddChild(t)
	}
}
