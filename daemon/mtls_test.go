package daemon_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newCA(t *testing.T, name string) *testCA {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name}, IsCA: true,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue returns a certificate and key (PEM) for cn, for a server (with 127.0.0.1) or a client.
func (ca *testCA) issue(t *testing.T, cn string, server bool) (certPEM, keyPEM []byte) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}

// A portal may authenticate with a client certificate instead of a token; a certificate of an
// unknown CA or an unknown name gets nowhere.
func TestPortalClientCertificates(t *testing.T) {
	dir := t.TempDir()
	ca, other := newCA(t, "Landes-CA"), newCA(t, "Fremde CA")
	srvCert, srvKey := ca.issue(t, "amtsbote", true)
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, b, 0o600)
		return p
	}
	cfg := testConfig(t)
	cfg.Server.TLSCertFile, cfg.Server.TLSKeyFile = write("srv.pem", srvCert), write("srv.key", srvKey)
	cfg.Server.ClientCAFile = write("ca.pem", ca.pem)
	cfg.Portals[1].ClientCertCN = "landesportal.example"
	h := start(t, cfg)
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ca.pem)
	client := func(issuer *testCA, cn string) *http.Client {
		tc := &tls.Config{RootCAs: roots}
		if issuer != nil {
			c, k := issuer.issue(t, cn, false)
			pair, _ := tls.X509KeyPair(c, k)
			tc.Certificates = []tls.Certificate{pair}
		}
		return &http.Client{Transport: &http.Transport{TLSClientConfig: tc}, Timeout: 10 * time.Second}
	}
	body := mustJSON(t, demoSubmission(t))
	url := "https://" + h.d.Addr() + "/v1/submissions"
	tests := []struct {
		name   string
		client *http.Client
		token  string
		want   int
	}{
		{"portal certificate", client(ca, "landesportal.example"), "", 202},
		{"token over TLS", client(nil, ""), demoToken, 202},
		{"certificate of an unknown name", client(ca, "irgendwer.example"), "", 401},
		{"certificate of another CA", client(other, "landesportal.example"), "", 401},
		{"neither", client(nil, ""), "", 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
			if tt.token != "" {
				req.Header.Set("Authorization", "Bearer "+tt.token)
			}
			res, err := tt.client.Do(req)
			if err != nil {
				if tt.want == 401 {
					return // the TLS layer refused the foreign certificate
				}
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != tt.want {
				t.Fatalf("%d, want %d", res.StatusCode, tt.want)
			}
		})
	}
}
