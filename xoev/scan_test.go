package xoev_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/amtsbote/amtsbote/xoev"
)

// schema writes a schema document whose body lines start on line 3.
func schema(ns string, body ...string) string {
	tns := ""
	if ns != "" {
		tns = ` targetNamespace="` + ns + `"`
	}
	return `<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
		`<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"` + tns + ">\n" +
		strings.Join(body, "\n") + "\n</xs:schema>\n"
}

func imp(ns, loc string) string {
	return fmt.Sprintf(`<xs:import namespace="%s" schemaLocation="%s"/>`, ns, loc)
}

func inc(loc string) string { return fmt.Sprintf(`<xs:include schemaLocation="%s"/>`, loc) }

// tree writes files (slash paths) below a new temporary directory and returns it.
func tree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// summary renders a reference with paths relative to dir, for comparison.
func summary(dir string, r xoev.Reference) string {
	rel := func(p string) string {
		if r, err := filepath.Rel(dir, p); err == nil {
			return filepath.ToSlash(r)
		}
		return p
	}
	s := fmt.Sprintf("%s:%d %s %s %s", rel(r.File), r.Line, r.Kind, r.Location, r.Status)
	if r.Status == xoev.StatusResolved {
		return s + " " + r.Via + " " + rel(r.Local)
	}
	for _, c := range r.Candidates {
		s += " " + rel(c)
	}
	if r.Problem != "" {
		s += ": " + r.Problem
	}
	return s
}

