package xoev

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"strings"
)

// SchemaCodeLists reads the code lists a schema set carries in its XSDs. XÖV standards embed
// many lists (code list type 1 of the XÖV handbook) as a code type: a restriction of
// xoev-code:Code whose listURI and listVersionID are fixed and whose code is restricted to an
// enumeration, each value annotated with its name:
//
//	<xs:complexType name="Code.PruefungsteilAEVO">
//	  ... <xs:element name="code" form="unqualified" type="xbbd:PruefungsteilAEVO-Codes"/>
//	  <xs:attribute name="listURI" fixed="urn:xberufsbildung-de:xberufsbildung:codeliste:pruefungsteilaevo"/>
//	  <xs:attribute name="listVersionID" fixed="2025-06-04"/>
//	<xs:simpleType name="PruefungsteilAEVO-Codes">
//	  <xs:restriction base="xs:token">
//	    <xs:enumeration value="…/praktischer_pruefungsteil">
//	      <xs:annotation><xs:appinfo><description-de-DE>Praktischer Prüfungsteil</description-de-DE>…
//
// Such a list serves mappings (a name or a code, checked when the message is mapped) and the
// code check like a genericode list. The list's URI and version come from the fixed attributes,
// else from the code type's appinfo (codeliste/kennung, versionCodeliste/version); a code type
// without an enumeration (the list lives only in XRepository) yields no list. files are the
// set's schema files (SchemaSet.Files).
func SchemaCodeLists(files []string) ([]*CodeList, error) {
	var docs []*xsdDoc
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		doc, err := parseXSD(raw)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		doc.file = f
		docs = append(docs, doc)
	}
	simple := map[xml.Name]*xsdNode{}
	for _, d := range docs {
		for i := range d.root.Nodes {
			n := &d.root.Nodes[i]
			if n.is("simpleType") {
				simple[xml.Name{Space: d.target, Local: n.attr("name")}] = n
			}
		}
	}
	var lists []*CodeList
	seen := map[string]bool{}
	for _, d := range docs {
		d.root.walk(func(n *xsdNode) {
			if !n.is("complexType") {
				return
			}
			l := codeType(d, n, simple)
			if l == nil || seen[l.URI+"\x00"+l.Version] {
				return
			}
			seen[l.URI+"\x00"+l.Version] = true
			lists = append(lists, l)
		})
	}
	return lists, nil
}

// codeType reads one complex type as a code list, or returns nil if it is none.
func codeType(d *xsdDoc, ct *xsdNode, simple map[xml.Name]*xsdNode) *CodeList {
	var uri, version string
	var code *xsdNode
	ct.walk(func(n *xsdNode) {
		switch {
		case n.is("attribute") && n.attr("name") == "listURI":
			uri = strings.TrimSpace(n.attr("fixed"))
		case n.is("attribute") && n.attr("name") == "listVersionID":
			version = strings.TrimSpace(n.attr("fixed"))
		case n.is("element") && n.attr("name") == "code" && code == nil:
			code = n
		}
	})
	if code == nil {
		return nil
	}
	if uri == "" {
		uri = ct.appinfo("codeliste", "kennung")
	}
	if version == "" {
		version = ct.appinfo("versionCodeliste", "version")
	}
	if uri == "" || version == "" {
		return nil
	}
	st := code.child("simpleType")
	if t := code.attr("type"); st == nil && t != "" {
		st = simple[d.resolve(t)]
	}
	// Follow named restrictions a few steps: a list's simple type may restrict another one.
	var enums []*xsdNode
	for depth := 0; st != nil && depth < 4; depth++ {
		r := st.child("restriction")
		if r == nil {
			break
		}
		for i := range r.Nodes {
			if r.Nodes[i].is("enumeration") {
				enums = append(enums, &r.Nodes[i])
			}
		}
		if len(enums) > 0 {
			break
		}
		st = simple[d.resolve(r.attr("base"))]
	}
	if len(enums) == 0 {
		return nil
	}
	l := &CodeList{URI: uri, Version: version, ShortName: ct.attr("name"), File: d.file, FromSchema: true,
		names: map[string]string{}, byName: map[string]string{}}
	for _, e := range enums {
		value := strings.TrimSpace(e.attr("value"))
		var texts []string
		if ann := e.child("annotation"); ann != nil {
			if ai := ann.child("appinfo"); ai != nil {
				for i := range ai.Nodes {
					if t := strings.TrimSpace(ai.Nodes[i].Text); t != "" {
						texts = append(texts, t)
					}
				}
			}
			if doc := ann.child("documentation"); doc != nil {
				if t := strings.TrimSpace(doc.Text); t != "" {
					texts = append(texts, t)
				}
			}
		}
		name := ""
		if len(texts) > 0 {
			name = texts[0]
		}
		l.names[value] = name
		for _, t := range texts {
			if _, taken := l.byName[strings.ToLower(t)]; !taken {
				l.byName[strings.ToLower(t)] = value
			}
		}
	}
	return l
}

