package formdoc

import (
	"strconv"
	"strings"
)

// Page geometry in millimetres (A4 portrait). The layout is computed
// completely before anything is drawn, so the number of pages is known when
// the footers are written and no "{nb}" alias has to be patched in later.
const (
	mmPerPt = 25.4 / 72

	pageW   = 210.0
	pageH   = 297.0
	marginL = 20.0
	marginR = 20.0
	right   = pageW - marginR
	bodyW   = right - marginL

	firstTop   = 18.0         // the title block starts here on page 1
	otherTop   = 24.0         // below the running header on later pages
	bodyBottom = pageH - 22.0 // nothing of the body below this line
	footerRule = pageH - 16.0
	footerBase = pageH - 11.5 // baseline of the footer text

	labelColW = 60.0 // label column, about a third of the body width
	colGap    = 4.0
	valueX    = marginL + labelColW + colGap
	valueW    = right - valueX

	indentStep = 4.0
	maxIndent  = 4 // levels; deeper data is not indented further

	rowPad = 1.1 // space above and below the text of a row
)

type rgb struct{ r, g, b uint8 }

var (
	black  = rgb{0, 0, 0}
	ink    = rgb{33, 33, 33}    // values
	muted  = rgb{90, 90, 90}    // labels
	faint  = rgb{120, 120, 120} // footer, running header
	accent = rgb{28, 58, 94}    // title and section headings
	hair   = rgb{214, 214, 214} // row separators
)

type textStyle struct {
	bold  bool
	size  float64 // points
	color rgb
}

var (
	styleKicker  = textStyle{false, 8.5, faint}
	styleTitle   = textStyle{true, 18, accent}
	styleMetaL   = textStyle{false, 9, muted}
	styleMetaV   = textStyle{false, 9, black}
	styleSection = textStyle{true, 12, accent}
	styleSub     = textStyle{true, 10, ink}
	styleLabel   = textStyle{false, 9.5, muted}
	styleValue   = textStyle{false, 9.5, black}
	styleNote    = textStyle{false, 9.5, faint}
	styleTHead   = textStyle{true, 8.5, muted}
	styleFooter  = textStyle{false, 7.5, faint}
)

// lineHeight is the distance between baselines for a text size.
func lineHeight(size float64) float64 { return size * mmPerPt * 1.28 }

type opKind uint8

const (
	opText opKind = iota
	opLine
)

// op is one drawing operation on a page, in millimetre coordinates
// (origin top left); for text, (x, y) is the start of the baseline.
type op struct {
	kind   opKind
	x, y   float64
	x2, y2 float64
	text   string
	style  textStyle
	color  rgb
	width  float64
}

// cell is one column of a row: wrapped lines set in one style.
type cell struct {
	x, w  float64
	right bool // right-aligned
	style textStyle
	lines []string
}

type layout struct {
	regular, bold *face
	pages         [][]op
	y             float64
	top           float64 // where the body of the current page starts
}

// opsPerPage is room for the operations of a well-filled page, so that a
// page's list rarely grows.
const opsPerPage = 128

func newLayout(regular, bold *face) *layout {
	l := &layout{regular: regular, bold: bold}
	l.pages = [][]op{make([]op, 0, opsPerPage)}
	l.y, l.top = firstTop, firstTop
	return l
}

func (l *layout) face(s textStyle) *face {
	if s.bold {
		return l.bold
	}
	return l.regular
}

func (l *layout) newPage() {
	l.pages = append(l.pages, make([]op, 0, opsPerPage))
	l.y, l.top = otherTop, otherTop
}

func (l *layout) emit(o op) {
	p := len(l.pages) - 1
	l.pages[p] = append(l.pages[p], o)
}

func (l *layout) text(x, baseline float64, s string, st textStyle) {
	if s == "" {
		return
	}
	l.emit(op{kind: opText, x: x, y: baseline, text: s, style: st})
}

func (l *layout) rule(x1, x2, y, width float64, c rgb) {
	l.emit(op{kind: opLine, x: x1, y: y, x2: x2, y2: y, width: width, color: c})
}

