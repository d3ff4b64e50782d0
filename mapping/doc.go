// Package mapping turns a submission into an XÖV message with a declarative mapping file
// written by integrators (YAML; see docs/mapping.md). A mapping is compiled once — every
// expression checked, every include resolved — and then run for each submission. Expressions
// use expr-lang; every rule keeps its file:line so that a missing value, a failing expression or
// an XSD error on the element it produced points at the line to fix.
package mapping
