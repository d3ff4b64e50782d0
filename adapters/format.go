package adapters

import (
	"archive/zip"
	"bytes"
	"fmt"
	"io"
)

// FileOptions are the options of adapters that place a package as files: what they are called
// and how the package becomes files. Embed them with `mapstructure:",squash"`.
type FileOptions struct {
	// Name is the file name without extension, with placeholders {message_id} (the ProzessID),
	// {message_type}, {leistung}, {ags}, {date} (YYYYMMDD) and {submission_id}; it must contain
	// {message_id} or {submission_id}. Default: "{message_id}_{message_type}", the xdomea
	// convention.
	Name string `mapstructure:"name"`
	// Format is "zip" (the xdomea package: message and attachments in one zip) or "files" (the
	// attachments as files, then the message as <name>.xml). A JSON or CSV message is
	// <name>.json or <name>.csv; an import folder that picks up *.csv wants "files". Default: zip.
	Format string `mapstructure:"format"`
}

// Parse checks the options (ParseName, ParseFormat).
func (o FileOptions) Parse() (Pattern, Format, error) {
	name, err := ParseName(o.Name)
	if err != nil {
		return Pattern{}, "", err
	}
	format, err := ParseFormat(o.Format)
	return name, format, err
}

// Format is how a package becomes files at the receiver: the option `format` of adapters that
// write files.
type Format string

const (
	// FormatZip is the xdomea package: one <name>.zip holding the message as <name>.xml (.json,
	// .csv) and the attachments under the names the message references.
	FormatZip Format = "zip"
	// FormatFiles is the attachments as files, then the message as <name>.xml (.json, .csv),
	// so that a receiver that picks up the message finds its attachments already there.
	FormatFiles Format = "files"
)

// ParseFormat checks the option `format`; empty means FormatZip.
func ParseFormat(text string) (Format, error) {
	switch Format(text) {
	case "":
		return FormatZip, nil
	case FormatZip, FormatFiles:
		return Format(text), nil
	}
	return "", fmt.Errorf("options.format %q: expected zip or files", text)
}

// PackageFile is one file a package becomes: its name, how to write its content, and how to
// tell whether a file already there holds the same (Same).
type PackageFile struct {
	Name string
	// Zip tells that the file is a zip, compared by its entries rather than its bytes.
	Zip   bool
	Write func(w io.Writer) error
}

// Files lists the files the package becomes in the format, base being its name without
// extension (Pattern.Name): in the order to place them, the message last.
func (f Format) Files(base string, p *Package) []PackageFile {
	message := base + p.MessageExt()
	if f != FormatFiles {
		return []PackageFile{{Name: base + ".zip", Zip: true, Write: func(w io.Writer) error { return WriteZip(w, message, p) }}}
	}
	out := make([]PackageFile, 0, len(p.Files)+1)
	for _, file := range p.Files {
		out = append(out, PackageFile{Name: SafeName(file.Name), Write: func(w io.Writer) error { return WriteAttachment(w, file) }})
	}
	return append(out, PackageFile{Name: message, Write: func(w io.Writer) error { _, err := w.Write(p.XML); return err }})
}

// Same tells whether existing (a file found under the name) holds what ours holds: the same
// entries for a zip, the same bytes otherwise (see SameZip).
func (pf PackageFile) Same(ours io.ReaderAt, sizeOurs int64, existing io.ReaderAt, sizeExisting int64) (bool, error) {
	if pf.Zip {
		return SameZip(ours, sizeOurs, existing, sizeExisting)
	}
	if sizeOurs != sizeExisting {
		return false, nil
	}
	return SameBytes(io.NewSectionReader(ours, 0, sizeOurs), io.NewSectionReader(existing, 0, sizeExisting))
}

// WriteAttachment copies an attachment's content to w.
func WriteAttachment(w io.Writer, file File) error {
	rc, err := file.Open()
	if err != nil {
		return fmt.Errorf("open attachment %s: %w", file.Name, err)
	}
	defer rc.Close()
	_, err = io.Copy(w, rc)
	return err
}

// WriteZip writes the package's xdomea zip, streaming: the message as messageName, then the
// attachments under their safe names, each with the package's creation time, so a redelivery
// holds the same entries (see SameZip).
func WriteZip(w io.Writer, messageName string, p *Package) error {
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
	if err := add(messageName, p.MessageMediaType(), bytes.NewReader(p.XML)); err != nil {
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
