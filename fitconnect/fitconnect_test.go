package fitconnect

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/amtsbote/amtsbote/trust"
)

const demoKeys = "../fixtures/demo/fitconnect/keys/"

// keys are the demo destination's keys.
var keys = sync.OnceValue(func() (k struct {
	enc, sig, encPub, sigPub jwk.Key
}) {
	var err error
	if k.enc, err = LoadPrivateKey(demoKeys+"encryption.private.jwk", Encryption); err != nil {
		panic(err)
	}
	if k.sig, err = LoadPrivateKey(demoKeys+"signing.private.jwk", Signing); err != nil {
		panic(err)
	}
	for _, p := range []struct {
		file string
		dst  *jwk.Key
	}{{"encryption.public.jwk", &k.encPub}, {"signing.public.jwk", &k.sigPub}} {
		raw, err := os.ReadFile(demoKeys + p.file)
		if err != nil {
			panic(err)
		}
		if *p.dst, err = jwk.ParseKey(raw); err != nil {
			panic(err)
		}
	}
	return k
})

// otherKeys are a second destination's keys (other kids), made once: RSA 4096 takes a while.
var otherKeys = sync.OnceValue(func() *GeneratedKeys {
	k, err := GenerateKeys("test")
	if err != nil {
		panic(err)
	}
	return k
})

