// Package xoev holds what amtsbote knows about XÖV standards: compiling an official XSD schema
// set once and validating messages against it offline (libxml2 behind the small Validator
// interface, because the binding is archived upstream), and the parts of a message header that
// every XÖV standard shares.
package xoev
