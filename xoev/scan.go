package xoev

import (
	"bytes"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Reference is one xs:include, xs:import, xs:redefine or xs:override found by Scan, and where
// it leads.
type Reference struct {
	File      string `json:"file"` // the schema that refers
	Line      int    `json:"line"`
	Kind      string `json:"kind"` // include, import, redefine, override
	Namespace string `json:"namespace,omitempty"`
	Location  string `json:"schema_location"`
	Status    string `json:"status"` // see the Status constants
	// Local is the file the reference resolves to (Status resolved).
	Local string `json:"local,omitempty"`
	// Via says how it resolved: relative, catalog, cache (URL path) or cache (namespace).
	Via string `json:"via,omitempty"`
	// Problem says why it does not resolve.
	Problem string `json:"problem,omitempty"`
	// Candidates are the cached files that match equally well (Status ambiguous).
	Candidates []string `json:"candidates,omitempty"`
}

// The states of a Reference.
const (
	StatusResolved   = "resolved"
	StatusUnresolved = "unresolved"
	StatusAmbiguous  = "ambiguous"
	// StatusNoLocation is an import of a namespace without schemaLocation: nothing to load.
	StatusNoLocation = "no-location"
)

// How a Reference resolved.
const (
	ViaRelative       = "relative"
	ViaCatalog        = "catalog"
	ViaCachePath      = "cache (URL path)"
	ViaCacheNamespace = "cache (namespace)"
)

// OK reports whether the reference does not keep the schema set from compiling offline.
func (r Reference) OK() bool { return r.Status == StatusResolved || r.Status == StatusNoLocation }

// Remote reports whether the schemaLocation is a URL (a catalog entry is needed offline).
func (r Reference) Remote() bool { return isURL(r.Location) }

// ScanOptions tell Scan where to look for schemas the set imports from the web.
type ScanOptions struct {
	// Catalog is an existing catalog to consult first (optional).
	Catalog *Catalog
	// Cache is a directory of downloaded schema files, e.g. a mirror of xoev.de (optional).
	Cache string
}

// ScanReport is what Scan found.
type ScanReport struct {
	Root string `json:"root"`
	// Schemas are the schema files read, root first.
	Schemas    []string    `json:"schemas"`
	References []Reference `json:"references"`
	// Problems are schemas that could not be read, as file:line: why.
	Problems []string `json:"problems,omitempty"`
}

// OK reports whether every reference resolves and every schema could be read.
func (r *ScanReport) OK() bool {
	if len(r.Problems) > 0 {
		return false
	}
	for _, ref := range r.References {
		if !ref.OK() {
			return false
		}
	}
	return true
}

// CatalogEntries maps every URL that resolved (through the catalog or the cache) to its local
// file: what a catalog for the set must hold.
func (r *ScanReport) CatalogEntries() map[string]string {
	out := map[string]string{}
	for _, ref := range r.References {
		if ref.Status == StatusResolved && ref.Remote() {
			out[ref.Location] = ref.Local
		}
	}
	return out
}

// Scan follows every include, import, redefine and override from root, recursively, and says
// for each whether it resolves offline: a relative location by the file existing, a URL through
// the catalog or, failing that, a file in the cache directory — matched by the URL's path (the
// longest matching path suffix wins) or else by the import's namespace. Cached files found are
// scanned in turn. The error is for a root or cache directory that cannot be read at all.
func Scan(root string, opts ScanOptions) (*ScanReport, error) {
	if _, err := os.Stat(root); err != nil {
		return nil, err
	}
	var c *schemaCache
	if opts.Cache != "" {
		var err error
		if c, err = loadCache(opts.Cache); err != nil {
			return nil, err
		}
	}
	rep := &ScanReport{Root: root, Schemas: []string{}, References: []Reference{}}
	seen := map[string]bool{}
	queue := []string{filepath.Clean(root)}
	for len(queue) > 0 {
		file := queue[0]
		queue = queue[1:]
		key := absPath(file)
		if seen[key] {
			continue
		}
		seen[key] = true
		rep.Schemas = append(rep.Schemas, file)
		info, err := readSchemaFile(file)
		if err != nil {
			rep.Problems = append(rep.Problems, err.Error())
			continue
		}
		for _, sr := range info.refs {
			ref := resolveRef(file, info.targetNamespace, sr, opts.Catalog, c)
			rep.References = append(rep.References, ref)
			if ref.Status == StatusResolved {
				queue = append(queue, ref.Local)
			}
		}
	}
	return rep, nil
}

func resolveRef(file, fileNS string, sr schemaRef, catalog *Catalog, c *schemaCache) Reference {
	ref := Reference{File: file, Line: sr.line, Kind: sr.kind, Namespace: sr.namespace, Location: sr.location}
	switch {
	case sr.location == "" && sr.kind == "import":
		ref.Status = StatusNoLocation
		return ref
	case sr.location == "":
		ref.Status, ref.Problem = StatusUnresolved, "schemaLocation is missing; an "+sr.kind+" needs one"
		return ref
	case !isURL(sr.location):
		local := localPath(file, sr.location)
		if _, err := os.Stat(local); err != nil {
			ref.Status, ref.Problem = StatusUnresolved, local+" does not exist"
			return ref
		}
		ref.Status, ref.Local, ref.Via = StatusResolved, local, ViaRelative
		return ref
	}
	var notes []string
	if local, ok := catalog.Resolve(sr.location); ok {
		if _, err := os.Stat(local); err == nil {
			ref.Status, ref.Local, ref.Via = StatusResolved, local, ViaCatalog
			return ref
		}
		notes = append(notes, fmt.Sprintf("the catalog %s maps it to %s, which does not exist", catalog.File, local))
	}
	// The namespace the referenced schema must have: the import's, or the including schema's
	// (an included schema without one takes it on).
	want, chameleon := sr.namespace, false
	if sr.kind != "import" {
		want, chameleon = fileNS, true
	}
	u, err := url.Parse(sr.location)
	switch {
	case err != nil:
		notes = append(notes, err.Error())
	case u.Scheme != "http" && u.Scheme != "https":
		notes = append(notes, "only a catalog can map a "+u.Scheme+": URL")
	case c == nil:
		notes = append(notes, "no catalog maps it and no cache directory was given")
	default:
		found, problem := c.find(u, want, chameleon, sr.kind == "import")
		switch len(found) {
		case 0:
			notes = append(notes, problem)
		case 1:
			ref.Status, ref.Local, ref.Via = StatusResolved, found[0].path, found[0].via
			return ref
		default:
			ref.Status, ref.Via = StatusAmbiguous, found[0].via
			for _, f := range found {
				ref.Candidates = append(ref.Candidates, f.path)
			}
			ref.Problem = fmt.Sprintf("%d cached files match equally well by %s: %s; keep one, or map the URL in a catalog",
				len(found), strings.TrimSuffix(strings.TrimPrefix(found[0].via, "cache ("), ")"), strings.Join(ref.Candidates, ", "))
			return ref
		}
	}
	ref.Status, ref.Problem = StatusUnresolved, strings.Join(notes, "; ")
	return ref
}

// schemaCache indexes a directory of downloaded schemas by path and target namespace.
type schemaCache struct {
	dir   string
	files []cachedSchema
}

type cachedSchema struct {
	path      string
	segments  []string // path below the cache directory
	namespace string
	readable  bool
}

type cacheMatch struct {
	path string
	via  string
}

// loadCache finds every .xsd file below dir and reads its target namespace.
func loadCache(dir string) (*schemaCache, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("cache: %s is not a directory", dir)
	}
	c := &schemaCache{dir: dir}
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.EqualFold(filepath.Ext(path), ".xsd") {
			return nil
		}
		rel, _ := filepath.Rel(dir, path)
		cs := cachedSchema{path: path, segments: strings.Split(filepath.ToSlash(rel), "/")}
		if ns, err := targetNamespace(path); err == nil {
			cs.namespace, cs.readable = ns, true
		}
		c.files = append(c.files, cs)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	return c, nil
}