func writeJWK(t *testing.T, v any) string {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "key.jwk")
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadPrivateKeyRefusesUnfitKeys(t *testing.T) {
	small, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	smallJWK, _ := jwk.Import(small)
	_ = smallJWK.Set(jwk.KeyIDKey, "small-key-0001")
	_ = smallJWK.Set(jwk.KeyOpsKey, jwk.KeyOperationList{jwk.KeyOpUnwrapKey})
	withOps := func(k jwk.Key, ops ...jwk.KeyOperation) jwk.Key {
		c, _ := k.Clone()
		_ = c.Set(jwk.KeyOpsKey, jwk.KeyOperationList(ops))
		return c
	}
	withAlg := func(k jwk.Key, alg string) jwk.Key {
		c, _ := k.Clone()
		_ = c.Set(jwk.AlgorithmKey, alg)
		return c
	}
	tests := []struct {
		name string
		file string
		use  Use
		want string
	}{
		{"demo decryption key", demoKeys + "encryption.private.jwk", Encryption, ""},
		{"demo signing key", demoKeys + "signing.private.jwk", Signing, ""},
		{"signing key used for decryption", demoKeys + "signing.private.jwk", Encryption, `key_ops must contain "unwrapKey"`},
		{"public part only", demoKeys + "encryption.public.jwk", Encryption, "only the public part"},
		{"2048 bit", writeJWK(t, smallJWK), Encryption, "has 2048 bits; FIT-Connect requires 4096"},
		{"no key_ops", writeJWK(t, withOps(keys().enc)), Encryption, "key_ops must contain"},
		{"extra key_ops", writeJWK(t, withOps(keys().enc, jwk.KeyOpUnwrapKey, jwk.KeyOpSign)), Encryption, `is for "unwrapKey" only`},
		{"wrong alg", writeJWK(t, withAlg(keys().enc, "RSA-OAEP")), Encryption, "alg is RSA-OAEP"},
		{"missing file", filepath.Join(t.TempDir(), "none.jwk"), Encryption, "no such file"},
	}
	notJSON := filepath.Join(t.TempDir(), "broken.jwk")
	os.WriteFile(notJSON, []byte("{\n  \"kty\": \"RSA\",\n  oops\n}"), 0o600)
	tests = append(tests, struct {
		name string
		file string
		use  Use
		want string
	}{"not JSON", notJSON, Encryption, "line 3, column 3: not JSON"})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadPrivateKey(tt.file, tt.use)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestGeneratedPublicKeysAreWhatFITConnectRequires(t *testing.T) {
	k := otherKeys()
	if err := CheckKey(k.EncryptionPublic, Encryption, false); err != nil {
		t.Fatal(err)
	}
	if err := CheckKey(k.SigningPublic, Signing, false); err != nil {
		t.Fatal(err)
	}
	if err := CheckKey(k.EncryptionPrivate, Encryption, true); err != nil {
		t.Fatal(err)
	}
	if KeyID(k.EncryptionPrivate) != KeyID(k.EncryptionPublic) || KeyID(k.EncryptionPublic) == KeyID(k.SigningPublic) {
		t.Fatal("kids: a pair shares one, the two pairs differ")
	}
}

func TestDecrypt(t *testing.T) {
	ring, err := NewKeyRing(keys().enc)
	if err != nil {
		t.Fatal(err)
	}
	plain := []byte(`{"hello":"Grüße"}`)
	good, err := Encrypt(keys().encPub, plain)
	if err != nil {
		t.Fatal(err)
	}
	forOther, _ := Encrypt(otherKeys().EncryptionPublic, plain)
	parts := strings.Split(string(good), ".")
	tamper := func(i int) []byte {
		p := append([]string{}, parts...)
		b := []byte(p[i])
		if b[len(b)/2] == 'A' {
			b[len(b)/2] = 'B'
		} else {
			b[len(b)/2] = 'A'
		}
		p[i] = string(b)
		return []byte(strings.Join(p, "."))
	}
	header := func(h string) []byte {
		p := append([]string{}, parts...)
		p[0] = base64.RawURLEncoding.EncodeToString([]byte(h))
		return []byte(strings.Join(p, "."))
	}
	tests := []struct {
		name    string
		in      []byte
		want    string
		unknown bool
	}{
		{"good", good, "", false},
		{"unknown kid", forOther, "not in the key ring", true},
		{"tampered tag", tamper(4), "decryption failed", false},
		{"tampered ciphertext", tamper(3), "decryption failed", false},
		{"tampered wrapped key", tamper(1), "decryption failed", false},
		{"four parts", []byte(strings.Join(parts[:4], ".")), "4 parts", false},
		{"alg", header(`{"alg":"RSA1_5","enc":"A256GCM","kid":"x"}`), `alg is "RSA1_5"`, false},
		{"enc", header(`{"alg":"RSA-OAEP-256","enc":"A128CBC-HS256","kid":"x"}`), `enc is "A128CBC-HS256"`, false},
		{"no kid", header(`{"alg":"RSA-OAEP-256","enc":"A256GCM"}`), "no kid", false},
		{"crit", header(`{"alg":"RSA-OAEP-256","enc":"A256GCM","kid":"` + KeyID(keys().enc) + `","crit":["x"],"x":1}`), "critical", false},
		{"header not JSON", header(`nope`), "not a JSON object", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decrypt(ring, tt.in, 1<<20)
			if tt.want == "" {
				if err != nil || string(got) != string(plain) {
					t.Fatalf("got %q, %v", got, err)
				}
				return
			}
			var de *DecryptError
			if !errors.As(err, &de) || !strings.Contains(err.Error(), tt.want) || de.UnknownKey != tt.unknown {
				t.Fatalf("got %v, want a DecryptError containing %q (unknown key %v)", err, tt.want, tt.unknown)
			}
		})
	}
	if AuthTag(good) != parts[4] {
		t.Fatal("AuthTag is the last part")
	}
}

func TestSignAndVerifyDecisions(t *testing.T) {
	const dest, sub, kase = "5f7c2a1e-8b3d-4e6f-9a0b-1c2d3e4f5a6b", "0f1e2d3c-4b5a-4968-8776-655443322110", "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"
	tags := AuthenticationTags{Metadata: "m", Data: "d", Attachments: map[string]string{"a": "t"}}
	accept, err := NewDecision(dest, sub, kase, tags, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	token, err := Sign(keys().sig, accept)
	if err != nil {
		t.Fatal(err)
	}
	set, err := Verify(token, keys().sigPub, true)
	if err != nil {
		t.Fatal(err)
	}
	event, raw := set.Event()
	p, err := Payload(raw, true)
	if event != EventAcceptSubmission || err != nil || p.AuthenticationTags.Attachments["a"] != "t" || set.Iss != dest ||
		set.Sub != "submission:"+sub || set.Txn != "case:"+kase || set.Schema != SETSchema {
		t.Fatalf("accept: %+v %s %v", set, raw, err)
	}
	reject, _ := NewDecision(dest, sub, kase, tags, []Problem{NewProblem("hash-mismatch", InstanceData, "x")}, time.Now())
	token2, _ := Sign(keys().sig, reject)
	set2, err := Verify(token2, keys().sigPub, true)
	if err != nil {
		t.Fatal(err)
	}
	event, raw = set2.Event()
	p, _ = Payload(raw, true)
	if event != EventRejectSubmission || len(p.Problems) != 1 || p.Problems[0].Type != ProblemBase+"hash-mismatch" || p.AuthenticationTags != nil {
		t.Fatalf("reject: %s", raw)
	}
	otherSig, _ := jwk.PublicKeyOf(otherKeys().SigningPrivate)
	forged, _ := Sign(otherKeys().SigningPrivate, accept)
	for name, c := range map[string]struct {
		token string
		key   jwk.Key
		want  string
	}{
		"another key's kid":           {token, otherSig, "is not the key's"},
		"signed by another key":       {forged, keys().sigPub, "is not the key's"},
		"tampered payload":            {tamperPayload(token), keys().sigPub, "does not verify"},
		"not a JWS":                   {"abc", keys().sigPub, "not a JWS"},
		"signed with the right kid":   {resign(t, forged, keys().sigPub), keys().sigPub, "does not verify"},
		"encryption key used to sign": {mustSign(t, keys().enc, accept), keys().sigPub, "is not the key's"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Verify(c.token, c.key, true); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want %q", err, c.want)
			}
		})
	}
}