func TestScan(t *testing.T) {
	const (
		nsA     = "urn:test:a"
		nsCode  = "http://xoev.de/schemata/code/1_0"
		codeURL = "http://xoev.de/schemata/code/1_0/xoev-code.xsd"
	)
	code := schema(nsCode, "<!-- code -->")
	otherCode := schema(nsCode, "<!-- another version -->")
	tests := []struct {
		name    string
		files   map[string]string
		cache   string // directory below the tree, or ""
		catalog string // file below the tree, or ""
		want    []string
		wantOK  bool
		schemas int
	}{
		{
			name: "relative include, import and an import of a namespace alone",
			files: map[string]string{
				"root.xsd": schema(nsA, inc("teil.xsd"), imp("urn:test:b", "sub/b.xsd"), `<xs:import namespace="http://www.w3.org/XML/1998/namespace"/>`),
				"teil.xsd": schema(""), "sub/b.xsd": schema("urn:test:b"),
			},
			want: []string{
				"root.xsd:3 include teil.xsd resolved relative teil.xsd",
				"root.xsd:4 import sub/b.xsd resolved relative sub/b.xsd",
				"root.xsd:5 import  no-location",
			},
			wantOK: true, schemas: 3,
		},
		{
			name:  "relative file missing",
			files: map[string]string{"root.xsd": schema(nsA, "", inc("fehlt.xsd"))},
			want:  []string{"root.xsd:4 include fehlt.xsd unresolved: %DIR%/fehlt.xsd does not exist"},
		},
		{
			name:  "URL without catalog or cache",
			files: map[string]string{"root.xsd": schema(nsA, imp(nsCode, codeURL))},
			want:  []string{"root.xsd:3 import " + codeURL + " unresolved: no catalog maps it and no cache directory was given"},
		},
		{
			name:  "URN only through a catalog",
			files: map[string]string{"root.xsd": schema(nsA, imp(nsCode, "urn:xoev:code")), "cache/code.xsd": code},
			cache: "cache",
			want:  []string{"root.xsd:3 import urn:xoev:code unresolved: only a catalog can map a urn: URL"},
		},
		{
			name: "the catalog maps it",
			files: map[string]string{
				"root.xsd": schema(nsA, imp(nsCode, codeURL)), "lokal/code.xsd": code,
				"catalog.xml": `<catalog xmlns="urn:oasis:names:tc:entity:xmlns:xml:catalog"><uri name="` + codeURL + `" uri="lokal/code.xsd"/></catalog>`,
			},
			catalog: "catalog.xml",
			want:    []string{"root.xsd:3 import " + codeURL + " resolved catalog lokal/code.xsd"},
			wantOK:  true, schemas: 2,
		},
		{
			name: "the catalog names a missing file, the cache has it",
			files: map[string]string{
				"root.xsd": schema(nsA, imp(nsCode, codeURL)), "cache/xoev-code.xsd": code,
				"catalog.xml": `<catalog xmlns="urn:oasis:names:tc:entity:xmlns:xml:catalog"><uri name="` + codeURL + `" uri="weg.xsd"/></catalog>`,
			},
			cache: "cache", catalog: "catalog.xml",
			want:   []string{"root.xsd:3 import " + codeURL + " resolved cache (URL path) cache/xoev-code.xsd"},
			wantOK: true, schemas: 2,
		},
		{
			name: "the longest URL path suffix wins",
			files: map[string]string{
				"root.xsd": schema(nsA, imp(nsCode, codeURL)),
				"cache/xoev.de/schemata/code/1_0/xoev-code.xsd": code,
				"cache/schemata/code/1_1/xoev-code.xsd":         otherCode,
				"cache/xoev-code.xsd":                           otherCode,
			},
			cache:  "cache",
			want:   []string{"root.xsd:3 import " + codeURL + " resolved cache (URL path) cache/xoev.de/schemata/code/1_0/xoev-code.xsd"},
			wantOK: true, schemas: 2,
		},
		{
			name: "equally long matches of different content are ambiguous",
			files: map[string]string{
				"root.xsd":              schema(nsA, imp(nsCode, codeURL)),
				"cache/a/xoev-code.xsd": code, "cache/b/xoev-code.xsd": otherCode,
			},
			cache: "cache",
			want:  []string{"root.xsd:3 import " + codeURL + " ambiguous cache/a/xoev-code.xsd cache/b/xoev-code.xsd: 2 cached files match equally well by URL path"},
		},
		{
			name: "copies of one file are not ambiguous",
			files: map[string]string{
				"root.xsd":              schema(nsA, imp(nsCode, codeURL)),
				"cache/a/xoev-code.xsd": code, "cache/b/xoev-code.xsd": code,
			},
			cache:  "cache",
			want:   []string{"root.xsd:3 import " + codeURL + " resolved cache (URL path) cache/a/xoev-code.xsd"},
			wantOK: true, schemas: 2,
		},
		{
			name: "by namespace when no file has the URL's name",
			files: map[string]string{
				"root.xsd":                schema(nsA, imp(nsCode, "https://www.xrepository.de/api/download/code")),
				"cache/xoev-code-1.0.xsd": code, "cache/anderes.xsd": schema("urn:test:other"),
			},
			cache:  "cache",
			want:   []string{"root.xsd:3 import https://www.xrepository.de/api/download/code resolved cache (namespace) cache/xoev-code-1.0.xsd"},
			wantOK: true, schemas: 2,
		},
		{
			name: "a file of the right name but another namespace does not count",
			files: map[string]string{
				"root.xsd":            schema(nsA, imp(nsCode, codeURL)),
				"cache/xoev-code.xsd": schema("urn:test:other"), "cache/richtig.xsd": code,
			},
			cache:  "cache",
			want:   []string{"root.xsd:3 import " + codeURL + " resolved cache (namespace) cache/richtig.xsd"},
			wantOK: true, schemas: 2,
		},
		{
			name: "wrong namespace and nothing else",
			files: map[string]string{
				"root.xsd":            schema(nsA, imp(nsCode, codeURL)),
				"cache/xoev-code.xsd": schema("urn:test:other"),
			},
			cache: "cache",
			want: []string{"root.xsd:3 import " + codeURL + ` unresolved: the cache ` + "%CACHE%" +
				` has ` + "%CACHE%" + `/xoev-code.xsd (targetNamespace "urn:test:other") by name, but the import needs targetNamespace "` + nsCode +
				`", and no cached schema has targetNamespace "` + nsCode + `"`},
		},
		{
			name: "several files of the namespace are ambiguous",
			files: map[string]string{
				"root.xsd":    schema(nsA, imp(nsCode, "https://example.org/download")),
				"cache/1.xsd": code, "cache/2.xsd": otherCode,
			},
			cache: "cache",
			want:  []string{"root.xsd:3 import https://example.org/download ambiguous cache/1.xsd cache/2.xsd: 2 cached files match equally well by namespace"},
		},
		{
			name: "cached files are scanned in turn, includes of a URL keep the namespace",
			files: map[string]string{
				"root.xsd":                            schema(nsA, imp(nsCode, codeURL)),
				"cache/code/1_0/xoev-code.xsd":        schema(nsCode, inc("teil.xsd"), imp("urn:test:lc", "https://xoev.de/latinchars/1_1/latinchars.xsd")),
				"cache/code/1_0/teil.xsd":             schema(""),
				"cache/latinchars/1_1/latinchars.xsd": schema("urn:test:lc", inc("https://xoev.de/latinchars/1_1/more.xsd")),
				"cache/latinchars/1_1/more.xsd":       schema("urn:test:lc"),
			},
			cache: "cache",
			want: []string{
				"root.xsd:3 import " + codeURL + " resolved cache (URL path) cache/code/1_0/xoev-code.xsd",
				"cache/code/1_0/xoev-code.xsd:3 include teil.xsd resolved relative cache/code/1_0/teil.xsd",
				"cache/code/1_0/xoev-code.xsd:4 import https://xoev.de/latinchars/1_1/latinchars.xsd resolved cache (URL path) cache/latinchars/1_1/latinchars.xsd",
				"cache/latinchars/1_1/latinchars.xsd:3 include https://xoev.de/latinchars/1_1/more.xsd resolved cache (URL path) cache/latinchars/1_1/more.xsd",
			},
			wantOK: true, schemas: 5,
		},
		{
			name:   "a cycle is read once",
			files:  map[string]string{"root.xsd": schema(nsA, inc("b.xsd")), "b.xsd": schema(nsA, inc("root.xsd"))},
			want:   []string{"root.xsd:3 include b.xsd resolved", "b.xsd:3 include root.xsd resolved"},
			wantOK: true, schemas: 2,
		},
		{
			name:    "a referenced file that is not a schema",
			files:   map[string]string{"root.xsd": schema(nsA, inc("kaputt.xsd")), "kaputt.xsd": "<?xml version=\"1.0\"?>\n<xs:schema xmlns:xs=\"http://www.w3.org/2001/XMLSchema\">\n<xs:include schemaLocation=\"a.xsd\">\n</xs:schema>"},
			want:    []string{"root.xsd:3 include kaputt.xsd resolved"},
			schemas: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := tree(t, tt.files)
			opts := xoev.ScanOptions{}
			if tt.cache != "" {
				opts.Cache = filepath.Join(dir, tt.cache)
			}
			if tt.catalog != "" {
				c, err := xoev.LoadCatalog(filepath.Join(dir, tt.catalog))
				if err != nil {
					t.Fatal(err)
				}
				opts.Catalog = c
			}
			rep, err := xoev.Scan(filepath.Join(dir, "root.xsd"), opts)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range rep.References {
				got = append(got, summary(dir, r))
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d references, want %d:\n%s", len(got), len(tt.want), strings.Join(got, "\n"))
			}
			for i, w := range tt.want {
				w = strings.ReplaceAll(strings.ReplaceAll(w, "%CACHE%", opts.Cache), "%DIR%", dir)
				if !strings.HasPrefix(got[i], w) {
					t.Errorf("reference %d:\n got %s\nwant %s", i, got[i], w)
				}
			}
			if rep.OK() != tt.wantOK {
				t.Errorf("OK() = %v, want %v; problems %v", rep.OK(), tt.wantOK, rep.Problems)
			}
			if tt.schemas > 0 && len(rep.Schemas) != tt.schemas {
				t.Errorf("read %d schemas, want %d: %v", len(rep.Schemas), tt.schemas, rep.Schemas)
			}
		})
	}
}