// baseline places text of size pt inside a line box starting at top so
// that its capitals sit in the middle of the box.
func baseline(top, lh, size float64) float64 {
	capH := 0.7 * size * mmPerPt
	return top + (lh+capH)/2
}

func (l *layout) newCell(x, w float64, st textStyle, s string, rightAligned bool) cell {
	return cell{x: x, w: w, right: rightAligned, style: st, lines: wrap(l.face(st), s, st.size, w)}
}

// keepLines is the length up to which a row is never split across pages:
// a short row that does not fit starts on the next page instead.
const keepLines = 4

// row sets cells side by side. A short row (up to keepLines lines) is never
// split across pages; a longer one fills the page and continues on the next,
// always between two lines and never leaving a single line on either side,
// so a long text does not leave a half-empty page behind. With separator
// set, a hairline closes the row.
func (l *layout) row(cells []cell, separator bool) {
	n, lh := 0, 0.0
	for _, c := range cells {
		n = max(n, len(c.lines))
		lh = max(lh, lineHeight(c.style.size))
	}
	if n == 0 {
		return
	}
	fits := func() int { return int((bodyBottom - l.y - 2*rowPad + 1e-9) / lh) }
	if here := fits(); n > here && l.y > l.top && (n <= keepLines || here < 2) {
		l.newPage()
	}
	for i := 0; i < n; {
		if i > 0 {
			l.newPage()
		}
		take := min(max(fits(), 1), n-i)
		if rest := n - i - take; rest == 1 && take > 2 {
			take-- // carry a second line over rather than one alone
		}
		l.y += rowPad
		for j := i; j < i+take; j++ {
			for _, c := range cells {
				if j >= len(c.lines) {
					continue
				}
				x := c.x
				if c.right {
					x = c.x + c.w - l.face(c.style).width(c.lines[j], c.style.size)
				}
				l.text(x, baseline(l.y, lh, c.style.size), c.lines[j], c.style)
			}
			l.y += lh
		}
		l.y += rowPad
		i += take
	}
	if separator {
		l.rule(cells[0].x, right, l.y, 0.15, hair)
	}
}

// heading sets a section title. It is kept with what follows: if the title
// and the first line of the next row do not fit, it moves to the next page.
func (l *layout) heading(x float64, s string, st textStyle, before, after float64, underline bool) {
	lines := wrap(l.face(st), s, st.size, right-x)
	if len(lines) == 0 {
		return
	}
	lh := lineHeight(st.size)
	// Room for the title and two rows: a title followed by a lone row at
	// the foot of a page reads as if the section ended there.
	need := before + float64(len(lines))*lh + after + 2*(2*rowPad+lineHeight(styleValue.size))
	if underline {
		need += 0.8
	}
	if l.y > l.top && l.y+need > bodyBottom {
		l.newPage()
	}
	if l.y > l.top {
		l.y += before
	}
	for _, line := range lines {
		l.text(x, baseline(l.y, lh, st.size), line, st)
		l.y += lh
	}
	if underline {
		l.y += 0.8
		l.rule(x, right, l.y, 0.35, st.color)
	}
	l.y += after
}

// header sets the title block of page 1: a small kicker line, the title and
// the administrative facts of the submission.
func (l *layout) header(title string, meta [][2]string) {
	l.text(marginL, baseline(l.y, lineHeight(styleKicker.size), styleKicker.size), "Antrag", styleKicker)
	l.y += lineHeight(styleKicker.size)
	for _, line := range wrap(l.bold, title, styleTitle.size, bodyW) {
		lh := lineHeight(styleTitle.size)
		l.text(marginL, baseline(l.y, lh, styleTitle.size), line, styleTitle)
		l.y += lh
	}
	l.y += 1.5
	l.rule(marginL, right, l.y, 0.5, accent)
	l.y += 1.5
	for _, m := range meta {
		l.row([]cell{
			l.newCell(marginL, labelColW, styleMetaL, clean(m[0], false), false),
			l.newCell(valueX, valueW, styleMetaV, clean(m[1], true), false),
		}, true)
	}
	l.y += 2
}

