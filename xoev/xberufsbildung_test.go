package xoev_test

import (
	"testing"

	"github.com/amtsbote/amtsbote/xoev"
)

const xbbd = "../fixtures/xoev/xberufsbildung-0.6/"

// XBerufsbildung 0.6 compiles offline — its imports of XBildung, the Basisnachricht G2G, the
// XÖV code and DIN 91379 types and W3C's xmldsig all through the catalog — and the standard's
// own sample is valid; the code lists its XSDs enumerate are loaded.
func TestXBerufsbildungCompilesOffline(t *testing.T) {
	set, err := xoev.LoadSchemaSet(xoev.SchemaSetConfig{ID: "xberufsbildung-0.6", Root: xbbd + "xsd/xberufsbildung.xsd",
		Catalog: xbbd + "catalog.xml", Namespaces: []string{"http://xberufsbildung.de/def/xberufsbildung/0.6/xsd"}})
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	if err := set.Validate(read(t, xbbd+"samples/XBBD_Berufsschulnote_BSM_Muenchen_01.xml")); err != nil {
		t.Fatal(err)
	}
	code, ok := set.CodeLists.CodeFor("urn:xbildung-de:kmk:codeliste:artderschule", "1.0", "teilzeit-berufsschule")
	if !ok || code != "http://xbildung.de/def/kmk/1.0/code/artderschule/teilzeit_berufsschule" {
		t.Fatalf("artderschule Teilzeit-Berufsschule = %q (%v); lists %v", code, ok, set.CodeLists.URIs())
	}
	if n := set.CodeLists.Genericode(); n != 0 {
		t.Errorf("%d genericode lists without code_lists", n)
	}
}
