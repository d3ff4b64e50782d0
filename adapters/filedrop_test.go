package adapters_test

import (
	"archive/zip"
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/amtsbote/amtsbote/adapters"
	"github.com/amtsbote/amtsbote/adapters/adaptertest"
)

func testPackage(xml string) *adapters.Package {
	content := []byte("%PDF-1.4 test")
	return &adapters.Package{
		SubmissionID: "s1", MessageID: "6d786168-6b35-45df-81cb-c348eb202a77", MessageType: "Abgabe.Abgabe.0401",
		CreatedAt: time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC), XML: []byte(xml),
		Files: []adapters.File{{Name: "21623888-2db1-4734-9dc5-3d77af892494_Ausweis.pdf", MediaType: "application/pdf",
			Size: int64(len(content)), Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(content)), nil }}},
	}
}

func newFiledrop(t *testing.T, dir string) adapters.Adapter {
	t.Helper()
	a, err := adapters.New("filedrop", map[string]any{"path": dir})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestFiledropWritesXdomeaZip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "drop")
	a := newFiledrop(t, dir)
	path, err := a.Deliver(context.Background(), testPackage("<x/>"))
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(path) != "6d786168-6b35-45df-81cb-c348eb202a77_Abgabe.Abgabe.0401.zip" {
		t.Fatalf("artefact %s", path)
	}
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	var names []string
	for _, f := range zr.File {
		names = append(names, f.Name)
	}
	want := "6d786168-6b35-45df-81cb-c348eb202a77_Abgabe.Abgabe.0401.xml,21623888-2db1-4734-9dc5-3d77af892494_Ausweis.pdf"
	if strings.Join(names, ",") != want {
		t.Fatalf("zip entries %v, want %s", names, want)
	}
	if info, _ := os.Stat(path); info.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, want 0640", info.Mode().Perm())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("drop directory holds %d entries, want only the zip (no temp files)", len(entries))
	}
}

func TestFiledropRedeliveryIsHarmlessAndNeverOverwrites(t *testing.T) {
	dir := t.TempDir()
	a := newFiledrop(t, dir)
	first, err := a.Deliver(context.Background(), testPackage("<x/>"))
	if err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(first)
	again, err := a.Deliver(context.Background(), testPackage("<x/>"))
	if err != nil || again != first {
		t.Fatalf("redelivery: %v, %s", err, again)
	}
	_, err = a.Deliver(context.Background(), testPackage("<different/>"))
	if !adapters.IsPermanent(err) || !strings.Contains(err.Error(), "refusing to overwrite") {
		t.Fatalf("a different package under the same name must fail permanently, got %v", err)
	}
	after, _ := os.ReadFile(first)
	if !bytes.Equal(before, after) {
		t.Fatal("the existing file was changed")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("drop directory holds %d entries, want 1", len(entries))
	}
}

func TestFiledropUnwritableDirectoryIsTransient(t *testing.T) {
	blocked := filepath.Join(t.TempDir(), "drop")
	os.WriteFile(blocked, nil, 0o600)
	_, err := newFiledrop(t, blocked).Deliver(context.Background(), testPackage("<x/>"))
	if err == nil || adapters.IsPermanent(err) {
		t.Fatalf("want a transient error, got %v", err)
	}
}

func TestFiledropOptions(t *testing.T) {
	tests := []struct {
		name    string
		options map[string]any
		want    string
	}{
		{"missing path", map[string]any{}, "options.path"},
		{"unknown key", map[string]any{"path": "x", "pth": "y"}, "pth"},
		{"bad mode", map[string]any{"path": "x", "file_mode": "rw-r"}, "file_mode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := adapters.New("filedrop", tt.options)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error naming %s", err, tt.want)
			}
		})
	}
	if _, err := adapters.New("carrier-pigeon", nil); err == nil || !strings.Contains(err.Error(), "filedrop") {
		t.Fatalf("unknown type: %v", err)
	}
}