// targetNamespace reads a cached schema's target namespace; a file that is no readable schema
// is never a match.
func targetNamespace(path string) (string, error) {
	info, err := readSchemaFile(path)
	return info.targetNamespace, err
}

// find looks for the schema a URL names: first by the longest suffix of host and path that a
// cached file's path ends with, then (imports only) by the namespace. Files whose namespace
// contradicts the reference do not count. Several equally good files are all returned, unless
// they are byte for byte the same file.
func (c *schemaCache) find(u *url.URL, namespace string, chameleon, byNamespace bool) ([]cacheMatch, string) {
	segments := append([]string{u.Host}, strings.Split(strings.Trim(u.Path, "/"), "/")...)
	fits := func(f cachedSchema) bool {
		return f.readable && (f.namespace == namespace || (chameleon && f.namespace == ""))
	}
	best, bestScore := []cachedSchema{}, 0
	var contradicting []string
	for _, f := range c.files {
		score := suffixMatch(segments, f.segments)
		if score == 0 {
			continue
		}
		if !fits(f) {
			contradicting = append(contradicting, fmt.Sprintf("%s (targetNamespace %q)", f.path, f.namespace))
			continue
		}
		switch {
		case score > bestScore:
			best, bestScore = []cachedSchema{f}, score
		case score == bestScore:
			best = append(best, f)
		}
	}
	if len(best) > 0 {
		return matches(distinct(best), ViaCachePath), ""
	}
	problem := fmt.Sprintf("no file in the cache %s is named %s", c.dir, segments[len(segments)-1])
	if len(contradicting) > 0 {
		problem = fmt.Sprintf("the cache %s has %s by name, but the %s needs targetNamespace %q",
			c.dir, strings.Join(contradicting, ", "), map[bool]string{true: "import", false: "including schema"}[byNamespace], namespace)
	}
	if !byNamespace || namespace == "" {
		return nil, problem
	}
	var sameNS []cachedSchema
	for _, f := range c.files {
		if f.readable && f.namespace == namespace {
			sameNS = append(sameNS, f)
		}
	}
	if len(sameNS) == 0 {
		return nil, problem + fmt.Sprintf(", and no cached schema has targetNamespace %q", namespace)
	}
	return matches(distinct(sameNS), ViaCacheNamespace), ""
}

// suffixMatch counts how many trailing segments of a URL a cached file's path shares with it;
// the file name must match for any to count.
func suffixMatch(url, file []string) int {
	n := 0
	for n < len(url) && n < len(file) && url[len(url)-1-n] == file[len(file)-1-n] {
		n++
	}
	return n
}

// distinct drops copies of the same content, so that a mirror holding one file twice is not
// ambiguous.
func distinct(files []cachedSchema) []cachedSchema {
	sort.Slice(files, func(i, j int) bool { return files[i].path < files[j].path })
	var out []cachedSchema
	var contents [][]byte
	for _, f := range files {
		b, err := os.ReadFile(f.path)
		dup := false
		for _, seen := range contents {
			if err == nil && bytes.Equal(seen, b) {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, f)
			contents = append(contents, b)
		}
	}
	return out
}

func matches(files []cachedSchema, via string) []cacheMatch {
	out := make([]cacheMatch, len(files))
	for i, f := range files {
		out[i] = cacheMatch{path: f.path, via: via}
	}
	return out
}

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return filepath.Clean(p)
}