// A schema that cannot be read is a problem with file:line, not a failure of the whole scan.
func TestScanProblemsNameFileAndLine(t *testing.T) {
	dir := tree(t, map[string]string{
		"root.xsd":   schema("urn:a", inc("kaputt.xsd"), inc("kein.xsd")),
		"kaputt.xsd": "<?xml version=\"1.0\"?>\n<xs:schema xmlns:xs=\"http://www.w3.org/2001/XMLSchema\">\n<xs:include schemaLocation=\"a.xsd\">\n</xs:schema>",
		"kein.xsd":   "<?xml version=\"1.0\"?>\n\n<html/>",
	})
	rep, err := xoev.Scan(filepath.Join(dir, "root.xsd"), xoev.ScanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		filepath.Join(dir, "kaputt.xsd") + ":4: not a readable schema: element <include> closed by </schema>",
		filepath.Join(dir, "kein.xsd") + ":3: not a schema: the root element is {}html",
	}
	if len(rep.Problems) != len(want) || rep.OK() {
		t.Fatalf("problems = %q", rep.Problems)
	}
	for i, w := range want {
		if !strings.HasPrefix(rep.Problems[i], w) {
			t.Errorf("problem %d = %q, want %q…", i, rep.Problems[i], w)
		}
	}
	if _, err := xoev.Scan(filepath.Join(dir, "nope.xsd"), xoev.ScanOptions{}); err == nil {
		t.Error("a missing root is not an error")
	}
	if _, err := xoev.Scan(filepath.Join(dir, "root.xsd"), xoev.ScanOptions{Cache: filepath.Join(dir, "nope")}); err == nil {
		t.Error("a missing cache directory is not an error")
	}
}

