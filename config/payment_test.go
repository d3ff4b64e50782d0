package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/amtsbote/amtsbote/config"
)

const paymentProvider = `
payment:
  providers:
    - id: epay
      api_url: https://epay.example/xbezahldienste/api/v1.0.0
      originator_id: gewerbe-portal
      endpoint_id: "09162000"
      auth: {type: basic, username: amtsbote, password: {env: EPAY_PASSWORD}}
      callback_secrets: [{env: EPAY_CALLBACK}]
`

// A provider gets its defaults: 30s per request, checks after 1m doubling up to 15m, 72h
// before a submission fails for want of payment.
func TestPaymentDefaults(t *testing.T) {
	t.Setenv("EPAY_PASSWORD", "pw")
	t.Setenv("EPAY_CALLBACK", strings.Repeat("s", 32))
	cfg, err := config.Load(write(t, minimal+paymentProvider))
	if err != nil {
		t.Fatal(err)
	}
	p, ok := cfg.Payment.Provider("epay")
	if !ok || p.Timeout != 30*time.Second || p.HoldTimeout != 72*time.Hour ||
		p.Poll != (config.PaymentPoll{InitialInterval: time.Minute, MaxInterval: 15 * time.Minute, Multiplier: 2}) {
		t.Fatalf("defaults: %+v", p)
	}
	if v, err := p.Auth.Password.Value(cfg); err != nil || v != "pw" {
		t.Fatalf("password %q, %v", v, err)
	}
}

// Every problem of a provider names its key (and the file's line).
func TestPaymentErrorsNameTheKey(t *testing.T) {
	t.Setenv("EPAY_CALLBACK", "too-short")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "secret"), []byte("  \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, change string
		want         []string
	}{
		{"missing password", "", []string{"payment.providers[0].auth.password", "environment variable EPAY_PASSWORD is not set"}},
		{"short callback secret", "", []string{"payment.providers[0].callback_secrets[0]", "at least 32 characters, this one 9"}},
		{"plain http", "api_url: http://epay.example/x", []string{"payment.providers[0].api_url", "plain http is allowed only to loopback"}},
		{"originator id", `originator_id: "gewerbe portal"`, []string{"payment.providers[0].originator_id", "1 to 36 letters"}},
		{"endpoint id", `endpoint_id: "` + strings.Repeat("9", 37) + `"`, []string{"payment.providers[0].endpoint_id"}},
		{"auth type", "auth: {type: digest}", []string{"payment.providers[0].auth.type", `"digest": expected basic, oauth2 or none`}},
		{"oauth without secret", "auth: {type: oauth2, token_url: https://epay.example/token, client_id: c, client_secret: {file: " + filepath.Join(dir, "secret") + "}}",
			[]string{"payment.providers[0].auth.client_secret", "is empty"}},
		{"basic keys under oauth2", "auth: {type: oauth2, token_url: https://epay.example/token, client_id: c, client_secret: {env: EPAY_CALLBACK}, username: u}",
			[]string{"payment.providers[0].auth", "username and password belong to auth type basic"}},
		{"certificate without key", "client_cert_file: cert.pem", []string{"payment.providers[0].client_cert_file", "go together"}},
		{"poll", "poll: {initial_interval: 10m, max_interval: 1m}", []string{"payment.providers[0].poll", "max_interval >= initial_interval"}},
		{"hold timeout", "hold_timeout: -1h", []string{"payment.providers[0].hold_timeout", "must be positive"}},
		{"id", "id: E-Pay", []string{"payment.providers[0].id", `"E-Pay" must match`}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			content := minimal + paymentProvider
			if tt.change != "" {
				content = withProviderKey(content, tt.change)
			}
			path := write(t, content)
			_, err := config.Load(path)
			if err == nil {
				t.Fatal("want an error")
			}
			for _, want := range append(tt.want, path) {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error lacks %q:\n%v", want, err)
				}
			}
		})
	}
}

// withProviderKey sets one key of the first payment provider (replacing it, or adding it).
func withProviderKey(content, line string) string {
	key, _, _ := strings.Cut(line, ":")
	head, provider, _ := strings.Cut(content, "    - id: epay\n")
	lines := strings.Split("      id: epay\n"+provider, "\n")
	replaced := false
	for i, l := range lines {
		if strings.HasPrefix(l, "      "+key+":") {
			lines[i], replaced = "      "+line, true
		}
	}
	if !replaced {
		lines = append(lines[:len(lines)-1], "      "+line, "")
	}
	body := strings.Join(lines, "\n")
	return head + "    - " + strings.TrimPrefix(body, "      ")
}
