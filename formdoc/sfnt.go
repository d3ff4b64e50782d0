package formdoc

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
)

// keptTables are the tables a subset program keeps; stripFont drops every
// other. ISO 32000-1, 9.9, requires "head", "hhea", "loca", "maxp", "cvt ",
// "prep", "glyf", "hmtx" and "fpgm" of an embedded TrueType program where
// the original font has them (the Go fonts have all nine), so the global
// hinting programs stay although no glyph calls them any more. "cmap" is
// not needed under a CIDToGIDMap, but kept for readers that look for it,
// as are "OS/2" and "post" (format 3, 32 bytes). What goes: "name" (some
// 7 KB of names and licence text per subset), "gasp", and whatever
// another font would bring ("hdmx", "kern", "GPOS", "DSIG", …), none of
// which a PDF reader uses to draw a glyph.
var keptTables = []string{"OS/2", "cmap", "cvt ", "fpgm", "glyf", "head", "hhea", "hmtx", "loca", "maxp", "post", "prep"}

// requiredTables are the tables stripFont cannot do without.
var requiredTables = []string{"glyf", "head", "hhea", "hmtx", "loca", "maxp"}

// stripFont rewrites the TrueType program p without the tables that
// keptTables leaves out and without the instructions of each glyph (its
// hints, half the Go fonts' "glyf" table), which PDF readers do not run or
// run at their discretion: the outlines, metrics and glyph indices stay as
// they are, so the text looks the same unhinted.
// "loca" is rebuilt for the shorter glyphs (each padded to 4 bytes, the
// short format while it fits), maxp.maxSizeOfInstructions set to 0, "post"
// cut to format 3, and the table directory, checksums and
// head.checkSumAdjustment computed anew. The result is a function of p
// alone; a malformed p is an error naming the table or glyph, never a
// panic.
func stripFont(p []byte) ([]byte, error) {
	be16, be32 := binary.BigEndian.Uint16, binary.BigEndian.Uint32
	if len(p) < 12 {
		return nil, fmt.Errorf("font program of %d bytes has no table directory", len(p))
	}
	version := be32(p)
	if version != 0x00010000 && version != 0x74727565 { // 'true'
		return nil, fmt.Errorf("font program version %#08x is not TrueType", version)
	}
	n := int(be16(p[4:]))
	if len(p) < 12+16*n {
		return nil, fmt.Errorf("table directory of %d tables exceeds the %d bytes of the program", n, len(p))
	}
	tables := map[string][]byte{}
	seen := map[string]bool{}
	for i := range n {
		r := p[12+16*i:]
		tag, off, l := string(r[:4]), uint64(be32(r[8:])), uint64(be32(r[12:]))
		if seen[tag] {
			return nil, fmt.Errorf("table %q appears twice", tag)
		}
		seen[tag] = true
		if off+l > uint64(len(p)) {
			return nil, fmt.Errorf("table %q (offset %d, length %d) ends beyond the %d bytes of the program", tag, off, l, len(p))
		}
		if slices.Contains(keptTables, tag) {
			tables[tag] = p[off : off+l]
		}
	}
	for _, tag := range requiredTables {
		if tables[tag] == nil {
			return nil, fmt.Errorf("no %q table", tag)
		}
	}
	head := slices.Clone(tables["head"])
	maxp := slices.Clone(tables["maxp"])
	if len(head) < 54 {
		return nil, fmt.Errorf("head table of %d bytes, want 54", len(head))
	}
	if len(maxp) < 6 {
		return nil, fmt.Errorf("maxp table of %d bytes, want at least 6", len(maxp))
	}
	numGlyphs := int(be16(maxp[4:]))
	oldGlyf, oldLoca := tables["glyf"], tables["loca"]
	locaAt := func(i int) int { return int(be16(oldLoca[2*i:])) * 2 }
	size := 2
	switch f := be16(head[50:]); f {
	case 0:
	case 1:
		locaAt, size = func(i int) int { return int(be32(oldLoca[4*i:])) }, 4
	default:
		return nil, fmt.Errorf("head.indexToLocFormat %d is neither 0 nor 1", f)
	}
	if len(oldLoca) < size*(numGlyphs+1) {
		return nil, fmt.Errorf("loca table of %d bytes for %d glyphs", len(oldLoca), numGlyphs)
	}

	glyf := make([]byte, 0, len(oldGlyf))
	offsets := make([]int, numGlyphs+1)
	for g := range numGlyphs {
		offsets[g] = len(glyf)
		start, end := locaAt(g), locaAt(g+1)
		if start > end || end > len(oldGlyf) {
			return nil, fmt.Errorf("glyph %d: loca gives bytes %d to %d of a glyf table of %d", g, start, end, len(oldGlyf))
		}
		if start == end {
			continue // no outline, such as the space
		}
		var err error
		if glyf, err = appendGlyph(glyf, oldGlyf[start:end]); err != nil {
			return nil, fmt.Errorf("glyph %d: %w", g, err)
		}
		for len(glyf)%4 != 0 {
			glyf = append(glyf, 0)
		}
	}
	offsets[numGlyphs] = len(glyf)

	var loca []byte
	if len(glyf)/2 <= 0xFFFF {
		binary.BigEndian.PutUint16(head[50:], 0)
		for _, o := range offsets {
			loca = binary.BigEndian.AppendUint16(loca, uint16(o/2))
		}
	} else {
		binary.BigEndian.PutUint16(head[50:], 1)
		for _, o := range offsets {
			loca = binary.BigEndian.AppendUint32(loca, uint32(o))
		}
	}
	if be32(maxp) == 0x00010000 && len(maxp) >= 32 {
		binary.BigEndian.PutUint16(maxp[26:], 0) // maxSizeOfInstructions
	}
	binary.BigEndian.PutUint32(head[8:], 0) // checkSumAdjustment, set below
	tables["head"], tables["maxp"], tables["glyf"], tables["loca"] = head, maxp, glyf, loca
	if post := tables["post"]; len(post) >= 32 {
		post = slices.Clone(post[:32])
		binary.BigEndian.PutUint32(post, 0x00030000) // no glyph names
		clear(post[16:])
		tables["post"] = post
	}

	tags := make([]string, 0, len(tables))
	for tag := range tables {
		tags = append(tags, tag)
	}
	slices.Sort(tags) // the directory is searched by tag
	sel := 0
	for 2<<sel <= len(tags) {
		sel++
	}
	out := binary.BigEndian.AppendUint32(nil, version)
	out = binary.BigEndian.AppendUint16(out, uint16(len(tags)))
	out = binary.BigEndian.AppendUint16(out, uint16(16<<sel))              // searchRange
	out = binary.BigEndian.AppendUint16(out, uint16(sel))                  // entrySelector
	out = binary.BigEndian.AppendUint16(out, uint16(16*len(tags)-16<<sel)) // rangeShift
	off := 12 + 16*len(tags)
	headAt := 0
	for _, tag := range tags {
		t := tables[tag]
		if tag == "head" {
			headAt = off
		}
		out = append(out, tag...)
		out = binary.BigEndian.AppendUint32(out, sfntChecksum(t))
		out = binary.BigEndian.AppendUint32(out, uint32(off))
		out = binary.BigEndian.AppendUint32(out, uint32(len(t)))
		off += (len(t) + 3) &^ 3
	}
	for _, tag := range tags {
		out = append(out, tables[tag]...)
		for len(out)%4 != 0 {
			out = append(out, 0)
		}
	}
	binary.BigEndian.PutUint32(out[headAt+8:], 0xB1B0AFBA-sfntChecksum(out))
	return out, nil
}

