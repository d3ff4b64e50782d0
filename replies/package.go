package replies

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Incoming is a reply as handed in and read: its manifest, the manifest's bytes as received
// (kept, bounded, when the reply is filed) and the files the manifest names, by file name.
type Incoming struct {
	Manifest Manifest
	Raw      []byte
	Files    map[string]File
}

// File is one file of a reply, read as often as needed.
type File struct {
	Name string
	// Open reads the content from its start; each call a new reader.
	Open func() (io.ReadCloser, error)
}

// Inline makes an Incoming of a JSON body whose documents and message carry their content.
func Inline(raw []byte, lim Limits) (*Incoming, *Refusal) {
	m, r := ParseManifest(raw, true, lim)
	if r != nil {
		return &Incoming{Manifest: m, Raw: raw}, r
	}
	in := &Incoming{Manifest: m, Raw: raw, Files: map[string]File{}}
	for _, f := range m.files() {
		content := f.Content
		in.Files[f.Filename] = File{Name: f.Filename, Open: func() (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(content)), nil
		}}
	}
	return in, nil
}

// files lists the documents and the message.
func (m Manifest) files() []FileRef {
	out := append([]FileRef(nil), m.Documents...)
	if m.Message != nil {
		out = append(out, *m.Message)
	}
	return out
}

// MaxInlineFileBytes limits a .json reply in the inbox that carries its files inline
// (content_base64, as a JSON body over HTTP does); larger replies come as a zip package.
const MaxInlineFileBytes = 32 << 20

// ReadManifestOnly reads a .json file in the inbox: a reply without documents or message, or
// one whose files it carries inline in content_base64 (as a JSON body over HTTP does).
func ReadManifestOnly(raw []byte, lim Limits) (*Incoming, *Refusal) {
	if len(raw) > MaxInlineFileBytes {
		return &Incoming{Raw: raw[:MaxManifestBytes]}, invalid(ReasonTooLarge,
			fmt.Sprintf("the file is %d bytes; a .json reply is at most %d (send a zip package)", len(raw), MaxInlineFileBytes), nil)
	}
	m, r := ParseManifest(raw, false, lim)
	if len(m.Documents) > 0 || m.Message != nil {
		return Inline(raw, lim)
	}
	if len(raw) > MaxManifestBytes {
		return &Incoming{Raw: raw[:MaxManifestBytes]}, invalid(ReasonTooLarge,
			fmt.Sprintf("the manifest is %d bytes; the limit is %d", len(raw), MaxManifestBytes), nil)
	}
	in := &Incoming{Manifest: m, Raw: raw, Files: map[string]File{}}
	if r != nil {
		return in, r
	}
	return in, nil
}

// extraEntries are the entries of a package besides the documents: the manifest and the
// message.
const extraEntries = 2

// maxRatio is the largest compression ratio of a package entry over 1 MiB: documents (PDF)
// hardly compress, a zip bomb compresses a thousandfold.
const maxRatio = 100

