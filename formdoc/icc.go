package formdoc

import (
	"encoding/binary"
	"math"
	"sync"
)

// srgbDescription names the profile; the PDF's OutputIntent repeats it as
// OutputConditionIdentifier and Info.
const srgbDescription = "sRGB IEC61966-2.1"

// The sRGB profile is generated rather than shipped: no third-party file is
// needed, and the bytes are the same in every build, which the deterministic
// output relies on. It is built once because it never changes.
var srgb struct {
	once    sync.Once
	profile []byte
}

// srgbProfile returns an ICC version 2.1 display-class ('mntr') RGB → XYZ
// matrix/TRC profile for sRGB: the colorants are the sRGB primaries
// chromatically adapted to the D50 connection space with the Bradford
// transform (the values every v2 sRGB profile carries), the media white point
// is D65, and the tone curves sample the piecewise sRGB function at 1024
// points, which is more faithful than a plain gamma of 2.2.
func srgbProfile() []byte {
	srgb.once.Do(func() { srgb.profile = buildSRGBProfile() })
	return srgb.profile
}

type iccTag struct {
	sig  string
	data []byte
}

func buildSRGBProfile() []byte {
	curve := iccCurve(1024)
	tags := []iccTag{
		{"desc", iccTextDescription(srgbDescription)},
		{"cprt", iccText("No copyright, use freely")},
		{"wtpt", iccXYZ(0.9505, 1.0, 1.0891)},
		{"rXYZ", iccXYZ(0.4361, 0.2225, 0.0139)},
		{"gXYZ", iccXYZ(0.3851, 0.7169, 0.0971)},
		{"bXYZ", iccXYZ(0.1431, 0.0606, 0.7141)},
		{"rTRC", curve},
		{"gTRC", curve},
		{"bTRC", curve},
	}

	const headerSize = 128
	tableSize := 4 + 12*len(tags)
	offset := align4(headerSize + tableSize)

	type placed struct{ off, size int }
	where := make([]placed, len(tags))
	var data []byte
	shared := map[*byte]placed{} // identical tag data (the three curves) is stored once
	for i, t := range tags {
		if p, ok := shared[&t.data[0]]; ok {
			where[i] = p
			continue
		}
		p := placed{off: offset + len(data), size: len(t.data)}
		data = append(data, t.data...)
		for len(data)%4 != 0 {
			data = append(data, 0)
		}
		shared[&t.data[0]] = p
		where[i] = p
	}

	size := offset + len(data)
	b := make([]byte, size)
	be := binary.BigEndian
	be.PutUint32(b[0:], uint32(size))
	// 4: preferred CMM type, none
	be.PutUint32(b[8:], 0x02100000) // version 2.1.0
	copy(b[12:], "mntr")
	copy(b[16:], "RGB ")
	copy(b[20:], "XYZ ")
	// 24: creation date and time, fixed so that the bytes never change
	for i, v := range []uint16{2026, 1, 1, 0, 0, 0} {
		be.PutUint16(b[24+2*i:], v)
	}
	copy(b[36:], "acsp")
	// 40 platform, 44 flags, 48 manufacturer, 52 model, 56 attributes: none
	be.PutUint32(b[64:], 0) // rendering intent: perceptual
	putS15Fixed16(b[68:], 0.9642)
	putS15Fixed16(b[72:], 1.0)
	putS15Fixed16(b[76:], 0.8249)
	// 80 creator: none; 84..127 reserved, zero

	be.PutUint32(b[headerSize:], uint32(len(tags)))
	for i, t := range tags {
		e := b[headerSize+4+12*i:]
		copy(e, t.sig)
		be.PutUint32(e[4:], uint32(where[i].off))
		be.PutUint32(e[8:], uint32(where[i].size))
	}
	copy(b[offset:], data)
	return b
}

func align4(n int) int { return (n + 3) &^ 3 }

func putS15Fixed16(b []byte, v float64) {
	binary.BigEndian.PutUint32(b, uint32(int32(math.Round(v*65536))))
}

// iccXYZ encodes an XYZType with one value.
func iccXYZ(x, y, z float64) []byte {
	b := make([]byte, 20)
	copy(b, "XYZ ")
	putS15Fixed16(b[8:], x)
	putS15Fixed16(b[12:], y)
	putS15Fixed16(b[16:], z)
	return b
}

// iccText encodes a version 2 textType (7-bit ASCII, NUL-terminated).
func iccText(s string) []byte {
	b := make([]byte, 8, 8+len(s)+1)
	copy(b, "text")
	b = append(b, s...)
	return append(b, 0)
}

// iccTextDescription encodes a version 2 textDescriptionType: the ASCII
// description, an empty Unicode description and an empty ScriptCode one.
func iccTextDescription(s string) []byte {
	n := len(s) + 1
	b := make([]byte, 12+n+4+4+2+1+67)
	copy(b, "desc")
	binary.BigEndian.PutUint32(b[8:], uint32(n))
	copy(b[12:], s) // NUL terminator and the empty remainder are zero
	return b
}

// iccCurve encodes a curveType sampling the sRGB transfer function (IEC
// 61966-2-1) at n points from 0 to 1.
func iccCurve(n int) []byte {
	b := make([]byte, 12+2*n)
	copy(b, "curv")
	binary.BigEndian.PutUint32(b[8:], uint32(n))
	for i := 0; i < n; i++ {
		v := float64(i) / float64(n-1)
		if v <= 0.04045 {
			v /= 12.92
		} else {
			v = math.Pow((v+0.055)/1.055, 2.4)
		}
		binary.BigEndian.PutUint16(b[12+2*i:], uint16(math.Round(v*65535)))
	}
	return b
}
