package inbound

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"os"
	"strings"

	"github.com/amtsbote/amtsbote/adapters"
	"github.com/amtsbote/amtsbote/fileformat"
	"github.com/amtsbote/amtsbote/store"
)

// intake is a request read and checked: the submission, its attachments ready to be streamed
// into the store, and the hash of the whole body for idempotency.
type intake struct {
	req         submissionRequest
	atts        []store.Attachment
	flagged     []string
	requestHash string
	spooled     []*os.File
}

// cleanup removes spooled attachment files.
func (in *intake) cleanup() {
	for _, f := range in.spooled {
		f.Close()
		os.Remove(f.Name())
	}
}

// readJSON reads a JSON submission with its attachments in base64. The request hash, which an
// Idempotency-Key compares, is the hash of the body; it is computed only for a request with a key.
func (s *Server) readJSON(w http.ResponseWriter, r *http.Request, withKey bool) (intake, int, []Problem) {
	body, err := readBody(http.MaxBytesReader(w, r.Body, s.MaxBodyBytes), r.ContentLength, s.MaxBodyBytes)
	if err != nil {
		st, pr := bodyError(err)
		return intake{}, st, pr
	}
	req, problems := decodeSubmission(body, s.limits())
	if len(problems) > 0 {
		return intake{}, http.StatusBadRequest, problems
	}
	in := intake{req: req}
	in.atts, in.flagged = attachments(req.Attachments)
	if withKey {
		sum := sha256.Sum256(body)
		in.requestHash = hex.EncodeToString(sum[:])
	}
	return in, 0, nil
}

// readBody reads a request body of the length the request declares, if any, into a buffer of
// that size (io.ReadAll grows its buffer by doubling, allocating about three times the body).
// A declared length above limit is read through r, which refuses it.
func readBody(r io.Reader, length, limit int64) ([]byte, error) {
	if length <= 0 || length > limit {
		return io.ReadAll(r)
	}
	b := make([]byte, length)
	n, err := io.ReadFull(r, b) // net/http's body ends after the declared length
	return b[:n], err
}

func bodyError(err error) (int, []Problem) {
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return http.StatusRequestEntityTooLarge, []Problem{{Message: fmt.Sprintf("request body is larger than the limit of %d bytes", tooLarge.Limit)}}
	}
	return http.StatusBadRequest, []Problem{{Message: "could not read the request body: " + err.Error()}}
}

// readMultipart reads a multipart/form-data submission: a part named "submission" with the JSON
// (without attachments, or with small ones in base64), then one part named "attachment" per
// file, in order, with its file name and Content-Type. Files up to 1 MiB are kept in memory,
// larger ones are streamed to temporary files — memory never holds a large file — and from
// there into the store, so a large upload neither fills memory nor holds the store's write lock
// while the client sends it.
func (s *Server) readMultipart(w http.ResponseWriter, r *http.Request) (in intake, status int, problems []Problem) {
	body := http.MaxBytesReader(w, r.Body, s.MaxBodyBytes)
	var submissionPart []byte
	_, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || params["boundary"] == "" {
		return in, http.StatusBadRequest, []Problem{{Message: "multipart/form-data needs a boundary parameter"}}
	}
	mr := multipart.NewReader(body, params["boundary"])
	lim := s.limits()
	var sawSubmission bool
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			st, pr := bodyError(err)
			return in, st, pr
		}
		switch part.FormName() {
		case "submission":
			if sawSubmission {
				return in, http.StatusBadRequest, []Problem{{Field: "submission", Message: "appears twice"}}
			}
			sawSubmission = true
			raw, err := io.ReadAll(io.LimitReader(part, s.MaxBodyBytes))
			if err != nil {
				st, pr := bodyError(err)
				return in, st, pr
			}
			req, problems := decodeSubmission(raw, lim)
			if len(problems) > 0 {
				return in, http.StatusBadRequest, problems
			}
			in.req, submissionPart = req, raw
			in.atts, in.flagged = attachments(req.Attachments)
		case "attachment":
			if !sawSubmission {
				return in, http.StatusBadRequest, []Problem{{Field: "attachment", Message: `the "submission" part must come before the files`}}
			}
			seq := len(in.atts)
			field := fmt.Sprintf("attachments[%d]", seq)
			if lim.MaxAttachments > 0 && seq >= lim.MaxAttachments {
				return in, http.StatusBadRequest, []Problem{{Field: "attachments", Message: fmt.Sprintf("more than %d attachments", lim.MaxAttachments)}}
			}
			a, flag, st, pr := s.spool(part, seq, field, lim, &in)
			if st != 0 {
				return in, st, pr
			}
			in.atts = append(in.atts, a)
			if flag != "" {
				in.flagged = append(in.flagged, flag)
			}
		default:
			return in, http.StatusBadRequest, []Problem{{Field: part.FormName(), Message: `unknown part; expected "submission" and "attachment"`}}
		}
	}
	if !sawSubmission {
		return in, http.StatusBadRequest, []Problem{{Field: "submission", Message: "missing: the JSON part named submission"}}
	}
	in.requestHash = multipartHash(submissionPart, in.atts[len(in.req.Attachments):])
	return in, 0, nil
}

