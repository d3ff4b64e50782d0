package adapters

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

func init() {
	Register("filedrop", newFiledrop)
}

// FiledropOptions configure the filedrop adapter.
type FiledropOptions struct {
	// Path is the drop directory, relative to the working directory. Required.
	Path string `mapstructure:"path"`
	// FileMode is the octal mode of written packages. Default: "0640".
	FileMode string `mapstructure:"file_mode"`
	// CreateDir creates the drop directory if it is missing. Default: true.
	CreateDir *bool `mapstructure:"create_dir"`
	// Name is the file name without extension, with placeholders {message_id} (the ProzessID),
	// {message_type}, {leistung}, {ags}, {date} (YYYYMMDD) and {submission_id}.
	// Default: "{message_id}_{message_type}", the xdomea convention.
	Name string `mapstructure:"name"`
	// Format is "zip" (the xdomea package: message and attachments in one zip) or "files" (the
	// attachments as files, then the message as <name>.xml). Default: zip.
	Format string `mapstructure:"format"`
	// ReadySuffix, when set (e.g. ".ready"), adds an empty <name><suffix> file after the payload,
	// for receivers that wait for a semaphore file. Default: none.
	ReadySuffix string `mapstructure:"ready_suffix"`
}

// filedrop writes each package as an xdomea zip, <ProzessID>_<message type>.zip, holding the
// message as <ProzessID>_<message type>.xml and the attachments under the names it references.
type filedrop struct {
	dir       string
	mode      fs.FileMode
	createDir bool
	name      string
	format    string
	ready     string

	mu       sync.Mutex
	closed   bool
	inflight sync.WaitGroup
}

var namePlaceholder = regexp.MustCompile(`\{[a-z_]+\}`)

func newFiledrop(options map[string]any) (Adapter, error) {
	var o FiledropOptions
	if err := DecodeOptions(options, &o); err != nil {
		return nil, fmt.Errorf("filedrop: %w", err)
	}
	if o.Path == "" {
		return nil, errors.New("filedrop: options.path must name the drop directory")
	}
	if o.FileMode == "" {
		o.FileMode = "0640"
	}
	mode, err := strconv.ParseUint(o.FileMode, 8, 32)
	if err != nil || mode > 0o777 {
		return nil, fmt.Errorf("filedrop: options.file_mode %q: expected an octal mode such as 0640", o.FileMode)
	}
	create := o.CreateDir == nil || *o.CreateDir
	if o.Name == "" {
		o.Name = "{message_id}_{message_type}"
	}
	for _, ph := range namePlaceholder.FindAllString(o.Name, -1) {
		switch ph {
		case "{message_id}", "{message_type}", "{leistung}", "{ags}", "{date}", "{submission_id}":
		default:
			return nil, fmt.Errorf("filedrop: options.name %q: unknown placeholder %s (known: {message_id}, {message_type}, {leistung}, {ags}, {date}, {submission_id})", o.Name, ph)
		}
	}
	if !strings.Contains(o.Name, "{message_id}") && !strings.Contains(o.Name, "{submission_id}") {
		return nil, fmt.Errorf("filedrop: options.name %q must contain {message_id} or {submission_id}: names must be unique per message", o.Name)
	}
	switch o.Format {
	case "":
		o.Format = "zip"
	case "zip", "files":
	default:
		return nil, fmt.Errorf("filedrop: options.format %q: expected zip or files", o.Format)
	}
	if o.ReadySuffix != "" && SafeName(o.ReadySuffix) != strings.TrimLeft(o.ReadySuffix, ".") {
		return nil, fmt.Errorf("filedrop: options.ready_suffix %q must be a plain suffix such as .ready", o.ReadySuffix)
	}
	f := &filedrop{dir: o.Path, mode: fs.FileMode(mode), createDir: create, name: o.Name, format: o.Format, ready: o.ReadySuffix}
	f.removeStaleTemps(time.Now().Add(-staleTempAge))
	return f, nil
}

// staleTempAge is how old a temporary file must be before it counts as left behind by a crash;
// younger ones may belong to another instance writing into the same directory.
const staleTempAge = 15 * time.Minute

const tempPattern = ".amtsbote-*.tmp"

// removeStaleTemps deletes temporary files that a killed process left in the drop directory.
func (f *filedrop) removeStaleTemps(before time.Time) {
	matches, _ := filepath.Glob(filepath.Join(f.dir, tempPattern))
	for _, m := range matches {
		if info, err := os.Lstat(m); err == nil && info.Mode().IsRegular() && info.ModTime().Before(before) {
			_ = os.Remove(m)
		}
	}
}

