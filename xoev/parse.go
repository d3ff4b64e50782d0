package xoev

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"

	"github.com/lestrrat-go/libxml2/parser"
	"github.com/lestrrat-go/libxml2/types"
)

// DefaultMaxBytes is the size limit for XML that enters amtsbote.
const DefaultMaxBytes = 16 << 20

// Document is a parsed XML document. Free it when done: libxml2's memory is not collected.
type Document struct {
	doc types.Document
}

func (d *Document) pointer() uintptr { return d.doc.Pointer() }

// Free releases the document.
func (d *Document) Free() { d.doc.Free() }

// docParser never substitutes entities, never loads a DTD and never uses the network; big-line
// numbers keep line numbers right past 65535.
var docParser = parser.New(parser.XMLParseNoNet | parser.XMLParseBigLines)

// Parse parses XML from outside (submissions, receipts, files given to the CLI) safely. It
// refuses documents over maxBytes, any DOCTYPE (the door to external entities, external DTDs
// and entity expansion bombs) and encodings other than UTF-8 and its ASCII-compatible kin.
func Parse(data []byte, maxBytes int64) (*Document, error) {
	if int64(len(data)) > maxBytes {
		return nil, &ParseError{Problem{Message: fmt.Sprintf("the document is %d bytes; the limit is %d", len(data), maxBytes)}}
	}
	if err := checkProlog(data); err != nil {
		return nil, err
	}
	initLibxml2()
	doc, err := docParser.Parse(data)
	if err != nil {
		return nil, &ParseError{parseProblem(err.Error())}
	}
	if hasDTD(doc.Pointer()) {
		doc.Free()
		return nil, &ParseError{Problem{Message: doctypeRefused}}
	}
	return &Document{doc: doc}, nil
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

var lineInMessage = regexp.MustCompile(`line (\d+): parser error : `)

// parseProblem turns the binding's error text into a Problem with the line it names.
func parseProblem(msg string) Problem {
	p := Problem{Message: "not well-formed XML: " + msg}
	if m := lineInMessage.FindStringSubmatchIndex(msg); m != nil {
		p.Line, _ = strconv.Atoi(msg[m[2]:m[3]])
		p.Message = "not well-formed XML: " + msg[m[1]:]
	}
	return p
}
