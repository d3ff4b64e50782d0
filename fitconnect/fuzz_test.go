package fitconnect

import (
	"crypto/rsa"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
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

// FuzzReplyAddress: any stored Meta gives an address or an error, never a panic; a FitConnect
// address always names the ids a reply needs.
func FuzzReplyAddress(f *testing.F) {
	f.Add([]byte(`{"fitconnect":{"subscription":"demo","destination_id":"d","submission_id":"s","case_id":"c","reply_channel":{"fitConnect":{"processStandards":["urn:x"],"encryptionPublicKey":{"kty":"RSA"}}}}}`))
	f.Add([]byte(`{"fitconnect":{"reply_channel":{"eMail":{"address":"a@example.org","pgpPublicKey":"k"}}}}`))
	f.Add([]byte(`{"fitconnect":{"reply_channel":{"deMail":{}}}}`))
	f.Add([]byte(`{"fitconnect":null}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, in []byte) {
		addr, err := ReplyAddress(in)
		if err != nil {
			return
		}
		if fc := addr.FitConnect; fc != nil && (fc.Subscription == "" || fc.SubmissionID == "" || fc.CaseID == "" || fc.DestinationID == "") {
			t.Fatalf("a FIT-Connect address without its ids: %+v", fc)
		}
		if fc := addr.FitConnect; fc != nil && fc.EncryptionKey != nil && !json.Valid(fc.EncryptionKey) {
			t.Fatalf("key %q is not JSON", fc.EncryptionKey)
		}
	})
}

// FuzzCheckReplyKey: a key is accepted only if it is an RSA public key FIT-Connect can encrypt for.
func FuzzCheckReplyKey(f *testing.F) {
	good, _ := json.Marshal(otherKeys().EncryptionPublic)
	f.Add(good)
	f.Add([]byte(`{"kty":"RSA","n":"AQAB","e":"AQAB"}`))
	f.Add([]byte(`{"kty":"oct","k":"AAAA"}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, in []byte) {
		key, err := CheckReplyKey(in)
		if err != nil {
			return
		}
		var pub rsa.PublicKey
		if err := jwk.Export(key, &pub); err != nil || pub.N.BitLen() < MinRSABits || pub.E != 65537 {
			t.Fatalf("accepted an unfit key %s", in)
		}
		if private, _ := jwk.IsPrivateKey(key); private {
			t.Fatal("accepted a private key")
		}
	})
}
