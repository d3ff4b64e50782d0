package routes_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/amtsbote/amtsbote/routes"
)

// A route's replies key is checked with the routes file; left out, its defaults apply.
func TestReplyPolicy(t *testing.T) {
	tests := []struct {
		name       string
		replies    string // the route's replies key, "" for none
		channels   []string
		alsoPortal bool
		template   string // relative to the routes file's directory
		err        string
		// tmpl is the template file's content (a valid one if empty); "-" writes none.
		tmpl string
	}{
		{"default", "", []string{"fitconnect", "email", "portal", "print"}, true, "", "", ""},
		{"channels only", "{channels: [email, print]}", []string{"email", "print"}, true, "", "", ""},
		{"no portal besides", "{channels: [print], also_portal: false}", []string{"print"}, false, "", "", ""},
		{"template", "{channels: [email], email_template: templates/bescheid.tmpl}", []string{"email"}, true, "templates/bescheid.tmpl", "", ""},
		{"template, default channels", "{email_template: mail.tmpl}", []string{"fitconnect", "email", "portal", "print"}, true, "mail.tmpl", "", ""},
		{"unknown channel", "{channels: [email, fax]}", nil, false, "", `replies: channels[1] "fax": expected one of fitconnect, email, portal, print`, ""},
		{"twice", "{channels: [email, email]}", nil, false, "", `replies: channels[1]: "email" is listed twice`, ""},
		{"empty list", "{channels: []}", nil, false, "", "replies: channels is empty", ""},
		{"template without email", "{channels: [print], email_template: x.tmpl}", nil, false, "", "email_template is set, but channels does not list email", ""},
		{"unknown key", "{channel: [email]}", nil, false, "", "field channel not found", ""},
		{"template missing", "{email_template: gone.tmpl}", nil, false, "", "email_template: ", "-"},
		{"template with an unknown field", "{email_template: bad.tmpl}", nil, false, "", "bad.tmpl:4:2", "Subject: Ihr Antrag\n\n{{.Reference}}\n{{.Nope}}\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "routes:\n  - id: r\n    targets: [{destination: a, mapping: tiny.yaml, schema: tiny}]\n"
			if tt.replies != "" {
				src += "    replies: " + tt.replies + "\n"
			}
			path := write(t, src)
			if name := templateName(tt.replies); name != "" && tt.tmpl != "-" {
				content := tt.tmpl
				if content == "" {
					content = "Subject: Nachricht zu {{.Reference}}\n\nEs gibt Neues zu Ihrem Antrag.\n"
				}
				file := filepath.Join(filepath.Dir(path), filepath.FromSlash(name))
				if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(file, []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			tbl, err := routes.Load(path, checks(t))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || !strings.Contains(err.Error(), "routes.yaml:") {
					t.Fatalf("error %v, want one with file:line and %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			r, _ := tbl.Route("r")
			p := r.ReplyPolicy()
			if !slices.Equal(p.Channels, tt.channels) || p.PortalToo() != tt.alsoPortal {
				t.Fatalf("policy %+v, want channels %v, also_portal %v", p, tt.channels, tt.alsoPortal)
			}
			want := ""
			if tt.template != "" {
				want = filepath.Join(filepath.Dir(path), filepath.FromSlash(tt.template))
			}
			if p.TemplateFile != want {
				t.Fatalf("template %q, want %q", p.TemplateFile, want)
			}
		})
	}
	// The default is a copy: changing one route's list changes no other.
	a := routes.DefaultReplyPolicy()
	a.Channels[0] = "print"
	if routes.DefaultReplyPolicy().Channels[0] != "fitconnect" {
		t.Fatal("the default policy was changed through a copy")
	}
}

// templateName is the email_template a replies key names, "" for none.
func templateName(replies string) string {
	_, rest, ok := strings.Cut(replies, "email_template: ")
	if !ok {
		return ""
	}
	return strings.TrimRight(rest, "}")
}

// Whatever a routes file says under replies, loading it either fails with an error or yields a
// policy of known, distinct channels.
func FuzzReplyPolicy(f *testing.F) {
	for _, seed := range []string{"{channels: [email, print]}", "{channels: []}", "{also_portal: false}", "{email_template: ../x}",
		"{channels: [fax, fax]}", "[1, 2]", "{channels: {a: b}}", "null", "{channels: [\"\\u0000\"]}"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, replies string) {
		if strings.ContainsAny(replies, "\n\r") {
			return // one line under the route
		}
		path := write(t, "routes:\n  - id: r\n    targets: [{destination: a, mapping: tiny.yaml, schema: tiny}]\n    replies: "+replies+"\n")
		tbl, err := routes.Load(path, checks(t))
		if err != nil {
			return
		}
		r, _ := tbl.Route("r")
		p := r.ReplyPolicy()
		seen := map[string]bool{}
		for _, ch := range p.Channels {
			if !slices.Contains([]string{"fitconnect", "email", "portal", "print"}, ch) || seen[ch] {
				t.Fatalf("policy %+v from %q", p, replies)
			}
			seen[ch] = true
		}
		if len(p.Channels) == 0 {
			t.Fatalf("no channels from %q", replies)
		}
	})
}
