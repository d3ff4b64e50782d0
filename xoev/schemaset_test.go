package xoev_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/amtsbote/amtsbote/xoev"
)

const (
	xdomeaRoot = "../fixtures/xoev/xdomea-3.0.0/schema/xdomea.xsd"
	codeLists  = "../fixtures/xoev/xdomea-3.0.0/schema/code_lists"
	corpus     = "../fixtures/xoev/corpus/xdomea-3.0.0"
	xdomeaNS   = "urn:xoev-de:xdomea:schema:3.0.0"
)

var (
	xdomeaOnce sync.Once
	xdomeaSet  *xoev.SchemaSet
	xdomeaErr  error
)

// xdomea compiles the real xdomea 3.0.0 set once for all tests, as the daemon does.
func xdomea(t testing.TB) *xoev.SchemaSet {
	t.Helper()
	xdomeaOnce.Do(func() {
		xdomeaSet, xdomeaErr = xoev.LoadSchemaSet(xoev.SchemaSetConfig{
			ID: "xdomea-3.0.0", Root: xdomeaRoot, Namespaces: []string{xdomeaNS}, CodeLists: []string{codeLists},
		})
	})
	if xdomeaErr != nil {
		t.Fatal(xdomeaErr)
	}
	return xdomeaSet
}

func read(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCorpusVerdicts(t *testing.T) {
	set := xdomea(t)
	for dir, wantValid := range map[string]bool{"valid": true, "invalid": false} {
		files, _ := filepath.Glob(filepath.Join(corpus, dir, "*.xml"))
		if len(files) < 5 {
			t.Fatalf("corpus %s has only %d files", dir, len(files))
		}
		for _, f := range files {
			t.Run(dir+"/"+filepath.Base(f), func(t *testing.T) {
				doc, err := xoev.Parse(read(t, f), xoev.DefaultMaxBytes)
				if err != nil {
					if wantValid {
						t.Fatalf("valid file refused: %v", err)
					}
					return
				}
				defer doc.Free()
				problems, err := set.ValidateDocument(doc)
				if err != nil {
					t.Fatal(err)
				}
				if (len(problems) == 0) != wantValid {
					t.Fatalf("valid=%v, want %v: %v", len(problems) == 0, wantValid, problems)
				}
			})
		}
	}
}

// Every problem carries the line, the element path and libxml2's message.
func TestProblemsCarryLineAndPath(t *testing.T) {
	err := xdomea(t).Validate(read(t, corpus+"/invalid/Abgabe.Abgabe.0401-wrong-type-erstellungszeitpunkt.xml"))
	var ve *xoev.ValidationError
	if !errors.As(err, &ve) || len(ve.Problems) != 1 {
		t.Fatalf("want one problem, got %v", err)
	}
	p := ve.Problems[0]
	if p.Line != 8 || p.Path != "/xdomea:Abgabe.Abgabe.0401/xdomea:Kopf/xdomea:Erstellungszeitpunkt" ||
		!strings.Contains(p.Message, "'gestern' is not a valid value of the atomic type 'xs:dateTime'") {
		t.Fatalf("problem = %+v", p)
	}
	if s := p.String(); !strings.HasPrefix(s, "line 8: /xdomea:Abgabe.Abgabe.0401/xdomea:Kopf/xdomea:Erstellungszeitpunkt: ") {
		t.Fatalf("String() = %q", s)
	}
}

// All errors are reported, not only the first 32.
func TestAllProblemsAreReported(t *testing.T) {
	base := string(read(t, corpus+"/valid/Abgabe.Abgabe.0401-gewerbeanmeldung.xml"))
	var docs strings.Builder
	for i := 0; i < 50; i++ {
		fmt.Fprintf(&docs, "<xdomea:Dokument><xdomea:Identifikation><xdomea:ID>bad-%d</xdomea:ID></xdomea:Identifikation></xdomea:Dokument>\n", i)
	}
	msg := strings.Replace(base, "<xdomea:Kontakt>", docs.String()+"<xdomea:Kontakt>", 1)
	err := xdomea(t).Validate([]byte(msg))
	var ve *xoev.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("want a validation error, got %v", err)
	}
	if len(ve.Problems) < 50 {
		t.Fatalf("%d problems reported, want at least 50", len(ve.Problems))
	}
	if ve.Problems[49].Line < 100 {
		t.Errorf("problem 50 is on line %d", ve.Problems[49].Line)
	}
}

