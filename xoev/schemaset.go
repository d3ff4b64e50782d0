package xoev

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"unsafe"

	"github.com/lestrrat-go/libxml2/types"
)

// SchemaSetConfig describes one XÖV standard in one version. It is data: adding a standard
// means copying its files and writing these few lines of configuration.
type SchemaSetConfig struct {
	// ID names the set, e.g. xdomea-3.0.0.
	ID string
	// Root is the XSD that includes or imports the rest.
	Root string
	// Namespaces are the target namespaces of the set's messages; `validate` picks the set by
	// the root element's namespace.
	Namespaces []string
	// Catalog is an OASIS XML catalog mapping absolute schemaLocation URLs to local files
	// (optional when every import is relative).
	Catalog string
	// CodeLists are directories of genericode code lists (optional): the standard's own, and
	// others its messages use (e.g. the DVDV's prefixes).
	CodeLists []string
	// Standard and Version name the XÖV standard of the set's messages as the Basisnachricht
	// G2G writes them on the message (standard, version attributes), e.g. XBerufsbildung, 0.6.
	Standard, Version string
}

// Validator checks a message. A nil error means valid; otherwise *ParseError or *ValidationError.
type Validator interface {
	Validate(doc []byte) error
}

var _ Validator = (*SchemaSet)(nil)

// SchemaSet is a compiled schema set. It is safe for use by many goroutines at once.
type SchemaSet struct {
	ID         string
	Namespaces []string
	// Standard and Version name the XÖV standard (SchemaSetConfig).
	Standard, Version string
	// Files are the schema files the set consists of, root first.
	Files []string
	// CodeLists are the genericode lists of the configuration (code_lists) and the lists the
	// schema's code types enumerate (SchemaCodeLists); nil if there are none.
	CodeLists *CodeLists
	schema    unsafe.Pointer
	// mu keeps Close from freeing the compiled schema while a validation uses it; closed
	// refuses validations after it.
	mu     sync.RWMutex
	closed bool
}

// ErrClosed is returned by a validation against a schema set that was closed (its snapshot
// retired and released): never a validation against freed memory.
var ErrClosed = errors.New("the schema set is closed")

// compileMu serialises compiles: the loader's view of "what may be read now" is global.
var compileMu sync.Mutex

// LoadSchemaSet resolves every include and import of the set through its catalog, compiles the
// set once, and loads its code lists. Every problem is reported with the file that causes it.
func LoadSchemaSet(c SchemaSetConfig) (*SchemaSet, error) {
	var catalog *Catalog
	if c.Catalog != "" {
		var err error
		if catalog, err = LoadCatalog(c.Catalog); err != nil {
			return nil, fmt.Errorf("schema set %s: %w", c.ID, err)
		}
	}
	files, urls, err := walkSchemas(c.Root, catalog)
	if err != nil {
		return nil, fmt.Errorf("schema set %s: %w", c.ID, err)
	}
	compileMu.Lock()
	beginCompile(urls)
	schema, problems := compileSchema(c.Root)
	refused := endCompile()
	compileMu.Unlock()
	if schema == nil {
		msgs := make([]string, 0, len(problems)+len(refused))
		for _, u := range refused {
			msgs = append(msgs, "refused to load "+u+" (not in the catalog; amtsbote never uses the network)")
		}
		for _, p := range problems {
			msgs = append(msgs, p.String())
		}
		return nil, fmt.Errorf("schema set %s: %s does not compile:\n  %s", c.ID, c.Root, strings.Join(msgs, "\n  "))
	}
	s := &SchemaSet{ID: c.ID, Namespaces: c.Namespaces, Standard: c.Standard, Version: c.Version, Files: files, schema: schema}
	if len(c.CodeLists) > 0 {
		if s.CodeLists, err = LoadCodeLists(c.CodeLists...); err != nil {
			s.Close()
			return nil, fmt.Errorf("schema set %s: %w", c.ID, err)
		}
	}
	embedded, err := SchemaCodeLists(files)
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("schema set %s: code lists of the schema: %w", c.ID, err)
	}
	s.CodeLists = s.CodeLists.Merge(embedded...)
	return s, nil
}

// Compile loads a schema set that needs no catalog and no code lists.
func Compile(id, namespace, root string) (*SchemaSet, error) {
	var ns []string
	if namespace != "" {
		ns = []string{namespace}
	}
	return LoadSchemaSet(SchemaSetConfig{ID: id, Root: root, Namespaces: ns})
}

