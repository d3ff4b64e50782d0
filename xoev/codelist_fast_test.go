package xoev

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The fast path of the code check never passes a document the full check faults, and passes the
// valid corpus (or the fast path would be useless); variants of the simple form fall back.
func TestCodeCheckFastPathAgreesWithFullCheck(t *testing.T) {
	lists, err := LoadCodeLists("../fixtures/xoev/xdomea-3.0.0/schema/code_lists")
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob("../fixtures/xoev/corpus/xdomea-3.0.0/*/*.xml")
	if len(files) < 20 {
		t.Fatalf("corpus has %d files", len(files))
	}
	fastValid := 0
	for _, f := range files {
		data, _ := os.ReadFile(f)
		variants := map[string]string{
			"as is":              string(data),
			"spaces around =":    strings.ReplaceAll(string(data), `listURI="`, `listURI = "`),
			"single quotes":      strings.ReplaceAll(string(data), `listVersionID="`, `listVersionID='`),
			"name before code":   strings.ReplaceAll(string(data), `<code>`, `<name>x</name><code>`),
			"entity in the code": strings.ReplaceAll(string(data), `<code>0`, `<code>&#48;`),
		}
		for name, v := range variants {
			fast := lists.allKnown([]byte(v))
			full := lists.checkAll([]byte(v))
			if fast && len(full) > 0 {
				t.Errorf("%s (%s): the fast path passed it, the full check found %v", filepath.Base(f), name, full)
			}
			if name == "as is" && fast && strings.Contains(f, "/valid/") {
				fastValid++
			}
		}
	}
	if fastValid == 0 {
		t.Error("the fast path passed none of the valid corpus")
	}
}
