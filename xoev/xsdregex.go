package xoev

import (
	"errors"
	"fmt"
	"regexp/syntax"
	"sort"
	"strings"
	"unicode/utf8"
)

// XSD regular expressions (XML Schema Part 2, appendix F) differ from Go's: they are anchored
// at both ends, '.' excludes \n and \r, '^' and '$' are ordinary characters, and there are the
// escapes \i and \c, Unicode block names (\p{IsBasicLatin}) and class subtraction. translateXSD
// turns the common subset into Go syntax; what it cannot translate faithfully is an error, and
// the caller then says nothing about the pattern beyond its text.

var errUntranslatable = errors.New("not translatable")

type runeRange struct{ lo, hi rune }

// XML 1.0 (fifth edition) NameStartChar and NameChar, for \i and \c.
var (
	nameStart = normalize([]runeRange{{':', ':'}, {'A', 'Z'}, {'_', '_'}, {'a', 'z'}, {0xC0, 0xD6}, {0xD8, 0xF6},
		{0xF8, 0x2FF}, {0x370, 0x37D}, {0x37F, 0x1FFF}, {0x200C, 0x200D}, {0x2070, 0x218F}, {0x2C00, 0x2FEF},
		{0x3001, 0xD7FF}, {0xF900, 0xFDCF}, {0xFDF0, 0xFFFD}, {0x10000, 0xEFFFF}})
	nameChar = normalize(append([]runeRange{{'-', '.'}, {'0', '9'}, {0xB7, 0xB7}, {0x300, 0x36F}, {0x203F, 0x2040}}, nameStart...))
	space    = normalize([]runeRange{{'\t', '\n'}, {'\r', '\r'}, {' ', ' '}})
)

// The Unicode blocks XÖV and DIN 91379 patterns are likely to name.
var blocks = map[string]runeRange{
	"BasicLatin": {0, 0x7F}, "Latin-1Supplement": {0x80, 0xFF}, "LatinExtended-A": {0x100, 0x17F},
	"LatinExtended-B": {0x180, 0x24F}, "IPAExtensions": {0x250, 0x2AF}, "SpacingModifierLetters": {0x2B0, 0x2FF},
	"CombiningDiacriticalMarks": {0x300, 0x36F}, "Greek": {0x370, 0x3FF}, "Cyrillic": {0x400, 0x4FF},
	"LatinExtendedAdditional": {0x1E00, 0x1EFF}, "GeneralPunctuation": {0x2000, 0x206F},
	"CurrencySymbols": {0x20A0, 0x20CF}, "LetterlikeSymbols": {0x2100, 0x214F},
}

// Unicode categories both XSD and Go know (Go lacks Cn, the unassigned code points).
var categories = map[string]bool{}

func init() {
	for _, c := range strings.Fields("L Lu Ll Lt Lm Lo M Mn Mc Me N Nd Nl No P Pc Pd Ps Pe Pi Pf Po Z Zs Zl Zp S Sm Sc Sk So C Cc Cf Co") {
		categories[c] = true
	}
}

func normalize(rs []runeRange) []runeRange {
	sort.Slice(rs, func(i, j int) bool { return rs[i].lo < rs[j].lo })
	var out []runeRange
	for _, r := range rs {
		if n := len(out); n > 0 && r.lo <= out[n-1].hi+1 {
			out[n-1].hi = max(out[n-1].hi, r.hi)
			continue
		}
		out = append(out, r)
	}
	return out
}

func complement(rs []runeRange) []runeRange {
	var out []runeRange
	next := rune(0)
	for _, r := range rs {
		if r.lo > next {
			out = append(out, runeRange{next, r.lo - 1})
		}
		next = r.hi + 1
	}
	if next <= utf8.MaxRune {
		out = append(out, runeRange{next, utf8.MaxRune})
	}
	return out
}

func rangesRE(rs []runeRange) string {
	var b strings.Builder
	for _, r := range rs {
		if r.lo == r.hi {
			fmt.Fprintf(&b, `\x{%x}`, r.lo)
		} else {
			fmt.Fprintf(&b, `\x{%x}-\x{%x}`, r.lo, r.hi)
		}
	}
	return b.String()
}