func TestSafeName(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Antrag.pdf", "Antrag.pdf"},
		{"../../etc/passwd", "passwd"},
		{`..\..\windows\system.ini`, "system.ini"},
		{"/abs/path/file.txt", "file.txt"},
		{"..", "unnamed"},
		{".hidden", "hidden"},
		{"a:b*c?.pdf", "a_b_c_.pdf"},
		{"tab\there\x00.pdf", "tabhere.pdf"},
		{"Müller ß.pdf", "Müller ß.pdf"},
		{"", "unnamed"},
		{strings.Repeat("ä", 100) + ".pdf", strings.Repeat("ä", 58) + ".pdf"},
	}
	for _, tt := range tests {
		if got := adapters.SafeName(tt.in); got != tt.want {
			t.Errorf("SafeName(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestSafeNameDropsInvisibleCharactersAndTrailingDots: what a caseworker sees in the E-Akte
// must be the file's real name. "Bescheid\u202efdp.exe" (right-to-left override) shows as
// "Bescheidexe.pdf"; invisible characters make look-alike names; Windows drops trailing dots
// and spaces.
func TestSafeNameDropsInvisibleCharactersAndTrailingDots(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"right-to-left override U+202E", "Bescheid\u202efdp.exe", "Bescheidfdp.exe"},
		{"bidi embedding U+202A and pop U+202C", "\u202aAntrag\u202c.pdf", "Antrag.pdf"},
		{"bidi isolates U+2066-U+2069", "\u2067Antrag\u2069.pdf\u2068", "Antrag.pdf"},
		{"zero-width space U+200B", "Bescheid\u200b.pdf", "Bescheid.pdf"},
		{"zero-width joiner U+200D and right-to-left mark U+200F", "An\u200dtrag\u200f.pdf", "Antrag.pdf"},
		{"byte order mark U+FEFF", "\ufeffAntrag.pdf", "Antrag.pdf"},
		{"soft hyphen U+00AD", "Ge\u00adwerbe.pdf", "Gewerbe.pdf"},
		{"C1 control U+0085", "Antrag\u0085.pdf", "Antrag.pdf"},
		{"C1 control U+009B (CSI)", "Antrag\u009b31m.pdf", "Antrag31m.pdf"},
		{"C0 control U+0007", "Antrag\u0007.pdf", "Antrag.pdf"},
		{"trailing dots and spaces", "report. . .", "report"},
		{"trailing spaces", "a.pdf   ", "a.pdf"},
		{"trailing dot after the extension", "a.pdf.", "a.pdf"},
		{"trailing dot behind a zero-width space", "a.pdf.\u200b", "a.pdf"},
		{"leading space and dots", " . .hidden", "hidden"},
		{"only invisible characters", "\u202e\u200b\ufeff", "unnamed"},
		{"only dots and spaces", ". . .", "unnamed"},
		{"a cut that ends in a space", strings.Repeat("a", 119) + " " + strings.Repeat("b", 10), strings.Repeat("a", 119)},
		{"a cut that ends in dots", strings.Repeat("a", 118) + ".." + strings.Repeat("b", 30), strings.Repeat("a", 118)},
		{"visible non-ASCII stays", "Bescheid für Müller – 2026.pdf", "Bescheid für Müller – 2026.pdf"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := adapters.SafeName(tt.in); got != tt.want {
				t.Errorf("SafeName(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// Temporary files a killed process left behind are removed when the adapter starts; fresh ones
// (possibly another instance's) stay.
func TestFiledropRemovesStaleTempFiles(t *testing.T) {
	dir := t.TempDir()
	stale := filepath.Join(dir, ".amtsbote-123.tmp")
	fresh := filepath.Join(dir, ".amtsbote-456.tmp")
	other := filepath.Join(dir, "keep.zip")
	for _, p := range []string{stale, fresh, other} {
		os.WriteFile(p, []byte("x"), 0o600)
	}
	old := time.Now().Add(-time.Hour)
	os.Chtimes(stale, old, old)
	os.Chtimes(other, old, old)
	newFiledrop(t, dir)
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Error("stale temp file still there")
	}
	for _, p := range []string{fresh, other} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s was removed", p)
		}
	}
}

func TestFiledropConformance(t *testing.T) {
	var dir string
	adaptertest.Run(t, adaptertest.Harness{
		Factory: func(o map[string]any) (adapters.Adapter, error) { return adapters.New("filedrop", o) },
		Options: func(t testing.TB) map[string]any {
			dir = filepath.Join(t.TempDir(), "drop")
			return map[string]any{"path": dir}
		},
		InvalidOptions: map[string]map[string]any{
			"no path":                     {"path": nil},
			"an unknown format":           {"format": "tar"},
			"an unknown placeholder":      {"name": "{nope}_{message_id}"},
			"a name without the id":       {"name": "{ags}"},
			"a file mode that is no mode": {"file_mode": "0999"},
			"a ready suffix with a path":  {"ready_suffix": "../x"},
		},
		Received: func(t testing.TB, messageID string) [][]byte { return adaptertest.ZippedXML(dir, messageID) },
		Attachment: func(t testing.TB, messageID, name string) ([]byte, bool) {
			return adaptertest.ZippedFile(dir, messageID, name)
		},
		Files: func(t testing.TB) map[string][]byte { return adaptertest.DirFiles(t, dir) },
		BreakTransiently: func(t testing.TB) func() {
			os.RemoveAll(dir)
			os.WriteFile(dir, nil, 0o600) // a file where the directory should be
			return func() { os.Remove(dir) }
		},
		BreakPermanently: func(t testing.TB, p *adapters.Package) func() {
			os.MkdirAll(dir, 0o750)
			name := filepath.Join(dir, p.MessageID+"_"+p.MessageType+".zip")
			os.WriteFile(name, []byte("another file"), 0o600)
			return func() { os.Remove(name) }
		},
	})
}

func TestFiledropNamePatternFilesFormatAndReadyFile(t *testing.T) {
	dir := t.TempDir()
	a, err := adapters.New("filedrop", map[string]any{"path": dir, "name": "{ags}_{leistung}_{date}_{message_id}",
		"format": "files", "ready_suffix": ".ready"})
	if err != nil {
		t.Fatal(err)
	}
	p := testPackage("<x/>")
	p.Leistung, p.AGS = "99050012104000", "../09162000"
	artefact, err := a.Deliver(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	base := "09162000_99050012104000_20261129_" + p.MessageID
	if artefact != filepath.Join(dir, base+".xml") {
		t.Fatalf("artefact %s", artefact)
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	want := []string{base + ".ready", base + ".xml", "21623888-2db1-4734-9dc5-3d77af892494_Ausweis.pdf"}
	if strings.Join(names, ",") != strings.Join(want, ",") {
		t.Fatalf("files %v, want %v", names, want)
	}
	if _, err := a.Deliver(context.Background(), p); err != nil {
		t.Fatalf("redelivery: %v", err)
	}
	for _, xml := range []string{"<y/>", "<x/>\n", ""} { // other bytes, one more byte, none
		other := *p
		other.XML = []byte(xml)
		if _, err := a.Deliver(context.Background(), &other); !adapters.IsPermanent(err) {
			t.Fatalf("another message %q under the same name must fail permanently, got %v", xml, err)
		}
	}
	for _, bad := range []map[string]any{
		{"path": dir, "name": "{nope}_{message_id}"},
		{"path": dir, "name": "{ags}"},
		{"path": dir, "format": "tar"},
		{"path": dir, "ready_suffix": "../x"},
	} {
		if _, err := adapters.New("filedrop", bad); err == nil {
			t.Errorf("options %v accepted", bad)
		}
	}
}

// FuzzSafeName: whatever a portal calls a file, the name that reaches a directory is one plain
// file name.
func FuzzSafeName(f *testing.F) {
	for _, s := range []string{"Antrag.pdf", "../../etc/passwd", `..\..\x`, "", ".", "a/b/c", "\x00", strings.Repeat("ä", 300),
		"Bescheid\u202efdp.exe", "a.pdf.\u200b", "report. . .", "\u0085\ufeff", strings.Repeat("a", 119) + " b", "\xff\xfe"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		got := adapters.SafeName(name)
		if got == "" || got == "." || got == ".." || strings.ContainsAny(got, "/\\\x00:*?\"<>|") || len(got) > 140 ||
			strings.HasPrefix(got, ".") {
			t.Fatalf("SafeName(%q) = %q", name, got)
		}
		if strings.HasSuffix(got, ".") || strings.HasSuffix(got, " ") {
			t.Fatalf("SafeName(%q) = %q ends in a dot or a space", name, got)
		}
		if i := strings.IndexFunc(got, func(r rune) bool { return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) }); i >= 0 {
			t.Fatalf("SafeName(%q) = %q keeps the control or format character %U", name, got, []rune(got[i:])[0])
		}
		if !utf8.ValidString(got) {
			t.Fatalf("SafeName(%q) = %q is not valid UTF-8", name, got)
		}
		// Names are made safe more than once (at intake, then by the adapter): it must not
		// change them again.
		if again := adapters.SafeName(got); again != got {
			t.Fatalf("SafeName(%q) = %q, but SafeName(%q) = %q", name, got, got, again)
		}
	})
}

// A package name starts with the UUID whatever the portal's file name holds (directories, a
// length beyond what SafeName keeps) and keeps the extension; a second SafeName, as the adapters
// apply, changes nothing — the message and the package name the file alike.
func TestPackageName(t *testing.T) {
	const id = "0a1b2c3d-0000-4000-8000-000000000001"
	tests := []struct{ name, want string }{
		{"Bescheid.pdf", id + "_Bescheid.pdf"},
		{"../../etc/passwd.pdf", id + "_passwd.pdf"},
		{"C:\\Users\\anna\\Scan 01.png", id + "_Scan 01.png"},
		{strings.Repeat("Ä", 100) + ".pdf", id + "_" + strings.Repeat("Ä", 39) + ".pdf"},
		{"\u202efdp.exe", id + "_fdp.exe"},
		{"...", id + "_unnamed"},
	}
	for _, tt := range tests {
		got := adapters.PackageName(id, tt.name)
		if got != tt.want {
			t.Errorf("PackageName(%q) = %q, want %q", tt.name, got, tt.want)
		}
		if len(got) > 120 || adapters.SafeName(got) != got || !strings.HasPrefix(got, id+"_") {
			t.Errorf("PackageName(%q) = %q: over 120 bytes, changed by SafeName, or without the UUID", tt.name, got)
		}
	}
}

// A JSON or CSV message is written under its own extension, exactly as mapped: in the zip, or
// (format files) as a plain file an import folder picks up.
func TestFiledropWritesJSONAndCSVMessages(t *testing.T) {
	csv := []byte("Name;Ort\r\nJ\xfcrgen;K\xf6ln\r\n") // Windows-1252
	tests := []struct {
		format, mediaType, ext string
		content                []byte
	}{
		{"zip", "application/json", ".json", []byte("{\n  \"a\": 1\n}\n")},
		{"zip", "text/csv; charset=windows-1252; header=present", ".csv", csv},
		{"files", "text/csv; charset=utf-8; header=present", ".csv", []byte("\uFEFFName\r\nA\r\n")},
		{"files", "application/json", ".json", []byte("{}\n")},
	}
	for _, tt := range tests {
		t.Run(tt.format+tt.ext, func(t *testing.T) {
			dir := t.TempDir()
			a, err := adapters.New("filedrop", map[string]any{"path": dir, "format": tt.format})
			if err != nil {
				t.Fatal(err)
			}
			p := testPackage("")
			p.XML, p.MediaType = tt.content, tt.mediaType
			path, err := a.Deliver(context.Background(), p)
			if err != nil {
				t.Fatal(err)
			}
			name := p.MessageID + "_" + p.MessageType + tt.ext
			var got []byte
			if tt.format == "files" {
				if filepath.Base(path) != name {
					t.Fatalf("artefact %s, want %s", path, name)
				}
				got, _ = os.ReadFile(path)
			} else {
				zr, err := zip.OpenReader(path)
				if err != nil {
					t.Fatal(err)
				}
				defer zr.Close()
				rc, err := zr.Open(name)
				if err != nil {
					t.Fatalf("the zip lacks %s: %v", name, err)
				}
				got, _ = io.ReadAll(rc)
				rc.Close()
			}
			if !bytes.Equal(got, tt.content) {
				t.Fatalf("message %q, want %q", got, tt.content)
			}
			if _, err := a.Deliver(context.Background(), p); err != nil {
				t.Fatalf("redelivery: %v", err)
			}
		})
	}
}
