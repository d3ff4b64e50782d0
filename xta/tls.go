package xta

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"

	pkcs12 "software.sslmate.com/src/go-pkcs12"
)

// TLSOptions are amtsbote's credentials towards an XTA server: the client certificate that
// authenticates the account (PEM certificate and key, or a PKCS#12 file) and the CAs that may
// issue the server's certificate.
type TLSOptions struct {
	// CAFile is a PEM bundle of the CAs that may issue the server's certificate. Default: the
	// system's CAs.
	CAFile string `mapstructure:"ca_file"`
	// ClientCertFile and ClientKeyFile are the client certificate and its key (PEM, the key
	// without passphrase).
	ClientCertFile string `mapstructure:"client_cert_file"`
	ClientKeyFile  string `mapstructure:"client_key_file"`
	// PKCS12File is the client certificate with its key as PKCS#12 (.p12/.pfx), as brokers
	// usually hand them out; PKCS12Password its password. Instead of client_cert_file/key_file.
	PKCS12File     string `mapstructure:"pkcs12_file"`
	PKCS12Password string `mapstructure:"pkcs12_password"`
}

// Config reads the files and builds the TLS configuration (TLS 1.2 at least). prefix names the
// options in errors, e.g. "options.".
func (o TLSOptions) Config(prefix string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	switch {
	case o.PKCS12File != "" && (o.ClientCertFile != "" || o.ClientKeyFile != ""):
		return nil, fmt.Errorf("%spkcs12_file and %sclient_cert_file/client_key_file are alternatives: set one", prefix, prefix)
	case (o.ClientCertFile == "") != (o.ClientKeyFile == ""):
		return nil, fmt.Errorf("%sclient_cert_file and %sclient_key_file go together", prefix, prefix)
	case o.PKCS12File == "" && o.ClientCertFile == "":
		return nil, fmt.Errorf("XTA servers authenticate by client certificate: set %sclient_cert_file and %sclient_key_file (PEM) or %spkcs12_file", prefix, prefix, prefix)
	case o.PKCS12Password != "" && o.PKCS12File == "":
		return nil, fmt.Errorf("%spkcs12_password needs %spkcs12_file", prefix, prefix)
	}
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("%sca_file: %w", prefix, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%sca_file %s holds no PEM certificate (expected -----BEGIN CERTIFICATE-----)", prefix, o.CAFile)
		}
		cfg.RootCAs = pool
	}
	if o.ClientCertFile != "" {
		cert, err := tls.LoadX509KeyPair(o.ClientCertFile, o.ClientKeyFile)
		if err != nil {
			return nil, fmt.Errorf("%sclient_cert_file %s / %sclient_key_file %s: %w (both PEM, the key without passphrase)", prefix, o.ClientCertFile, prefix, o.ClientKeyFile, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
		return cfg, nil
	}
	cert, err := LoadPKCS12(o.PKCS12File, o.PKCS12Password)
	if err != nil {
		return nil, fmt.Errorf("%spkcs12_file %s: %w", prefix, o.PKCS12File, err)
	}
	cfg.Certificates = []tls.Certificate{cert}
	return cfg, nil
}

// LoadPKCS12 reads a certificate with its key and chain from a PKCS#12 file.
func LoadPKCS12(path, password string) (tls.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return tls.Certificate{}, err
	}
	key, cert, chain, err := pkcs12.DecodeChain(data, password)
	if err != nil {
		if errors.Is(err, pkcs12.ErrIncorrectPassword) {
			return tls.Certificate{}, errors.New("the password (pkcs12_password) does not open it")
		}
		return tls.Certificate{}, fmt.Errorf("not a PKCS#12 file with one certificate and its key: %w", err)
	}
	out := tls.Certificate{PrivateKey: key, Leaf: cert, Certificate: [][]byte{cert.Raw}}
	for _, c := range chain {
		out.Certificate = append(out.Certificate, c.Raw)
	}
	return out, nil
}
