package simulator

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"time"

	"github.com/google/uuid"
	"github.com/lestrrat-go/jwx/v3/cert"
	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
)

// MinRSABits is the minimum RSA modulus size FIT-Connect accepts.
const MinRSABits = 4096

type keyRule struct {
	alg string // RSA-OAEP-256 or PS512
	op  string // wrapKey or verify
}

// checkPublicKey applies the rules of the Submission API's JWK schema and FIT-Connect's
// crypto requirements to a destination key. It returns the kid and the JSON to serve.
func checkPublicKey(key jwk.Key, rule keyRule) (kid string, js []byte, err error) {
	if key == nil {
		return "", nil, errors.New("missing")
	}
	if key.KeyType() != jwa.RSA() {
		return "", nil, fmt.Errorf("kty is %q, must be RSA", key.KeyType().String())
	}
	private, err := jwk.IsPrivateKey(key)
	if err != nil {
		return "", nil, fmt.Errorf("cannot tell whether it is private: %w", err)
	}
	if private {
		return "", nil, errors.New("contains a private part (d, p, q, …): register only the public key")
	}
	var pub rsa.PublicKey
	if err := jwk.Export(key, &pub); err != nil {
		return "", nil, fmt.Errorf("not a usable RSA public key: %w", err)
	}
	if pub.N == nil || pub.N.BitLen() < MinRSABits {
		bits := 0
		if pub.N != nil {
			bits = pub.N.BitLen()
		}
		return "", nil, fmt.Errorf("RSA modulus has %d bit, FIT-Connect requires at least %d", bits, MinRSABits)
	}
	if pub.E != 65537 {
		return "", nil, fmt.Errorf("exponent e is %d, must be 65537 (AQAB)", pub.E)
	}
	kid, ok := key.KeyID()
	if !ok || len(kid) < 8 || len(kid) > 64 {
		return "", nil, fmt.Errorf("kid %q must have 8-64 characters", kid)
	}
	alg, ok := key.Algorithm()
	if !ok {
		return "", nil, fmt.Errorf("alg is missing, must be %s", rule.alg)
	}
	if alg.String() != rule.alg {
		return "", nil, fmt.Errorf("alg is %q, must be %s", alg.String(), rule.alg)
	}
	ops, ok := key.KeyOps()
	if !ok || len(ops) != 1 || string(ops[0]) != rule.op {
		return "", nil, fmt.Errorf("key_ops is %v, must be exactly [%q]", []jwk.KeyOperation(ops), rule.op)
	}
	if use, ok := key.KeyUsage(); ok {
		want := "sig"
		if rule.op == "wrapKey" {
			want = "enc"
		}
		if use != want {
			return "", nil, fmt.Errorf("use is %q, contradicts key_ops [%q]", use, rule.op)
		}
	}
	chain, ok := key.X509CertChain()
	if !ok || chain == nil || chain.Len() == 0 {
		return "", nil, errors.New("x5c is missing: FIT-Connect requires the key's certificate (chain)")
	}
	first, _ := chain.Get(0)
	c, err := cert.Parse(first)
	if err != nil {
		return "", nil, fmt.Errorf("x5c[0] is not a certificate: %w", err)
	}
	cpub, ok := c.PublicKey.(*rsa.PublicKey)
	if !ok || !cpub.Equal(&pub) {
		return "", nil, errors.New("x5c[0] certifies a different public key than the JWK's n/e")
	}
	js, err = json.Marshal(key)
	if err != nil {
		return "", nil, fmt.Errorf("cannot serialise: %w", err)
	}
	return kid, js, nil
}

func isAbsURI(s string) bool {
	u, err := url.Parse(s)
	return err == nil && u.IsAbs() && (u.Host != "" || u.Opaque != "")
}

// serviceKey is the delivery service's own SET signing key.
type serviceKey struct {
	kid     string
	private jwk.Key
	public  jwk.Key
	jwks    []byte // {"keys":[public]}
}

func newServiceKey() (*serviceKey, error) {
	priv, err := rsa.GenerateKey(rand.Reader, MinRSABits)
	if err != nil {
		return nil, err
	}
	return serviceKeyFrom(priv)
}

// serviceKeyFrom wraps an RSA key as the service's signing key, with a self-signed
// certificate (SHA-512 with RSASSA-PSS) in x5c.
func serviceKeyFrom(priv *rsa.PrivateKey) (*serviceKey, error) {
	kid := uuid.NewString()
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "FIT-Connect Zustelldienst Simulator", Organization: []string{"amtsbote"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(1, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment,
		SignatureAlgorithm:    x509.SHA512WithRSAPSS,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		return nil, fmt.Errorf("self-signed certificate: %w", err)
	}
	var chain cert.Chain
	b64, _ := cert.EncodeBase64(der)
	if err := chain.Add(b64); err != nil {
		return nil, err
	}
	privKey, err := jwk.Import(priv)
	if err != nil {
		return nil, err
	}
	pubKey, err := jwk.Import(&priv.PublicKey)
	if err != nil {
		return nil, err
	}
	for _, kv := range []struct {
		k   jwk.Key
		ops jwk.KeyOperationList
	}{{privKey, jwk.KeyOperationList{jwk.KeyOpSign}}, {pubKey, jwk.KeyOperationList{jwk.KeyOpVerify}}} {
		for name, v := range map[string]any{
			jwk.KeyIDKey:         kid,
			jwk.AlgorithmKey:     jwa.PS512(),
			jwk.KeyOpsKey:        kv.ops,
			jwk.X509CertChainKey: &chain,
		} {
			if err := kv.k.Set(name, v); err != nil {
				return nil, fmt.Errorf("setting %s: %w", name, err)
			}
		}
	}
	js, err := json.Marshal(map[string]any{"keys": []jwk.Key{pubKey}})
	if err != nil {
		return nil, err
	}
	return &serviceKey{kid: kid, private: privKey, public: pubKey, jwks: js}, nil
}
