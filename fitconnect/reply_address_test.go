package fitconnect

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/amtsbote/amtsbote/config"
	"github.com/amtsbote/amtsbote/replies"
	"github.com/amtsbote/amtsbote/store"
)

func mustJSON(t testing.TB, v any) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// jwkMap is a key as JSON object, to change fields of.
func jwkMap(t testing.TB, k jwk.Key) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(mustJSON(t, k), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestCheckReplyKey(t *testing.T) {
	good := otherKeys().EncryptionPublic
	with := func(change func(m map[string]any)) json.RawMessage {
		m := jwkMap(t, good)
		change(m)
		return mustJSON(t, m)
	}
	small, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	smallKey, _ := jwk.Import(&small.PublicKey)
	smallMap := jwkMap(t, smallKey)
	smallMap["kid"], smallMap["key_ops"] = "small-key-1", []string{"wrapKey"}
	var pub rsa.PublicKey
	if err := jwk.Export(good, &pub); err != nil {
		t.Fatal(err)
	}
	e3, _ := jwk.Import(&rsa.PublicKey{N: pub.N, E: 3})
	e3Map := jwkMap(t, e3)
	e3Map["kid"], e3Map["key_ops"] = "e3-key-0001", []string{"wrapKey"}
	tests := []struct {
		name string
		in   json.RawMessage
		want string
	}{
		{"a key FIT-Connect issues", mustJSON(t, good), ""},
		{"no alg, no certificate, more key_ops", with(func(m map[string]any) {
			delete(m, "alg")
			delete(m, "x5c")
			m["key_ops"] = []string{"encrypt", "wrapKey"}
			m["use"] = "enc"
		}), ""},
		{"missing", nil, "has no encryptionPublicKey"},
		{"null", json.RawMessage(`null`), "has no encryptionPublicKey"},
		{"not JSON", json.RawMessage(`{"kty":`), "not JSON"},
		{"an array", json.RawMessage(`[{}]`), "expected one JWK"},
		{"not a JWK", json.RawMessage(`{"kty":"none"}`), "not a JWK"},
		{"the private key", mustJSON(t, keys().enc), "holds a private key"},
		{"2048 bits", mustJSON(t, smallMap), "has 2048 bits; FIT-Connect requires at least 4096"},
		{"exponent 3", mustJSON(t, e3Map), "exponent is 3; FIT-Connect requires 65537"},
		{"no kid", with(func(m map[string]any) { delete(m, "kid") }), "kid is missing"},
		{"no key_ops", with(func(m map[string]any) { delete(m, "key_ops") }), `key_ops must contain "wrapKey"`},
		{"key_ops without wrapKey", with(func(m map[string]any) { m["key_ops"] = []string{"encrypt"} }), `key_ops must contain "wrapKey", has [encrypt]`},
		{"alg RSA-OAEP", with(func(m map[string]any) { m["alg"] = "RSA-OAEP" }), "alg is RSA-OAEP; replies are encrypted with RSA-OAEP-256"},
		{"use sig", with(func(m map[string]any) { m["use"] = "sig" }), `use is "sig"`},
		{"an EC key", json.RawMessage(`{"kty":"EC","crv":"P-256","kid":"ec-key-0001","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}`), "kty is EC"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key, err := CheckReplyKey(tt.in)
			if tt.want == "" {
				if err != nil || key == nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestReplyAddress(t *testing.T) {
	key := mustJSON(t, otherKeys().EncryptionPublic)
	ids := map[string]any{"subscription": "demo", "destination_id": "d-1", "submission_id": "s-1", "case_id": "c-1"}
	meta := func(channel any, drop ...string) []byte {
		fc := map[string]any{"service": map[string]any{"identifier": "urn:x"}}
		for k, v := range ids {
			fc[k] = v
		}
		for _, d := range drop {
			delete(fc, d)
		}
		if channel != nil {
			fc["reply_channel"] = channel
		}
		return mustJSON(t, map[string]any{"fitconnect": fc})
	}
	fitConnect := map[string]any{"fitConnect": map[string]any{"processStandards": []string{"urn:xoev-de:bmk:standard:xbau_2.4"}, "encryptionPublicKey": json.RawMessage(key)}}
	fcAddr := &replies.FitConnectAddress{Subscription: "demo", DestinationID: "d-1", SubmissionID: "s-1", CaseID: "c-1",
		EncryptionKey: key, ProcessStandards: []string{"urn:xoev-de:bmk:standard:xbau_2.4"}}
	pgp := "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmQINBF…\n-----END PGP PUBLIC KEY BLOCK-----"
	tests := []struct {
		name string
		in   []byte
		want replies.Address
		err  string
	}{
		{"fitConnect", meta(fitConnect), replies.Address{FitConnect: fcAddr}, ""},
		{"eMail with a PGP key", meta(map[string]any{"eMail": map[string]any{"address": "anna@example.org", "pgpPublicKey": pgp}}),
			replies.Address{Email: "anna@example.org", PGPPublicKey: pgp}, ""},
		{"eMail", meta(map[string]any{"eMail": map[string]any{"address": " anna@example.org "}}), replies.Address{Email: "anna@example.org"}, ""},
		{"both", meta(map[string]any{"eMail": map[string]any{"address": "anna@example.org"}, "fitConnect": fitConnect["fitConnect"]}),
			replies.Address{Email: "anna@example.org", FitConnect: fcAddr}, ""},
		{"fitConnect without process standards or key", meta(map[string]any{"fitConnect": map[string]any{}}),
			replies.Address{FitConnect: &replies.FitConnectAddress{Subscription: "demo", DestinationID: "d-1", SubmissionID: "s-1", CaseID: "c-1"}}, ""},
		{"deMail", meta(map[string]any{"deMail": map[string]any{"address": "anna@example.de-mail.de"}}), replies.Address{}, ""},
		{"elster", meta(map[string]any{"elster": map[string]any{"accountId": "1234567890"}}), replies.Address{}, ""},
		{"no reply channel", meta(nil), replies.Address{}, ""},
		{"a portal's submission", []byte(`{"portal":{"x":1}}`), replies.Address{}, ""},
		{"fitconnect null", []byte(`{"fitconnect":null}`), replies.Address{}, ""},
		{"empty object", []byte(`{}`), replies.Address{}, ""},
		{"not JSON", []byte(`{"fitconnect":`), replies.Address{}, "meta: not a JSON object"},
		{"JSON null", []byte(`null`), replies.Address{}, "meta: not a JSON object"},
		{"an array", []byte(`[]`), replies.Address{}, "meta: not a JSON object"},
		{"fitconnect a string", []byte(`{"fitconnect":"x"}`), replies.Address{}, "fitconnect is not an object"},
		{"reply_channel a list", meta([]any{1}), replies.Address{}, "fitconnect.reply_channel is not an object"},
		{"eMail without address", meta(map[string]any{"eMail": map[string]any{"pgpPublicKey": pgp}}), replies.Address{}, "eMail: address is missing"},
		{"eMail a list", meta(map[string]any{"eMail": []any{}}), replies.Address{}, "eMail is not an object"},
		{"eMail address a number", meta(map[string]any{"eMail": map[string]any{"address": 7}}), replies.Address{}, "eMail: address must be a string"},
		{"fitConnect a string", meta(map[string]any{"fitConnect": "yes"}), replies.Address{}, "fitconnect.reply_channel.fitConnect is not an object"},
		{"processStandards a string", meta(map[string]any{"fitConnect": map[string]any{"processStandards": "xbau"}}), replies.Address{}, "processStandards is not an array"},
		{"processStandards with a number", meta(map[string]any{"fitConnect": map[string]any{"processStandards": []any{"x", 2}}}), replies.Address{}, "processStandards[1] is not a string"},
		{"key a string", meta(map[string]any{"fitConnect": map[string]any{"encryptionPublicKey": "AQAB"}}), replies.Address{}, "encryptionPublicKey is not an object"},
		{"no case id", meta(fitConnect, "case_id"), replies.Address{}, "fitconnect.case_id is missing"},
		{"subscription a number", []byte(`{"fitconnect":{"subscription":1,"destination_id":"d","submission_id":"s","case_id":"c","reply_channel":{"fitConnect":{}}}}`),
			replies.Address{}, "fitconnect.subscription is missing or not a string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReplyAddress(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("got %+v, %v; want an error containing %q", got, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.FitConnect != nil && tt.want.FitConnect != nil && string(got.FitConnect.EncryptionKey) != string(tt.want.FitConnect.EncryptionKey) {
				var a, b any
				_ = json.Unmarshal(got.FitConnect.EncryptionKey, &a)
				_ = json.Unmarshal(tt.want.FitConnect.EncryptionKey, &b)
				if !reflect.DeepEqual(a, b) {
					t.Fatalf("key %s, want %s", got.FitConnect.EncryptionKey, tt.want.FitConnect.EncryptionKey)
				}
				got.FitConnect.EncryptionKey = tt.want.FitConnect.EncryptionKey
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v (%+v), want %+v (%+v)", got, got.FitConnect, tt.want, tt.want.FitConnect)
			}
		})
	}
}

// TestReplyAddressOfAStoredSubmission: what the intake keeps of a submission's metadata gives the
// reply channel its sender named, with the key a reply can be encrypted for.
func TestReplyAddressOfAStoredSubmission(t *testing.T) {
	pub := otherKeys().EncryptionPublic
	var md Metadata
	doc := mustJSON(t, map[string]any{"contentStructure": map[string]any{"attachments": []any{}},
		"replyChannel": map[string]any{"fitConnect": map[string]any{"processStandards": []string{"urn:x:1"}, "encryptionPublicKey": pub}}})
	if err := json.Unmarshal(doc, &md); err != nil {
		t.Fatal(err)
	}
	sub := &Subscription{Config: config.FitConnectSubscription{ID: "demo-fitconnect"}}
	e := store.InboxEntry{SubmissionID: "8f9f5a3c-2d1e-4c6b-9a8f-7e6d5c4b3a21", CaseID: "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d", DestinationID: "5f7c2a1e-8b3d-4e6f-9a0b-1c2d3e4f5a6b"}
	raw := mustJSON(t, submissionMeta(sub, e, &Received{Metadata: md}))
	addr, err := ReplyAddress(raw)
	if err != nil {
		t.Fatal(err)
	}
	fc := addr.FitConnect
	if fc == nil || fc.Subscription != "demo-fitconnect" || fc.SubmissionID != e.SubmissionID || fc.CaseID != e.CaseID ||
		fc.DestinationID != e.DestinationID || !reflect.DeepEqual(fc.ProcessStandards, []string{"urn:x:1"}) || addr.Email != "" {
		t.Fatalf("address %+v %+v", addr, fc)
	}
	key, err := CheckReplyKey(fc.EncryptionKey)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := key.Thumbprint(crypto.SHA256)
	b, _ := pub.Thumbprint(crypto.SHA256)
	if string(a) != string(b) {
		t.Fatal("the stored key is not the sender's")
	}
}

func TestReplyAttachmentID(t *testing.T) {
	a, b := ReplyAttachmentID("r-1", 0), ReplyAttachmentID("r-1", 1)
	if a != ReplyAttachmentID("r-1", 0) || a == b || a == ReplyAttachmentID("r-2", 0) || !jtiRE.MatchString(a) || a[14] != '5' {
		t.Fatalf("ids %s %s", a, b)
	}
}