// multipartHash is the request hash of a multipart submission, which an Idempotency-Key
// compares: it covers what the request says — the submission part and each file's name, media
// type and content hash — not its bytes, since a client repeating a request picks a new
// boundary. The files' hashes were computed while they were read, so no byte is hashed twice.
func multipartHash(submissionPart []byte, files []store.Attachment) string {
	h := sha256.New()
	field := func(b []byte) {
		h.Write(binary.BigEndian.AppendUint64(nil, uint64(len(b))))
		h.Write(b)
	}
	field([]byte("multipart/form-data"))
	field(submissionPart)
	for _, f := range files {
		field([]byte(f.Filename))
		field([]byte(f.MediaType))
		field([]byte(f.SHA256))
		if f.Title != "" { // only when given: hashes of requests without titles stay as they were
			field([]byte("title"))
			field([]byte(f.Title))
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// spool copies one file part to a temporary file, checking its name, media type and size.
func (s *Server) spool(part *multipart.Part, seq int, field string, lim Limits, in *intake) (store.Attachment, string, int, []Problem) {
	name := part.FileName()
	var problems []Problem
	if strings.TrimSpace(name) == "" {
		problems = append(problems, Problem{Field: field + ".filename", Message: "must not be empty (filename in Content-Disposition)"})
	} else if len(name) > 255 {
		problems = append(problems, Problem{Field: field + ".filename", Message: "must be at most 255 bytes"})
	}
	mt, _, err := mime.ParseMediaType(part.Header.Get("Content-Type"))
	if err != nil || !strings.Contains(mt, "/") {
		problems = append(problems, Problem{Field: field + ".media_type", Message: fmt.Sprintf("must be a media type such as application/pdf (Content-Type of the part), got %q", part.Header.Get("Content-Type"))})
	}
	if len(problems) > 0 {
		return store.Attachment{}, "", http.StatusBadRequest, problems
	}
	title := strings.TrimSpace(part.Header.Get("Content-Description"))
	if len(title) > 500 {
		return store.Attachment{}, "", http.StatusBadRequest, []Problem{{Field: field + ".title", Message: "Content-Description must be at most 500 bytes"}}
	}
	sp := &spooler{in: in, dir: s.SpoolDir}
	head := &headWriter{max: 512}
	sum := sha256.New()
	format := &fileformat.Detector{}
	n, err := io.Copy(io.MultiWriter(sp, head, sum, format), io.LimitReader(part, lim.MaxAttachmentBytes+1))
	if errors.Is(err, errSpool) {
		return store.Attachment{}, "", http.StatusInternalServerError, []Problem{{Message: "could not spool the upload"}}
	}
	if err != nil {
		st, pr := bodyError(err)
		return store.Attachment{}, "", st, pr
	}
	if n > lim.MaxAttachmentBytes {
		return store.Attachment{}, "", http.StatusRequestEntityTooLarge, []Problem{{Field: field,
			Message: fmt.Sprintf("the file is larger than the limit of %d bytes", lim.MaxAttachmentBytes)}}
	}
	if n == 0 {
		return store.Attachment{}, "", http.StatusBadRequest, []Problem{{Field: field, Message: "the file is empty"}}
	}
	f, err := sp.reader()
	if err != nil {
		return store.Attachment{}, "", http.StatusInternalServerError, []Problem{{Message: "could not spool the upload"}}
	}
	ff := format.Format(mt, name)
	a := store.Attachment{Seq: seq, Filename: name, PackageName: adapters.PackageName(newID(), name), MediaType: mt,
		Title: title, SHA256: hex.EncodeToString(sum.Sum(nil)), Content: f, Format: ff.Name, FormatVersion: ff.Version, PDFA: ff.PDFA}
	return a, mismatch(seq, mt, head.Bytes()), 0, nil
}

// spoolInMemory is how much of an uploaded file is kept in memory; a larger file goes to a
// temporary file, so memory holds at most this much per file.
const spoolInMemory = store.ChunkSize

var errSpool = errors.New("could not spool the upload")

// spooler keeps a small file in memory and moves a large one to a temporary file.
type spooler struct {
	in   *intake
	dir  string // "": the system's temporary directory
	buf  bytes.Buffer
	file *os.File
}

func (s *spooler) Write(p []byte) (int, error) {
	if s.file == nil && s.buf.Len()+len(p) <= spoolInMemory {
		return s.buf.Write(p)
	}
	if s.file == nil {
		f, err := os.CreateTemp(s.dir, spoolPrefix+"*")
		if err != nil {
			return 0, errSpool
		}
		s.in.spooled = append(s.in.spooled, f)
		s.file = f
		if _, err := f.Write(s.buf.Bytes()); err != nil {
			return 0, errSpool
		}
		s.buf = bytes.Buffer{}
	}
	if _, err := s.file.Write(p); err != nil {
		return 0, errSpool
	}
	return len(p), nil
}

// reader reads the spooled file from its start.
func (s *spooler) reader() (io.Reader, error) {
	if s.file == nil {
		return bytes.NewReader(s.buf.Bytes()), nil
	}
	_, err := s.file.Seek(0, io.SeekStart)
	return s.file, err
}

// headWriter keeps the first bytes written to it, for content sniffing.
type headWriter struct {
	bytes.Buffer
	max int
}

func (h *headWriter) Write(p []byte) (int, error) {
	if room := h.max - h.Len(); room > 0 {
		h.Buffer.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}
