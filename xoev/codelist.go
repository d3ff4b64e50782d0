package xoev

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// CodeList is one version of an XÖV code list (genericode).
type CodeList struct {
	URI       string // listURI, the CanonicalUri
	Version   string // listVersionID
	ShortName string
	File      string
	// FromSchema marks a list read from the enumeration of a code type in the XSD
	// (SchemaCodeLists) rather than from a genericode file.
	FromSchema bool
	names      map[string]string // code → name
	byName     map[string]string // lower-case name or other column value → code
}

// Name returns the name (description) of a code.
func (l *CodeList) Name(code string) (string, bool) {
	n, ok := l.names[code]
	return n, ok
}

// Code returns the code for a name or another column's value (an alias), ignoring case. A
// value that already is a code is returned as is.
func (l *CodeList) Code(nameOrAlias string) (string, bool) {
	if _, ok := l.names[nameOrAlias]; ok {
		return nameOrAlias, true
	}
	c, ok := l.byName[strings.ToLower(strings.TrimSpace(nameOrAlias))]
	return c, ok
}

// Len is the number of codes.
func (l *CodeList) Len() int { return len(l.names) }

// CodeLists holds code lists by URI and version.
type CodeLists struct {
	lists map[string]map[string]*CodeList
}

// LoadCodeLists reads every genericode file (*.xml) in the directories.
func LoadCodeLists(dirs ...string) (*CodeLists, error) {
	var files []string
	for _, dir := range dirs {
		found, err := filepath.Glob(filepath.Join(dir, "*.xml"))
		if err != nil {
			return nil, err
		}
		if len(found) == 0 {
			return nil, fmt.Errorf("code lists: no genericode files (*.xml) in %s", dir)
		}
		files = append(files, found...)
	}
	c := &CodeLists{lists: map[string]map[string]*CodeList{}}
	var problems []string
	for _, f := range files {
		l, err := loadGenericode(f)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		if c.lists[l.URI] == nil {
			c.lists[l.URI] = map[string]*CodeList{}
		}
		if prev, dup := c.lists[l.URI][l.Version]; dup {
			problems = append(problems, fmt.Sprintf("%s: code list %s version %s is already defined in %s", f, l.URI, l.Version, prev.File))
			continue
		}
		c.lists[l.URI][l.Version] = l
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("code lists:\n  %s", strings.Join(problems, "\n  "))
	}
	return c, nil
}

// Merge adds lists the set does not hold yet (by URI and version): the lists of the schema's
// code types beside the genericode files, which win where both define a list. c may be nil;
// the result is nil when there are no lists at all.
func (c *CodeLists) Merge(lists ...*CodeList) *CodeLists {
	if c == nil {
		if len(lists) == 0 {
			return nil
		}
		c = &CodeLists{lists: map[string]map[string]*CodeList{}}
	}
	for _, l := range lists {
		if c.lists[l.URI] == nil {
			c.lists[l.URI] = map[string]*CodeList{}
		}
		if _, dup := c.lists[l.URI][l.Version]; !dup {
			c.lists[l.URI][l.Version] = l
		}
	}
	return c
}

// Genericode is the number of lists read from genericode files (the schema set's code_lists):
// the lists that check more than the XSD does.
func (c *CodeLists) Genericode() int {
	if c == nil {
		return 0
	}
	n := 0
	for _, versions := range c.lists {
		for _, l := range versions {
			if !l.FromSchema {
				n++
			}
		}
	}
	return n
}

// List returns a code list by URI and version; an empty version means the newest loaded.
func (c *CodeLists) List(uri, version string) (*CodeList, bool) {
	versions, ok := c.lists[uri]
	if !ok {
		return nil, false
	}
	if version != "" {
		l, ok := versions[version]
		return l, ok
	}
	keys := make([]string, 0, len(versions))
	for v := range versions {
		keys = append(keys, v)
	}
	sort.Slice(keys, func(i, j int) bool { return versionLess(keys[i], keys[j]) })
	return versions[keys[len(keys)-1]], true
}

// Lookup returns the name of a code in a list.
func (c *CodeLists) Lookup(uri, version, code string) (string, bool) {
	l, ok := c.List(uri, version)
	if !ok {
		return "", false
	}
	return l.Name(code)
}

