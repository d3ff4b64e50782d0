package cli

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/amtsbote/amtsbote/fitconnect"
	"github.com/amtsbote/amtsbote/fitconnect/simulator"
)

// config check reads the FIT-Connect keys, schemas and secrets and names every problem with
// the file:line of its configuration key.
func TestConfigCheckFitConnect(t *testing.T) {
	dir := copyDemo(t)
	// A 2048-bit key, the public part where a private key belongs, a missing schema file and
	// an unset secret.
	small, _ := rsa.GenerateKey(rand.Reader, 2048)
	k, _ := jwk.Import(small)
	k.Set(jwk.KeyIDKey, "small-key-0001")
	k.Set(jwk.KeyOpsKey, jwk.KeyOperationList{jwk.KeyOpUnwrapKey})
	raw, _ := json.Marshal(k)
	os.WriteFile(filepath.Join(dir, "fitconnect/keys/small.jwk"), raw, 0o600)
	cfg := filepath.Join(dir, "amtsbote.yaml")
	edit(t, cfg, "decryption_keys: [fitconnect/keys/encryption.private.jwk]", "decryption_keys: [fitconnect/keys/encryption.private.jwk, fitconnect/keys/small.jwk]")
	edit(t, cfg, "signing_key: fitconnect/keys/signing.private.jwk", "signing_key: fitconnect/keys/signing.public.jwk")
	edit(t, cfg, "metadata_schemas: [fitconnect/schemas/metadata.schema.v1.0.0.json]", "metadata_schemas: [fitconnect/schemas/metadata.schema.v9.json]")
	raw, _ = os.ReadFile(cfg)
	lines := strings.Split(string(raw), "\n")
	line := func(prefix string) string {
		for i, l := range lines {
			if strings.Contains(l, prefix) {
				return "amtsbote.yaml:" + itoa(i+1)
			}
		}
		t.Fatalf("no line with %q", prefix)
		return ""
	}
	code, out, _ := runCLI("config", "check", "--config", cfg)
	if code != 1 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	for _, want := range []string{
		line("decryption_keys:") + ": fitconnect.subscriptions[0].decryption_keys[1]: " + filepath.Join(dir, "fitconnect/keys/small.jwk") + ": the RSA key has 2048 bits; FIT-Connect requires 4096",
		line("signing_key:") + ": fitconnect.subscriptions[0].signing_key: ",
		"holds only the public part of the signing key",
		line("metadata_schemas:") + ": fitconnect.subscriptions[0].metadata_schemas: ",
		"metadata.schema.v9.json",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// A missing secret file is a configuration error before anything else.
	os.Remove(filepath.Join(dir, "fitconnect/client-secret.txt"))
	code, out, _ = runCLI("config", "check", "--config", cfg)
	if code != 1 || !strings.Contains(out, line("client_secret:")+": fitconnect.subscriptions[0].client_secret:") {
		t.Fatalf("exit %d\n%s", code, out)
	}
}

func itoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}

func TestFitConnectKeysGenerate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	code, out, stderr := runCLI("fitconnect", "keys", "generate", "--out", dir)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, stderr)
	}
	for _, f := range []struct {
		name    string
		use     fitconnect.Use
		private bool
	}{{"encryption.private.jwk", fitconnect.Encryption, true}, {"encryption.public.jwk", fitconnect.Encryption, false},
		{"signing.private.jwk", fitconnect.Signing, true}, {"signing.public.jwk", fitconnect.Signing, false}} {
		path := filepath.Join(dir, f.name)
		info, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if f.private && info.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v", f.name, info.Mode().Perm())
		}
		raw, _ := os.ReadFile(path)
		k, err := jwk.ParseKey(raw)
		if err != nil {
			t.Fatal(err)
		}
		if err := fitconnect.CheckKey(k, f.use, f.private); err != nil {
			t.Errorf("%s: %v", f.name, err)
		}
		if !f.private && !strings.Contains(out, fitconnect.KeyID(k)) {
			t.Errorf("the public key %s is not printed for upload", f.name)
		}
		if f.private && strings.Contains(out, `"d"`) {
			t.Error("a private key is printed")
		}
	}
	if code, _, stderr := runCLI("fitconnect", "keys", "generate", "--out", dir); code != 2 || !strings.Contains(stderr, "never overwrites") {
		t.Fatalf("a second run: exit %d %s", code, stderr)
	}
}

// status and events against the simulator, amtsbote not running: a submission waits at
// FIT-Connect that amtsbote has not seen — status warns and exits 1; events verifies the
// delivery service's signed events.
func TestFitConnectStatusAndEvents(t *testing.T) {
	const dest = "5f7c2a1e-8b3d-4e6f-9a0b-1c2d3e4f5a6b"
	keys := "../fixtures/demo/fitconnect/keys/"
	pub := func(f string) jwk.Key {
		raw, _ := os.ReadFile(keys + f)
		k, err := jwk.ParseKey(raw)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	sim, err := simulator.New(simulator.Config{
		Clients: []simulator.Client{
			{ID: "demo-subscriber", Secret: "demo-subscriber-secret-not-for-production", Role: simulator.RoleSubscriber, Destinations: []string{dest}},
			{ID: "demo-sender", Secret: "demo-sender-secret-not-for-production", Role: simulator.RoleSender},
		},
		Destinations: []simulator.Destination{{ID: dest, EncryptionKey: pub("encryption.public.jwk"), SigningKey: pub("signing.public.jwk"),
			MetadataVersions: []string{"1.0.0"},
			Services: []simulator.Service{{Identifier: "urn:de:fim:leika:leistung:99050012104000", Regions: []string{"DE091620000000"},
				SubmissionSchemas: []simulator.SchemaRef{{SchemaURI: "urn:amtsbote:demo:schema:gewerbeanmeldung:1.0", MimeType: "application/json"}}}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(sim.Handler())
	defer func() { ts.Close(); sim.Close() }()
	dir := copyDemo(t)
	cfg := filepath.Join(dir, "amtsbote.yaml")
	edit(t, cfg, "api_url: http://127.0.0.1:8090", "api_url: "+ts.URL)
	edit(t, cfg, "token_url: http://127.0.0.1:8090/token", "token_url: "+ts.URL+"/token")
	edit(t, cfg, "data_dir: var/demo", "data_dir: "+filepath.Join(dir, "data"))

	if code, out, stderr := runCLI("fitconnect", "status", "--config", cfg); code != 0 || !strings.Contains(out, dest) {
		t.Fatalf("nothing waits: exit %d\n%s%s", code, out, stderr)
	}
	code, out, stderr := runCLI("fitconnect", "send", "--api-url", ts.URL, "../fixtures/demo/submission.json")
	if code != 0 {
		t.Fatalf("send: exit %d\n%s%s", code, out, stderr)
	}
	caseID := strings.Fields(strings.SplitAfter(out, "case ")[1])[0]
	caseID = strings.TrimSuffix(caseID, ",")
	code, out, _ = runCLI("fitconnect", "status", "--config", cfg)
	if code != 1 || !strings.Contains(out, "1 submission(s) wait at FIT-Connect that amtsbote has not seen yet") {
		t.Fatalf("status: exit %d\n%s", code, out)
	}
	code, out, _ = runCLI("fitconnect", "events", "--config", cfg, caseID)
	if code != 0 || !strings.Contains(out, "create-submission  by the delivery service") ||
		!strings.Contains(out, "submit-submission  by the delivery service") || !strings.Contains(out, "authentication tags: metadata, data, 2 attachment(s)") {
		t.Fatalf("events: exit %d\n%s", code, out)
	}
}
