package fileformat

import (
	"bytes"
	"unicode/utf8"
)

// A matcher is told about each occurrence of its needle in a stream.
type matcher interface {
	needle() []byte
	// after is how many bytes following the needle match wants to see.
	after() int
	// match handles the occurrence at stream offset at: prev is the byte before it (-1 at the
	// start of the stream), rest the bytes after the needle — after of them, fewer only at the end
	// of the stream. rest must not be kept.
	match(at int64, prev int, rest []byte)
}

// maxKeep bounds 1 + len(needle) + after for every matcher.
const maxKeep = 320

// A scanner finds every occurrence of a matcher's needle in a stream that arrives in pieces of any
// size, and hands each to the matcher exactly once, in stream order, together with its context
// (the byte before and the bytes after), so that the result does not depend on where the stream
// was cut. It keeps the last 1+len(needle)+after bytes: an occurrence whose context is not complete
// yet lies within them and is handled by a later write (or by finish).
type scanner struct {
	tail   [maxKeep]byte
	ntail  int
	tailAt int64 // stream offset of tail[0]
	done   int64 // occurrences starting before done have been handled
	seam   [2 * maxKeep]byte
}

// write scans p, which starts at stream offset at.
func (s *scanner) write(p []byte, at int64, m matcher) {
	keep := 1 + len(m.needle()) + m.after()
	// Occurrences that cross from the previous bytes into p, or whose context does, lie in the
	// seam: the kept tail followed by the start of p. Everything else lies in p alone, which is
	// searched where it is, without copying.
	k := min(len(p), keep)
	seam := append(append(s.seam[:0], s.tail[:s.ntail]...), p[:k]...)
	s.scan(seam, s.tailAt, false, m)
	if len(p) > keep {
		s.scan(p, at, false, m)
	}
	if len(p) >= keep {
		s.ntail = copy(s.tail[:], p[len(p)-keep:])
		s.tailAt = at + int64(len(p)-keep)
		return
	}
	drop := max(0, len(seam)-keep) // here seam is all of tail and p
	s.ntail = copy(s.tail[:], seam[drop:])
	s.tailAt += int64(drop)
}

// finish handles the occurrences left at the end of the stream, with what context there is.
func (s *scanner) finish(m matcher) {
	s.scan(s.tail[:s.ntail], s.tailAt, true, m)
}

// scan handles the occurrences in b (which starts at stream offset at) that were not handled yet,
// stopping at the first whose context reaches beyond b unless this is the end of the stream.
func (s *scanner) scan(b []byte, at int64, final bool, m matcher) {
	needle, after := m.needle(), m.after()
	for i := 0; ; {
		j := bytes.Index(b[i:], needle)
		if j < 0 {
			return
		}
		pos := i + j
		i = pos + 1
		off := at + int64(pos)
		if off < s.done {
			continue
		}
		end := pos + len(needle) + after
		if end > len(b) {
			if !final {
				return
			}
			end = len(b)
		}
		prev := -1
		if pos > 0 {
			prev = int(b[pos-1])
		}
		m.match(off, prev, b[pos+len(needle):end])
		s.done = off + 1
	}
}

// textCheck follows whether a stream is valid UTF-8 without NUL bytes.
type textCheck struct {
	bad bool
	// part is the start of a multi-byte sequence that the previous piece cut off.
	part  [utf8.UTFMax]byte
	npart int
}

func (t *textCheck) write(p []byte) {
	if t.bad {
		return
	}
	if bytes.IndexByte(p, 0) >= 0 {
		t.bad = true
		return
	}
	if t.npart > 0 {
		want := seqLen(t.part[0])
		k := copy(t.part[t.npart:want], p)
		t.npart += k
		p = p[k:]
		if t.npart < want {
			return
		}
		if !utf8.Valid(t.part[:t.npart]) {
			t.bad = true
			return
		}
		t.npart = 0
	}
	// Splitting before the lead byte of a sequence keeps validity: the stream is valid exactly
	// when every piece is.
	cut := len(p)
	for i := len(p) - 1; i >= 0 && i >= len(p)-(utf8.UTFMax-1); i-- {
		if b := p[i]; b < utf8.RuneSelf {
			break
		} else if b >= 0xC0 {
			if i+seqLen(b) > len(p) {
				cut = i
			}
			break
		}
	}
	if !utf8.Valid(p[:cut]) {
		t.bad = true
		return
	}
	t.npart = copy(t.part[:], p[cut:])
}

// text reports whether all of the stream was valid UTF-8 without NUL bytes.
func (t *textCheck) text() bool { return !t.bad && t.npart == 0 }

// seqLen is the length of the UTF-8 sequence that lead byte b starts; 1 for bytes that start none.
func seqLen(b byte) int {
	switch {
	case b < 0xC0:
		return 1
	case b < 0xE0:
		return 2
	case b < 0xF0:
		return 3
	case b < 0xF8:
		return 4
	}
	return 1
}
