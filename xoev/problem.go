package xoev

import (
	"fmt"
	"strings"
)

// Problem is one thing wrong with a message or a schema, located as precisely as libxml2 (or
// our own checks) know it.
type Problem struct {
	Line    int    `json:"line,omitempty"`
	Column  int    `json:"column,omitempty"`
	Path    string `json:"path,omitempty"` // element path, e.g. /xdomea:Abgabe.Abgabe.0401/xdomea:Kopf
	Message string `json:"message"`
	// Rule is the mapping rule that produced the element, when the mapping engine knows it.
	Rule string `json:"rule,omitempty"`
}

func (p Problem) String() string {
	var b strings.Builder
	if p.Line > 0 {
		fmt.Fprintf(&b, "line %d", p.Line)
		if p.Column > 0 {
			fmt.Fprintf(&b, ", column %d", p.Column)
		}
		b.WriteString(": ")
	}
	if p.Path != "" {
		b.WriteString(p.Path + ": ")
	}
	b.WriteString(p.Message)
	if p.Rule != "" {
		b.WriteString(" (mapping rule " + p.Rule + ")")
	}
	return b.String()
}

// ValidationError lists everything wrong with a message.
type ValidationError struct {
	SchemaSet string
	Problems  []Problem
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.String()
	}
	return fmt.Sprintf("not valid against %s: %s", e.SchemaSet, strings.Join(parts, "; "))
}

// ParseError is XML that was refused before validation: not well-formed, too large, or unsafe.
type ParseError struct {
	Problem
}

func (e *ParseError) Error() string { return e.Problem.String() }
