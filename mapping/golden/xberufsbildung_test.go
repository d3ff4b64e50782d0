package golden_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/beevik/etree"

	"github.com/amtsbote/amtsbote/mapping/golden"
	"github.com/amtsbote/amtsbote/snapshot"
	"github.com/amtsbote/amtsbote/xoev"
)

const (
	example = "../../fixtures/examples/xberufsbildung/"
	xbbd    = "../../fixtures/xoev/xberufsbildung-0.6/"
)

// The XBerufsbildung example — a standard built on the XÖV Basisnachricht G2G — passes its
// golden tests, and every message it makes is valid against the real XBerufsbildung 0.6
// schemas (compiled here on their own, offline through the catalog), its codes included, with
// the Basisnachricht header naming sender and recipient by directory service and prefix:key.
func TestXBerufsbildungExample(t *testing.T) {
	snap, err := snapshot.Load(example + "amtsbote.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	results, err := golden.Run(snap, example+"tests", false)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if failed := golden.Report(&b, results); failed > 0 || len(results) < 5 {
		t.Fatalf("%d tests, %d failed:\n%s", len(results), failed, b.String())
	}

	set, err := xoev.LoadSchemaSet(xoev.SchemaSetConfig{ID: "xberufsbildung-0.6", Root: xbbd + "xsd/xberufsbildung.xsd",
		Catalog: xbbd + "catalog.xml", CodeLists: []string{example + "code_lists"}})
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	inputs, _ := filepath.Glob(example + "tests/*/input.json")
	messages := 0
	for _, file := range inputs {
		name := filepath.Base(filepath.Dir(file))
		raw, _ := os.ReadFile(file)
		var in golden.Input
		if err := json.Unmarshal(raw, &in); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		_, out, err := golden.MapSubmission(snap, in)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := os.Stat(filepath.Join(filepath.Dir(file), "expected-errors.txt")); err == nil {
			if len(out.Errors) == 0 {
				t.Errorf("%s: mapped, but must fail", name)
			}
			continue
		}
		msg, ok := out.Messages["kammer"]
		if !ok || len(out.Errors) > 0 {
			t.Fatalf("%s: no message: %v", name, out.Errors)
		}
		if err := set.Validate(msg); err != nil {
			t.Fatalf("%s: %v\n%s", name, err, msg)
		}
		doc := etree.NewDocument()
		if err := doc.ReadFromBytes(msg); err != nil {
			t.Fatal(err)
		}
		for path, want := range map[string]string{
			"xbbd:nachrichtenkopf/bn-g2g:autor/bn-beh:kennung":                                "ags:09162000",
			"xbbd:nachrichtenkopf/bn-g2g:autor/bn-beh:verzeichnisdienst/code":                 "DVDV",
			"xbbd:nachrichtenkopf/bn-g2g:leser/bn-beh:kennung":                                "ihk:1001",
			"xbbd:nachrichtenkopf/bn-g2g:identifikation.nachricht/bn-g2g:nachrichtentyp/code": "pruefling.berufsschulnote",
		} {
			if el := doc.Root().FindElement(path); el == nil || el.Text() != want {
				t.Errorf("%s: %s is not %q", name, path, want)
			}
		}
		messages++
	}
	if messages < 3 {
		t.Fatalf("only %d messages checked", messages)
	}
}