func mustSign(t *testing.T, k jwk.Key, s SET) string {
	t.Helper()
	token, err := Sign(k, s)
	if err != nil {
		t.Fatal(err)
	}
	return token
}

func tamperPayload(token string) string {
	p := strings.Split(token, ".")
	raw, _ := base64.RawURLEncoding.DecodeString(p[1])
	raw = []byte(strings.Replace(string(raw), "accept-submission", "reject-submission", 1))
	p[1] = base64.RawURLEncoding.EncodeToString(raw)
	return strings.Join(p, ".")
}

// resign swaps the header's kid for the key's, keeping the foreign signature.
func resign(t *testing.T, token string, k jwk.Key) string {
	p := strings.Split(token, ".")
	h := `{"alg":"PS512","kid":"` + KeyID(k) + `","typ":"secevent+jwt"}`
	p[0] = base64.RawURLEncoding.EncodeToString([]byte(h))
	return strings.Join(p, ".")
}

func TestParseSETPayload(t *testing.T) {
	valid := map[string]any{"jti": "0f1e2d3c-4b5a-4968-8776-655443322110", "iss": "x", "iat": 1700000000,
		"sub": "submission:0f1e2d3c-4b5a-4968-8776-655443322110", "txn": "case:0f1e2d3c-4b5a-4968-8776-655443322110",
		"events": map[string]any{EventAcceptSubmission: map[string]any{}}}
	with := func(k string, v any) []byte {
		m := map[string]any{}
		for a, b := range valid {
			m[a] = b
		}
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		raw, _ := json.Marshal(m)
		return raw
	}
	tests := []struct {
		name   string
		raw    []byte
		strict bool
		want   string
	}{
		{"valid", with("jti", valid["jti"]), true, ""},
		{"jti", with("jti", "1"), true, "jti"},
		{"sub", with("sub", "case:x"), true, "sub"},
		{"txn", with("txn", "submission:0f1e2d3c-4b5a-4968-8776-655443322110"), true, "txn"},
		{"iat", with("iat", 5), true, "iat"},
		{"no iss", with("iss", nil), true, "iss"},
		{"two events", with("events", map[string]any{"a": 1, "b": 2}), true, "exactly one"},
		{"schema", with("$schema", "https://example.org/x.json"), true, "$schema"},
		{"extra claim strict", with("exp", 1), true, "unknown field"},
		{"extra claim lenient", with("exp", 1), false, ""},
		{"not JSON", []byte("{"), false, "not a SET"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseSETPayload(tt.raw, tt.strict)
			if (tt.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("got %v, want %q", err, tt.want)
			}
		})
	}
}