// appendGlyph appends glyph description g without its instructions: a
// simple glyph with instructionLength 0 and no bytes after its
// coordinates, a composite glyph without WE_HAVE_INSTRUCTIONS and the
// instructions after its components.
func appendGlyph(dst, g []byte) ([]byte, error) {
	if len(g) < 10 {
		return nil, fmt.Errorf("%d bytes, shorter than a glyph header", len(g))
	}
	contours := int(int16(binary.BigEndian.Uint16(g)))
	if contours < 0 {
		return appendComposite(dst, g)
	}
	hdr := 10 + 2*contours // header and endPtsOfContours
	if len(g) < hdr+2 {
		return nil, fmt.Errorf("%d contours need %d bytes, the glyph has %d", contours, hdr+2, len(g))
	}
	points := 0
	if contours > 0 {
		points = int(binary.BigEndian.Uint16(g[hdr-2:])) + 1
	}
	code := hdr + 2 + int(binary.BigEndian.Uint16(g[hdr:])) // where the instructions end
	if code > len(g) {
		return nil, fmt.Errorf("instructions end at byte %d of a glyph of %d", code, len(g))
	}
	pos := code
	xBytes, yBytes := 0, 0
	for i := 0; i < points; {
		if pos >= len(g) {
			return nil, fmt.Errorf("flags of point %d beyond the %d bytes of the glyph", i, len(g))
		}
		flag, repeat := g[pos], 1
		pos++
		if flag&0x08 != 0 { // REPEAT_FLAG
			if pos >= len(g) {
				return nil, fmt.Errorf("repeat count of point %d beyond the %d bytes of the glyph", i, len(g))
			}
			repeat += int(g[pos])
			pos++
		}
		if i += repeat; i > points {
			return nil, fmt.Errorf("flags repeat beyond the %d points", points)
		}
		switch {
		case flag&0x02 != 0: // X_SHORT_VECTOR
			xBytes += repeat
		case flag&0x10 == 0: // not X_IS_SAME: a 16-bit delta
			xBytes += 2 * repeat
		}
		switch {
		case flag&0x04 != 0: // Y_SHORT_VECTOR
			yBytes += repeat
		case flag&0x20 == 0:
			yBytes += 2 * repeat
		}
	}
	end := pos + xBytes + yBytes
	if end > len(g) {
		return nil, fmt.Errorf("coordinates end at byte %d of a glyph of %d", end, len(g))
	}
	dst = append(dst, g[:hdr]...)
	dst = append(dst, 0, 0) // instructionLength
	return append(dst, g[code:end]...), nil
}