type xsdDoc struct {
	file   string
	target string
	ns     map[string]string // prefix → namespace, as the schema element declares them
	root   *xsdNode
}

// resolve turns a QName attribute value (p:Name) into a namespace and local name.
func (d *xsdDoc) resolve(qname string) xml.Name {
	prefix, local, ok := strings.Cut(strings.TrimSpace(qname), ":")
	if !ok {
		return xml.Name{Space: d.ns[""], Local: prefix}
	}
	return xml.Name{Space: d.ns[prefix], Local: local}
}

type xsdNode struct {
	XMLName xml.Name
	Attrs   []xml.Attr `xml:",any,attr"`
	Nodes   []xsdNode  `xml:",any"`
	Text    string     `xml:",chardata"`
}

func (n *xsdNode) is(local string) bool { return n.XMLName.Space == xsdNS && n.XMLName.Local == local }

func (n *xsdNode) attr(name string) string {
	for _, a := range n.Attrs {
		if a.Name.Space == "" && a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

// child is the first XSD child element of that name.
func (n *xsdNode) child(local string) *xsdNode {
	for i := range n.Nodes {
		if n.Nodes[i].is(local) {
			return &n.Nodes[i]
		}
	}
	return nil
}

// walk visits n and every element below it.
func (n *xsdNode) walk(visit func(*xsdNode)) {
	visit(n)
	for i := range n.Nodes {
		n.Nodes[i].walk(visit)
	}
}

// appinfo reads group/field from the type's own annotation (XÖV's codeliste/kennung,
// versionCodeliste/version), whatever namespace the appinfo elements are in.
func (n *xsdNode) appinfo(group, field string) string {
	ann := n.child("annotation")
	if ann == nil {
		return ""
	}
	ai := ann.child("appinfo")
	if ai == nil {
		return ""
	}
	for _, g := range ai.Nodes {
		if g.XMLName.Local != group {
			continue
		}
		for _, f := range g.Nodes {
			if f.XMLName.Local == field {
				return strings.TrimSpace(f.Text)
			}
		}
	}
	return ""
}

// parseXSD reads a schema document into a tree. Entities a DTD would define (W3C's xmldsig
// schema has one) are left as they are: only code types matter here, and libxml2 has compiled
// the set already.
func parseXSD(raw []byte) (*xsdDoc, error) {
	dec := xml.NewDecoder(bytes.NewReader(raw))
	dec.Strict = false
	var root xsdNode
	if err := dec.Decode(&root); err != nil && err != io.EOF {
		line, _ := dec.InputPos()
		return nil, fmt.Errorf("line %d: not a readable schema: %v", line, err)
	}
	if !root.is("schema") {
		return nil, fmt.Errorf("not an XML schema (root element %s)", root.XMLName.Local)
	}
	d := &xsdDoc{target: root.attr("targetNamespace"), ns: map[string]string{}, root: &root}
	for _, a := range root.Attrs {
		switch {
		case a.Name.Space == "xmlns":
			d.ns[a.Name.Local] = a.Value
		case a.Name.Space == "" && a.Name.Local == "xmlns":
			d.ns[""] = a.Value
		}
	}
	return d, nil
}
