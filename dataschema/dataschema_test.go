package dataschema_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/amtsbote/amtsbote/dataschema"
)

// Every problem names its field as amtsbote names fields and keeps its place as JSON Pointer
// tokens, which a JSON mapping turns into a JSON path.
func TestProblemsNameFieldAndLocation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.json")
	os.WriteFile(path, []byte(`{"type": "object", "required": ["a"], "properties": {"l": {"type": "array", "items": {"type": "object", "properties": {"x y": {"type": "integer"}}}}}}`), 0o644)
	s, err := dataschema.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	err = s.Validate([]byte(`{"l": [{"x y": 1}, {"x y": "zwei"}]}`))
	var ve *dataschema.ValidationError
	if !errors.As(err, &ve) || ve.Schema != "s.json" || len(ve.Problems) != 2 {
		t.Fatalf("want two problems, got %v", err)
	}
	root, item := ve.Problems[0], ve.Problems[1]
	if root.Path != "" || len(root.Location) != 0 || !strings.Contains(root.Message, "'a'") {
		t.Errorf("root problem %+v", root)
	}
	if item.Path != "l[1].x y" || !slices.Equal(item.Location, []string{"l", "1", "x y"}) {
		t.Errorf("item problem %+v", item)
	}
	if err := s.Validate([]byte(`{"a": 1}`)); err != nil {
		t.Errorf("valid document: %v", err)
	}
}
