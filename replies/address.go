package replies

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"unicode/utf8"
)

// MetaKey is the key of the reply channel (an Address) in a submission's Meta.
const MetaKey = "reply_channel"

// Limits of an Address as a portal hands it in.
const (
	MaxEmailBytes        = 254
	MaxPGPPublicKeyBytes = 64 << 10
	MaxPostalLines       = 6
	MaxPostalLineBytes   = 200
)

// AddressFromMeta reads the reply channel from a submission's Meta (the JSON object under
// MetaKey). A submission that named none, or whose Meta retention purged, has the zero Address.
func AddressFromMeta(meta []byte) (Address, error) {
	if len(bytes.TrimSpace(meta)) == 0 {
		return Address{}, nil
	}
	var m struct {
		ReplyChannel *Address `json:"reply_channel"`
	}
	if err := json.Unmarshal(meta, &m); err != nil {
		return Address{}, fmt.Errorf("the submission's meta: %s: %w", MetaKey, err)
	}
	if m.ReplyChannel == nil {
		return Address{}, nil
	}
	return *m.ReplyChannel, nil
}

// MetaWithAddress sets the reply channel in a submission's Meta (a JSON object, or empty),
// keeping what else it holds.
func MetaWithAddress(meta []byte, a Address) ([]byte, error) {
	m := map[string]json.RawMessage{}
	if len(bytes.TrimSpace(meta)) > 0 {
		if err := json.Unmarshal(meta, &m); err != nil {
			return nil, fmt.Errorf("the submission's meta is not a JSON object: %w", err)
		}
	}
	raw, err := json.Marshal(a)
	if err != nil {
		return nil, err
	}
	m[MetaKey] = raw
	return json.Marshal(m)
}

// Problem names one thing wrong with what was handed in: the field (as in
// documents[1].filename) and what is wrong with it.
type Problem struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// CheckAddress checks a reply channel as a portal names it: one e-mail address, an
// ASCII-armoured OpenPGP public key only with it, at most MaxPostalLines lines of a postal
// address. Fields are named as in the request (email, pgp_public_key, postal[2]).
func CheckAddress(a Address) []Problem {
	var problems []Problem
	add := func(field string, err error) {
		problems = append(problems, Problem{Field: field, Message: err.Error()})
	}
	if a.Email == "" && len(a.Postal) == 0 && a.FitConnect == nil {
		add("", errors.New("names no way to reach the applicant: give email or postal"))
	}
	if a.Email != "" {
		if err := CheckEmail(a.Email); err != nil {
			add("email", err)
		}
	}
	if a.PGPPublicKey != "" {
		if a.Email == "" {
			add("pgp_public_key", errors.New("encrypts e-mail: it needs email"))
		} else if err := CheckPGPPublicKey(a.PGPPublicKey); err != nil {
			add("pgp_public_key", err)
		}
	}
	if len(a.Postal) > MaxPostalLines {
		add("postal", fmt.Errorf("has %d lines; an address has at most %d", len(a.Postal), MaxPostalLines))
	} else {
		for i, line := range a.Postal {
			field := fmt.Sprintf("postal[%d]", i)
			switch {
			case strings.TrimSpace(line) == "":
				add(field, errors.New("is empty"))
			case len(line) > MaxPostalLineBytes:
				add(field, fmt.Errorf("is %d bytes; a line has at most %d", len(line), MaxPostalLineBytes))
			case strings.ContainsFunc(line, isControl):
				add(field, errors.New("holds a control character (a line break?): give one line per element"))
			}
		}
	}
	return problems
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) }

// CheckEmail accepts one bare e-mail address (name@example.org): no display name, no list,
// a domain name with a dot (no address literal).
func CheckEmail(s string) error {
	if len(s) > MaxEmailBytes {
		return fmt.Errorf("is %d bytes; an e-mail address has at most %d", len(s), MaxEmailBytes)
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s {
		return fmt.Errorf("%q is not one e-mail address such as name@example.org", s)
	}
	at := strings.LastIndexByte(s, '@')
	domain := s[at+1:]
	if !strings.Contains(domain, ".") || strings.HasPrefix(domain, "[") || strings.HasSuffix(domain, ".") {
		return fmt.Errorf("%q: the domain %q is not a domain name such as example.org", s, domain)
	}
	return nil
}

const (
	armorPublic  = "-----BEGIN PGP PUBLIC KEY BLOCK-----"
	armorEnd     = "-----END PGP PUBLIC KEY BLOCK-----"
	armorPrivate = "-----BEGIN PGP PRIVATE KEY BLOCK-----"
)

// CheckPGPPublicKey accepts an ASCII-armoured OpenPGP public key (RFC 9580: a "PGP PUBLIC
// KEY BLOCK" whose first packet is a public key), of at most MaxPGPPublicKeyBytes. The
// checksum line, where present, must match. It does not judge the key's algorithms: the
// e-mail channel does when it encrypts.
func CheckPGPPublicKey(s string) error {
	if len(s) > MaxPGPPublicKeyBytes {
		return fmt.Errorf("is %d bytes; the limit is %d", len(s), MaxPGPPublicKeyBytes)
	}
	if !utf8.ValidString(s) {
		return errors.New("is not text")
	}
	lines := strings.Split(strings.ReplaceAll(strings.TrimSpace(s), "\r\n", "\n"), "\n")
	for i := range lines {
		lines[i] = strings.TrimRight(lines[i], " \t")
	}
	switch {
	case lines[0] == armorPrivate:
		return errors.New("is a PRIVATE key: send only the public key, and treat the private one as disclosed")
	case lines[0] != armorPublic:
		return fmt.Errorf("must be an ASCII-armoured public key starting with %s", armorPublic)
	case len(lines) < 3 || lines[len(lines)-1] != armorEnd:
		return fmt.Errorf("must end with %s", armorEnd)
	}
	body := lines[1 : len(lines)-1]
	// Armour headers (Version: …, Comment: …) up to an empty line.
	if len(body) > 0 && strings.Contains(body[0], ": ") {
		for len(body) > 0 && body[0] != "" {
			if !strings.Contains(body[0], ": ") {
				return fmt.Errorf("armour header %q is not Key: Value, or the empty line after the headers is missing", body[0])
			}
			body = body[1:]
		}
	}
	var b64 strings.Builder
	checksum := ""
	for i, line := range body {
		switch {
		case line == "":
			continue
		case strings.HasPrefix(line, "=") && i == len(body)-1:
			checksum = line[1:]
		default:
			b64.WriteString(line)
		}
	}
	data, err := base64.StdEncoding.DecodeString(b64.String())
	if err != nil || len(data) == 0 {
		return errors.New("the armoured data is not base64")
	}
	if checksum != "" {
		want, err := base64.StdEncoding.DecodeString(checksum)
		if err != nil || len(want) != 3 {
			return errors.New("the armour checksum line is not base64 of 3 bytes")
		}
		got := crc24(data)
		if want[0] != byte(got>>16) || want[1] != byte(got>>8) || want[2] != byte(got) {
			return errors.New("the armour checksum does not match: the key was changed or cut")
		}
	}
	if tag := packetTag(data[0]); tag != 6 {
		return fmt.Errorf("the first packet is not a public key (packet tag %d)", tag)
	}
	return nil
}

// packetTag is the tag of an OpenPGP packet from its first byte (old or new format), -1 if the
// byte starts no packet.
func packetTag(b byte) int {
	switch {
	case b&0x80 == 0:
		return -1
	case b&0x40 != 0:
		return int(b & 0x3f)
	}
	return int(b>>2) & 0x0f
}

// crc24 is the armour checksum (RFC 9580, 6.1).
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
