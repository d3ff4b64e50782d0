package email

import (
	"bytes"
	"io"
	"net/mail"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

func armouredPublic(t testing.TB, e *openpgp.Entity) string {
	var b bytes.Buffer
	w, _ := armor.Encode(&b, openpgp.PublicKeyType, nil)
	if err := e.Serialize(w); err != nil {
		t.Fatal(err)
	}
	w.Close()
	return b.String()
}

// FuzzPublicKey: whatever an applicant sends as a key, reading it never panics, and a key it
// accepts can be encrypted to.
func FuzzPublicKey(f *testing.F) {
	e, err := openpgp.NewEntity("Max", "", "max@example.de", &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	if err != nil {
		f.Fatal(err)
	}
	good := armouredPublic(f, e)
	f.Add(good)
	f.Add(strings.Replace(good, "PUBLIC", "PRIVATE", 2))
	f.Add(good[:len(good)/2])
	f.Add(good + good)
	f.Add("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmQINBF\n=AAAA\n-----END PGP PUBLIC KEY BLOCK-----\n")
	f.Add("-----BEGIN PGP MESSAGE-----\n\nwcBMA\n-----END PGP MESSAGE-----\n")
	f.Add("kein Schlüssel")
	f.Add("")
	now := time.Now()
	f.Fuzz(func(t *testing.T, armored string) {
		key, err := ParsePublicKey(armored, now)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "OpenPGP key ") {
				t.Fatalf("error %q does not say it is about the OpenPGP key", err)
			}
			return
		}
		plaintext, armour, err := key.encrypt(io.Discard, now)
		if err != nil {
			t.Fatalf("accepted key %s, but cannot encrypt to it: %v", key.Fingerprint, err)
		}
		if _, err := io.WriteString(plaintext, "Content-Type: text/plain\r\n\r\nHallo\r\n"); err != nil {
			t.Fatal(err)
		}
		if err := plaintext.Close(); err != nil {
			t.Fatal(err)
		}
		if err := armour.Close(); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzTemplate: whatever a template file holds, reading it never panics, its errors name the
// file, and a template it accepts renders a subject of one line.
func FuzzTemplate(f *testing.F) {
	f.Add(defaultTemplate)
	f.Add("Subject: {{.KindLabel}}\n\nHallo {{.Reference}}\n")
	f.Add("Subject: x\r\n\r\n{{range .Documents}}{{.Name}} {{.SizeText}}\n{{end}}")
	f.Add("Subject: {{.Text}}\n\n{{.Text}}\n")
	f.Add("\uFEFFsubject: x\nFrom: y\n\nz")
	f.Add("Subject:\n\n")
	f.Add("Subject: x\n  y\n\nz")
	f.Add("Subject: {{/*\n*/}}\n\n{{if}}")
	f.Fuzz(func(t *testing.T, text string) {
		tmpl, err := parseTemplate("fuzz.tmpl", text)
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz.tmpl") {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		d := sampleData()
		d.Text = "Zeile 1\nZeile 2"
		subject, body, err := tmpl.render(d)
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz.tmpl") && !strings.Contains(err.Error(), "more than") {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		if subject == "" || strings.IndexFunc(subject, unicode.IsControl) >= 0 {
			t.Fatalf("subject %q", subject)
		}
		if strings.ContainsRune(body, '\r') {
			t.Fatalf("body keeps a CR: %q", body)
		}
	})
}

// FuzzAddress: an address CheckAddress accepts is one bare address without control
// characters, and accepted again as it is.
func FuzzAddress(f *testing.F) {
	for _, s := range []string{"max@example.de", "max@bücher.example", "Max <max@example.de>", `"a b"@example.de`,
		"max@example.de\r\nBcc: x@y.de", "a@b.de, c@d.de", "max@[127.0.0.1]", "max@xn--a.de", "x@y", "(c)max@example.de"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := CheckAddress(s)
		if err != nil {
			return
		}
		if strings.IndexFunc(got, func(r rune) bool { return unicode.IsControl(r) || r > 0x7e || r == ' ' }) >= 0 {
			t.Fatalf("%q accepted as %q", s, got)
		}
		a, err := mail.ParseAddress(got)
		if err != nil || a.Address != got || a.Name != "" {
			t.Fatalf("%q accepted as %q, which net/mail reads as %v (%v)", s, got, a, err)
		}
		if again, err := CheckAddress(got); err != nil || again != got {
			t.Fatalf("%q accepted as %q, which is then %q (%v)", s, got, again, err)
		}
	})
}
