package jsonfield_test

import (
	"testing"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/amtsbote/amtsbote/jsonfield"
)

func TestPath(t *testing.T) {
	for _, tt := range []struct {
		pointer jsontext.Pointer
		want    string
	}{
		{"", ""},
		{"/leistung", "leistung"},
		{"/attachments/1/content_base64", "attachments[1].content_base64"},
		{"/data/a.b/0", `data["a.b"][0]`},
		{"/data/", `data[""]`},
		{"/0/x", "0.x"}, // an index only after a name
		{"/paymentRequest/items/12/id", "paymentRequest.items[12].id"},
	} {
		if got := jsonfield.Path(tt.pointer); got != tt.want {
			t.Errorf("Path(%q) = %q, want %q", tt.pointer, got, tt.want)
		}
	}
}

func TestKindName(t *testing.T) {
	for k, want := range map[jsontext.Kind]string{'"': "a string", '0': "a number", 't': "a boolean", 'f': "a boolean",
		'n': "null", '{': "an object", '[': "an array"} {
		if got := jsonfield.KindName(k); got != want {
			t.Errorf("KindName(%q) = %q, want %q", k, got, want)
		}
	}
}
