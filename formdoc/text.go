package formdoc

import (
	"fmt"
	"math"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/gofont/goregular"
	"golang.org/x/image/font/sfnt"
	"golang.org/x/image/math/fixed"
	"golang.org/x/text/unicode/norm"
)

// substitute is drawn for a character the embedded fonts cannot show. Both
// Go fonts have a glyph for U+FFFD, the conventional "this character could
// not be displayed" sign, so a reader sees that something was there instead
// of a silently shortened name. A glyph the font lacks must never reach the
// PDF: it would be drawn as .notdef, which PDF/A forbids (ISO 19005-2,
// 6.2.11.8).
const substitute = '\uFFFD'

// face is one embedded font with the advance widths the layout measures with.
type face struct {
	ttf  []byte
	name string // the PostScript name
	// widths holds the advance of every BMP rune in 1/1000 em, rounded to
	// whole units as the /W entries are written; 0 means the font has no
	// glyph (or only an empty-width one) for the rune.
	widths  []uint16
	subsets *subsetCache
}

// faces are parsed once: the tables do not change and parsing costs more
// than a whole render of a small form.
var faces struct {
	once          sync.Once
	regular, bold face
	err           error
}

func loadFaces() (regular, bold *face, err error) {
	faces.once.Do(func() {
		faces.regular, faces.err = newFace(goregular.TTF)
		if faces.err != nil {
			return
		}
		faces.bold, faces.err = newFace(gobold.TTF)
	})
	return &faces.regular, &faces.bold, faces.err
}

func newFace(ttf []byte) (face, error) {
	f, err := sfnt.Parse(ttf)
	if err != nil {
		return face{}, fmt.Errorf("formdoc: parse font: %w", err)
	}
	upem := f.UnitsPerEm()
	var buf sfnt.Buffer
	name, err := f.Name(&buf, sfnt.NameIDPostScript)
	if err != nil || name == "" {
		return face{}, fmt.Errorf("formdoc: font has no PostScript name: %v", err)
	}
	widths := make([]uint16, 0x10000)
	for r := rune(0); r < 0x10000; r++ {
		gi, err := f.GlyphIndex(&buf, r)
		if err != nil || gi == 0 {
			continue
		}
		adv, err := f.GlyphAdvance(&buf, gi, fixed.I(int(upem)), font.HintingNone)
		if err != nil {
			continue
		}
		w := math.Round(float64(adv) / 64 * 1000 / float64(upem))
		if w <= 0 || w > math.MaxUint16-1 {
			continue
		}
		widths[r] = uint16(w)
	}
	return face{ttf: ttf, name: name, widths: widths, subsets: new(subsetCache)}, nil
}

// has reports whether the face can draw r with a proper, non-empty glyph.
func (fc *face) has(r rune) bool {
	return r >= 0 && int(r) < len(fc.widths) && fc.widths[r] != 0
}

// runeWidth returns the width of r in millimetres at size points.
func (fc *face) runeWidth(r rune, size float64) float64 {
	if !fc.has(r) {
		r = substitute
	}
	return float64(fc.widths[r]) * size / 1000 * mmPerPt
}

// width returns the width of s in millimetres at size points. s must have
// passed through clean, so every rune has a width.
func (fc *face) width(s string, size float64) float64 {
	var units int
	for _, r := range s {
		if fc.has(r) {
			units += int(fc.widths[r])
		} else {
			units += int(fc.widths[substitute])
		}
	}
	return float64(units) * size / 1000 * mmPerPt
}

// supported reports whether both faces can draw r. Text is cleaned once for
// both because the same value may be set in either weight.
func supported(r rune) bool {
	regular, bold, _ := loadFaces()
	return regular.has(r) && bold.has(r)
}

// clean makes s drawable with the embedded fonts, keeping line breaks when
// multiline is set (otherwise they become spaces):
//   - invalid UTF-8 becomes U+FFFD;
//   - the text is put into Unicode NFC, so a letter sent as base letter plus
//     combining accent ("r" + U+030C) is drawn with its precomposed glyph (ř);
//   - CR LF, CR and the Unicode line/paragraph separators become LF, a tab
//     a space; all other control and format characters (zero-width space,
//     soft hyphen, BOM, direction marks) are dropped, since they have no
//     visible form of their own;
//   - a character the fonts lack is replaced by its compatibility form if
//     that is drawable (the ligature "ﬀ" becomes "ff", a full-width "Ａ" an
//     "A", "①" a "1"), the capital sharp s by "ß", and anything else by U+FFFD.
func clean(s string, multiline bool) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, string(substitute))
	}
	s = norm.NFC.String(s)
	var b strings.Builder
	b.Grow(len(s))
	prevCR := false
	for _, r := range s {
		cr := r == '\r'
		switch {
		case r == '\n' && prevCR:
			// the LF of a CR LF pair: the CR already gave the break.
		case r == '\r' || r == '\n' || r == '\u2028' || r == '\u2029':
			if multiline {
				b.WriteByte('\n')
			} else {
				b.WriteByte(' ')
			}
		case r == '\t':
			b.WriteByte(' ')
		case unicode.IsControl(r) || unicode.Is(unicode.Cf, r):
			// invisible: dropped.
		case supported(r):
			b.WriteRune(r)
		default:
			b.WriteString(fallback(r))
		}
		prevCR = cr
	}
	return b.String()
}

