// Package mapping turns a submission into a message with a declarative mapping file written by
// integrators (YAML; see docs/mapping.md): an XÖV message (XML, built with etree), or — for a
// Fachverfahren with an intake of its own — a JSON document checked against the receiver's JSON
// Schema, or a CSV file (RFC 4180, UTF-8 or Windows-1252). A mapping is compiled once — every
// expression checked, every include resolved — and then run for each submission. Expressions use
// expr-lang; every rule keeps its file:line so that a missing value, a failing expression, an
// XSD error on the element it produced, a JSON Schema error on the value it produced or a
// character a CSV's encoding cannot write points at the line to fix.
package mapping
