package mapping

import (
	"fmt"
	"math"
	"path"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // Europe/Berlin must resolve in containers without a zone database

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"

	"github.com/amtsbote/amtsbote/xoev"
)

// NilSafe makes every member access optional: data.inhaber.anschrift.ort is nil, not an error,
// when the form has no anschrift. Missing values are then handled by required/default. Pass it
// to expr.Patch.
type NilSafe struct{}

// Visit implements ast.Visitor.
func (NilSafe) Visit(node *ast.Node) {
	if m, ok := (*node).(*ast.MemberNode); ok && !m.Method {
		m.Optional = true
		// the compiler honours Optional only inside a chain, as it builds for a?.b
		ast.Patch(node, &ast.ChainNode{Node: m})
	}
}

// exprOptions are the functions mappings may call, beyond expr-lang's built-ins (trim, upper,
// lower, split, join, replace, len, ...). The built-ins date, now and concat are replaced by the
// XÖV-aware ones below; now and uuid come from the run's environment.
func exprOptions(codes *xoev.CodeLists) []expr.Option {
	opts := []expr.Option{
		expr.Patch(NilSafe{}),
		expr.DisableBuiltin("date"),
		expr.DisableBuiltin("now"),
		expr.DisableBuiltin("concat"),
		expr.DisableBuiltin("duration"),
		expr.DisableBuiltin("timezone"),
		expr.Function("date", func(p ...any) (any, error) { return toDate(p[0]) }, new(func(any) string)),
		expr.Function("datetime", func(p ...any) (any, error) { return toDateTime(p[0]) }, new(func(any) string)),
		expr.Function("dateDE", func(p ...any) (any, error) {
			t, ok, err := parseTime(p[0])
			if !ok || err != nil {
				return nil, err
			}
			if s, isText := p[0].(string); isText && strings.ContainsAny(s, "T ") {
				t = t.In(germanTime) // a moment: its date in Germany
			}
			return t.Format("02.01.2006"), nil
		}, new(func(any) string)),
		expr.Function("substr", substr, new(func(any, int, int) string)),
		expr.Function("number", formatNumber, new(func(any, int) string)),
		expr.Function("numberDE", func(p ...any) (any, error) {
			s, err := formatNumber(p...)
			if s == nil || err != nil {
				return nil, err
			}
			return strings.Replace(s.(string), ".", ",", 1), nil
		}, new(func(any, int) string)),
		expr.Function("default", func(p ...any) (any, error) {
			if isEmpty(p[0]) {
				return p[1], nil
			}
			return p[0], nil
		}, new(func(any, any) any)),
		expr.Function("concat", func(p ...any) (any, error) {
			var b strings.Builder
			for _, v := range p {
				s, err := toText(v)
				if err != nil {
					return nil, err
				}
				b.WriteString(s)
			}
			return b.String(), nil
		}),
		expr.Function("joinNonEmpty", func(p ...any) (any, error) {
			sep, _ := p[0].(string)
			var parts []string
			for _, v := range p[1:] {
				s, err := toText(v)
				if err != nil {
					return nil, err
				}
				if s != "" {
					parts = append(parts, s)
				}
			}
			return strings.Join(parts, sep), nil
		}),
		expr.Function("ext", func(p ...any) (any, error) {
			s, _ := p[0].(string)
			return strings.ToLower(strings.TrimPrefix(path.Ext(s), ".")), nil
		}, new(func(any) string)),
		expr.Function("code", func(p ...any) (any, error) {
			list, _ := p[0].(string)
			value, err := toText(p[1])
			if err != nil || value == "" {
				return nil, err
			}
			return lookupCode(codes, list, "", value)
		}, new(func(string, any) any)),
		expr.Function("codeName", func(p ...any) (any, error) {
			list, _ := p[0].(string)
			value, err := toText(p[1])
			if err != nil || value == "" {
				return nil, err
			}
			code, err := lookupCode(codes, list, "", value)
			if err != nil {
				return nil, err
			}
			name, _ := codes.Lookup(list, "", code)
			return name, nil
		}, new(func(string, any) any)),
	}
	return opts
}