func indent(depth int) float64 {
	return float64(min(depth, maxIndent)) * indentStep
}

// form sets the items of the form data.
func (l *layout) form(items []item) {
	if len(items) == 0 {
		l.heading(marginL, "Angaben", styleSection, 5, 1.5, true)
		l.row([]cell{l.newCell(marginL, bodyW, styleNote, "Das Formular enthält keine Angaben.", false)}, false)
		return
	}
	for _, it := range items {
		x := marginL + indent(it.depth)
		label := clean(it.label, false)
		switch it.kind {
		case itemHeading:
			if it.depth == 0 {
				l.heading(x, label, styleSection, 5, 1.5, true)
			} else {
				l.heading(x, label, styleSub, 3.5, 0.5, false)
			}
		case itemRow:
			l.row([]cell{
				l.newCell(x, labelColW-indent(it.depth), styleLabel, label, false),
				l.newCell(valueX, valueW, styleValue, clean(it.value, true), false),
			}, true)
		}
	}
}

// Columns of the list of attachments.
const (
	attNoW   = 8.0
	attSizeW = 22.0
	attTypeW = 46.0
	attGap   = 3.0
	attSizeX = right - attSizeW
	attTypeX = attSizeX - attGap - attTypeW
	attNameX = marginL + attNoW + attGap
	attNameW = attTypeX - attGap - attNameX
)

// attachments sets the numbered list of the files that came with the
// application, or "keine".
func (l *layout) attachments(atts []Attachment) {
	l.heading(marginL, "Anlagen", styleSection, 5, 1.5, true)
	if len(atts) == 0 {
		l.row([]cell{l.newCell(marginL, bodyW, styleValue, "keine", false)}, false)
		return
	}
	l.row([]cell{
		l.newCell(marginL, attNoW, styleTHead, "Nr.", false),
		l.newCell(attNameX, attNameW, styleTHead, "Dateiname", false),
		l.newCell(attTypeX, attTypeW, styleTHead, "Dateityp", false),
		l.newCell(attSizeX, attSizeW, styleTHead, "Größe", true),
	}, true)
	for i, a := range atts {
		name := clean(strings.TrimSpace(a.Name), false)
		if name == "" {
			name = "(ohne Namen)"
		}
		mt := clean(strings.TrimSpace(a.MediaType), false)
		if mt == "" {
			mt = "–"
		}
		l.row([]cell{
			l.newCell(marginL, attNoW, styleValue, strconv.Itoa(i+1)+".", false),
			l.newCell(attNameX, attNameW, styleValue, name, false),
			l.newCell(attTypeX, attTypeW, styleLabel, mt, false),
			l.newCell(attSizeX, attSizeW, styleLabel, germanSize(a.Size), true),
		}, true)
	}
}

// decorate adds what every page carries once the page count is known: the
// footer ("Vorgangsnummer …" left, "Seite X von Y" right) and, from page 2
// on, the title as a running header so a loose page can be placed.
func (l *layout) decorate(title, submissionID string) {
	total := len(l.pages)
	fs := styleFooter
	for i := range l.pages {
		p := &l.pages[i]
		pageNo := "Seite " + strconv.Itoa(i+1) + " von " + strconv.Itoa(total)
		pw := l.regular.width(pageNo, fs.size)
		add := func(o op) { *p = append(*p, o) }
		add(op{kind: opLine, x: marginL, y: footerRule, x2: right, y2: footerRule, width: 0.2, color: hair})
		add(op{kind: opText, x: right - pw, y: footerBase, text: pageNo, style: fs})
		if submissionID != "" {
			left := truncate(l.regular, "Vorgangsnummer "+submissionID, fs.size, bodyW-pw-6)
			add(op{kind: opText, x: marginL, y: footerBase, text: left, style: fs})
		}
		if i > 0 {
			head := truncate(l.regular, title, fs.size, bodyW)
			add(op{kind: opText, x: marginL, y: 14, text: head, style: fs})
			add(op{kind: opLine, x: marginL, y: 16, x2: right, y2: 16, width: 0.2, color: hair})
		}
	}
}