// ReadPackage reads a zip package: reply.json and the files it names, nothing else. It reads
// safely — plain file names only (no directories, no path traversal), no duplicate or
// encrypted entries, only stored or deflated ones, every entry within its limit as declared
// and as read, no entry compressed beyond maxRatio — and refuses everything else. The files
// are read from r when opened; r must stay open as long as they are used.
func ReadPackage(r io.ReaderAt, size int64, lim Limits) (*Incoming, *Refusal) {
	in := &Incoming{Files: map[string]File{}}
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return in, invalid(ReasonBadRequest, "the package is not a zip archive: "+err.Error(), nil)
	}
	if max := lim.MaxDocuments + extraEntries; lim.MaxDocuments > 0 && len(zr.File) > max {
		return in, invalid(ReasonInvalid, fmt.Sprintf("the package holds %d entries; a reply has at most %d documents, %s and a message",
			len(zr.File), lim.MaxDocuments, ManifestName), nil)
	}
	entries := map[string]*zip.File{}
	var manifest *zip.File
	for _, f := range zr.File {
		field := fmt.Sprintf("package entry %q", truncate(f.Name, MaxFilenameBytes))
		if err := CheckFilename(f.Name); err != nil {
			return in, invalid(ReasonInvalid, field+": "+err.Error()+" (a package is flat: reply.json and the files beside it)", nil)
		}
		if _, dup := entries[f.Name]; dup {
			return in, invalid(ReasonInvalid, field+" appears twice", nil)
		}
		if f.Flags&0x1 != 0 {
			return in, invalid(ReasonInvalid, field+" is encrypted", nil)
		}
		if f.Method != zip.Store && f.Method != zip.Deflate {
			return in, invalid(ReasonInvalid, fmt.Sprintf("%s uses compression method %d; only stored and deflated entries are read", field, f.Method), nil)
		}
		limit := uint64(lim.MaxDocumentBytes)
		if f.Name == ManifestName {
			limit, manifest = MaxManifestBytes, f
		}
		if limit > 0 && f.UncompressedSize64 > limit {
			return in, invalid(ReasonTooLarge, fmt.Sprintf("%s is %d bytes; the limit is %d", field, f.UncompressedSize64, limit), nil)
		}
		if f.UncompressedSize64 > 1<<20 && f.UncompressedSize64 > maxRatio*f.CompressedSize64 {
			return in, invalid(ReasonInvalid, fmt.Sprintf("%s expands %d bytes to %d: refused as a zip bomb", field, f.CompressedSize64, f.UncompressedSize64), nil)
		}
		entries[f.Name] = f
	}
	if manifest == nil {
		return in, invalid(ReasonInvalid, "the package has no "+ManifestName, nil)
	}
	raw, err := readEntry(manifest, MaxManifestBytes)
	in.Raw = raw
	if err != nil {
		return in, invalid(ReasonInvalid, ManifestName+": "+err.Error(), nil)
	}
	m, refusal := ParseManifest(raw, false, lim)
	in.Manifest = m
	if refusal != nil {
		return in, refusal
	}
	named := map[string]bool{ManifestName: true}
	var problems []Problem
	for i, ref := range m.files() {
		field := fmt.Sprintf("documents[%d].filename", i)
		if i == len(m.Documents) {
			field = "message.filename"
		}
		named[ref.Filename] = true
		f, ok := entries[ref.Filename]
		if !ok {
			problems = append(problems, Problem{Field: field, Message: fmt.Sprintf("the package has no file %q", ref.Filename)})
			continue
		}
		max := lim.MaxDocumentBytes
		in.Files[ref.Filename] = File{Name: ref.Filename, Open: func() (io.ReadCloser, error) {
			rc, err := f.Open()
			if err != nil {
				return nil, err
			}
			return limitedReadCloser{Reader: &capReader{r: rc, max: max}, Closer: rc}, nil
		}}
	}
	for name := range entries {
		if !named[name] {
			problems = append(problems, Problem{Field: "package", Message: fmt.Sprintf("holds %q, which %s does not name", name, ManifestName)})
		}
	}
	if len(problems) > 0 {
		return in, invalid(ReasonInvalid, "the package does not fit its manifest", capProblems(problems))
	}
	return in, nil
}

// readEntry reads a whole entry of at most max bytes.
func readEntry(f *zip.File, max int64) ([]byte, error) {
	rc, err := f.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(&capReader{r: rc, max: max})
	if err != nil {
		return b, err
	}
	return b, nil
}

// ErrTooLarge is returned by a file's reader that goes on beyond its limit.
var ErrTooLarge = errors.New("larger than the limit")

// capReader fails once more than max bytes were read (max <= 0: no limit), whatever an
// archive's header declared.
type capReader struct {
	r    io.Reader
	max  int64
	read int64
}

func (c *capReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.read += int64(n)
	if c.max > 0 && c.read > c.max {
		return n, fmt.Errorf("%w of %d bytes", ErrTooLarge, c.max)
	}
	return n, err
}

type limitedReadCloser struct {
	io.Reader
	io.Closer
}

// IsPackageName tells whether a file of the inbox is a reply: a zip package or a bare
// manifest (.zip, .json).
func IsPackageName(name string) bool {
	lower := strings.ToLower(name)
	return strings.HasSuffix(lower, ".zip") || strings.HasSuffix(lower, ".json")
}