// lookupCode accepts a code of the list, or a name or alias of one, and returns the code.
func lookupCode(codes *xoev.CodeLists, list, version, value string) (string, error) {
	if codes == nil {
		return "", fmt.Errorf("no code lists are loaded (set code_lists on the schema set)")
	}
	l, ok := codes.List(list, version)
	if !ok {
		return "", fmt.Errorf("code list %s %s is not loaded", list, version)
	}
	code, ok := l.Code(value)
	if !ok {
		return "", fmt.Errorf("%q is neither a code nor a name in code list %s version %s", value, l.URI, l.Version)
	}
	return code, nil
}

// germanTime is the zone dateDE gives the date of a moment in.
var germanTime = func() *time.Location {
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		return time.UTC
	}
	return loc
}()

var dateLayouts = []string{"2006-01-02", "02.01.2006", "2.1.2006", time.RFC3339Nano, "2006-01-02T15:04:05", "02.01.2006 15:04"}

func parseTime(v any) (time.Time, bool, error) {
	switch x := v.(type) {
	case nil:
		return time.Time{}, false, nil
	case time.Time:
		return x, true, nil
	case string:
		s := strings.TrimSpace(x)
		if s == "" {
			return time.Time{}, false, nil
		}
		for _, layout := range dateLayouts {
			if t, err := time.Parse(layout, s); err == nil {
				return t, true, nil
			}
		}
		return time.Time{}, false, fmt.Errorf("%q is not a date (expected YYYY-MM-DD, DD.MM.YYYY or an ISO date-time)", s)
	}
	return time.Time{}, false, fmt.Errorf("%v is not a date", v)
}

func toDate(v any) (any, error) {
	t, ok, err := parseTime(v)
	if !ok || err != nil {
		return nil, err
	}
	return t.Format("2006-01-02"), nil
}

func toDateTime(v any) (any, error) {
	t, ok, err := parseTime(v)
	if !ok || err != nil {
		return nil, err
	}
	return xoev.DateTime(t), nil
}

func substr(p ...any) (any, error) {
	s, err := toText(p[0])
	if err != nil {
		return nil, err
	}
	r := []rune(s)
	start, n := p[1].(int), p[2].(int)
	if start < 0 || n < 0 {
		return nil, fmt.Errorf("substr: start and length must not be negative")
	}
	if start > len(r) {
		return "", nil
	}
	end := min(start+n, len(r))
	return string(r[start:end]), nil
}

func formatNumber(p ...any) (any, error) {
	decimals := p[1].(int)
	var f float64
	switch x := p[0].(type) {
	case nil:
		return nil, nil
	case int:
		f = float64(x)
	case float64:
		f = x
	case string:
		s := strings.ReplaceAll(strings.TrimSpace(x), ",", ".")
		if s == "" {
			return nil, nil
		}
		var err error
		if f, err = strconv.ParseFloat(s, 64); err != nil {
			return nil, fmt.Errorf("number: %q is not a number", x)
		}
	default:
		return nil, fmt.Errorf("number: %v is not a number", x)
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, fmt.Errorf("number: %v is not a finite number", f)
	}
	return strconv.FormatFloat(f, 'f', decimals, 64), nil
}

func isEmpty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return strings.TrimSpace(x) == ""
	case []any:
		return len(x) == 0
	}
	return false
}

// toText turns an expression's result into element or attribute text.
func toText(v any) (string, error) {
	switch x := v.(type) {
	case nil:
		return "", nil
	case string:
		if strings.TrimSpace(x) == "" {
			return "", nil
		}
		return x, nil
	case bool:
		return strconv.FormatBool(x), nil
	case int:
		return strconv.Itoa(x), nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1e15 {
			return strconv.FormatInt(int64(x), 10), nil
		}
		return strconv.FormatFloat(x, 'f', -1, 64), nil
	case time.Time:
		return xoev.DateTime(x), nil
	case []any:
		return "", fmt.Errorf("the value is a list of %d items, not a single value (use for_each, join or an index)", len(x))
	case map[string]any:
		return "", fmt.Errorf("the value is an object, not a single value (pick one of its fields)")
	}
	return fmt.Sprint(v), nil
}