// baseName fills the name pattern; every part that comes from a submission is made safe.
func (f *filedrop) baseName(p *Package) string {
	name := strings.NewReplacer(
		"{message_id}", p.MessageID, "{message_type}", p.MessageType, "{leistung}", p.Leistung,
		"{ags}", p.AGS, "{date}", p.CreatedAt.UTC().Format("20060102"), "{submission_id}", p.SubmissionID,
	).Replace(f.name)
	return SafeName(name)
}

// Deliver writes the package (one zip, or the attachments and then the message XML), each file
// first to a temporary file in the drop directory, synced, then linked to its final name, which
// fails rather than overwrite. A file that already exists with the same bytes is the same
// delivery done before: success. A different file under that name is a permanent error. The
// ready file, if any, comes last.
func (f *filedrop) Deliver(ctx context.Context, p *Package) (string, error) {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return "", Transient(fmt.Errorf("filedrop: delivery to %s after the adapter was closed", f.dir), 0)
	}
	f.inflight.Add(1)
	f.mu.Unlock()
	defer f.inflight.Done()

	base := f.baseName(p)
	if f.createDir {
		if err := os.MkdirAll(f.dir, 0o750); err != nil {
			return "", fmt.Errorf("filedrop: create drop directory: %w", err)
		}
	}
	var artefact string
	if f.format == "files" {
		for _, file := range p.Files {
			if _, err := f.place(ctx, SafeName(file.Name), func(w io.Writer) error { return copyFile(w, file) }, sameLocalBytes); err != nil {
				return "", err
			}
		}
		target, err := f.place(ctx, base+p.MessageExt(), func(w io.Writer) error { _, err := w.Write(p.XML); return err }, sameLocalBytes)
		if err != nil {
			return "", err
		}
		artefact = target
	} else {
		target, err := f.place(ctx, base+".zip", func(w io.Writer) error { return writeZip(w, base+p.MessageExt(), p) }, sameLocalZip)
		if err != nil {
			return "", err
		}
		artefact = target
	}
	if f.ready != "" {
		if _, err := f.place(ctx, base+f.ready, func(io.Writer) error { return nil }, sameLocalBytes); err != nil {
			return "", err
		}
	}
	return artefact, nil
}

func copyFile(w io.Writer, file File) error {
	rc, err := file.Open()
	if err != nil {
		return fmt.Errorf("open attachment %s: %w", file.Name, err)
	}
	defer rc.Close()
	_, err = io.Copy(w, rc)
	return err
}

