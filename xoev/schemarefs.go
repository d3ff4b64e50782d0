package xoev

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/text/encoding/htmlindex"
)

const xsdNS = "http://www.w3.org/2001/XMLSchema"

// schemaRef is one include, import, redefine or override of a schema.
type schemaRef struct {
	kind      string // include, import, redefine, override
	location  string // schemaLocation, trimmed; empty when the element has none
	namespace string // the import's namespace
	// line is where the element's start tag ends, which is the line of schemaLocation in the
	// usual layout of one attribute per line.
	line int
}

// schemaInfo is what the schema walk needs of one schema document.
type schemaInfo struct {
	targetNamespace string
	refs            []schemaRef
}

// readSchemaFile reads the references of one schema file; errors name file:line.
func readSchemaFile(file string) (schemaInfo, error) {
	f, err := os.Open(file)
	if err != nil {
		return schemaInfo{}, err
	}
	defer f.Close()
	info, err := readSchema(f)
	if err != nil {
		return info, fmt.Errorf("%s:%w", file, err)
	}
	return info, nil
}

// readSchema reads a schema's target namespace and its references. An error starts with the
// line it occurred on ("12: …"), for the caller to put the file name in front. The document
// must be an xs:schema; encodings other than UTF-8 are read when they are declared.
func readSchema(r io.Reader) (schemaInfo, error) {
	var info schemaInfo
	dec := xml.NewDecoder(r)
	dec.CharsetReader = func(label string, in io.Reader) (io.Reader, error) {
		enc, err := htmlindex.Get(label)
		if err != nil {
			return nil, fmt.Errorf("encoding %q is not supported", label)
		}
		return enc.NewDecoder().Reader(in), nil
	}
	rootSeen := false
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			if !rootSeen {
				return info, fmt.Errorf("1: not a schema: the document is empty")
			}
			return info, nil
		}
		line, _ := dec.InputPos()
		if err != nil {
			var se *xml.SyntaxError
			if errors.As(err, &se) {
				return info, fmt.Errorf("%d: not a readable schema: %s", se.Line, se.Msg)
			}
			return info, fmt.Errorf("%d: not a readable schema: %v", line, err)
		}
		el, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		if !rootSeen {
			rootSeen = true
			if el.Name.Space != xsdNS || el.Name.Local != "schema" {
				return info, fmt.Errorf("%d: not a schema: the root element is {%s}%s, not {%s}schema", line, el.Name.Space, el.Name.Local, xsdNS)
			}
			info.targetNamespace = strings.TrimSpace(attr(el, "targetNamespace"))
			continue
		}
		if el.Name.Space != xsdNS {
			continue
		}
		switch el.Name.Local {
		case "include", "import", "redefine", "override":
			info.refs = append(info.refs, schemaRef{
				kind:      el.Name.Local,
				location:  strings.TrimSpace(attr(el, "schemaLocation")),
				namespace: strings.TrimSpace(attr(el, "namespace")),
				line:      line,
			})
		}
	}
}

// attr returns an unqualified attribute's value.
func attr(el xml.StartElement, name string) string {
	for _, a := range el.Attr {
		if a.Name.Local == name && a.Name.Space == "" {
			return a.Value
		}
	}
	return ""
}

// localPath is where a schemaLocation that is not a URL points, seen from the schema that
// names it: relative to that schema's directory, or absolute.
func localPath(from, location string) string {
	p := filepath.FromSlash(strings.TrimPrefix(location, "file://"))
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(filepath.Dir(from), p)
}
