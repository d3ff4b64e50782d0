package email

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// MinRSABits is the smallest RSA (and DSA, ElGamal) key accepted, as BSI TR-02102-1 asks.
const MinRSABits = 2048

// maxKeyBytes bounds an armoured key; real ones, with their signatures, stay far below.
const maxKeyBytes = 1 << 20

// PublicKey is an applicant's OpenPGP key, checked: one certificate, public only, neither
// expired nor revoked, strong enough, with a key that may encrypt.
type PublicKey struct {
	entity *openpgp.Entity
	// Fingerprint of the primary key (upper-case hex), and of the (sub)key mails are encrypted to.
	Fingerprint, EncryptionFingerprint string
}

// ParsePublicKey reads an ASCII-armoured OpenPGP public key and checks it as of now. The error
// ("OpenPGP key … is revoked") says what is wrong with the key, for the applicant or the portal
// to fix; it is a permanent failure for the reply.
func ParsePublicKey(armored string, now time.Time) (*PublicKey, error) {
	key, err := parsePublicKey(armored, now)
	if err != nil {
		if key != nil {
			return nil, fmt.Errorf("OpenPGP key %s %w", key.Fingerprint, err)
		}
		return nil, fmt.Errorf("OpenPGP key %w", err)
	}
	return key, nil
}

// parsePublicKey returns the problem as a predicate, and the key as far as it was read.
func parsePublicKey(armored string, now time.Time) (key *PublicKey, err error) {
	// The parser is a library's, fed with what an applicant sent: whatever it trips over is a
	// key that cannot be read, not a crash of the process.
	defer func() {
		if r := recover(); r != nil {
			key, err = nil, fmt.Errorf("cannot be read (%v)", r)
		}
	}()
	if len(armored) > maxKeyBytes {
		return nil, fmt.Errorf("is %d bytes long, more than the %d a public key may have", len(armored), maxKeyBytes)
	}
	if !strings.Contains(armored, "-----BEGIN PGP") {
		return nil, errors.New("is not ASCII-armoured: expected a block starting with -----BEGIN PGP PUBLIC KEY BLOCK-----")
	}
	block, err := armor.Decode(strings.NewReader(armored))
	if err != nil {
		return nil, fmt.Errorf("is not a readable ASCII-armoured block (%v)", err)
	}
	switch block.Type {
	case openpgp.PublicKeyType:
	case openpgp.PrivateKeyType:
		return nil, errors.New("is a private key (PGP PRIVATE KEY BLOCK) instead of a public one: only the public key may be given; the private key should be considered disclosed and replaced")
	default:
		return nil, fmt.Errorf("is a %q block, not a %q", block.Type, openpgp.PublicKeyType)
	}
	body, err := io.ReadAll(io.LimitReader(block.Body, maxKeyBytes))
	if err != nil {
		return nil, fmt.Errorf("has a damaged armour (%v)", err)
	}
	entities, err := openpgp.ReadKeyRing(bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("cannot be read (%v)", err)
	}
	switch len(entities) {
	case 0:
		return nil, errors.New("block holds no key")
	case 1:
	default:
		return nil, fmt.Errorf("block holds %d keys: give exactly the one mails are to be encrypted to", len(entities))
	}
	e := entities[0]
	key = &PublicKey{entity: e, Fingerprint: fingerprint(e.PrimaryKey)}
	private := e.PrivateKey != nil
	for _, sub := range e.Subkeys {
		private = private || sub.PrivateKey != nil
	}
	if private {
		return key, errors.New("is a private key instead of a public one: only the public key may be given; the private key should be considered disclosed and replaced")
	}
	if err := checkStrength(e.PrimaryKey); err != nil {
		return key, err
	}
	if e.Revoked(now) {
		return key, fmt.Errorf("is revoked%s", revocationReason(e.Revocations))
	}
	selfSig, identity := e.PrimarySelfSignature()
	switch {
	case selfSig == nil:
		return key, errors.New("has no valid self-signature")
	case e.PrimaryKey.CreationTime.After(now):
		return key, fmt.Errorf("is created in the future (%s): check the clock of the machine that made it", formatTime(e.PrimaryKey.CreationTime))
	case e.PrimaryKey.KeyExpired(selfSig, now):
		return key, fmt.Errorf("expired on %s", formatTime(expiry(e.PrimaryKey, selfSig)))
	case selfSig.SigExpired(now):
		return key, errors.New("has an expired self-signature: its owner must renew it")
	case identity != nil && identity.Revoked(now):
		return key, fmt.Errorf("has its user ID %q revoked", oneLine(identity.Name))
	}
	enc, ok := e.EncryptionKey(now)
	if !ok {
		return key, fmt.Errorf("has no key that may encrypt%s", whyNoEncryptionKey(e, now))
	}
	key.EncryptionFingerprint = fingerprint(enc.PublicKey)
	if err := checkStrength(enc.PublicKey); err != nil {
		return key, fmt.Errorf("has an encryption subkey %s that %w", key.EncryptionFingerprint, err)
	}
	return key, nil
}

