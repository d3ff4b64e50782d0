package xoev

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/beevik/etree"
)

// Catalog maps the absolute URLs that schemas import to local files. It is read from an OASIS
// XML catalog (the format xmllint and other XML tools read with XML_CATALOG_FILES), supporting
// the entries real XÖV schema sets need: system, uri, rewriteSystem and rewriteURI.
type Catalog struct {
	File     string
	exact    map[string]string // URL → local file
	prefixes []rewrite         // longest prefix first
}

type rewrite struct {
	prefix string
	local  string // directory or path prefix the rest of the URL is appended to
}

const catalogNS = "urn:oasis:names:tc:entity:xmlns:xml:catalog"

// LoadCatalog reads an OASIS XML catalog. Relative targets are relative to the catalog file.
func LoadCatalog(path string) (*Catalog, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(raw); err != nil {
		return nil, fmt.Errorf("catalog %s: not well-formed XML: %w", path, err)
	}
	root := doc.Root()
	if root == nil || root.Tag != "catalog" || root.NamespaceURI() != catalogNS {
		return nil, fmt.Errorf("catalog %s: the root element must be <catalog xmlns=%q>", path, catalogNS)
	}
	c := &Catalog{File: path, exact: map[string]string{}}
	base := filepath.Dir(path)
	local := func(target string) string {
		target = strings.TrimPrefix(target, "file://")
		if filepath.IsAbs(target) {
			return target
		}
		return filepath.Join(base, filepath.FromSlash(target))
	}
	var errs []string
	for _, e := range root.ChildElements() {
		switch e.Tag {
		case "system", "uri":
			from, to := e.SelectAttrValue("systemId", e.SelectAttrValue("name", "")), e.SelectAttrValue("uri", "")
			if from == "" || to == "" {
				errs = append(errs, fmt.Sprintf("<%s> needs %s and uri", e.Tag, map[string]string{"system": "systemId", "uri": "name"}[e.Tag]))
				continue
			}
			c.exact[from] = local(to)
		case "rewriteSystem", "rewriteURI":
			from := e.SelectAttrValue("systemIdStartString", e.SelectAttrValue("uriStartString", ""))
			to := e.SelectAttrValue("rewritePrefix", "")
			if from == "" || to == "" {
				errs = append(errs, fmt.Sprintf("<%s> needs a start string and rewritePrefix", e.Tag))
				continue
			}
			c.prefixes = append(c.prefixes, rewrite{prefix: from, local: local(to)})
		default:
			errs = append(errs, fmt.Sprintf("<%s> is not supported (use system, uri, rewriteSystem or rewriteURI)", e.Tag))
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("catalog %s: %s", path, strings.Join(errs, "; "))
	}
	sort.Slice(c.prefixes, func(i, j int) bool { return len(c.prefixes[i].prefix) > len(c.prefixes[j].prefix) })
	return c, nil
}

// Resolve returns the local file for an absolute URL.
func (c *Catalog) Resolve(u string) (string, bool) {
	if c == nil {
		return "", false
	}
	if local, ok := c.exact[u]; ok {
		return local, true
	}
	for _, r := range c.prefixes {
		if rest, ok := strings.CutPrefix(u, r.prefix); ok {
			return filepath.Join(r.local, filepath.FromSlash(rest)), true
		}
	}
	return "", false
}

// isURL tells an absolute URL (http, https, ftp, urn, …) from a file path.
func isURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && len(u.Scheme) > 1 && u.Scheme != "file"
}

// ErrCatalogExists is returned by WriteCatalog when a different file is already there.
var ErrCatalogExists = errors.New("a different file is already there")

// WriteCatalog writes an OASIS XML catalog that maps each URL to its local file, relative to
// the catalog's directory. Each URL gets a system and a uri entry, so that tools which look up
// either find it. A file already at path is left alone when it holds exactly this catalog, and
// replaced only with force otherwise (ErrCatalogExists). changed reports whether it was written.
func WriteCatalog(path string, entries map[string]string, force bool) (changed bool, err error) {
	content, err := catalogXML(path, entries)
	if err != nil {
		return false, err
	}
	old, err := os.ReadFile(path)
	switch {
	case err == nil && bytes.Equal(old, content):
		return false, nil
	case err == nil && !force:
		return false, fmt.Errorf("%s: %w (pass --force to replace it)", path, ErrCatalogExists)
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return false, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return false, err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".catalog-*.xml")
	if err != nil {
		return false, err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(content); err != nil {
		tmp.Close()
		return false, err
	}
	if err := tmp.Close(); err != nil {
		return false, err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return false, err
	}
	return true, os.Rename(tmp.Name(), path)
}

func catalogXML(path string, entries map[string]string) ([]byte, error) {
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, err
	}
	urls := make([]string, 0, len(entries))
	for u := range entries {
		urls = append(urls, u)
	}
	sort.Strings(urls)
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	b.WriteString("<!-- Maps the schemaLocation URLs of a schema set to local copies (amtsbote schema scan). -->\n")
	b.WriteString(`<catalog xmlns="` + catalogNS + `">` + "\n")
	for _, u := range urls {
		target, err := filepath.Abs(entries[u])
		if err != nil {
			return nil, err
		}
		if rel, err := filepath.Rel(dir, target); err == nil {
			target = rel
		}
		t := xmlAttr(filepath.ToSlash(target))
		fmt.Fprintf(&b, "  <system systemId=\"%s\" uri=\"%s\"/>\n", xmlAttr(u), t)
		fmt.Fprintf(&b, "  <uri name=\"%s\" uri=\"%s\"/>\n", xmlAttr(u), t)
	}
	b.WriteString("</catalog>\n")
	return b.Bytes(), nil
}

func xmlAttr(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}
