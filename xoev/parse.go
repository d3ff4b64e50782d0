package xoev

import (
	"bytes"
	"fmt"

	"github.com/lestrrat-go/libxml2/dom"
	"github.com/lestrrat-go/libxml2/types"
)

// DefaultMaxBytes is the size limit for XML that enters amtsbote.
const DefaultMaxBytes = 16 << 20

// Document is a parsed XML document, usable through the libxml2 binding's DOM and XPath API.
// Free it when done: libxml2's memory is not collected.
type Document struct {
	doc types.Document
}

// DOM returns the document for the binding's DOM and XPath API; it is valid until Free.
func (d *Document) DOM() types.Document { return d.doc }

func (d *Document) pointer() uintptr { return d.doc.Pointer() }

// Free releases the document.
func (d *Document) Free() { d.doc.Free() }

// Parse parses XML from outside (submissions, receipts, files given to the CLI) safely. It
// refuses documents over maxBytes, any DOCTYPE (the door to external entities, external DTDs
// and entity expansion bombs) and encodings other than UTF-8 and its ASCII-compatible kin.
func Parse(data []byte, maxBytes int64) (*Document, error) {
	if err := checkInput(data, maxBytes); err != nil {
		return nil, err
	}
	initLibxml2()
	ptr, problems := parseDoc(data)
	if ptr == 0 {
		return nil, notWellFormed(problems)
	}
	doc := dom.WrapDocument(ptr)
	if hasDTD(ptr) {
		doc.Free()
		return nil, &ParseError{Problem{Message: doctypeRefused}}
	}
	return &Document{doc: doc}, nil
}

// checkInput refuses what must not reach libxml2: oversized documents and any DOCTYPE.
func checkInput(data []byte, maxBytes int64) error {
	if int64(len(data)) > maxBytes {
		return &ParseError{Problem{Message: fmt.Sprintf("the document is %d bytes; the limit is %d", len(data), maxBytes)}}
	}
	return checkProlog(data)
}

func notWellFormed(problems []Problem) *ParseError {
	p := problems[0]
	p.Message = "not well-formed XML: " + p.Message
	p.Path = ""
	return &ParseError{p}
}

const doctypeRefused = "a DOCTYPE declaration is not accepted: XÖV messages have none, and DTDs open the door to external entities and entity expansion attacks"

// checkProlog looks at what comes before the root element, where a DOCTYPE would have to be.
func checkProlog(data []byte) error {
	switch {
	case bytes.HasPrefix(data, []byte{0xFE, 0xFF}), bytes.HasPrefix(data, []byte{0xFF, 0xFE}),
		len(data) >= 2 && (data[0] == 0 || data[1] == 0):
		return &ParseError{Problem{Line: 1, Column: 1, Message: "UTF-16 and UTF-32 documents are not accepted; send UTF-8"}}
	}
	rest := bytes.TrimPrefix(data, []byte{0xEF, 0xBB, 0xBF})
	for {
		rest = bytes.TrimLeft(rest, " \t\r\n")
		switch {
		case bytes.HasPrefix(rest, []byte("<?")):
			end := bytes.Index(rest, []byte("?>"))
			if end < 0 {
				return nil // let the parser report it
			}
			rest = rest[end+2:]
		case bytes.HasPrefix(rest, []byte("<!--")):
			end := bytes.Index(rest[4:], []byte("-->"))
			if end < 0 {
				return nil
			}
			rest = rest[4+end+3:]
		case bytes.HasPrefix(rest, []byte("<!")):
			line, col := position(data, len(data)-len(rest))
			return &ParseError{Problem{Line: line, Column: col, Message: doctypeRefused}}
		default:
			return nil
		}
	}
}

func position(data []byte, offset int) (line, col int) {
	before := data[:offset]
	line = bytes.Count(before, []byte("\n")) + 1
	col = offset - bytes.LastIndexByte(before, '\n')
	return line, col
}
