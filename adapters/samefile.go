package adapters

import (
	"archive/zip"
	"bytes"
	"errors"
	"io"
	"io/fs"
	"slices"
	"time"

	"github.com/klauspost/compress/flate"
)

// A package delivered again (after a crash, or a replay) finds the file of its earlier delivery
// under its name. The adapters then tell "the same package" (success) from "another file under
// this name" (a permanent error, never an overwrite) by what the files hold: the same bytes for
// plain files; for zips the same entries — names, CRC-32 checksums, sizes and times — with data
// that matches the checksums, whatever bytes the compressor wrote. So a package zipped by an
// earlier version of amtsbote, or of Go, whose compressor wrote other bytes, is still recognised.

// zipEntry identifies one file in a zip.
type zipEntry struct {
	name     string
	crc32    uint32
	size     uint64
	modified time.Time
}

// zipEntries lists a zip's files from its central directory.
func zipEntries(zr *zip.Reader) []zipEntry {
	out := make([]zipEntry, 0, len(zr.File))
	for _, f := range zr.File {
		out = append(out, zipEntry{name: f.Name, crc32: f.CRC32, size: f.UncompressedSize64, modified: f.Modified.UTC()})
	}
	return out
}

// SameZip tells whether the existing zip b holds the same files as ours, a: the same entries,
// and data in b that matches their checksums (so a file damaged on its way to the disk, say by a
// crash of a server that did not sync it, does not count as delivered). A file that is not a
// zip holds other content than one that is.
func SameZip(a io.ReaderAt, sizeA int64, b io.ReaderAt, sizeB int64) (bool, error) {
	za, err := zip.NewReader(a, sizeA)
	if err != nil {
		return false, err // ours was just written: a failure to read it is a real error
	}
	zb, err := zip.NewReader(b, sizeB)
	if damaged(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if !slices.EqualFunc(zipEntries(za), zipEntries(zb), func(x, y zipEntry) bool {
		return x.name == y.name && x.crc32 == y.crc32 && x.size == y.size && x.modified.Equal(y.modified)
	}) {
		return false, nil
	}
	for _, f := range zb.File {
		rc, err := f.Open()
		if err == nil {
			_, err = io.Copy(io.Discard, rc) // checks the CRC-32 at the end
			rc.Close()
		}
		if damaged(err) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
	}
	return true, nil
}

// damaged tells whether a zip error means the file's content is not a sound zip, as opposed to
// a failure to read it.
func damaged(err error) bool {
	var corrupt flate.CorruptInputError
	return errors.Is(err, zip.ErrFormat) || errors.Is(err, zip.ErrAlgorithm) || errors.Is(err, zip.ErrChecksum) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.As(err, &corrupt)
}

// SameBytes tells whether a and b hold the same bytes, reading both as streams.
func SameBytes(a, b io.Reader) (bool, error) {
	bufA, bufB := make([]byte, 64<<10), make([]byte, 64<<10)
	ended := func(err error) bool { return err == io.EOF || err == io.ErrUnexpectedEOF }
	for {
		n, errA := io.ReadFull(a, bufA)
		m, errB := io.ReadFull(b, bufB)
		if errA != nil && !ended(errA) {
			return false, errA
		}
		if errB != nil && !ended(errB) {
			return false, errB
		}
		if !bytes.Equal(bufA[:n], bufB[:m]) {
			return false, nil
		}
		if ended(errA) || ended(errB) {
			return ended(errA) && ended(errB), nil
		}
	}
}

// statFile is an open file, local (*os.File) or on an SFTP server (*sftp.File).
type statFile interface {
	io.ReaderAt
	io.Closer
	Stat() (fs.FileInfo, error)
}

// sameFiles opens the file just written (ours) and the one found under its name (existing) and
// tells whether they hold the same (PackageFile.Same).
func sameFiles[F statFile](open func(string) (F, error), ours, existing string, pf PackageFile) (bool, error) {
	a, err := open(ours)
	if err != nil {
		return false, err
	}
	defer a.Close()
	b, err := open(existing)
	if err != nil {
		return false, err
	}
	defer b.Close()
	infoA, err := a.Stat()
	if err != nil {
		return false, err
	}
	infoB, err := b.Stat()
	if err != nil {
		return false, err
	}
	return pf.Same(a, infoA.Size(), b, infoB.Size())
}

// Zips are deflated at BestSpeed by writers taken from a free list. The writers are
// klauspost/compress's: at BestSpeed they take 40 % less CPU than compress/flate's for the
// demo's entries (a 15 KB message, a few hundred bytes of JSON) and write slightly smaller
// streams. At the higher levels a writer clears its hash tables for every entry it starts, which
// cost more than compressing a typical message. The list, unlike a sync.Pool, survives garbage
// collections: under load the pool, emptied at every collection, made new writers and their
// buffers all the time. At most as many as zips are written at once under load are kept.
var flateWriters = make(chan *flate.Writer, 8)

func pooledDeflate(w io.Writer) (io.WriteCloser, error) {
	var fw *flate.Writer
	select {
	case fw = <-flateWriters:
		fw.Reset(w)
	default:
		fw, _ = flate.NewWriter(w, flate.BestSpeed)
	}
	return &pooledFlateWriter{fw: fw}, nil
}

type pooledFlateWriter struct {
	fw *flate.Writer
}

func (p *pooledFlateWriter) Write(b []byte) (int, error) {
	if p.fw == nil {
		return 0, errors.New("zip: write to a closed entry")
	}
	return p.fw.Write(b)
}

func (p *pooledFlateWriter) Close() error {
	if p.fw == nil {
		return nil
	}
	err := p.fw.Close()
	select {
	case flateWriters <- p.fw:
	default: // enough are kept
	}
	p.fw = nil
	return err
}
