package formdoc

import (
	"fmt"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/amtsbote/amtsbote/yamlfile"
)

// Labels name the fields of a form in German. Keys are paths into the data:
// "inhaber", "inhaber.vorname", array items as "gesellschafter[]" and
// "gesellschafter[].vorname".
type Labels struct {
	Title  string            // default title, used when Document.Title is empty
	Fields map[string]string // path → label
	Hide   []string          // paths not shown (e.g. technical fields)
}

// LoadLabels reads a labels file, reporting problems with file:line:
//
//	title: Gewerbeanmeldung
//	fields:
//	  inhaber: Inhaberin oder Inhaber
//	  inhaber.vorname: Vorname
//	  gesellschafter[]: Gesellschafter/in
//	hide: [intern]
//
// Unknown keys are errors rather than being ignored, because a misspelt
// "fileds:" would otherwise silently drop every label of a form. An empty
// file gives empty Labels.
func LoadLabels(path string) (Labels, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return Labels{}, fmt.Errorf("formdoc: labels: %w", err)
	}
	return parseLabels(path, raw)
}

func parseLabels(path string, raw []byte) (Labels, error) {
	doc, err := yamlfile.Parse(path, raw)
	if err != nil {
		return Labels{}, err
	}
	var l Labels
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return l, nil
	}
	root := deref(doc.Content[0])
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return l, nil
	}
	if root.Kind != yaml.MappingNode {
		return Labels{}, fmt.Errorf("%s:%d: a mapping with title, fields and hide is expected", path, root.Line)
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], deref(root.Content[i+1])
		if prev, dup := seen[k.Value]; dup {
			return Labels{}, fmt.Errorf("%s:%d: %q is already given at line %d", path, k.Line, k.Value, prev)
		}
		seen[k.Value] = k.Line
		var err error
		switch k.Value {
		case "title":
			l.Title, err = scalarString(path, "title", v)
		case "fields":
			l.Fields, err = labelFields(path, v)
		case "hide":
			l.Hide, err = hidePaths(path, v)
		default:
			err = fmt.Errorf("%s:%d: unknown key %q (allowed: title, fields, hide)", path, k.Line, k.Value)
		}
		if err != nil {
			return Labels{}, err
		}
	}
	return l, nil
}

// deref follows YAML aliases so that anchors may be used for shared labels.
func deref(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func scalarString(path, what string, n *yaml.Node) (string, error) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return "", fmt.Errorf("%s:%d: %s must be a text", path, n.Line, what)
	}
	return n.Value, nil
}

func labelFields(path string, n *yaml.Node) (map[string]string, error) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil, nil
	}
	if n.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s:%d: fields must map field paths to labels", path, n.Line)
	}
	fields := make(map[string]string, len(n.Content)/2)
	lines := make(map[string]int, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], deref(n.Content[i+1])
		if k.Kind != yaml.ScalarNode || strings.TrimSpace(k.Value) == "" {
			return nil, fmt.Errorf("%s:%d: a field path must be a non-empty text", path, k.Line)
		}
		if prev, dup := lines[k.Value]; dup {
			return nil, fmt.Errorf("%s:%d: field %q is already labelled at line %d", path, k.Line, k.Value, prev)
		}
		label, err := scalarString(path, fmt.Sprintf("the label of %q", k.Value), v)
		if err != nil {
			return nil, err
		}
		if strings.TrimSpace(label) == "" {
			return nil, fmt.Errorf("%s:%d: the label of %q is empty", path, v.Line, k.Value)
		}
		fields[k.Value] = label
		lines[k.Value] = k.Line
	}
	return fields, nil
}

func hidePaths(path string, n *yaml.Node) ([]string, error) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil, nil
	}
	if n.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("%s:%d: hide must be a list of field paths", path, n.Line)
	}
	var out []string
	for _, c := range n.Content {
		s, err := scalarString(path, "a hidden field path", deref(c))
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}
