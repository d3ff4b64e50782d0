package fitconnect

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/lestrrat-go/jwx/v3/cert"
	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
)

// Use is what a key is for.
type Use int

const (
	// Encryption keys encrypt (public: key_ops wrapKey) and decrypt (private: unwrapKey) the
	// content encryption keys of submissions, with RSA-OAEP-256.
	Encryption Use = iota
	// Signing keys sign (private: key_ops sign) and verify (public: verify) Security Event
	// Tokens, with PS512.
	Signing
)

// MinRSABits is the key size FIT-Connect requires.
const MinRSABits = 4096

func (u Use) alg() string {
	if u == Encryption {
		return jwa.RSA_OAEP_256().String()
	}
	return jwa.PS512().String()
}

func (u Use) op(private bool) jwk.KeyOperation {
	switch {
	case u == Encryption && private:
		return jwk.KeyOpUnwrapKey
	case u == Encryption:
		return jwk.KeyOpWrapKey
	case private:
		return jwk.KeyOpSign
	}
	return jwk.KeyOpVerify
}

func (u Use) String() string {
	if u == Encryption {
		return "decryption"
	}
	return "signing"
}

// LoadPrivateKey reads a private JWK file and checks it is fit for its use: an RSA key of at
// least 4096 bits with its private part, a kid, key_ops naming the operation (unwrapKey for
// decryption, sign for signing) and, if it names one, the algorithm FIT-Connect uses.
func LoadPrivateKey(file string, use Use) (jwk.Key, error) {
	raw, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	key, err := parseJWK(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if err := CheckKey(key, use, true); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return key, nil
}

// parseJWK parses one JWK; a syntax error names its line and column.
func parseJWK(raw []byte) (jwk.Key, error) {
	var probe any
	if err := json.Unmarshal(raw, &probe); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			line, col := position(raw, se.Offset)
			return nil, fmt.Errorf("line %d, column %d: not JSON: %v", line, col, err)
		}
		return nil, fmt.Errorf("not JSON: %v", err)
	}
	if _, ok := probe.(map[string]any); !ok {
		return nil, errors.New("expected one JWK (a JSON object)")
	}
	key, err := jwk.ParseKey(raw)
	if err != nil {
		return nil, fmt.Errorf("not a JWK: %v", err)
	}
	return key, nil
}

// position is the line and column of the byte before offset (a json.SyntaxError's Offset is
// just after the offending byte).
func position(b []byte, offset int64) (line, col int) {
	offset = max(min(offset, int64(len(b)))-1, 0)
	line = 1 + bytes.Count(b[:offset], []byte("\n"))
	col = int(offset) - bytes.LastIndexByte(b[:offset], '\n')
	return line, col
}

// CheckKey checks a JWK for its use: private or public, RSA of at least 4096 bits with exponent
// 65537, a kid of 8 to 64 characters, key_ops with the operation and, if alg is set, the right
// algorithm. Public keys must carry a certificate chain (x5c), as FIT-Connect requires.
func CheckKey(key jwk.Key, use Use, private bool) error {
	if key.KeyType() != jwa.RSA() {
		return fmt.Errorf("kty is %s; FIT-Connect uses RSA keys", key.KeyType())
	}
	isPrivate, err := jwk.IsPrivateKey(key)
	if err != nil {
		return err
	}
	if private && !isPrivate {
		return fmt.Errorf("holds only the public part of the %s key; amtsbote needs the private key (d, p, q…)", use)
	}
	if !private && isPrivate {
		return fmt.Errorf("holds a private key; only the public part may leave amtsbote")
	}
	var pub rsa.PublicKey
	if private {
		var priv rsa.PrivateKey
		if err := jwk.Export(key, &priv); err != nil {
			return fmt.Errorf("not a usable RSA key: %v", err)
		}
		if err := priv.Validate(); err != nil {
			return fmt.Errorf("not a consistent RSA private key: %v", err)
		}
		pub = priv.PublicKey
	} else if err := jwk.Export(key, &pub); err != nil {
		return fmt.Errorf("not a usable RSA key: %v", err)
	}
	if bits := pub.N.BitLen(); bits < MinRSABits {
		return fmt.Errorf("the RSA key has %d bits; FIT-Connect requires %d", bits, MinRSABits)
	}
	if pub.E != 65537 {
		return fmt.Errorf("the RSA exponent is %d; FIT-Connect requires 65537 (AQAB)", pub.E)
	}
	kid, _ := key.KeyID()
	if len(kid) < 8 || len(kid) > 64 {
		return fmt.Errorf("kid %q must have 8 to 64 characters", kid)
	}
	want := use.op(private)
	ops, ok := key.KeyOps()
	if !ok || !slices.Contains(ops, want) {
		return fmt.Errorf("key_ops must contain %q for a %s %s key, has %v", want, map[bool]string{true: "private", false: "public"}[private], use, []jwk.KeyOperation(ops))
	}
	for _, op := range ops {
		if op != want {
			return fmt.Errorf("key_ops %v: a %s key is for %q only", []jwk.KeyOperation(ops), use, want)
		}
	}
	if alg, ok := key.Algorithm(); ok && alg.String() != use.alg() {
		return fmt.Errorf("alg is %s; a %s key uses %s", alg, use, use.alg())
	}
	if !private {
		if !ok {
			return fmt.Errorf("alg must be %s", use.alg())
		}
		if chain, ok := key.X509CertChain(); !ok || chain.Len() == 0 {
			return errors.New("x5c must hold the key's certificate (chain)")
		}
	}
	return nil
}