// translateXSD returns the Go syntax of an XSD pattern (without anchors: the caller matches the
// whole value).
func translateXSD(p string) (string, error) {
	t := &xsdTranslator{in: []rune(p)}
	var b strings.Builder
	for t.pos < len(t.in) {
		r := t.next()
		switch r {
		case '.':
			b.WriteString(`[^\n\r]`)
		case '^', '$':
			b.WriteString(`\` + string(r))
		case '(':
			if t.peek() == '?' {
				return "", errUntranslatable // an XSD error; Go would read (?flags)
			}
			b.WriteRune(r)
		case ')', '|', '*', '+', '?', '{', '}', ',':
			b.WriteRune(r)
		case '[':
			class, err := t.class()
			if err != nil {
				return "", err
			}
			b.WriteString(class)
		case '\\':
			item, multi, err := t.escape()
			if err != nil {
				return "", err
			}
			if multi {
				b.WriteString("[" + item + "]")
			} else {
				b.WriteString(item)
			}
		default:
			if r >= '0' && r <= '9' {
				b.WriteRune(r) // digits of a quantifier {n,m} or literal digits: the same in Go
			} else {
				fmt.Fprintf(&b, `\x{%x}`, r)
			}
		}
	}
	return b.String(), nil
}

type xsdTranslator struct {
	in  []rune
	pos int
}

func (t *xsdTranslator) next() rune {
	r := t.in[t.pos]
	t.pos++
	return r
}

func (t *xsdTranslator) peek() rune {
	if t.pos < len(t.in) {
		return t.in[t.pos]
	}
	return -1
}

// class translates a character class after its '['.
func (t *xsdTranslator) class() (string, error) {
	var b strings.Builder
	b.WriteString("[")
	if t.peek() == '^' {
		t.pos++
		b.WriteString("^")
	}
	first := true
	for {
		if t.pos >= len(t.in) {
			return "", errUntranslatable
		}
		r := t.next()
		switch {
		case r == ']' && !first:
			b.WriteString("]")
			return b.String(), nil
		case r == '[':
			return "", errUntranslatable // subtraction -[…], or an XSD error
		case r == '-' && t.peek() == '[':
			return "", errUntranslatable
		}
		first = false
		var lo string
		var loRune rune = -1
		if r == '\\' {
			item, multi, err := t.escape()
			if err != nil {
				return "", err
			}
			if multi {
				b.WriteString(item)
				continue
			}
			lo, loRune = item, t.in[t.pos-1]
			if v, ok := singleEscapes[loRune]; ok {
				loRune = v
			}
		} else {
			lo, loRune = fmt.Sprintf(`\x{%x}`, r), r
		}
		// A range lo-hi, unless '-' ends the class.
		if t.peek() == '-' && t.pos+1 < len(t.in) && t.in[t.pos+1] != ']' && t.in[t.pos+1] != '[' {
			t.pos++
			hr := t.next()
			if hr == '\\' {
				item, multi, err := t.escape()
				if err != nil || multi {
					return "", errUntranslatable
				}
				_ = item
				hr = t.in[t.pos-1]
				if v, ok := singleEscapes[hr]; ok {
					hr = v
				}
			}
			if hr < loRune {
				return "", errUntranslatable
			}
			fmt.Fprintf(&b, `\x{%x}-\x{%x}`, loRune, hr)
			continue
		}
		b.WriteString(lo)
	}
}

// singleEscapes are the XSD escapes for one character.
var singleEscapes = map[rune]rune{'n': '\n', 'r': '\r', 't': '\t', '\\': '\\', '|': '|', '.': '.', '-': '-',
	'^': '^', '?': '?', '*': '*', '+': '+', '{': '{', '}': '}', '(': '(', ')': ')', '[': '[', ']': ']'}

// escape translates what follows a backslash. multi reports a class escape, returned as the
// inside of a character class.
func (t *xsdTranslator) escape() (item string, multi bool, err error) {
	if t.pos >= len(t.in) {
		return "", false, errUntranslatable
	}
	r := t.next()
	if v, ok := singleEscapes[r]; ok {
		return fmt.Sprintf(`\x{%x}`, v), false, nil
	}
	switch r {
	case 'd':
		return `\p{Nd}`, true, nil
	case 'D':
		return `\P{Nd}`, true, nil
	case 'w':
		return `\p{L}\p{M}\p{N}\p{S}`, true, nil
	case 'W':
		return `\p{P}\p{Z}\p{C}`, true, nil
	case 's':
		return rangesRE(space), true, nil
	case 'S':
		return rangesRE(complement(space)), true, nil
	case 'i':
		return rangesRE(nameStart), true, nil
	case 'I':
		return rangesRE(complement(nameStart)), true, nil
	case 'c':
		return rangesRE(nameChar), true, nil
	case 'C':
		return rangesRE(complement(nameChar)), true, nil
	case 'p', 'P':
		if t.peek() != '{' {
			return "", false, errUntranslatable
		}
		end := t.pos
		for end < len(t.in) && t.in[end] != '}' {
			end++
		}
		if end == len(t.in) {
			return "", false, errUntranslatable
		}
		name := string(t.in[t.pos+1 : end])
		t.pos = end + 1
		if blk, ok := strings.CutPrefix(name, "Is"); ok {
			rg, known := blocks[blk]
			if !known {
				return "", false, errUntranslatable
			}
			rs := []runeRange{rg}
			if r == 'P' {
				rs = complement(rs)
			}
			return rangesRE(rs), true, nil
		}
		if !categories[name] {
			return "", false, errUntranslatable
		}
		return `\` + string(r) + `{` + name + `}`, true, nil
	}
	return "", false, errUntranslatable
}

// xsdPattern is a compiled XSD pattern that can say where a value stops fitting it.
type xsdPattern struct {
	prog *syntax.Prog
}

func compileXSDPattern(p string) (*xsdPattern, error) {
	src, err := translateXSD(p)
	if err != nil {
		return nil, err
	}
	re, err := syntax.Parse(src, syntax.Perl)
	if err != nil {
		return nil, err
	}
	prog, err := syntax.Compile(re.Simplify())
	if err != nil {
		return nil, err
	}
	return &xsdPattern{prog: prog}, nil
}

// maxExplained bounds the characters of a value the automaton reads when looking for the
// offending one: explaining a problem must not cost more than validating.
const maxExplained = 100000

// firstMismatch runs the pattern's automaton over the value. It returns the index (in runes) of
// the first character after which no match is possible any more, or -1 with complete true when
// the value matches, or -1 with complete false when the value ends before the pattern does.
func (x *xsdPattern) firstMismatch(value string) (index int, complete bool) {
	// seen[pc] == gen marks the states already in the set being built for this step.
	seen, gen := make([]int, len(x.prog.Inst)), 1
	cur := x.closure(nil, uint32(x.prog.Start), seen, gen)
	var next []uint32
	i := 0
	for _, r := range value {
		if i >= maxExplained {
			return -1, true // not looked at: say nothing
		}
		gen++
		next = next[:0]
		for _, pc := range cur {
			in := &x.prog.Inst[pc]
			switch in.Op {
			case syntax.InstRune, syntax.InstRune1:
				if in.MatchRune(r) {
					next = x.closure(next, in.Out, seen, gen)
				}
			case syntax.InstRuneAny:
				next = x.closure(next, in.Out, seen, gen)
			case syntax.InstRuneAnyNotNL:
				if r != '\n' {
					next = x.closure(next, in.Out, seen, gen)
				}
			}
		}
		if len(next) == 0 {
			return i, false
		}
		cur, next = next, cur
		i++
	}
	for _, pc := range cur {
		if x.prog.Inst[pc].Op == syntax.InstMatch {
			return -1, true
		}
	}
	return -1, false
}

// closure adds pc and every state reachable from it without reading a character.
func (x *xsdPattern) closure(list []uint32, pc uint32, seen []int, gen int) []uint32 {
	stack := []uint32{pc}
	for len(stack) > 0 {
		pc := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[pc] == gen {
			continue
		}
		seen[pc] = gen
		in := &x.prog.Inst[pc]
		switch in.Op {
		case syntax.InstAlt, syntax.InstAltMatch:
			stack = append(stack, in.Arg, in.Out)
		case syntax.InstCapture, syntax.InstNop, syntax.InstEmptyWidth:
			// The translation has no anchors or word boundaries: empty-width is always true.
			stack = append(stack, in.Out)
		case syntax.InstFail:
		default:
			list = append(list, pc)
		}
	}
	return list
}

// allows reports whether the pattern accepts r anywhere at all.
func (x *xsdPattern) allows(r rune) bool {
	for i := range x.prog.Inst {
		in := &x.prog.Inst[i]
		switch in.Op {
		case syntax.InstRune, syntax.InstRune1:
			if in.MatchRune(r) {
				return true
			}
		case syntax.InstRuneAny:
			return true
		case syntax.InstRuneAnyNotNL:
			if r != '\n' {
				return true
			}
		}
	}
	return false
}