// CodeFor returns the code for a name or alias in a list (the direction mappings need).
func (c *CodeLists) CodeFor(uri, version, nameOrAlias string) (string, bool) {
	l, ok := c.List(uri, version)
	if !ok {
		return "", false
	}
	return l.Code(nameOrAlias)
}

// URIs lists the loaded code lists' URIs.
func (c *CodeLists) URIs() []string {
	out := make([]string, 0, len(c.lists))
	for u := range c.lists {
		out = append(out, u)
	}
	sort.Strings(out)
	return out
}

func versionLess(a, b string) bool {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) && i < len(bs); i++ {
		if as[i] != bs[i] {
			if len(as[i]) != len(bs[i]) {
				return len(as[i]) < len(bs[i])
			}
			return as[i] < bs[i]
		}
	}
	return len(as) < len(bs)
}

type genericode struct {
	Identification struct {
		ShortName    string
		Version      string
		CanonicalUri string
	}
	Columns []struct {
		ID        string `xml:"Id,attr"`
		ShortName string
	} `xml:"ColumnSet>Column"`
	Keys []struct {
		ColumnRef struct {
			Ref string `xml:"Ref,attr"`
		}
	} `xml:"ColumnSet>Key"`
	Rows []struct {
		Values []struct {
			Column string `xml:"ColumnRef,attr"`
			Value  string `xml:"SimpleValue"`
		} `xml:"Value"`
	} `xml:"SimpleCodeList>Row"`
}

func loadGenericode(file string) (*CodeList, error) {
	raw, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var g genericode
	if err := xml.Unmarshal(raw, &g); err != nil {
		return nil, fmt.Errorf("%s: not a genericode code list: %w", file, err)
	}
	id := g.Identification
	if id.CanonicalUri == "" || id.Version == "" || len(g.Columns) == 0 {
		return nil, fmt.Errorf("%s: a genericode code list needs Identification/CanonicalUri, Identification/Version and a ColumnSet", file)
	}
	codeCol := g.Columns[0].ID
	if len(g.Keys) > 0 && g.Keys[0].ColumnRef.Ref != "" {
		codeCol = g.Keys[0].ColumnRef.Ref
	}
	nameCol := ""
	for _, c := range g.Columns {
		n := strings.ToLower(c.ID + " " + c.ShortName)
		if c.ID != codeCol && nameCol == "" && (strings.Contains(n, "beschreibung") || strings.Contains(n, "name") || strings.Contains(n, "wert")) {
			nameCol = c.ID
		}
	}
	if nameCol == "" {
		for _, c := range g.Columns {
			if c.ID != codeCol {
				nameCol = c.ID
				break
			}
		}
	}
	l := &CodeList{URI: id.CanonicalUri, Version: id.Version, ShortName: id.ShortName, File: file,
		names: map[string]string{}, byName: map[string]string{}}
	for i, row := range g.Rows {
		var code string
		others := map[string]string{}
		for _, v := range row.Values {
			if v.Column == codeCol {
				code = strings.TrimSpace(v.Value)
			} else {
				others[v.Column] = strings.TrimSpace(v.Value)
			}
		}
		if code == "" {
			return nil, fmt.Errorf("%s: row %d has no value in the code column %q", file, i+1, codeCol)
		}
		l.names[code] = others[nameCol]
		for _, v := range others {
			if v != "" {
				if _, taken := l.byName[strings.ToLower(v)]; !taken {
					l.byName[strings.ToLower(v)] = code
				}
			}
		}
	}
	return l, nil
}

// Check looks at every element of a message that names its code list (listURI, and
// listVersionID where given) and reports codes the list does not contain — a check beyond the
// XSD, which types most codes only as tokens. Lists that are not loaded are not checked.
func (c *CodeLists) Check(data []byte) []Problem {
	if c.allKnown(data) {
		return nil
	}
	return c.checkAll(data)
}

