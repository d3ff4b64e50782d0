package fitconnect

import (
	"errors"
	"testing"
	"time"
)

// FuzzDecrypt feeds arbitrary JWEs to Decrypt: it must never panic, and refuse whatever it
// cannot decrypt with a DecryptError.
func FuzzDecrypt(f *testing.F) {
	ring, err := NewKeyRing(keys().enc)
	if err != nil {
		f.Fatal(err)
	}
	good, _ := Encrypt(keys().encPub, []byte("data"))
	f.Add(good)
	f.Add([]byte("a.b.c.d.e"))
	f.Add([]byte("eyJhbGciOiJSU0EtT0FFUC0yNTYiLCJlbmMiOiJBMjU2R0NNIiwia2lkIjoieCJ9...."))
	f.Fuzz(func(t *testing.T, in []byte) {
		plain, err := Decrypt(ring, in, 1<<16)
		var de *DecryptError
		if err != nil && !errors.As(err, &de) {
			t.Fatalf("not a DecryptError: %v", err)
		}
		if err == nil && string(in) != string(good) && plain == nil {
			t.Fatal("nil plain text without an error")
		}
	})
}

// FuzzParseSETPayload: claims are parsed or refused, never a panic.
func FuzzParseSETPayload(f *testing.F) {
	f.Add([]byte(`{"jti":"0f1e2d3c-4b5a-4968-8776-655443322110","iss":"x","iat":1700000000,"sub":"submission:0f1e2d3c-4b5a-4968-8776-655443322110","txn":"case:0f1e2d3c-4b5a-4968-8776-655443322110","events":{"e":{}}}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		set, err := ParseSETPayload(in, true)
		if err == nil && len(set.Events) != 1 {
			t.Fatal("accepted a SET without exactly one event")
		}
		_, _, _, _ = SETHeader(string(in))
	})
}

// FuzzCallbackVerify: only a callback with the right MAC passes.
func FuzzCallbackVerify(f *testing.F) {
	secret := []byte("fuzz-secret-0123456789-0123456789-0123")
	now := time.Unix(1_800_000_000, 0)
	f.Add("1800000000", CallbackMAC(secret, "1800000000", []byte("{}")), []byte("{}"))
	f.Add("", "", []byte(""))
	f.Fuzz(func(t *testing.T, ts, auth string, body []byte) {
		v := &CallbackVerifier{Secrets: [][]byte{secret}, Now: func() time.Time { return now }}
		if err := v.Verify(ts, auth, body); err == nil {
			if want := CallbackMAC(secret, ts, body); want != auth && len(auth) == len(want) && !equalFold(want, auth) {
				t.Fatalf("accepted a wrong MAC %q", auth)
			}
		}
	})
}

func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x >= 'A' && x <= 'Z' {
			x += 'a' - 'A'
		}
		if y >= 'A' && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// FuzzTrustLevel: identification reports of any content give a level or a note.
func FuzzTrustLevel(f *testing.F) {
	f.Add("eyJsZXZlbE9mQXNzdXJhbmNlIjoiaGlnaCJ9")
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, content string) {
		TrustLevel([]AuthenticationInfo{{Content: content}})
	})
}
