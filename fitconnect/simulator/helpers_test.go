package simulator

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/lestrrat-go/jwx/v3/cert"
	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwe"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
)

// Test keys, generated once per test binary (RSA 4096 is slow).
var (
	encPriv, sigPriv, svcPriv *rsa.PrivateKey
	encPub, sigPub            jwk.Key         // public JWKs as a subscriber registers them
	sigKey                    jwk.Key         // private signing JWK of the subscriber
	otherPriv                 *rsa.PrivateKey // RSA 2048, for wrong signatures and too-small keys
)

const (
	destA      = "2b8b3d8e-6c38-4a11-9f59-2f8a0d9b1c01"
	destB      = "7f1f0b52-3d0e-4c8e-8a9e-5b1a6c2d3e02"
	serviceURN = "urn:de:fim:leika:leistung:99050012104000"
	subSecret  = "subscriber-secret"
	sndSecret  = "sender-secret"
	cbSecret   = "0123456789abcdef0123456789abcdef-callback"
)

func TestMain(m *testing.M) {
	var wg sync.WaitGroup
	gen := func(dst **rsa.PrivateKey, bits int) {
		defer wg.Done()
		k, err := rsa.GenerateKey(rand.Reader, bits)
		if err != nil {
			panic(err)
		}
		*dst = k
	}
	wg.Add(4)
	go gen(&encPriv, 4096)
	go gen(&sigPriv, 4096)
	go gen(&svcPriv, 4096)
	go gen(&otherPriv, 2048)
	wg.Wait()
	var err error
	if encPub, err = publicJWK(encPriv, "enc-key-0001", jwa.RSA_OAEP_256().String(), "wrapKey", true); err != nil {
		panic(err)
	}
	if sigPub, err = publicJWK(sigPriv, "sig-key-0001", "PS512", "verify", true); err != nil {
		panic(err)
	}
	if sigKey, err = jwk.Import(sigPriv); err != nil {
		panic(err)
	}
	_ = sigKey.Set(jwk.KeyIDKey, "sig-key-0001")
	generateServiceKey = func() (*serviceKey, error) { return serviceKeyFrom(svcPriv) }
	callbackBackoff = 10 * time.Millisecond
	os.Exit(m.Run())
}

// selfSigned returns a self-signed certificate for priv, base64 DER as in x5c.
func selfSigned(priv *rsa.PrivateKey) ([]byte, error) {
	tmpl := &x509.Certificate{
		SerialNumber:       big.NewInt(time.Now().UnixNano()),
		Subject:            pkix.Name{CommonName: "simulator test"},
		NotBefore:          time.Now().Add(-time.Hour),
		NotAfter:           time.Now().Add(24 * time.Hour),
		SignatureAlgorithm: x509.SHA512WithRSAPSS,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		return nil, err
	}
	return cert.EncodeBase64(der)
}

// publicJWK builds a public JWK as FIT-Connect wants it.
func publicJWK(priv *rsa.PrivateKey, kid, alg, op string, withX5C bool) (jwk.Key, error) {
	k, err := jwk.Import(&priv.PublicKey)
	if err != nil {
		return nil, err
	}
	sets := map[string]any{
		jwk.KeyIDKey:     kid,
		jwk.AlgorithmKey: alg,
		jwk.KeyOpsKey:    jwk.KeyOperationList{jwk.KeyOperation(op)},
	}
	if withX5C {
		b64, err := selfSigned(priv)
		if err != nil {
			return nil, err
		}
		var chain cert.Chain
		if err := chain.Add(b64); err != nil {
			return nil, err
		}
		sets[jwk.X509CertChainKey] = &chain
	}
	for name, v := range sets {
		if err := k.Set(name, v); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	return k, nil
}

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// env is a running simulator with a subscriber of destA ("sub"), one of destB ("subB") and
// a sender for all destinations ("snd").
type env struct {
	t     *testing.T
	srv   *Server
	ts    *httptest.Server
	clock *clock
	tok   map[string]string // client id -> token
}

type envOpt func(*Config)

func withCallback(url string) envOpt {
	return func(c *Config) {
		c.Destinations[0].CallbackURL = url
		c.Destinations[0].CallbackSecret = cbSecret
	}
}

func baseConfig() Config {
	dest := func(id string) Destination {
		return Destination{
			ID:            id,
			EncryptionKey: encPub,
			SigningKey:    sigPub,
			Services: []Service{{
				Identifier:        serviceURN,
				SubmissionSchemas: []SchemaRef{{SchemaURI: "https://schema.example.org/bauantrag.schema.json", MimeType: "application/json"}},
				Regions:           []string{"DE091620000000"},
			}},
			MetadataVersions: []string{"1.0.0"},
		}
	}
	return Config{
		Clients: []Client{
			{ID: "sub", Secret: subSecret, Role: RoleSubscriber, Destinations: []string{destA}},
			{ID: "subB", Secret: subSecret, Role: RoleSubscriber, Destinations: []string{destB}},
			{ID: "snd", Secret: sndSecret, Role: RoleSender},
		},
		Destinations: []Destination{dest(destA), dest(destB)},
	}
}

func newEnv(t *testing.T, opts ...envOpt) *env {
	t.Helper()
	clk := &clock{t: time.Now()}
	cfg := baseConfig()
	cfg.Now = clk.Now
	for _, o := range opts {
		o(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		ts.Close()
		srv.Close()
	})
	return &env{t: t, srv: srv, ts: ts, clock: clk, tok: map[string]string{}}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decoding %s: %v", r.body, err)
	}
}

