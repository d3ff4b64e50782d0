package console

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/amtsbote/amtsbote/admin"
)

// loadConfig reads the configuration in force through the API; without it (outside a daemon)
// it has answered with an error page.
func (c *Console) loadConfig(w http.ResponseWriter, r *http.Request) (*admin.ConfigView, bool) {
	var cfg admin.ConfigView
	err := c.callAPI(r, http.MethodGet, "/v1/config", &cfg)
	var e *errAPI
	if errors.As(err, &e) && e.Status == http.StatusServiceUnavailable {
		c.errorPage(w, r, http.StatusServiceUnavailable, "Die Konfiguration kennt nur der laufende Dienst; hier ist keine geladen.")
		return nil, false
	}
	if err != nil {
		c.apiError(w, r, err)
		return nil, false
	}
	return &cfg, true
}

// configOption is a destination's option as the page lists it: dotted key, value as text.
type configOption struct {
	Key, Value string
}

// flatOptions lists options sorted by key, nested maps with dotted keys; values that are not
// text are written as JSON. Secrets arrive redacted from the API.
func flatOptions(opts map[string]any) []configOption {
	var out []configOption
	var walk func(prefix string, m map[string]any)
	walk = func(prefix string, m map[string]any) {
		for k, v := range m {
			key := prefix + k
			switch x := v.(type) {
			case map[string]any:
				walk(key+".", x)
			case string:
				out = append(out, configOption{key, x})
			default:
				b, err := json.Marshal(x)
				if err != nil {
					b = []byte(fmt.Sprint(x))
				}
				out = append(out, configOption{key, string(b)})
			}
		}
	}
	walk("", opts)
	slices.SortFunc(out, func(a, b configOption) int { return strings.Compare(a.Key, b.Key) })
	return out
}

// fileLink is the console's page of a configuration file, at a line (0: the top).
func fileLink(path string, line int) string {
	u := "/konfiguration/dateien?pfad=" + url.QueryEscape(path)
	if line > 0 {
		u += fmt.Sprintf("#L%d", line)
	}
	return u
}

// configPage shows the configuration in force, read-only.
func (c *Console) configPage(w http.ResponseWriter, r *http.Request) {
	cfg, ok := c.loadConfig(w, r)
	if !ok {
		return
	}
	c.render(w, r, "konfiguration", "Konfiguration", cfg)
}

// fileLine is a line of a configuration file.
type fileLine struct {
	N    int
	Text string
}

type configFileData struct {
	File  admin.ConfigFileView
	Lines []fileLine
}

// configFilePage shows a file of the configuration (a mapping, a partial, a JSON Schema) with
// line numbers; each line is an anchor (#L12) that failures' file:line lead to.
func (c *Console) configFilePage(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Query().Get("pfad")
	if path == "" {
		c.errorPage(w, r, http.StatusBadRequest, "Es fehlt die Datei (Parameter pfad), relativ zum Verzeichnis der Konfiguration, z. B. mappings/gewerbeanmeldung.yaml.")
		return
	}
	cfg, ok := c.loadConfig(w, r)
	if !ok {
		return
	}
	i := slices.IndexFunc(cfg.Mappings, func(f admin.ConfigFileView) bool { return f.Path == path })
	if i < 0 {
		c.errorPage(w, r, http.StatusNotFound, fmt.Sprintf("Die Datei „%s“ gehört nicht zu den Dateien der Routen (Mappings, Teilvorlagen, JSON-Schemas); nur diese werden angezeigt.", path))
		return
	}
	d := configFileData{File: cfg.Mappings[i]}
	for n, l := range strings.Split(strings.TrimSuffix(d.File.Content, "\n"), "\n") {
		d.Lines = append(d.Lines, fileLine{N: n + 1, Text: l})
	}
	c.render(w, r, "konfiguration-datei", path+" – Konfiguration", d)
}
