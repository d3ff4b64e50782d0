package mapping_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/amtsbote/amtsbote/mapping"
)

// FuzzMap feeds arbitrary form data through both demo mappings: the engine must never panic
// and must either produce a message or say what is wrong.
func FuzzMap(f *testing.F) {
	files, _ := filepath.Glob("../fixtures/demo/tests/*/input.json")
	for _, file := range files {
		raw, _ := os.ReadFile(file)
		var in struct{ Data json.RawMessage }
		json.Unmarshal(raw, &in)
		f.Add([]byte(in.Data))
	}
	f.Add([]byte(`{"inhaber": [], "betrieb": {"beginn": 12, "name": {"x": 1}}, "gesellschafter": "text"}`))
	f.Add([]byte(`{"betrieb": {"beginn": "9999-99-99", "beschaeftigte": 1e308}, "gesellschafter": [null, 1, "x", {}]}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`[1,2,3]`))
	var compiled []*mapping.Mapping
	for _, m := range demoMappingFiles {
		compiled = append(compiled, load(f, demoMappings+m))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if !json.Valid(data) {
			return
		}
		for _, m := range compiled {
			msg, err := m.Map(fixedInput(t, string(data), pdf))
			if err == nil && len(msg.XML) == 0 {
				t.Fatal("no error and no message")
			}
		}
	})
}
