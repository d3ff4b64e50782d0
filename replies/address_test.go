package replies_test

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/amtsbote/amtsbote/replies"
)

// armour writes data as an ASCII-armoured block of the given type, with headers and (unless
// checksum is "") a checksum line.
func armour(kind string, data []byte, headers string, checksum bool) string {
	b64 := base64.StdEncoding.EncodeToString(data)
	var lines []string
	for len(b64) > 64 {
		lines = append(lines, b64[:64])
		b64 = b64[64:]
	}
	lines = append(lines, b64)
	out := "-----BEGIN PGP " + kind + "-----\n" + headers + "\n" + strings.Join(lines, "\n") + "\n"
	if checksum {
		c := crc24(data)
		out += "=" + base64.StdEncoding.EncodeToString([]byte{byte(c >> 16), byte(c >> 8), byte(c)}) + "\n"
	}
	return out + "-----END PGP " + kind + "-----\n"
}

// crc24 as RFC 9580 defines it (its check value: "123456789" → 0x21cf02).
func crc24(data []byte) uint32 {
	crc := uint32(0xb704ce)
	for _, b := range data {
		crc ^= uint32(b) << 16
		for i := 0; i < 8; i++ {
			crc <<= 1
			if crc&0x1000000 != 0 {
				crc ^= 0x1864cfb
			}
		}
	}
	return crc & 0xffffff
}

// publicKeyPacket is the start of a version 4 Ed25519 public key packet (new format, tag 6).
var publicKeyPacket = append([]byte{0xc6, 0x33, 0x04, 0x65, 0x00, 0x00, 0x00, 0x16, 0x09, 0x2b, 0x06, 0x01, 0x04, 0x01, 0xda, 0x47,
	0x0f, 0x01, 0x01, 0x07, 0x40}, make([]byte, 32)...)

func TestCheckPGPPublicKey(t *testing.T) {
	if crc24([]byte("123456789")) != 0x21cf02 {
		t.Fatal("the test's CRC-24 is wrong")
	}
	oldFormat := append([]byte{0x99, 0x00, 0x33}, publicKeyPacket[2:]...)
	signature := append([]byte{0xc2, 0x33}, publicKeyPacket[2:]...)
	good := armour("PUBLIC KEY BLOCK", publicKeyPacket, "Comment: Anna Müller\n", true)
	tests := []struct {
		name, key, want string // want "" = accepted
	}{
		{"with headers and checksum", good, ""},
		{"CRLF line ends", strings.ReplaceAll(good, "\n", "\r\n"), ""},
		{"without checksum or headers", armour("PUBLIC KEY BLOCK", publicKeyPacket, "", false), ""},
		{"old packet format", armour("PUBLIC KEY BLOCK", oldFormat, "", true), ""},
		{"a private key", armour("PRIVATE KEY BLOCK", publicKeyPacket, "", true), "PRIVATE"},
		{"a signature block", armour("SIGNATURE", publicKeyPacket, "", true), "must be an ASCII-armoured public key"},
		{"not a key at all", "ssh-ed25519 AAAAC3Nza anna@example.org", "must be an ASCII-armoured public key"},
		{"cut off", strings.TrimSuffix(good, "-----END PGP PUBLIC KEY BLOCK-----\n"), "must end with"},
		{"checksum wrong", strings.Replace(armour("PUBLIC KEY BLOCK", publicKeyPacket, "", false), "-----END", "=AAAA\n-----END", 1), "checksum does not match"},
		{"not base64", "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n!!!!\n-----END PGP PUBLIC KEY BLOCK-----", "not base64"},
		{"first packet a signature", armour("PUBLIC KEY BLOCK", signature, "", true), "packet tag 2"},
		{"too large", armour("PUBLIC KEY BLOCK", append(publicKeyPacket, make([]byte, 70<<10)...), "", true), "limit"},
		{"a header without value", "-----BEGIN PGP PUBLIC KEY BLOCK-----\nVersion: x\nbroken\n\nxsA=\n-----END PGP PUBLIC KEY BLOCK-----", "armour header"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := replies.CheckPGPPublicKey(tt.key)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("got %v, want an error with %q", err, tt.want)
			}
		})
	}
}