func TestCallbackVerifier(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	old, current := []byte("old-secret-0123456789-0123456789-xx"), []byte("new-secret-0123456789-0123456789-yy")
	body := []byte(`{"type":"` + CallbackNewSubmissions + `","submissions":[]}` + "\n")
	ts := func(d time.Duration) string { return itoa(now.Add(d).Unix()) }
	mac := func(secret []byte, tstamp string, b []byte) string { return CallbackMAC(secret, tstamp, b) }
	tests := []struct {
		name      string
		timestamp string
		auth      string
		body      []byte
		want      string
	}{
		{"current secret", ts(0), mac(current, ts(0), body), body, ""},
		{"old secret during rotation", ts(-time.Minute), mac(old, ts(-time.Minute), body), body, ""},
		{"wrong secret", ts(0), mac([]byte("someone-else-0123456789-0123456789"), ts(0), body), body, "does not match"},
		{"body changed", ts(0), mac(current, ts(0), body), append(body[:len(body)-1:len(body)-1], ' '), "does not match"},
		{"body without its newline", ts(0), mac(current, ts(0), body), body[:len(body)-1], "does not match"},
		{"timestamp changed", ts(-time.Second), mac(current, ts(0), body), body, "does not match"},
		{"six minutes old", ts(-6 * time.Minute), mac(current, ts(-6*time.Minute), body), body, "off the clock"},
		{"six minutes ahead", ts(6 * time.Minute), mac(current, ts(6*time.Minute), body), body, "off the clock"},
		{"timestamp not a number", "soon", mac(current, "soon", body), body, "not a Unix time"},
		{"no headers", "", "", body, "required"},
		{"MAC not hex", ts(0), strings.Repeat("z", 128), body, "not a hex HMAC-SHA512"},
		{"MAC truncated", ts(0), mac(current, ts(0), body)[:64], body, "not a hex HMAC-SHA512"},
		{"MAC in upper case", ts(0), strings.ToUpper(mac(current, ts(0), body)), body, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := &CallbackVerifier{Secrets: [][]byte{current, old}, Now: func() time.Time { return now }}
			err := v.Verify(tt.timestamp, tt.auth, tt.body)
			if (tt.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("got %v, want %q", err, tt.want)
			}
		})
	}
	v := &CallbackVerifier{Secrets: [][]byte{current}, Now: func() time.Time { return now }}
	if err := v.Verify(ts(0), mac(current, ts(0), body), body); err != nil {
		t.Fatal(err)
	}
	if err := v.Verify(ts(0), mac(current, ts(0), body), body); err == nil || !strings.Contains(err.Error(), "replay") {
		t.Fatalf("a replay: %v", err)
	}
	if err := (&CallbackVerifier{}).Verify(ts(0), mac(current, ts(0), body), body); err == nil {
		t.Fatal("no secrets: refused")
	}
}

func itoa(v int64) string {
	return strings.TrimSpace(strings.Replace(string(must(json.Marshal(v))), `"`, "", -1))
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

func TestTrustLevelFromIdentificationReports(t *testing.T) {
	b64 := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	jws := func(claims string) string { return b64(`{"alg":"PS512"}`) + "." + b64(claims) + ".c2ln" }
	tests := []struct {
		name    string
		reports []AuthenticationInfo
		want    trust.Level
		note    bool
	}{
		{"none", nil, trust.None, false},
		{"JSON report, eIDAS URI", []AuthenticationInfo{{Content: b64(`{"levelOfAssurance":"http://eidas.europa.eu/LoA/substantial"}`)}}, trust.Substantial, false},
		{"signed report, STORK", []AuthenticationInfo{{Content: jws(`{"levelOfAssurance":"STORK-QAA-Level-4"}`)}}, trust.High, false},
		{"acr claim", []AuthenticationInfo{{Content: jws(`{"acr":"http://eidas.europa.eu/LoA/low"}`)}}, trust.Low, false},
		{"strongest of two", []AuthenticationInfo{{Content: b64(`{"levelOfAssurance":"low"}`)}, {Content: b64(`{"levelOfAssurance":"hoch"}`)}}, trust.High, false},
		{"unknown level", []AuthenticationInfo{{Content: b64(`{"levelOfAssurance":"medium"}`)}}, trust.None, true},
		{"not base64url", []AuthenticationInfo{{Content: "!!"}}, trust.None, true},
		{"no level claim", []AuthenticationInfo{{Content: b64(`{"name":"x"}`)}}, trust.None, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, note := TrustLevel(tt.reports)
			if got != tt.want || (note != "") != tt.note {
				t.Fatalf("got %v, %q", got, note)
			}
		})
	}
}