// place writes one file atomically under name and returns its path. If the name is taken, same
// tells whether the file there is this one delivered before (see samefile.go).
func (f *filedrop) place(ctx context.Context, name string, write func(io.Writer) error, same func(ours, existing string) (bool, error)) (string, error) {
	target := filepath.Join(f.dir, name)
	tmp, err := os.CreateTemp(f.dir, tempPattern)
	if err != nil {
		return "", fmt.Errorf("filedrop: %w", err)
	}
	defer os.Remove(tmp.Name())
	// A cancelled delivery stops writing at once, rather than copy the rest of a large
	// attachment first.
	if err := write(ctxWriter{ctx, tmp}); err != nil {
		tmp.Close()
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		return "", fmt.Errorf("filedrop: write %s: %w", name, err)
	}
	if err := ctx.Err(); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Chmod(f.mode); err != nil {
		tmp.Close()
		return "", fmt.Errorf("filedrop: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return "", fmt.Errorf("filedrop: sync: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("filedrop: %w", err)
	}
	if err := os.Link(tmp.Name(), target); err != nil {
		if !errors.Is(err, fs.ErrExist) {
			return "", fmt.Errorf("filedrop: %w", err)
		}
		isSame, cmpErr := same(tmp.Name(), target)
		if cmpErr != nil {
			return "", fmt.Errorf("filedrop: compare with existing %s: %w", target, cmpErr)
		}
		if !isSame {
			return "", Permanent(fmt.Errorf("filedrop: %s already exists with different content; refusing to overwrite it", target))
		}
		return target, nil
	}
	if err := syncDir(f.dir); err != nil {
		return "", fmt.Errorf("filedrop: sync directory: %w", err)
	}
	return target, nil
}

// Close refuses new deliveries and waits for those in flight.
func (f *filedrop) Close() error {
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
	f.inflight.Wait()
	return nil
}

// writeZip writes the package's zip: the message, then the attachments, each with the
// package's creation time, so a redelivery holds the same entries (see samefile.go).
func writeZip(w io.Writer, xmlName string, p *Package) error {
	zw := zip.NewWriter(w)
	zw.RegisterCompressor(zip.Deflate, pooledDeflate)
	add := func(name, mediaType string, r io.Reader) error {
		method := zip.Deflate
		if compressed[mediaType] {
			method = zip.Store // deflating it again costs time and gains nothing
		}
		h := &zip.FileHeader{Name: name, Method: method, Modified: p.CreatedAt.UTC().Truncate(1e9)}
		fw, err := zw.CreateHeader(h)
		if err != nil {
			return err
		}
		_, err = io.Copy(fw, r)
		return err
	}
	if err := add(xmlName, p.MessageMediaType(), bytes.NewReader(p.XML)); err != nil {
		return err
	}
	for _, file := range p.Files {
		rc, err := file.Open()
		if err != nil {
			return fmt.Errorf("open attachment %s: %w", file.Name, err)
		}
		err = add(SafeName(file.Name), file.MediaType, rc)
		rc.Close()
		if err != nil {
			return fmt.Errorf("attachment %s: %w", file.Name, err)
		}
	}
	return zw.Close()
}

// compressed are media types whose content is compressed already.
var compressed = map[string]bool{
	"application/pdf": true, "application/zip": true, "application/gzip": true, "image/jpeg": true, "image/png": true,
	"image/gif": true, "image/webp": true, "video/mp4": true, "audio/mpeg": true,
	"application/vnd.openxmlformats-officedocument.wordprocessingml.document":   true,
	"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet":         true,
	"application/vnd.openxmlformats-officedocument.presentationml.presentation": true,
	"application/vnd.oasis.opendocument.text":                                   true,
	"application/vnd.oasis.opendocument.spreadsheet":                            true,
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// SafeName turns a name from user input into a plain file name: no directories, no parent
// references, no control, format or reserved characters, no leading or trailing dots and
// spaces, at most 120 bytes.
//
// Format characters (Unicode category Cf: bidi overrides and isolates, zero-width characters,
// the byte order mark, the soft hyphen) are invisible or reorder what is shown:
// "Bescheid\u202efdp.exe" shows as "Bescheidexe.pdf". Windows drops trailing dots and spaces,
// so "a.pdf" and "a.pdf." would collide there, and "name." hides the extension.
func SafeName(name string) string {
	name = strings.ReplaceAll(name, "\\", "/")
	name = strings.TrimPrefix(filepath.Base("/"+name), "/")
	var b strings.Builder
	for _, r := range name {
		switch {
		case unicode.IsControl(r) || unicode.Is(unicode.Cf, r):
			continue
		case strings.ContainsRune(`/:*?"<>|`, r):
			b.WriteRune('_')
		default:
			b.WriteRune(r)
		}
	}
	out := trimDotsAndSpaces(b.String())
	if len(out) > 120 {
		ext := filepath.Ext(out)
		if len(ext) > 20 {
			ext = ""
		}
		// The cut may end in a dot or a space again.
		out = trimDotsAndSpaces(truncateUTF8(out, 120-len(ext))) + ext
	}
	if out == "" {
		out = "unnamed"
	}
	return out
}

// PackageName is the name of a file in a delivered package: id (a UUID, as xdomea wants file
// names to start with one), "_", and the file's own name made safe — shortened, keeping its
// extension, so that the whole stays within SafeName's 120 bytes and SafeName leaves it as is.
func PackageName(id, name string) string {
	safe := SafeName(name)
	if room := 120 - len(id) - 1; len(safe) > room {
		ext := filepath.Ext(safe)
		if len(ext) > 20 || len(ext) >= room {
			ext = ""
		}
		safe = trimDotsAndSpaces(truncateUTF8(safe, room-len(ext))) + ext
		if safe == "" {
			safe = "unnamed"
		}
	}
	return SafeName(id + "_" + safe)
}

// trimDotsAndSpaces removes dots and white space at both ends: a leading dot hides the file on
// Unix, a trailing one (or space) is dropped by Windows.
func trimDotsAndSpaces(s string) string {
	return strings.TrimFunc(s, func(r rune) bool { return r == '.' || unicode.IsSpace(r) })
}

func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
