package config

import (
	"os"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

var keyPart = regexp.MustCompile(`^([^\[\]]*)((?:\[[0-9]+\])*)$`)

// locator finds the line of a configuration key in its file.
type locator struct {
	root *yaml.Node
}

func newLocator(file string) *locator {
	raw, err := os.ReadFile(file)
	if err != nil {
		return &locator{}
	}
	var doc yaml.Node
	if yaml.Unmarshal(raw, &doc) != nil || len(doc.Content) == 0 {
		return &locator{}
	}
	return &locator{root: doc.Content[0]}
}

// line returns the line of a key such as fitconnect.subscriptions[0].signing_key, or of the
// nearest enclosing key the file has; 0 if the file has none of it.
func (l *locator) line(key string) int {
	n, line := l.root, 0
	if n == nil {
		return 0
	}
	for _, part := range strings.Split(key, ".") {
		m := keyPart.FindStringSubmatch(part)
		if m == nil {
			return line
		}
		if m[1] != "" {
			next := mapValue(n, m[1])
			if next == nil {
				return line
			}
			line, n = next.key.Line, next.value
		}
		for _, idx := range regexp.MustCompile(`[0-9]+`).FindAllString(m[2], -1) {
			i, _ := strconv.Atoi(idx)
			if n.Kind != yaml.SequenceNode || i >= len(n.Content) {
				return line
			}
			n = n.Content[i]
			line = n.Line
		}
	}
	return line
}

type pair struct{ key, value *yaml.Node }

func mapValue(n *yaml.Node, name string) *pair {
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == name {
			return &pair{n.Content[i], n.Content[i+1]}
		}
	}
	return nil
}

// Line returns the line of a configuration key in the file the configuration was read from (0
// if it is not there, e.g. a default).
func (c *Config) Line(key string) int {
	if c.File == "" {
		return 0
	}
	return newLocator(c.File).line(key)
}

// Where is file:line of a key (or the file alone if the key is not written in it), for error
// messages.
func (c *Config) Where(key string) string {
	if line := c.Line(key); line > 0 {
		return c.File + ":" + strconv.Itoa(line)
	}
	return c.File
}