func fingerprint(pk *packet.PublicKey) string {
	return strings.ToUpper(fmt.Sprintf("%x", pk.Fingerprint))
}

func formatTime(t time.Time) string { return t.In(berlin).Format("02.01.2006 15:04 MST") }

func expiry(pk *packet.PublicKey, sig *packet.Signature) time.Time {
	if sig.KeyLifetimeSecs == nil {
		return time.Time{}
	}
	return pk.CreationTime.Add(time.Duration(*sig.KeyLifetimeSecs) * time.Second)
}

func revocationReason(revocations []*packet.Signature) string {
	for _, r := range revocations {
		if r.RevocationReasonText != "" {
			return fmt.Sprintf(" (%q)", strings.Map(func(r rune) rune {
				if r < ' ' || r == 0x7f {
					return ' '
				}
				return r
			}, r.RevocationReasonText))
		}
	}
	return ""
}

// checkStrength refuses RSA, DSA and ElGamal keys below MinRSABits.
func checkStrength(pk *packet.PublicKey) error {
	switch pk.PubKeyAlgo {
	case packet.PubKeyAlgoRSA, packet.PubKeyAlgoRSAEncryptOnly, packet.PubKeyAlgoRSASignOnly, packet.PubKeyAlgoDSA, packet.PubKeyAlgoElGamal:
		bits, err := pk.BitLength()
		if err != nil {
			return fmt.Errorf("has an unreadable key size (%v)", err)
		}
		if bits < MinRSABits {
			return fmt.Errorf("is %s with %d bits: too weak, at least %d bits are needed", algorithmName(pk.PubKeyAlgo), bits, MinRSABits)
		}
	}
	return nil
}

func algorithmName(a packet.PublicKeyAlgorithm) string {
	switch a {
	case packet.PubKeyAlgoRSA, packet.PubKeyAlgoRSAEncryptOnly, packet.PubKeyAlgoRSASignOnly:
		return "RSA"
	case packet.PubKeyAlgoDSA:
		return "DSA"
	case packet.PubKeyAlgoElGamal:
		return "ElGamal"
	}
	return fmt.Sprintf("algorithm %d", a)
}

// whyNoEncryptionKey explains EncryptionKey's refusal: the (sub)keys flagged for encryption
// and what is wrong with each.
func whyNoEncryptionKey(e *openpgp.Entity, now time.Time) string {
	var reasons []string
	for _, sub := range e.Subkeys {
		if sub.Sig == nil || !sub.Sig.FlagsValid || !sub.Sig.FlagEncryptCommunications {
			continue
		}
		fp := fingerprint(sub.PublicKey)
		switch {
		case !sub.PublicKey.PubKeyAlgo.CanEncrypt():
			reasons = append(reasons, fmt.Sprintf("subkey %s has an algorithm that cannot encrypt", fp))
		case sub.Revoked(now):
			reasons = append(reasons, fmt.Sprintf("subkey %s is revoked", fp))
		case sub.PublicKey.CreationTime.After(now):
			reasons = append(reasons, fmt.Sprintf("subkey %s is created in the future", fp))
		case sub.PublicKey.KeyExpired(sub.Sig, now):
			reasons = append(reasons, fmt.Sprintf("subkey %s expired on %s", fp, formatTime(expiry(sub.PublicKey, sub.Sig))))
		case sub.Sig.SigExpired(now):
			reasons = append(reasons, fmt.Sprintf("the binding signature of subkey %s expired", fp))
		}
	}
	if len(reasons) == 0 {
		return ": it has no encryption subkey (it may only sign or certify)"
	}
	return ": " + strings.Join(reasons, "; ")
}

// encryptConfig is how mails are encrypted: AES-256 where the key's preferences allow it,
// AEAD (SEIPDv2) only if the key says its owner's software reads it, no compression.
func encryptConfig(now time.Time) *packet.Config {
	return &packet.Config{
		DefaultCipher: packet.CipherAES256,
		AEADConfig:    &packet.AEADConfig{},
		Time:          func() time.Time { return now },
	}
}

// encrypt returns the writer of the plaintext; what is written comes out armoured in w.
// Close the plaintext writer, then the armour writer.
func (k *PublicKey) encrypt(w io.Writer, now time.Time) (plaintext, armour io.WriteCloser, err error) {
	armour, err = armor.Encode(w, "PGP MESSAGE", nil)
	if err != nil {
		return nil, nil, err
	}
	plaintext, err = openpgp.Encrypt(armour, []*openpgp.Entity{k.entity}, nil, &openpgp.FileHints{IsBinary: true}, encryptConfig(now))
	if err != nil {
		return nil, nil, err
	}
	return plaintext, armour, nil
}