// One compiled set serves many goroutines at once, with correct verdicts.
func TestConcurrentValidation(t *testing.T) {
	set := xdomea(t)
	valid := read(t, corpus+"/valid/Abgabe.Abgabe.0401-gewerbeanmeldung.xml")
	invalid := read(t, corpus+"/invalid/Abgabe.Abgabe.0401-missing-prozessid.xml")
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100; i++ {
				if err := set.Validate(valid); err != nil {
					t.Errorf("valid message rejected: %v", err)
					return
				}
				if err := set.Validate(invalid); err == nil {
					t.Error("invalid message accepted")
					return
				}
			}
		}()
	}
	wg.Wait()
}

// Closing a schema set while validations run waits for them, and a validation after the close is
// an error, never a validation against freed memory (a reload retires the sets of the snapshot
// before it while receipts or messages are still being checked).
func TestCloseWhileValidating(t *testing.T) {
	set, err := xoev.LoadSchemaSet(xoev.SchemaSetConfig{ID: "xdomea-3.0.0", Root: xdomeaRoot, Namespaces: []string{xdomeaNS}})
	if err != nil {
		t.Fatal(err)
	}
	valid := read(t, corpus+"/valid/Abgabe.Abgabe.0401-gewerbeanmeldung.xml")
	var wg, started sync.WaitGroup
	errs := make(chan error, 400)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		started.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100; i++ {
				errs <- set.Validate(valid)
				if i == 0 {
					started.Done()
				}
			}
		}()
	}
	started.Wait()
	set.Close()
	wg.Wait()
	close(errs)
	ok, closed := 0, 0
	for err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, xoev.ErrClosed):
			closed++
		default:
			t.Errorf("a validation while closing: %v", err)
		}
	}
	if err := set.Validate(read(t, corpus+"/valid/Abgabe.Abgabe.0401-gewerbeanmeldung.xml")); !errors.Is(err, xoev.ErrClosed) {
		t.Fatalf("a validation after Close = %v, want ErrClosed", err)
	}
	set.Close() // twice is harmless
	t.Logf("%d valid before the close, %d refused after it", ok, closed)
}

// Absolute http and https schemaLocations resolve through the catalog to local files.
func TestCatalogResolvesAbsoluteImports(t *testing.T) {
	set, err := xoev.LoadSchemaSet(xoev.SchemaSetConfig{
		ID: "beispiel-1.0", Root: "testdata/absolute/beispiel.xsd", Catalog: "testdata/absolute/catalog.xml",
	})
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	if len(set.Files) != 4 {
		t.Errorf("files = %v, want root, 2 imports and 1 include", set.Files)
	}
	if err := set.Validate(read(t, "testdata/absolute/valid.xml")); err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(string(read(t, "testdata/absolute/valid.xml")), "<bsp:Anzahl>3", "<bsp:Anzahl>100", 1)
	if err := set.Validate([]byte(bad)); err == nil || !strings.Contains(err.Error(), "Anzahl") {
		t.Fatalf("want the imported type's facet to apply, got %v", err)
	}
}

// A URL the catalog does not map is an error naming the URL and the schema line importing it.
func TestUnresolvedURLIsNamed(t *testing.T) {
	tests := []struct {
		name, catalog string
		want          []string
	}{
		{"no catalog", "", []string{"testdata/absolute/beispiel.xsd:11 imports http://xoev.de/schemata/code/1_0/xoev-code.xsd",
			"testdata/absolute/beispiel.xsd:13 imports https://xoev.de/latinchars/1_1/datatypes/latinchars.xsd", "configure a catalog"}},
		{"entry missing", "testdata/absolute/catalog-missing-latinchars.xml", []string{
			"beispiel.xsd:13 imports https://xoev.de/latinchars/1_1/datatypes/latinchars.xsd", "add it to the schema set's catalog"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := xoev.LoadSchemaSet(xoev.SchemaSetConfig{ID: "beispiel", Root: "testdata/absolute/beispiel.xsd", Catalog: tt.catalog})
			if err == nil {
				t.Fatal("want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestBrokenSchemaFailsFast(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "broken.xsd"), []byte(`<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">
  <xs:element name="a" type="xs:nosuchtype"/>
</xs:schema>`), 0o600)
	_, err := xoev.LoadSchemaSet(xoev.SchemaSetConfig{ID: "broken", Root: filepath.Join(dir, "broken.xsd")})
	if err == nil || !strings.Contains(err.Error(), "nosuchtype") || !strings.Contains(err.Error(), "broken.xsd") {
		t.Fatalf("want an error naming the file and the unknown type, got %v", err)
	}
	_, err = xoev.LoadSchemaSet(xoev.SchemaSetConfig{ID: "missing", Root: filepath.Join(dir, "nope.xsd")})
	if err == nil || !strings.Contains(err.Error(), "nope.xsd") {
		t.Fatalf("missing root: %v", err)
	}
}
