package mapping

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"
)

// form reads values out of a submission's form data and collects every problem on the way, so
// one run reports all missing or malformed fields at once.
type form struct {
	data     map[string]any
	problems []FieldError
}

func newForm(raw json.RawMessage) *form {
	f := &form{}
	if err := json.Unmarshal(raw, &f.data); err != nil {
		f.problems = append(f.problems, FieldError{Field: "data", Problem: "must be a JSON object: " + err.Error()})
	}
	return f
}

// lookup follows a dotted path (e.g. "inhaber.anschrift.ort") through nested objects.
func (f *form) lookup(path string) (any, bool) {
	var cur any = f.data
	for _, key := range strings.Split(path, ".") {
		obj, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = obj[key]; !ok || cur == nil {
			return nil, false
		}
	}
	return cur, true
}

// str returns the trimmed text at path; numbers and booleans are written as text. A missing
// required value is reported with its full path.
func (f *form) str(path string, required bool) string {
	v, ok := f.lookup(path)
	var s string
	switch x := v.(type) {
	case string:
		s = strings.TrimSpace(x)
	case float64:
		s = strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		s = strconv.FormatBool(x)
	case nil:
	default:
		f.problem(path, "must be a text, number or boolean value")
		return ""
	}
	if ok && s == "" && required {
		f.problem(path, "must not be empty")
	} else if !ok && required {
		f.problem(path, "is required but missing")
	}
	return s
}

// date returns the value at path as xs:date (YYYY-MM-DD); it accepts ISO dates and the German
// form DD.MM.YYYY.
func (f *form) date(path string, required bool) string {
	s := f.str(path, required)
	if s == "" {
		return ""
	}
	for _, layout := range []string{"2006-01-02", "02.01.2006", "2.1.2006"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.Format("2006-01-02")
		}
	}
	f.problem(path, "is not a date: "+strconv.Quote(s)+" (expected YYYY-MM-DD or DD.MM.YYYY)")
	return ""
}

func (f *form) problem(path, msg string) {
	f.problems = append(f.problems, FieldError{Field: "data." + path, Problem: msg})
}