// checkAll reads the whole document and reports every unknown code with line and path.
func (c *CodeLists) checkAll(data []byte) []Problem {
	dec := xml.NewDecoder(bytes.NewReader(data))
	stack := []*codeFrame{{children: map[string]int{}}}
	var problems []Problem
	var text strings.Builder
	for {
		tok, err := dec.RawToken()
		if err == io.EOF || err != nil {
			return problems
		}
		switch t := tok.(type) {
		case xml.StartElement:
			parent := stack[len(stack)-1]
			name := t.Name.Local
			if t.Name.Space != "" {
				name = t.Name.Space + ":" + name
			}
			parent.children[name]++
			if n := parent.children[name]; n > 1 {
				name = fmt.Sprintf("%s[%d]", name, n)
			}
			line, col := dec.InputPos()
			f := &codeFrame{name: name, children: map[string]int{}, line: line, column: col}
			for _, a := range t.Attr {
				switch a.Name.Local {
				case "listURI":
					f.listURI = a.Value
				case "listVersionID":
					f.version = a.Value
				}
			}
			stack = append(stack, f)
			text.Reset()
		case xml.CharData:
			text.Write(t)
		case xml.EndElement:
			cur := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			parent := stack[len(stack)-1]
			if cur.name == "code" && parent.listURI != "" {
				if l, ok := c.List(parent.listURI, parent.version); ok {
					code := strings.TrimSpace(text.String())
					if _, known := l.Name(code); !known {
						problems = append(problems, Problem{
							Line: cur.line, Column: cur.column, Path: pathOf(stack),
							Message: fmt.Sprintf("code %q is not in code list %s version %s", code, l.URI, l.Version),
						})
					}
				}
			}
			text.Reset()
		}
	}
}

// allKnown is Check's fast path: it scans the text for the listURI attributes and reports true
// only when it could read every such element in the simple form mapped messages use —
// <x listURI="…" listVersionID="…"><code>…</code>… — and every code is in its (loaded) list.
// Anything else (another form, an entity, an unknown code) makes it give up, and the full check
// decides and says where.
func (c *CodeLists) allKnown(data []byte) bool {
	rest := data
	for {
		i := bytes.Index(rest, []byte("listURI"))
		if i < 0 {
			return true
		}
		lt := bytes.LastIndexByte(rest[:i], '<')
		if lt < 0 || bytes.IndexByte(rest[lt:i], '>') >= 0 {
			return false
		}
		gt := bytes.IndexByte(rest[i:], '>')
		if gt < 0 {
			return false
		}
		tag := rest[lt : i+gt+1]
		uri, ok := attrValue(tag, "listURI")
		if !ok {
			return false
		}
		version, _ := attrValue(tag, "listVersionID")
		after := rest[i+gt+1:]
		if bytes.HasSuffix(tag, []byte("/>")) {
			rest = after // no content, no code to check
			continue
		}
		body := bytes.TrimLeft(after, " \t\r\n")
		if !bytes.HasPrefix(body, []byte("<code>")) {
			return false
		}
		end := bytes.Index(body, []byte("</code>"))
		if end < 0 {
			return false
		}
		code := body[len("<code>"):end]
		if bytes.ContainsAny(code, "<&") {
			return false
		}
		if l, loaded := c.List(uri, version); loaded {
			if _, known := l.Name(strings.TrimSpace(string(code))); !known {
				return false
			}
		}
		rest = body[end:]
	}
}

// attrValue reads name="value" (or 'value') from a start tag, with no entities in the value.
func attrValue(tag []byte, name string) (string, bool) {
	i := bytes.Index(tag, []byte(name))
	if i < 0 || i == 0 || !isSpaceOrColon(tag[i-1]) {
		return "", false
	}
	v := bytes.TrimLeft(tag[i+len(name):], " \t\r\n")
	if len(v) == 0 || v[0] != '=' {
		return "", false
	}
	v = bytes.TrimLeft(v[1:], " \t\r\n")
	if len(v) == 0 || (v[0] != '"' && v[0] != '\'') {
		return "", false
	}
	end := bytes.IndexByte(v[1:], v[0])
	if end < 0 || bytes.IndexByte(v[1:1+end], '&') >= 0 {
		return "", false
	}
	return string(v[1 : 1+end]), true
}

func isSpaceOrColon(b byte) bool { return b == ' ' || b == '\t' || b == '\r' || b == '\n' || b == ':' }

type codeFrame struct {
	name     string
	children map[string]int
	listURI  string
	version  string
	line     int
	column   int
}

func pathOf(stack []*codeFrame) string {
	var b strings.Builder
	for _, f := range stack[1:] {
		b.WriteString("/" + f.name)
	}
	return b.String()
}
