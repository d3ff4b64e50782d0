package formdoc

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pdfcpu/pdfcpu/pkg/api"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/model"
)

func init() {
	// pdfcpu would otherwise create a configuration directory in $HOME.
	api.DisableConfigDir()
}

// demoLabels label the demo Gewerbeanmeldung the way a labels file would.
var demoLabels = Labels{
	Title: "Gewerbeanmeldung",
	Fields: map[string]string{
		"inhaber":                      "Inhaberin oder Inhaber",
		"inhaber.vorname":              "Vorname",
		"inhaber.nachname":             "Familienname",
		"inhaber.geburtsdatum":         "Geburtsdatum",
		"inhaber.staatsangehoerigkeit": "Staatsangehörigkeit",
		"inhaber.anschrift":            "Anschrift",
		"inhaber.anschrift.strasse":    "Straße",
		"inhaber.anschrift.plz":        "Postleitzahl",
		"inhaber.email":                "E-Mail-Adresse",
		"betrieb":                      "Angaben zum Betrieb",
		"betrieb.anschrift":            "Anschrift der Betriebsstätte",
		"betrieb.taetigkeit":           "Angemeldete Tätigkeit",
		"betrieb.beginn":               "Beginn der Tätigkeit",
		"betrieb.beschaeftigte":        "Anzahl der Beschäftigten",
	},
}

// demoData returns the "data" member of the demo submission.
func demoData(t testing.TB) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "fixtures", "demo", "submission.json"))
	if err != nil {
		t.Fatal(err)
	}
	var sub struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(raw, &sub); err != nil {
		t.Fatal(err)
	}
	if len(sub.Data) == 0 {
		t.Fatal("demo submission has no data member")
	}
	return sub.Data
}

func demoDocument(t testing.TB) Document {
	return Document{
		Title:        "Gewerbeanmeldung",
		Reference:    "DEMO-2026-000001",
		SubmissionID: "AB-2026-0000042",
		Leistung:     "99050012104000",
		AGS:          "09162000",
		Portal:       "Demo-Portal",
		ReceivedAt:   time.Date(2026, 1, 15, 9, 30, 0, 0, time.UTC),
		Data:         demoData(t),
		Labels:       demoLabels,
		Attachments: []Attachment{
			{Name: "Personalausweis.pdf", MediaType: "application/pdf", Size: 1_258_291},
			{Name: "Meisterbrief.png", MediaType: "image/png", Size: 3_584},
		},
		Producer: "amtsbote",
	}
}

func mustRender(t testing.TB, d Document) []byte {
	t.Helper()
	pdf, err := Render(d)
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	return pdf
}

// tool returns the path of a poppler binary. Without it the test is skipped,
// except in CI (CI set), which installs poppler-utils and must not skip.
func tool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s not found, but CI is set: install poppler-utils", name)
		}
		t.Skipf("%s not found: install poppler-utils to run this test", name)
	}
	return p
}

// pdfToText extracts the text of pdf with pdftotext (reading order, not
// layout, so that a wrapped value comes out in one piece per line).
func pdfToText(t testing.TB, pdf []byte) string {
	t.Helper()
	bin := tool(t, "pdftotext")
	in := filepath.Join(t.TempDir(), "doc.pdf")
	if err := os.WriteFile(in, pdf, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "-enc", "UTF-8", in, "-").CombinedOutput()
	if err != nil {
		t.Fatalf("pdftotext: %v\n%s", err, out)
	}
	return string(out)
}

// validate runs pdfcpu's strict validation and returns the parsed file.
func validate(t testing.TB, pdf []byte) *model.Context {
	t.Helper()
	conf := model.NewDefaultConfiguration()
	conf.ValidationMode = model.ValidationStrict
	if err := api.Validate(bytes.NewReader(pdf), conf); err != nil {
		t.Fatalf("pdfcpu strict validation: %v", err)
	}
	conf = model.NewDefaultConfiguration()
	conf.ValidationMode = model.ValidationStrict
	ctx, err := api.ReadContext(bytes.NewReader(pdf), conf)
	if err != nil {
		t.Fatalf("pdfcpu read: %v", err)
	}
	if err := ctx.EnsurePageCount(); err != nil {
		t.Fatalf("pdfcpu page count: %v", err)
	}
	return ctx
}

var pageCountRe = regexp.MustCompile(`/Type /Pages\s*/Kids \[[^\]]*\]\s*/Count (\d+)`)

// pageCount reads the page count from the page tree.
func pageCount(t testing.TB, pdf []byte) int {
	t.Helper()
	m := pageCountRe.FindSubmatch(pdf)
	if m == nil {
		t.Fatal("no page tree found")
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

// squash folds runs of white space, so that checks do not depend on how
// pdftotext spaces a line.
func squash(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