// detail returns the problem detail of an error response.
func (r response) detail() string {
	var p struct {
		Detail string `json:"detail"`
	}
	_ = json.Unmarshal(r.body, &p)
	return p.Detail
}

func (e *env) raw(method, path, token, contentType string, body []byte) response {
	e.t.Helper()
	req, err := http.NewRequest(method, e.ts.URL+path, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := e.ts.Client().Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

func (e *env) tokenResp(form url.Values) response {
	e.t.Helper()
	return e.raw(http.MethodPost, "/token", "", "application/x-www-form-urlencoded", []byte(form.Encode()))
}

// token returns (and caches) an access token of a client.
func (e *env) token(client string) string {
	e.t.Helper()
	if tok, ok := e.tok[client]; ok {
		return tok
	}
	secret := map[string]string{"sub": subSecret, "subB": subSecret, "snd": sndSecret}[client]
	r := e.tokenResp(url.Values{"grant_type": {"client_credentials"}, "client_id": {client}, "client_secret": {secret}})
	if r.status != http.StatusOK {
		e.t.Fatalf("token for %s: %d %s", client, r.status, r.body)
	}
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	r.json(e.t, &tr)
	e.tok[client] = tr.AccessToken
	return tr.AccessToken
}

func (e *env) call(client, method, path, contentType string, body []byte) response {
	e.t.Helper()
	return e.raw(method, path, e.token(client), contentType, body)
}

func (e *env) getJSON(client, path string, want int, v any) response {
	e.t.Helper()
	r := e.call(client, http.MethodGet, path, "", nil)
	if r.status != want {
		e.t.Fatalf("GET %s: status %d, want %d: %s", path, r.status, want, r.body)
	}
	if v != nil {
		r.json(e.t, v)
	}
	return r
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// encrypt makes a real compact JWE for the destination's encryption key.
func encrypt(t *testing.T, content string) string {
	t.Helper()
	out, err := jwe.Encrypt([]byte(content), jwe.WithKey(jwa.RSA_OAEP_256(), encPub), jwe.WithContentEncryption(jwa.A256GCM()))
	if err != nil {
		t.Fatalf("encrypt: %v", err)
	}
	return string(out)
}

func tagOf(jwe string) string { return jwe[strings.LastIndex(jwe, ".")+1:] }

// sent is a submission a test sent.
type sent struct {
	ref         submissionRef
	metadata    string
	data        string
	attachments map[string]string // id -> JWE
}

func (s sent) tags() map[string]any {
	t := map[string]any{"metadata": tagOf(s.metadata)}
	if s.data != "" {
		t["data"] = tagOf(s.data)
	}
	att := map[string]string{}
	for id, j := range s.attachments {
		att[id] = tagOf(j)
	}
	t["attachments"] = att
	return t
}

// send creates, uploads and submits a submission to dest with n attachments.
func (e *env) send(dest string, n int, withData bool) sent {
	e.t.Helper()
	s := sent{attachments: map[string]string{}}
	ids := []string{}
	for range n {
		id := uuid.NewString()
		ids = append(ids, id)
		s.attachments[id] = encrypt(e.t, "attachment "+id)
	}
	r := e.call("snd", http.MethodPost, "/v1/submissions", "application/json", mustJSON(e.t, map[string]any{
		"destinationId":        dest,
		"announcedAttachments": ids,
		"serviceType":          map[string]string{"name": "Bauantrag", "identifier": serviceURN},
	}))
	if r.status != http.StatusCreated {
		e.t.Fatalf("create: %d %s", r.status, r.body)
	}
	r.json(e.t, &s.ref)
	for id, j := range s.attachments {
		r := e.call("snd", http.MethodPut, "/v1/submissions/"+s.ref.SubmissionID+"/attachments/"+id, "application/jose", []byte(j))
		if r.status != http.StatusNoContent {
			e.t.Fatalf("upload: %d %s", r.status, r.body)
		}
	}
	s.metadata = encrypt(e.t, `{"contentStructure":{"attachments":[]}}`)
	body := map[string]string{"encryptedMetadata": s.metadata}
	if withData {
		s.data = encrypt(e.t, `{"antrag":true}`)
		body["encryptedData"] = s.data
	}
	r = e.call("snd", http.MethodPut, "/v1/submissions/"+s.ref.SubmissionID, "application/json", mustJSON(e.t, body))
	if r.status != http.StatusAccepted {
		e.t.Fatalf("submit: %d %s", r.status, r.body)
	}
	return s
}

// setSpec describes a SET a test posts; zero values mean "the correct value".
type setSpec struct {
	header  map[string]any // protected header overrides (typ, kid); alg via alg
	alg     jwa.SignatureAlgorithm
	key     any                    // signing key; default sigKey
	claims  map[string]any         // claim overrides; a nil value removes the claim
	raw     func(c map[string]any) // last-minute change of the claims
	payload []byte                 // entire payload instead of the claims
}

// accept returns the claims of a correct accept SET for s.
func (e *env) acceptClaims(s sent) map[string]any {
	return map[string]any{
		"$schema": "https://schema.fitko.de/fit-connect/set-payload/1.2.2/set-payload.schema.json",
		"jti":     uuid.NewString(),
		"iss":     s.ref.DestinationID,
		"iat":     e.clock.Now().Unix(),
		"sub":     "submission:" + s.ref.SubmissionID,
		"txn":     "case:" + s.ref.CaseID,
		"events":  map[string]any{EventAccept: map[string]any{"authenticationTags": s.tags()}},
	}
}

func (e *env) signSET(claims map[string]any, spec setSpec) string {
	e.t.Helper()
	for k, v := range spec.claims {
		if v == nil {
			delete(claims, k)
		} else {
			claims[k] = v
		}
	}
	if spec.raw != nil {
		spec.raw(claims)
	}
	payload := spec.payload
	if payload == nil {
		payload = mustJSON(e.t, claims)
	}
	h := jws.NewHeaders()
	hdr := map[string]any{"typ": "secevent+jwt", "kid": "sig-key-0001"}
	for k, v := range spec.header {
		if v == nil {
			delete(hdr, k)
		} else {
			hdr[k] = v
		}
	}
	for k, v := range hdr {
		if err := h.Set(k, v); err != nil {
			e.t.Fatal(err)
		}
	}
	alg := spec.alg
	if alg.String() == "" {
		alg = jwa.PS512()
	}
	key := spec.key
	if key == nil {
		key = sigKey
	}
	if k, ok := key.(jwk.Key); ok {
		// jwx would put the JWK's kid into the header; the spec's header decides.
		k, _ = k.Clone()
		_ = k.Remove(jwk.KeyIDKey)
		key = k
	}
	out, err := jws.Sign(payload, jws.WithKey(alg, key, jws.WithProtectedHeaders(h)))
	if err != nil {
		e.t.Fatalf("sign SET: %v", err)
	}
	return string(out)
}

func (e *env) postSET(client, caseID, set string) response {
	e.t.Helper()
	return e.call(client, http.MethodPost, "/v1/cases/"+caseID+"/events", "application/jose", []byte(set))
}