func TestCheckAddress(t *testing.T) {
	key := armour("PUBLIC KEY BLOCK", publicKeyPacket, "", true)
	tests := []struct {
		name   string
		a      replies.Address
		fields []string // fields of the problems, in order; none = accepted
	}{
		{"e-mail", replies.Address{Email: "anna.mueller@example.org"}, nil},
		{"e-mail with key", replies.Address{Email: "anna@example.org", PGPPublicKey: key}, nil},
		{"postal only", replies.Address{Postal: []string{"Anna Müller", "Hauptstr. 1", "80331 München"}}, nil},
		{"nothing", replies.Address{}, []string{""}},
		{"display name", replies.Address{Email: "Anna <anna@example.org>"}, []string{"email"}},
		{"two addresses", replies.Address{Email: "anna@example.org, bob@example.org"}, []string{"email"}},
		{"no domain name", replies.Address{Email: "anna@localhost"}, []string{"email"}},
		{"address literal", replies.Address{Email: "anna@[127.0.0.1]"}, []string{"email"}},
		{"no at", replies.Address{Email: "anna.example.org"}, []string{"email"}},
		{"header injection", replies.Address{Email: "anna@example.org\r\nBcc: x@example.org"}, []string{"email"}},
		{"key without e-mail", replies.Address{Postal: []string{"x"}, PGPPublicKey: key}, []string{"pgp_public_key"}},
		{"bad key", replies.Address{Email: "anna@example.org", PGPPublicKey: "hello"}, []string{"pgp_public_key"}},
		{"seven lines", replies.Address{Postal: []string{"1", "2", "3", "4", "5", "6", "7"}}, []string{"postal"}},
		{"an empty line", replies.Address{Postal: []string{"Anna", " "}}, []string{"postal[1]"}},
		{"a line break in a line", replies.Address{Postal: []string{"Anna\nMüller"}}, []string{"postal[0]"}},
		{"a long line", replies.Address{Postal: []string{strings.Repeat("a", 201)}}, []string{"postal[0]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			problems := replies.CheckAddress(tt.a)
			if len(problems) != len(tt.fields) {
				t.Fatalf("problems %+v, want fields %v", problems, tt.fields)
			}
			for i, p := range problems {
				if p.Field != tt.fields[i] || p.Message == "" {
					t.Fatalf("problem %d: %+v, want field %q", i, p, tt.fields[i])
				}
			}
		})
	}
}

// The reply channel is kept in a submission's meta beside what else it holds, and read back.
func TestAddressInMeta(t *testing.T) {
	a := replies.Address{Email: "anna@example.org", Postal: []string{"Anna Müller", "Hauptstr. 1"}}
	meta, err := replies.MetaWithAddress([]byte(`{"case_id": "c-1"}`), a)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(meta), `"case_id":"c-1"`) {
		t.Fatalf("meta lost what it held: %s", meta)
	}
	back, err := replies.AddressFromMeta(meta)
	if err != nil || back.Email != a.Email || len(back.Postal) != 2 || back.Postal[1] != "Hauptstr. 1" {
		t.Fatalf("read back %+v, %v", back, err)
	}
	for _, none := range []string{"", "{}", `{"case_id": "c"}`} {
		if got, err := replies.AddressFromMeta([]byte(none)); err != nil || got.Email != "" || got.Postal != nil {
			t.Fatalf("meta %q: %+v %v", none, got, err)
		}
	}
	if _, err := replies.AddressFromMeta([]byte(`{"reply_channel": 5}`)); err == nil {
		t.Fatal("a reply channel that is no object was read")
	}
}

// FuzzCheckPGPPublicKey: any text is a key or an error, never a panic.
func FuzzCheckPGPPublicKey(f *testing.F) {
	f.Add(armour("PUBLIC KEY BLOCK", publicKeyPacket, "Version: 1\n", true))
	f.Add("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n=\n-----END PGP PUBLIC KEY BLOCK-----")
	f.Add("-----BEGIN PGP PUBLIC KEY BLOCK-----\n-----END PGP PUBLIC KEY BLOCK-----")
	f.Fuzz(func(t *testing.T, key string) {
		if err := replies.CheckPGPPublicKey(key); err == nil && !strings.Contains(key, "PUBLIC KEY BLOCK") {
			t.Fatalf("accepted %q", key)
		}
	})
}