// fallback returns the drawable stand-in for a rune the fonts lack.
func fallback(r rune) string {
	if r == '\u1E9E' { // capital sharp s: the traditional spelling uses ß
		return "ß"
	}
	if k := norm.NFKC.String(string(r)); k != string(r) && k != "" {
		ok := true
		for _, kr := range k {
			if !supported(kr) || unicode.IsControl(kr) {
				ok = false
				break
			}
		}
		if ok {
			return k
		}
	}
	return string(substitute)
}

// wrap breaks s into lines no wider than width millimetres at size points.
// Lines break at spaces; a word wider than the whole line is broken inside,
// after a URL-like separator ("/", "-", ".", "_", "?", "&", "=", "@") where
// one lies in the second half of the piece that fits, otherwise at the last
// character that fits, so that a long IBAN, URL or file name never runs off
// the page. Line breaks in s (after clean with multiline) are kept; runs of
// blank lines collapse to one empty line. The result has at least one line
// when s has any visible text, and none for a blank s.
func wrap(fc *face, s string, size, width float64) []string {
	var lines []string
	blank := 0
	for _, para := range strings.Split(s, "\n") {
		// Only the plain space breaks: a no-break space keeps its words together.
		words := strings.FieldsFunc(para, func(r rune) bool { return r == ' ' })
		if len(words) == 0 {
			blank++
			continue
		}
		if blank > 0 && len(lines) > 0 {
			lines = append(lines, "")
		}
		blank = 0
		lines = wrapWords(fc, words, size, width, lines)
	}
	return lines
}

func wrapWords(fc *face, words []string, size, width float64, lines []string) []string {
	space := fc.width(" ", size)
	var cur strings.Builder
	curW := 0.0
	flush := func() {
		if cur.Len() > 0 {
			lines = append(lines, cur.String())
			cur.Reset()
			curW = 0
		}
	}
	for _, w := range words {
		ww := fc.width(w, size)
		if cur.Len() > 0 && curW+space+ww <= width {
			cur.WriteByte(' ')
			cur.WriteString(w)
			curW += space + ww
			continue
		}
		flush()
		if ww > width {
			pieces := splitWord(fc, w, size, width)
			lines = append(lines, pieces[:len(pieces)-1]...)
			w = pieces[len(pieces)-1]
			ww = fc.width(w, size)
		}
		cur.WriteString(w)
		curW = ww
	}
	flush()
	return lines
}

// wordBreaks are the characters after which a long word is preferably
// broken: the separators of URLs, e-mail addresses and file names.
const wordBreaks = "/-._?&=@"

// splitWord breaks a word wider than width into pieces that fit, in one pass
// so that even a megabyte without a space costs linear time. A piece ends
// after a wordBreaks character when one lies in its second half, otherwise
// at the last character that fits; every piece has at least one character,
// even one wider than width, so wrapping always ends.
func splitWord(fc *face, w string, size, width float64) []string {
	var pieces []string
	start, acc := 0, 0.0     // current piece w[start:i] and its width
	soft, softAcc := -1, 0.0 // best break in the piece and the width before it
	for i, r := range w {
		rw := fc.runeWidth(r, size)
		if acc+rw > width && i > start {
			cut, cutAcc := i, acc
			if soft > start && softAcc > acc/2 {
				cut, cutAcc = soft, softAcc
			}
			pieces = append(pieces, w[start:cut])
			start, acc, soft = cut, acc-cutAcc, -1
		}
		acc += rw
		if strings.ContainsRune(wordBreaks, r) {
			soft, softAcc = i+utf8.RuneLen(r), acc
		}
	}
	return append(pieces, w[start:])
}

// truncate shortens s with an ellipsis so that it fits into width.
func truncate(fc *face, s string, size, width float64) string {
	if fc.width(s, size) <= width {
		return s
	}
	const ell = "…"
	rs := []rune(s)
	if len(rs) > 300 { // nothing that long fits a line; spare the quadratic search
		rs = rs[:300]
	}
	for len(rs) > 0 {
		rs = rs[:len(rs)-1]
		t := strings.TrimRight(string(rs), " ") + ell
		if fc.width(t, size) <= width {
			return t
		}
	}
	return ell
}
