package main

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/amtsbote/amtsbote/fitconnect"
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