// Flags of a component of a composite glyph.
const (
	argsAreWords      = 0x0001
	weHaveAScale      = 0x0008
	moreComponents    = 0x0020
	weHaveXAndYScale  = 0x0040
	weHaveTwoByTwo    = 0x0080
	weHaveInstruction = 0x0100
)

func appendComposite(dst, g []byte) ([]byte, error) {
	base := len(dst)
	var flagsAt []int
	pos := 10
	for {
		if pos+4 > len(g) {
			return nil, errors.New("component cut short")
		}
		flags := binary.BigEndian.Uint16(g[pos:])
		flagsAt = append(flagsAt, pos)
		if pos += componentSize(flags); pos > len(g) {
			return nil, errors.New("component cut short")
		}
		if flags&moreComponents == 0 {
			break
		}
	}
	dst = append(dst, g[:pos]...)
	for _, at := range flagsAt {
		dst[base+at] &^= weHaveInstruction >> 8
	}
	return dst, nil
}

// componentSize is the length of a composite glyph's component with these flags.
func componentSize(flags uint16) int {
	size := 4 + 2 // flags, glyphIndex, two byte arguments
	if flags&argsAreWords != 0 {
		size += 2
	}
	switch {
	case flags&weHaveAScale != 0:
		size += 2
	case flags&weHaveXAndYScale != 0:
		size += 4
	case flags&weHaveTwoByTwo != 0:
		size += 8
	}
	return size
}

// sfntChecksum is the TrueType table checksum: the sum of the big-endian
// uint32 words of b, zero-padded to a multiple of 4.
func sfntChecksum(b []byte) uint32 {
	var sum uint32
	for len(b) >= 4 {
		sum += binary.BigEndian.Uint32(b)
		b = b[4:]
	}
	var last [4]byte
	copy(last[:], b)
	return sum + binary.BigEndian.Uint32(last[:])
}