// KeyID is a key's kid.
func KeyID(key jwk.Key) string {
	kid, _ := key.KeyID()
	return kid
}

// KeyRing holds the private decryption keys of a subscription, by kid.
type KeyRing struct {
	keys map[string]jwk.Key
	kids []string
}

// rawKeys caches the RSA form of private JWKs with their CRT values computed once: converting
// (and precomputing) on every operation cost 5 % of a submission's checks.
var rawKeys sync.Map // jwk.Key → *rsa.PrivateKey

// rawPrivate returns a private JWK as a precomputed *rsa.PrivateKey, or the JWK itself if it is
// not one (the JOSE library then converts it).
func rawPrivate(k jwk.Key) any {
	if v, ok := rawKeys.Load(k); ok {
		return v
	}
	var priv rsa.PrivateKey
	if err := jwk.Export(k, &priv); err != nil || priv.D == nil {
		return k
	}
	priv.Precompute()
	v, _ := rawKeys.LoadOrStore(k, &priv)
	return v
}

// NewKeyRing makes a key ring; two keys with one kid are an error.
func NewKeyRing(keys ...jwk.Key) (*KeyRing, error) {
	r := &KeyRing{keys: map[string]jwk.Key{}}
	for _, k := range keys {
		kid := KeyID(k)
		if _, dup := r.keys[kid]; dup {
			return nil, fmt.Errorf("two decryption keys have kid %q", kid)
		}
		r.keys[kid] = k
		r.kids = append(r.kids, kid)
	}
	return r, nil
}

// Key returns the key with the kid.
func (r *KeyRing) Key(kid string) (jwk.Key, bool) {
	k, ok := r.keys[kid]
	return k, ok
}

// KIDs lists the ring's key ids in configuration order.
func (r *KeyRing) KIDs() []string { return slices.Clone(r.kids) }

// GeneratedKeys are a destination's key pairs as FITKO's self-service portal takes them: the
// public parts to upload, the private parts for amtsbote's configuration.
type GeneratedKeys struct {
	EncryptionPrivate, EncryptionPublic jwk.Key
	SigningPrivate, SigningPublic       jwk.Key
}

// GenerateKeys makes an encryption and a signing key pair (RSA 4096). The public keys carry a
// self-signed certificate in x5c, which FITKO's test environment accepts; production needs
// certificates of the Verwaltungs-PKI instead (docs/fitconnect.md).
func GenerateKeys(commonName string) (*GeneratedKeys, error) {
	var out GeneratedKeys
	for _, use := range []Use{Encryption, Signing} {
		priv, pub, err := generatePair(use, commonName)
		if err != nil {
			return nil, err
		}
		if use == Encryption {
			out.EncryptionPrivate, out.EncryptionPublic = priv, pub
		} else {
			out.SigningPrivate, out.SigningPublic = priv, pub
		}
	}
	return &out, nil
}

func generatePair(use Use, commonName string) (jwk.Key, jwk.Key, error) {
	rk, err := rsa.GenerateKey(rand.Reader, MinRSABits)
	if err != nil {
		return nil, nil, err
	}
	kid := uuid.NewString()
	priv, err := jwk.Import(rk)
	if err != nil {
		return nil, nil, err
	}
	pub, err := jwk.Import(&rk.PublicKey)
	if err != nil {
		return nil, nil, err
	}
	der, err := selfSigned(rk, commonName, use)
	if err != nil {
		return nil, nil, err
	}
	var chain cert.Chain
	if err := chain.AddString(base64.StdEncoding.EncodeToString(der)); err != nil {
		return nil, nil, err
	}
	for _, k := range []struct {
		key     jwk.Key
		private bool
	}{{priv, true}, {pub, false}} {
		sets := map[string]any{
			jwk.KeyIDKey:     kid,
			jwk.AlgorithmKey: use.alg(),
			jwk.KeyOpsKey:    jwk.KeyOperationList{use.op(k.private)},
		}
		if !k.private {
			sets[jwk.X509CertChainKey] = &chain
		}
		for name, v := range sets {
			if err := k.key.Set(name, v); err != nil {
				return nil, nil, fmt.Errorf("set %s: %w", name, err)
			}
		}
	}
	return priv, pub, nil
}

func selfSigned(key *rsa.PrivateKey, commonName string, use Use) ([]byte, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	usage := x509.KeyUsageKeyEncipherment
	if use == Signing {
		usage = x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment
	}
	tmpl := &x509.Certificate{
		SerialNumber:       serial,
		Subject:            pkix.Name{CommonName: commonName, Organization: []string{"amtsbote"}},
		NotBefore:          time.Now().Add(-time.Hour),
		NotAfter:           time.Now().AddDate(2, 0, 0),
		KeyUsage:           usage,
		SignatureAlgorithm: x509.SHA512WithRSAPSS,
	}
	return x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
}
