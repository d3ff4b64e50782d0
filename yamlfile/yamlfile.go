package yamlfile

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
	yaml4 "go.yaml.in/yaml/v4"
)

// Error is a problem at a place in a YAML file. Column is 0 where only the line is known.
type Error struct {
	File    string
	Line    int
	Column  int
	Message string
}

func (e *Error) Error() string {
	msg := oneLine.Replace(e.Message)
	switch {
	case e.Line > 0 && e.Column > 0:
		return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Column, msg)
	case e.Line > 0:
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, msg)
	}
	return fmt.Sprintf("%s: %s", e.File, msg)
}

// oneLine keeps a problem on one line when the parser quotes a value with line breaks.
var oneLine = strings.NewReplacer("\n", `\n`, "\r", `\r`, "\t", `\t`)

// Parse parses raw, the content of file, into a document node.
func Parse(file string, raw []byte) (*yaml.Node, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, Describe(file, raw, err)
	}
	return &doc, nil
}

var (
	yamlLine     = regexp.MustCompile(`(?s)^(?:yaml: )?line (\d+): (.*)$`)
	unmarshalErr = "yaml: unmarshal errors:"
)

// Describe turns an error of go.yaml.in/yaml/v3 about raw, the content of file, into one that
// names the place: FILE:LINE:COLUMN for a syntax error, FILE:LINE for each of the unmarshal
// errors (unknown fields, wrong types: yaml knows only their line). Other errors (a reader's)
// are returned as they are.
func Describe(file string, raw []byte, err error) error {
	if err == nil {
		return nil
	}
	var te *yaml.TypeError
	if errors.As(err, &te) {
		errs := make([]error, 0, len(te.Errors))
		for _, e := range te.Errors {
			errs = append(errs, lineError(file, e))
		}
		return errors.Join(errs...)
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "yaml: ") || strings.HasPrefix(msg, unmarshalErr) {
		return err
	}
	// yaml v3 keeps the column of a syntax error to itself; its successor reports it (and the
	// construct the error is in). It reads the same YAML 1.1-style documents.
	var le *yaml4.LoadError
	if errors.As(yaml4.Unmarshal(raw, new(yaml4.Node)), &le) && le.Mark.Line > 0 {
		e := &Error{File: file, Line: le.Mark.Line, Column: le.Mark.Column, Message: le.Message}
		if le.ContextMsg != "" && le.ContextMark.Line > 0 && le.ContextMark != le.Mark {
			e.Message += fmt.Sprintf(" (%s that starts at line %d, column %d)", le.ContextMsg, le.ContextMark.Line, le.ContextMark.Column)
		}
		return e
	}
	return lineError(file, msg)
}

// lineError reads yaml v3's "line N: message".
func lineError(file, msg string) *Error {
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &Error{File: file, Line: line, Message: m[2]}
	}
	return &Error{File: file, Message: strings.TrimPrefix(msg, "yaml: ")}
}

// Beside resolves a path written in file: an absolute one as it is, a relative one (with
// forward slashes on every system) against file's directory.
func Beside(file, p string) string {
	p = filepath.FromSlash(p)
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(filepath.Dir(file), p)
}
