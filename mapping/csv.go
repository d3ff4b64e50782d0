package mapping

import (
	"bytes"
	"fmt"
	"mime"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
	"golang.org/x/text/encoding/charmap"
)

// csvFormat is how a CSV mapping writes its file (RFC 4180): fields separated by delimiter,
// records ended by CRLF, a field quoted when it holds the delimiter, a quote, CR or LF, quotes
// in it doubled.
type csvFormat struct {
	delimiter rune
	// encoding is utf-8 or windows-1252; bom starts a UTF-8 file with a byte order mark.
	encoding string
	bom      bool
	// header writes the column names as the first record.
	header bool
	// formulaGuard puts ' before a text that a spreadsheet would run as a formula.
	formulaGuard bool
}

const (
	utf8Encoding   = "utf-8"
	windows1252    = "windows-1252"
	csvKeysMessage = "delimiter, encoding, bom, header, formula_guard"
)

func (l *loader) csvFormat(file string, n *yaml.Node) csvFormat {
	c := csvFormat{delimiter: ',', encoding: utf8Encoding, header: true}
	if n == nil {
		return c
	}
	f := l.fields(file, n, strings.Split(csvKeysMessage, ", ")...)
	if v, ok := f["delimiter"]; ok {
		r := []rune(v.Value)
		if len(r) != 1 || r[0] == '"' || r[0] == '\r' || r[0] == '\n' {
			l.errorf(file, v.Line, "csv.delimiter %q: expected one character other than a quote or a line end, e.g. \";\" or \"\\t\"", v.Value)
		} else {
			c.delimiter = r[0]
		}
	}
	if v, ok := f["encoding"]; ok {
		switch strings.ToLower(v.Value) {
		case "utf-8", "utf8":
			c.encoding = utf8Encoding
		case "windows-1252", "cp1252":
			c.encoding = windows1252
		default:
			l.errorf(file, v.Line, "csv.encoding %q: expected utf-8 or windows-1252", v.Value)
		}
	}
	for key, into := range map[string]*bool{"bom": &c.bom, "header": &c.header, "formula_guard": &c.formulaGuard} {
		if v, ok := f[key]; ok {
			if err := v.Decode(into); err != nil {
				l.errorf(file, v.Line, "csv.%s must be true or false", key)
			}
		}
	}
	if c.bom && c.encoding != utf8Encoding {
		l.errorf(file, f["bom"].Line, "csv.bom: a byte order mark is for UTF-8; %s has none", c.encoding)
	}
	if _, bad := c.unrepresentable(string(c.delimiter)); bad {
		l.errorf(file, f["delimiter"].Line, "csv.delimiter %q cannot be written in %s", string(c.delimiter), c.encoding)
	}
	return c
}

// csvRows reads the rows (for_each, as, if, required) and the columns of a CSV mapping.
func (l *loader) csvRows(file string, node *yaml.Node, f map[string]*yaml.Node, m *Mapping, scope map[string]bool) {
	inner := scope
	if n, ok := f["rows"]; ok {
		rf := l.fields(file, n, "for_each", "as", "if", "required")
		r := &rule{kind: columnRule, where: fmt.Sprintf("%s:%d", file, n.Line), name: "rows", as: "item"}
		fe, ok := rf["for_each"]
		if !ok {
			l.errorf(file, n.Line, "rows needs for_each: the list with one row per item (leave rows out for one row per submission)")
			fe = &yaml.Node{Kind: yaml.ScalarNode, Value: "[]", Line: n.Line}
		}
		r.forEach, r.forSrc = l.compile(file, fe, fe.Value, scope), fe.Value
		if path := jsonPath(fe.Value, nil); path == strings.TrimSpace(fe.Value) {
			r.itemPath = path
		}
		if as, ok := rf["as"]; ok {
			r.as = as.Value
			if !varPattern.MatchString(as.Value) || (reserved[as.Value] && as.Value != "item") || scope[as.Value] {
				l.errorf(file, as.Line, "as: %q cannot name the item", as.Value)
			}
		}
		inner = map[string]bool{}
		for k := range scope {
			inner[k] = true
		}
		inner[r.as], inner["index"] = true, true
		if c, ok := rf["if"]; ok {
			r.cond, r.condSrc = l.compile(file, c, c.Value, inner), c.Value
		}
		if req, ok := rf["required"]; ok {
			if err := req.Decode(&r.required); err != nil {
				l.errorf(file, req.Line, "required must be true or false")
			}
		}
		m.rows = r
	}
	cols, ok := f["columns"]
	if !ok {
		l.errorf(file, node.Line, "columns is required")
		return
	}
	m.columns = l.rules(file, cols, inner)
	if len(m.columns) == 0 && cols.Kind == yaml.SequenceNode {
		l.errorf(file, cols.Line, "columns is empty")
	}
	seen := map[string]string{}
	for _, c := range m.columns {
		cf, line := splitWhere(c.where)
		if first, dup := seen[c.name]; dup {
			l.errorf(cf, line, "column %q is listed twice (also at %s)", c.name, first)
		}
		seen[c.name] = c.where
		if ch, bad := m.csv.unrepresentable(c.name); bad {
			l.errorf(cf, line, "column name %q has %s, which %s cannot represent", c.name, ch, m.csv.encoding)
		}
	}
}

