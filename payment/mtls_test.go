package payment_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/amtsbote/amtsbote/payment"
	"github.com/amtsbote/amtsbote/payment/simulator"
)

// issue makes a certificate signed by ca (self-signed if ca is nil) and writes it and its key
// as PEM files.
func issue(t *testing.T, dir, name string, ca *x509.Certificate, caKey *ecdsa.PrivateKey, server bool) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	switch {
	case ca == nil:
		tmpl.IsCA, tmpl.BasicConstraintsValid, tmpl.KeyUsage = true, true, x509.KeyUsageCertSign
		ca, caKey = tmpl, key
	case server:
		tmpl.ExtKeyUsage, tmpl.IPAddresses = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, []net.IP{net.ParseIP("127.0.0.1")}
	default:
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	keyDER, _ := x509.MarshalECPrivateKey(key)
	os.WriteFile(filepath.Join(dir, name+".pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(filepath.Join(dir, name+".key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600)
	return cert, key
}

// A platform that authenticates by client certificate (mutual TLS) is read with the
// certificate alone; its own certificate is checked against the configured CAs.
func TestClientMutualTLS(t *testing.T) {
	dir := t.TempDir()
	ca, caKey := issue(t, dir, "ca", nil, nil, false)
	issue(t, dir, "platform", ca, caKey, true)
	issue(t, dir, "amtsbote", ca, caKey, false)
	sim, err := simulator.New(simulator.Config{
		Endpoints:    []simulator.Endpoint{{OriginatorID: originator, EndpointID: endpoint}},
		Clients:      []simulator.Client{{ID: "amtsbote", CertCN: "amtsbote", Endpoints: []string{originator + "/" + endpoint}}},
		Transactions: []simulator.Transaction{{ID: "TX-1", OriginatorID: originator, EndpointID: endpoint}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	ts := httptest.NewUnstartedServer(sim.Handler())
	serverCert, err := tls.LoadX509KeyPair(filepath.Join(dir, "platform.pem"), filepath.Join(dir, "platform.key"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	ts.TLS = &tls.Config{Certificates: []tls.Certificate{serverCert}, ClientCAs: pool, ClientAuth: tls.VerifyClientCertIfGiven}
	ts.StartTLS()
	defer ts.Close()
	opts := payment.Options{Provider: "epay", BaseURL: ts.URL, OriginatorID: originator, EndpointID: endpoint,
		Auth: payment.Auth{Type: "none"}, CAFile: filepath.Join(dir, "ca.pem"),
		ClientCertFile: filepath.Join(dir, "amtsbote.pem"), ClientKeyFile: filepath.Join(dir, "amtsbote.key")}
	c, err := payment.NewClient(opts)
	if err != nil {
		t.Fatal(err)
	}
	if tx, err := c.Transaction(context.Background(), "TX-1"); err != nil || tx.Information.Status != payment.StatusInitial {
		t.Fatalf("with the certificate: %+v %v", tx, err)
	}
	opts.ClientCertFile, opts.ClientKeyFile = "", ""
	c, _ = payment.NewClient(opts)
	if _, err := c.Transaction(context.Background(), "TX-1"); err == nil || !strings.Contains(err.Error(), "HTTP 401") {
		t.Fatalf("without: %v", err)
	}
	opts.CAFile = ""
	c, _ = payment.NewClient(opts)
	if _, err := c.Transaction(context.Background(), "TX-1"); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("a platform certificate of an unknown CA: %v", err)
	}
	opts.CAFile = filepath.Join(dir, "nowhere.pem")
	if _, err := payment.NewClient(opts); err == nil || !strings.Contains(err.Error(), "ca_file") {
		t.Fatalf("a missing CA file: %v", err)
	}
}
