package adapters

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
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
	// The file names and the format: name and format (see FileOptions).
	FileOptions `mapstructure:",squash"`
	// ReadySuffix, when set (e.g. ".ready"), adds an empty <name><suffix> file after the payload,
	// for receivers that wait for a semaphore file. Default: none.
	ReadySuffix string `mapstructure:"ready_suffix"`
}

// filedrop writes each package into a directory: by default as an xdomea zip,
// <ProzessID>_<message type>.zip, holding the message as <ProzessID>_<message type>.xml and the
// attachments under the names it references.
type filedrop struct {
	dir       string
	mode      fs.FileMode
	createDir bool
	name      Pattern
	format    Format
	ready     string
	inflight  Inflight
}

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
	name, format, err := o.Parse()
	if err != nil {
		return nil, fmt.Errorf("filedrop: %w", err)
	}
	if o.ReadySuffix != "" && SafeName(o.ReadySuffix) != strings.TrimLeft(o.ReadySuffix, ".") {
		return nil, fmt.Errorf("filedrop: options.ready_suffix %q must be a plain suffix such as .ready", o.ReadySuffix)
	}
	f := &filedrop{dir: o.Path, mode: fs.FileMode(mode), createDir: o.CreateDir == nil || *o.CreateDir,
		name: name, format: format, ready: o.ReadySuffix}
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

// Deliver writes the package (one zip, or the attachments and then the message), each file
// first to a temporary file in the drop directory, synced, then linked to its final name, which
// fails rather than overwrite. A file that already exists with the same content is the same
// delivery done before: success. A different file under that name is a permanent error. The
// ready file, if any, comes last.
func (f *filedrop) Deliver(ctx context.Context, p *Package) (string, error) {
	done, err := f.inflight.Begin("filedrop")
	if err != nil {
		return "", err
	}
	defer done()
	if f.createDir {
		if err := os.MkdirAll(f.dir, 0o750); err != nil {
			return "", fmt.Errorf("filedrop: create drop directory: %w", err)
		}
	}
	base := f.name.Name(p)
	files := f.format.Files(base, p)
	var artefact string
	for _, pf := range files {
		if artefact, err = f.place(ctx, pf); err != nil {
			return "", err
		}
	}
	if f.ready != "" {
		if _, err := f.place(ctx, PackageFile{Name: base + f.ready, Write: func(io.Writer) error { return nil }}); err != nil {
			return "", err
		}
	}
	return artefact, nil // the zip, or the message: the last file
}

// place writes one file atomically under its name and returns its path. If the name is taken,
// PackageFile.Same tells whether the file there is this one delivered before.
func (f *filedrop) place(ctx context.Context, pf PackageFile) (string, error) {
	name := pf.Name
	target := filepath.Join(f.dir, name)
	tmp, err := createDropTemp(f.dir)
	if err != nil {
		return "", fmt.Errorf("filedrop: %w", err)
	}
	defer tmp.discard()
	// The package goes to the file in writes of dropBuffer bytes: a demo package (40 KB) in one
	// write call instead of five.
	bw := dropBuffers.Get().(*bufio.Writer)
	bw.Reset(ctxWriter{ctx, tmp})
	err = pf.Write(bw)
	if err == nil {
		err = bw.Flush()
	}
	bw.Reset(nil)
	dropBuffers.Put(bw)
	if err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		return "", fmt.Errorf("filedrop: write %s: %w", name, err)
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if err := tmp.Chmod(f.mode); err != nil {
		return "", fmt.Errorf("filedrop: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return "", fmt.Errorf("filedrop: sync: %w", err)
	}
	if err := tmp.link(target); err != nil {
		if !errors.Is(err, fs.ErrExist) {
			return "", fmt.Errorf("filedrop: %w", err)
		}
		isSame, cmpErr := sameFiles(os.Open, tmp.path, target, pf)
		if cmpErr != nil {
			return "", fmt.Errorf("filedrop: compare with existing %s: %w", target, cmpErr)
		}
		if !isSame {
			return "", Permanent(fmt.Errorf("filedrop: %s already exists with different content; refusing to overwrite it", target))
		}
		return target, nil
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("filedrop: %w", err)
	}
	if err := syncDir(f.dir); err != nil {
		return "", fmt.Errorf("filedrop: sync directory: %w", err)
	}
	return target, nil
}

// dropBuffer is the size of the writes to a dropped file.
const dropBuffer = 64 << 10

var dropBuffers = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, dropBuffer) }}

// Close waits for the deliveries in flight (see Inflight).
func (f *filedrop) Close() error {
	f.inflight.Close()
	return nil
}
