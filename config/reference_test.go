package config_test

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/amtsbote/amtsbote/config"
)

// keys lists every configuration key of a struct, following mapstructure tags; list elements
// are written as name[].
func keys(t reflect.Type, prefix string) []string {
	var out []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := strings.Split(f.Tag.Get("mapstructure"), ",")[0]
		if tag == "" || tag == "-" {
			continue
		}
		key := prefix + tag
		ft := f.Type
		switch {
		case ft.Kind() == reflect.Struct && ft.String() != "time.Duration":
			out = append(out, keys(ft, key+".")...)
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			out = append(out, keys(ft.Elem(), key+"[].")...)
		default:
			out = append(out, key)
		}
	}
	return out
}

// docs/configuration.md (with docs/adapters.md for destinations) names every key the config
// structs have, so the reference cannot drift from the code.
func TestConfigurationReferenceIsComplete(t *testing.T) {
	var docs strings.Builder
	for _, f := range []string{"../docs/configuration.md", "../docs/adapters.md"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		docs.Write(b)
	}
	text := docs.String()
	for _, key := range keys(reflect.TypeOf(config.Config{}), "") {
		leaf := key[strings.LastIndex(key, ".")+1:]
		switch {
		case strings.Contains(text, "`"+key+"`"):
		case strings.Contains(key, "[]") && strings.Contains(text, leaf+":"):
		case strings.Contains(text, "`"+strings.Join(strings.Split(key, ".")[:len(strings.Split(key, "."))-1], ".")+".*`"):
		default:
			t.Errorf("docs/configuration.md does not describe %s", key)
		}
	}
}
