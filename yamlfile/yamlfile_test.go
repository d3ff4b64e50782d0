package yamlfile_test

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/amtsbote/amtsbote/yamlfile"
)

func TestParseNamesLineAndColumn(t *testing.T) {
	tests := []struct {
		name, doc, want string
	}{
		{"indentation", "server:\n  listen: a\n   bad: x\n", "F.yaml:3:7: mapping values are not allowed in this context"},
		{"tab", "a: 1\nb:\n\t- x\n", "F.yaml:3:1: found character that cannot start any token"},
		{"unclosed quote", "server:\n  listen: \"a\n  x: [1\n", "F.yaml:4:1: found unexpected end of stream (while scanning a quoted scalar that starts at line 2, column 11)"},
		{"unclosed flow", "a: [1, 2\nb: 3\n", "F.yaml:2:2: did not find expected ',' or ']' (while parsing a flow sequence that starts at line 1, column 4)"},
		{"list item in a mapping", "a:\n  - b\n  c: d\n", "F.yaml:3:3: did not find expected '-' indicator (while parsing a block collection that starts at line 2, column 3)"},
		{"unknown anchor", "a: *nope\n", "F.yaml:1:4: unknown anchor 'nope' referenced"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := yamlfile.Parse("F.yaml", []byte(tt.doc))
			var ye *yamlfile.Error
			if !errors.As(err, &ye) || err.Error() != tt.want {
				t.Fatalf("err = %v\nwant %s", err, tt.want)
			}
		})
	}
	if doc, err := yamlfile.Parse("F.yaml", []byte("a: 1\n")); err != nil || doc.Content[0].Content[0].Value != "a" {
		t.Fatalf("valid YAML: %v", err)
	}
}

// Unmarshal errors (unknown fields, wrong types, duplicate keys) know only their line.
func TestDescribeUnmarshalErrors(t *testing.T) {
	raw := []byte("a: 1\nb: x\nzz: 2\n")
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	err := yamlfile.Describe("F.yaml", raw, dec.Decode(&struct {
		A int `yaml:"a"`
		B int `yaml:"b"`
	}{}))
	want := "F.yaml:2: cannot unmarshal !!str `x` into int\nF.yaml:3: field zz not found in type struct { A int \"yaml:\\\"a\\\"\"; B int \"yaml:\\\"b\\\"\" }"
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v\nwant %s", err, want)
	}
	dup := []byte("a: 1\na: 2\n")
	err = yamlfile.Describe("F.yaml", dup, yaml.Unmarshal(dup, &map[string]any{}))
	if err == nil || err.Error() != `F.yaml:2: mapping key "a" already defined at line 1` {
		t.Fatalf("err = %v", err)
	}
	if err := yamlfile.Describe("F.yaml", nil, io.ErrUnexpectedEOF); err != io.ErrUnexpectedEOF {
		t.Fatalf("other errors pass unchanged, got %v", err)
	}
}

// Whatever the YAML, an error of the parser becomes one that names the file and no longer
// speaks of "yaml: line".
func FuzzDescribe(f *testing.F) {
	for _, s := range []string{"a: [1\n", "a:\n\t- b\n", "a: 1\na: 2\n", "- a\nb: c\n", "a: *x\n", "%YAML 9\n---\na\n", "\"\\q\"\n", "a: !!int x\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var m map[string]any
		err := yaml.Unmarshal(raw, &m)
		if err == nil {
			return
		}
		got := yamlfile.Describe("F.yaml", raw, err)
		if got == nil {
			t.Fatal("error lost")
		}
		for _, line := range strings.Split(got.Error(), "\n") {
			if !strings.HasPrefix(line, "F.yaml:") || strings.Contains(line, "yaml: line") {
				t.Fatalf("%q (from %q)", line, err)
			}
		}
	})
}
