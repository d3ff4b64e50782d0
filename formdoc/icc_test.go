package formdoc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"testing"
)

type iccInfo struct {
	tags map[string][]byte // signature → tag data
}

// parseICC reads an ICC profile back and checks the structure a PDF/A
// validator relies on: size field, version, class, colour spaces, the
// 'acsp' signature, the D50 illuminant, and a tag table whose entries lie
// inside the file on 4-byte boundaries.
func parseICC(p []byte) (*iccInfo, error) {
	be := binary.BigEndian
	if len(p) < 132 {
		return nil, errors.New("shorter than header and tag count")
	}
	if int(be.Uint32(p)) != len(p) {
		return nil, fmt.Errorf("size field %d, length %d", be.Uint32(p), len(p))
	}
	if len(p)%4 != 0 {
		return nil, fmt.Errorf("length %d not a multiple of 4", len(p))
	}
	if v := be.Uint32(p[8:]); v>>24 != 2 {
		return nil, fmt.Errorf("version %08x is not 2.x", v)
	}
	for _, f := range []struct {
		off  int
		want string
	}{{12, "mntr"}, {16, "RGB "}, {20, "XYZ "}, {36, "acsp"}} {
		if got := string(p[f.off : f.off+4]); got != f.want {
			return nil, fmt.Errorf("header at %d is %q, want %q", f.off, got, f.want)
		}
	}
	if ri := be.Uint32(p[64:]); ri > 3 {
		return nil, fmt.Errorf("rendering intent %d", ri)
	}
	d50 := [3]float64{0.9642, 1.0, 0.8249}
	for i, want := range d50 {
		if got := s15Fixed16(p[68+4*i:]); math.Abs(got-want) > 0.0001 {
			return nil, fmt.Errorf("illuminant component %d is %.4f, want %.4f", i, got, want)
		}
	}
	n := int(be.Uint32(p[128:]))
	if 132+12*n > len(p) {
		return nil, fmt.Errorf("tag table of %d entries does not fit", n)
	}
	info := &iccInfo{tags: map[string][]byte{}}
	for i := 0; i < n; i++ {
		e := p[132+12*i:]
		sig := string(e[:4])
		off, size := int(be.Uint32(e[4:])), int(be.Uint32(e[8:]))
		if off%4 != 0 {
			return nil, fmt.Errorf("tag %q at %d is not 4-byte aligned", sig, off)
		}
		if off < 132+12*n || size < 8 || off+size > len(p) {
			return nil, fmt.Errorf("tag %q (%d+%d) lies outside the data area", sig, off, size)
		}
		if _, dup := info.tags[sig]; dup {
			return nil, fmt.Errorf("tag %q twice", sig)
		}
		info.tags[sig] = p[off : off+size]
	}
	return info, nil
}

func s15Fixed16(b []byte) float64 {
	return float64(int32(binary.BigEndian.Uint32(b))) / 65536
}

func TestSRGBProfile(t *testing.T) {
	p := srgbProfile()
	if !bytes.Equal(p, buildSRGBProfile()) {
		t.Fatal("the profile is not the same on every build")
	}
	info, err := parseICC(p)
	if err != nil {
		t.Fatal(err)
	}
	// Tag type of each required tag of an RGB matrix/TRC display profile.
	types := map[string]string{
		"desc": "desc", "cprt": "text", "wtpt": "XYZ ",
		"rXYZ": "XYZ ", "gXYZ": "XYZ ", "bXYZ": "XYZ ",
		"rTRC": "curv", "gTRC": "curv", "bTRC": "curv",
	}
	for sig, typ := range types {
		data, ok := info.tags[sig]
		if !ok {
			t.Errorf("tag %q missing", sig)
			continue
		}
		if got := string(data[:4]); got != typ {
			t.Errorf("tag %q has type %q, want %q", sig, got, typ)
		}
	}
	if len(info.tags) != len(types) {
		t.Errorf("%d tags, want %d", len(info.tags), len(types))
	}

	// The colorants are the Bradford-adapted sRGB primaries and add up to
	// the D50 white of the connection space.
	colorants := map[string][3]float64{
		"rXYZ": {0.4361, 0.2225, 0.0139},
		"gXYZ": {0.3851, 0.7169, 0.0971},
		"bXYZ": {0.1431, 0.0606, 0.7141},
	}
	var sum [3]float64
	for sig, want := range colorants {
		d := info.tags[sig]
		for i := range want {
			got := s15Fixed16(d[8+4*i:])
			sum[i] += got
			if math.Abs(got-want[i]) > 0.00002 {
				t.Errorf("%s[%d] = %.5f, want %.4f", sig, i, got, want[i])
			}
		}
	}
	for i, want := range [3]float64{0.9642, 1.0, 0.8249} {
		if math.Abs(sum[i]-want) > 0.001 {
			t.Errorf("colorants add up to %.4f in component %d, want D50 %.4f", sum[i], i, want)
		}
	}

	desc := info.tags["desc"]
	n := int(binary.BigEndian.Uint32(desc[8:]))
	if got := string(desc[12 : 12+n-1]); got != srgbDescription || desc[12+n-1] != 0 {
		t.Errorf("description %q, want %q NUL-terminated", got, srgbDescription)
	}
	if len(desc) != 12+n+4+4+2+1+67 {
		t.Errorf("textDescriptionType of %d bytes, want %d", len(desc), 12+n+78)
	}

	curve := info.tags["rTRC"]
	count := int(binary.BigEndian.Uint32(curve[8:]))
	if count != 1024 || len(curve) != 12+2*count {
		t.Fatalf("curve with %d entries in %d bytes", count, len(curve))
	}
	at := func(i int) float64 { return float64(binary.BigEndian.Uint16(curve[12+2*i:])) / 65535 }
	if at(0) != 0 || at(count-1) != 1 {
		t.Errorf("curve runs from %.4f to %.4f, want 0 to 1", at(0), at(count-1))
	}
	for i := 1; i < count; i++ {
		if at(i) < at(i-1) {
			t.Fatalf("curve falls at entry %d", i)
		}
	}
	// sRGB 50 % grey is 21.4 % linear light.
	if mid := at(count / 2); math.Abs(mid-0.2140) > 0.002 {
		t.Errorf("curve at 0.5 is %.4f, want about 0.2140", mid)
	}
}