func splitWhere(where string) (string, int) {
	i := strings.LastIndexByte(where, ':')
	n, _ := strconv.Atoi(where[i+1:])
	return where[:i], n
}

// unrepresentable finds the first character of s the file's encoding cannot write, described
// as "ř" (U+0159) at character 4.
func (c csvFormat) unrepresentable(s string) (string, bool) {
	if c.encoding != windows1252 {
		return "", false
	}
	pos := 0
	for _, r := range s {
		pos++
		if _, ok := charmap.Windows1252.EncodeRune(r); !ok || r == utf8.RuneError {
			return fmt.Sprintf("%q (%U) at character %d", string(r), r, pos), true
		}
	}
	return "", false
}

// MediaType is the media type of the file: text/csv with its charset and header parameters.
func (c csvFormat) MediaType() string {
	header := "absent"
	if c.header {
		header = "present"
	}
	return "text/csv; charset=" + c.encoding + "; header=" + header
}

// mapCSV writes the file: the header, then a record per row.
func (r *run) mapCSV() ([]byte, error) {
	m := r.m
	rows := []map[string]any{r.env}
	if m.rows != nil {
		rows = nil
		for _, env := range r.bindings(m.rows, r.env) {
			if r.holds(m.rows, env) {
				rows = append(rows, env)
			}
		}
		if len(rows) == 0 && m.rows.required && len(r.problems) == 0 {
			r.fail(m.rows.where, "", "rows: for_each %s gives no rows (required)", r.describe(m.rows.forSrc, r.env))
		}
	}
	var records [][]string
	if m.csv.header {
		var names []string
		for _, c := range m.columns {
			names = append(names, c.name)
		}
		records = append(records, names)
	}
	for i, env := range rows {
		record := make([]string, len(m.columns))
		for j, c := range m.columns {
			record[j] = r.cell(c, env, i)
		}
		records = append(records, record)
	}
	if len(r.problems) > 0 {
		return nil, &Error{Mapping: m.File, Problems: r.problems}
	}
	return m.csv.write(records)
}

// cell is one column's text in one row; a column whose if is false is empty.
func (r *run) cell(c *rule, env map[string]any, row int) string {
	for _, scoped := range r.bindings(c, env) {
		if !r.holds(c, scoped) {
			return ""
		}
		s, ok := r.text(c, scoped)
		if !ok {
			return ""
		}
		if ch, bad := r.m.csv.unrepresentable(s); bad {
			where := ""
			if r.m.rows != nil {
				where = fmt.Sprintf("row %d: ", row+1)
			}
			r.fail(c.where, c.name, "%svalue %s is %q, which has %s that %s cannot represent (replace it in the mapping, or write utf-8)",
				where, r.describe(c.source(), scoped), s, ch, r.m.csv.encoding)
			return ""
		}
		if r.m.csv.formulaGuard {
			s = guardFormula(s)
		}
		return s
	}
	return ""
}

// guardFormula puts ' before a text that starts as a spreadsheet formula does (=, +, -, @,
// tab, CR), unless it is a number: a value a citizen typed must not run in the office's
// spreadsheet.
func guardFormula(s string) string {
	if s == "" || !strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return s
	}
	if _, err := strconv.ParseFloat(strings.ReplaceAll(s, ",", "."), 64); err == nil {
		return s
	}
	return "'" + s
}

// write encodes the records as the file says: RFC 4180 quoting, CRLF, the encoding.
func (c csvFormat) write(records [][]string) ([]byte, error) {
	var b bytes.Buffer
	if c.bom {
		b.WriteString("\uFEFF")
	}
	delim := string(c.delimiter)
	for _, rec := range records {
		for i, field := range rec {
			if i > 0 {
				b.WriteString(delim)
			}
			if strings.Contains(field, delim) || strings.ContainsAny(field, "\"\r\n") {
				b.WriteByte('"')
				b.WriteString(strings.ReplaceAll(field, `"`, `""`))
				b.WriteByte('"')
			} else {
				b.WriteString(field)
			}
		}
		b.WriteString("\r\n")
	}
	if c.encoding == windows1252 {
		out, err := charmap.Windows1252.NewEncoder().Bytes(b.Bytes())
		if err != nil {
			return nil, fmt.Errorf("encode as windows-1252: %w", err)
		}
		return out, nil
	}
	return b.Bytes(), nil
}

// DecodeCSV reads a CSV file a mapping made as text: decoded from the charset its media type
// names (windows-1252 or UTF-8; "" reads as UTF-8), without a byte order mark.
func DecodeCSV(raw []byte, mediaType string) (string, error) {
	if _, params, err := mime.ParseMediaType(mediaType); err == nil && strings.EqualFold(params["charset"], windows1252) {
		out, err := charmap.Windows1252.NewDecoder().Bytes(raw)
		if err != nil {
			return "", fmt.Errorf("the CSV is not windows-1252: %w", err)
		}
		return string(out), nil
	}
	if !utf8.Valid(raw) {
		return "", fmt.Errorf("the CSV is not UTF-8")
	}
	return strings.TrimPrefix(string(raw), "\uFEFF"), nil
}
