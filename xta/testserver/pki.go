package testserver

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	pkcs12 "software.sslmate.com/src/go-pkcs12"
)

// PKI is a test CA with a server certificate for localhost and a client certificate, as files
// in Dir: ca.pem, server.pem, server.key, client.pem, client.key and client.p12 (password
// "test"). It is for tests and trying amtsbote out only.
type PKI struct {
	Dir  string
	CA   *x509.Certificate
	key  *ecdsa.PrivateKey
	Pool *x509.CertPool
}

// Files of a PKI.
const (
	CAFile          = "ca.pem"
	caKeyFile       = "ca.key"
	ServerCertFile  = "server.pem"
	ServerKeyFile   = "server.key"
	ClientCertFile  = "client.pem"
	ClientKeyFile   = "client.key"
	ClientP12File   = "client.p12"
	ClientP12Secret = "test"
)

// NewPKI makes a CA named name and the certificates in dir (created if missing). The client
// certificate's common name is clientCN.
func NewPKI(dir, name, clientCN string) (*PKI, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: serial(), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(10 * 365 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	ca, _ := x509.ParseCertificate(der)
	p := &PKI{Dir: dir, CA: ca, key: key, Pool: x509.NewCertPool()}
	p.Pool.AddCert(ca)
	if err := writePEM(filepath.Join(dir, CAFile), "CERTIFICATE", der); err != nil {
		return nil, err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	if err := writePEM(filepath.Join(dir, caKeyFile), "PRIVATE KEY", kder); err != nil {
		return nil, err
	}
	if _, err := p.Issue(ServerCertFile, ServerKeyFile, "localhost", true); err != nil {
		return nil, err
	}
	cert, err := p.Issue(ClientCertFile, ClientKeyFile, clientCN, false)
	if err != nil {
		return nil, err
	}
	p12, err := pkcs12.Modern.Encode(cert.PrivateKey, cert.Leaf, []*x509.Certificate{ca}, ClientP12Secret)
	if err != nil {
		return nil, err
	}
	return p, os.WriteFile(filepath.Join(dir, ClientP12File), p12, 0o600)
}

// OpenPKI loads the PKI in dir if there is one (so that configurations pointing at its files
// stay valid across restarts), else makes one as NewPKI does.
func OpenPKI(dir, name, clientCN string) (*PKI, error) {
	certPEM, err1 := os.ReadFile(filepath.Join(dir, CAFile))
	keyPEM, err2 := os.ReadFile(filepath.Join(dir, caKeyFile))
	if err1 != nil || err2 != nil {
		return NewPKI(dir, name, clientCN)
	}
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return nil, fmt.Errorf("%s: %s or %s is damaged; remove the directory to make a new test PKI", dir, CAFile, caKeyFile)
	}
	ca, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	key, ok := k.(*ecdsa.PrivateKey)
	if err != nil || !ok {
		return nil, fmt.Errorf("%s: %s is not the CA's EC key", dir, caKeyFile)
	}
	p := &PKI{Dir: dir, CA: ca, key: key, Pool: x509.NewCertPool()}
	p.Pool.AddCert(ca)
	return p, nil
}

// Issue makes a certificate signed by the CA, for a server (localhost, 127.0.0.1, ::1) or a
// client, and writes it and its key into the PKI's directory.
func (p *PKI) Issue(certFile, keyFile, cn string, server bool) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{SerialNumber: serial(), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(5 * 365 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.DNSNames = []string{"localhost"}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.CA, &key.PublicKey, p.key)
	if err != nil {
		return tls.Certificate{}, err
	}
	leaf, _ := x509.ParseCertificate(der)
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return tls.Certificate{}, err
	}
	if err := writePEM(filepath.Join(p.Dir, certFile), "CERTIFICATE", der); err != nil {
		return tls.Certificate{}, err
	}
	if err := writePEM(filepath.Join(p.Dir, keyFile), "PRIVATE KEY", kder); err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

// ServerTLS is the server's TLS configuration: its certificate, and client certificates
// required and verified against the CA.
func (p *PKI) ServerTLS() (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(filepath.Join(p.Dir, ServerCertFile), filepath.Join(p.Dir, ServerKeyFile))
	if err != nil {
		return nil, err
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert},
		ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: p.Pool}, nil
}

// Path is the path of one of the PKI's files.
func (p *PKI) Path(file string) string { return filepath.Join(p.Dir, file) }

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	return n
}

func writePEM(path, typ string, der []byte) error {
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