// walkSchemas follows include, import, redefine and override from the root, resolving relative
// locations against the including file and absolute URLs through the catalog. It returns the
// files, the URL→file map the loader needs, and an error naming every URL it cannot resolve
// together with the schema (file:line) that refers to it.
func walkSchemas(root string, catalog *Catalog) ([]string, map[string]string, error) {
	urls := map[string]string{}
	seen := map[string]bool{}
	var files []string
	var problems []string
	queue := []string{filepath.Clean(root)}
	for len(queue) > 0 {
		file := queue[0]
		queue = queue[1:]
		if seen[file] {
			continue
		}
		seen[file] = true
		files = append(files, file)
		info, err := readSchemaFile(file)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		for _, r := range info.refs {
			if r.location == "" {
				continue // an import of a namespace alone: libxml2 loads nothing for it
			}
			where := fmt.Sprintf("%s:%d", file, r.line)
			var local string
			if isURL(r.location) {
				var ok bool
				if local, ok = catalog.Resolve(r.location); !ok {
					hint := "add it to the schema set's catalog"
					if catalog == nil {
						hint = "configure a catalog for this schema set that maps it to a local copy"
					}
					problems = append(problems, fmt.Sprintf("%s imports %s, which cannot be resolved offline: %s", where, r.location, hint))
					continue
				}
				urls[r.location] = local
			} else {
				local = localPath(file, r.location)
			}
			if _, err := os.Stat(local); err != nil {
				problems = append(problems, fmt.Sprintf("%s refers to %s, but %s does not exist", where, r.location, local))
				continue
			}
			queue = append(queue, filepath.Clean(local))
		}
	}
	if len(problems) > 0 {
		return nil, nil, errors.New(strings.Join(problems, "\n  "))
	}
	return files, urls, nil
}

// Validate checks a message: safe parsing, the XSD, and the code lists where the message names
// them. A nil error means valid; otherwise a *ParseError or a *ValidationError.
func (s *SchemaSet) Validate(data []byte) error {
	return s.Check(data, s.CodeLists != nil)
}

// Check is Validate with the code-list check chosen by the caller (the CLI leaves it off by
// default, so its verdict matches xmllint's).
func (s *SchemaSet) Check(data []byte, codes bool) error {
	if err := checkInput(data, DefaultMaxBytes); err != nil {
		return err
	}
	initLibxml2()
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return fmt.Errorf("schema set %s: %w", s.ID, ErrClosed)
	}
	problems, parsed, dtd, internal := checkDoc(s.schema, data)
	s.mu.RUnlock()
	switch {
	case dtd:
		return &ParseError{Problem{Message: doctypeRefused}}
	case !parsed:
		return notWellFormed(problems)
	case internal:
		return fmt.Errorf("schema set %s: libxml2 could not run the validation", s.ID)
	}
	if codes && s.CodeLists != nil {
		problems = append(problems, s.CodeLists.Check(data)...)
	}
	if len(problems) > 0 {
		return &ValidationError{SchemaSet: s.ID, Problems: problems}
	}
	return nil
}

// RootNamespace returns the namespace of a document's root element, to pick its schema set. It
// parses with the parser that validates (libxml2, with the same safety checks), so a document
// gets one verdict whichever way its set is chosen; a document that does not parse gives a
// *ParseError.
func RootNamespace(data []byte) (string, error) {
	doc, err := Parse(data, DefaultMaxBytes)
	if err != nil {
		return "", err
	}
	defer doc.Free()
	root, err := doc.DOM().DocumentElement()
	if err != nil {
		return "", &ParseError{Problem{Message: "not well-formed XML: the document has no root element"}}
	}
	el, ok := root.(types.Element)
	if !ok {
		return "", &ParseError{Problem{Message: "not well-formed XML: the document has no root element"}}
	}
	return el.NamespaceURI(), nil
}

// ValidateDocument checks a parsed document against the XSD only, reporting every problem.
func (s *SchemaSet) ValidateDocument(doc *Document) ([]Problem, error) {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return nil, fmt.Errorf("schema set %s: %w", s.ID, ErrClosed)
	}
	problems, internal := validateDoc(s.schema, doc.pointer())
	s.mu.RUnlock()
	if internal {
		return nil, fmt.Errorf("schema set %s: libxml2 could not run the validation", s.ID)
	}
	return problems, nil
}

// Close frees the compiled schema once the validations using it have ended; later ones get
// ErrClosed.
func (s *SchemaSet) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		freeSchema(s.schema)
	}
}