// The real xdomea 3.0.0 set resolves completely by relative paths.
func TestScanXdomea(t *testing.T) {
	rep, err := xoev.Scan(xdomeaRoot, xoev.ScanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Fatalf("xdomea does not resolve: %+v", rep)
	}
	if len(rep.Schemas) < 10 || len(rep.References) < 20 {
		t.Fatalf("read %d schemas, %d references", len(rep.Schemas), len(rep.References))
	}
	var codeImports int
	for _, r := range rep.References {
		if r.Via != xoev.ViaRelative || r.Line == 0 {
			t.Errorf("%+v", r)
		}
		if r.Kind == "import" && r.Namespace == "http://xoev.de/schemata/code/1_0" {
			codeImports++
		}
	}
	if codeImports == 0 {
		t.Error("the import of the XÖV code schema was not found")
	}
}

// A catalog written from a scan with a cache lets the set compile and validate offline; it is
// rewritten only when its content changes, and a different file is replaced only when forced.
func TestWriteCatalogFromCache(t *testing.T) {
	rep, err := xoev.Scan("testdata/absolute/beispiel.xsd", xoev.ScanOptions{Cache: "../fixtures/xoev/xdomea-3.0.0/xoev"})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Fatalf("not resolved: %+v", rep.References)
	}
	entries := rep.CatalogEntries()
	if len(entries) != 2 {
		t.Fatalf("entries = %v", entries)
	}
	dir := t.TempDir()
	cat := filepath.Join(dir, "catalog.xml")
	if changed, err := xoev.WriteCatalog(cat, entries, false); err != nil || !changed {
		t.Fatalf("write: changed=%v err=%v", changed, err)
	}
	c, err := xoev.LoadCatalog(cat)
	if err != nil {
		t.Fatal(err)
	}
	for u, local := range entries {
		got, ok := c.Resolve(u)
		if !ok || abs(t, got) != abs(t, local) {
			t.Errorf("%s resolves to %q, want %q", u, got, local)
		}
	}
	raw := read(t, cat)
	if strings.Contains(string(raw), abs(t, ".")) {
		t.Errorf("catalog has absolute paths:\n%s", raw)
	}
	set, err := xoev.LoadSchemaSet(xoev.SchemaSetConfig{ID: "beispiel", Root: "testdata/absolute/beispiel.xsd", Catalog: cat})
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	if err := set.Validate(read(t, "testdata/absolute/valid.xml")); err != nil {
		t.Fatal(err)
	}
	if changed, err := xoev.WriteCatalog(cat, entries, false); err != nil || changed {
		t.Fatalf("unchanged rewrite: changed=%v err=%v", changed, err)
	}
	os.WriteFile(cat, []byte("<catalog/>"), 0o644)
	if _, err := xoev.WriteCatalog(cat, entries, false); !errors.Is(err, xoev.ErrCatalogExists) {
		t.Fatalf("a different file was overwritten: %v", err)
	}
	if string(read(t, cat)) != "<catalog/>" {
		t.Fatal("the refused write changed the file")
	}
	if changed, err := xoev.WriteCatalog(cat, entries, true); err != nil || !changed || string(read(t, cat)) != string(raw) {
		t.Fatalf("forced write: changed=%v err=%v", changed, err)
	}
}

func abs(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
