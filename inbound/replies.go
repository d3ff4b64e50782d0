package inbound

import (
	"bufio"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/amtsbote/amtsbote/replies"
	"github.com/amtsbote/amtsbote/store"
)

// The return channel: Fachverfahren hand in replies (POST /v1/replies, authenticated per
// destination), portals read them (GET /v1/submissions/{id}/replies and the documents).

type destinationHandler func(w http.ResponseWriter, r *http.Request, destination string)

// clientAddress is the client's IP address, as a filed reply's origin.
func clientAddress(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// replyAuthenticated finds the destination by its reply token (destinations[].reply_token_sha256),
// compared as SHA-256 hashes in constant time over all destinations. A request without a known
// token is refused with 401 and filed as unauthorised — with the client's address, without
// anything it sent.
func (s *Server) replyAuthenticated(next destinationHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		token, hasToken := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		token = strings.TrimSpace(token)
		hasToken = hasToken && token != ""
		found := ""
		if hasToken {
			sum := sha256.Sum256([]byte(token))
			snap := s.Current()
			for _, d := range snap.Config.Destinations {
				hash, _ := hex.DecodeString(d.ReplyTokenSHA256) // checked by config.Validate
				if len(hash) == 32 && subtle.ConstantTimeCompare(sum[:], hash) == 1 {
					found = d.ID
				}
			}
			snap.Release()
		}
		if found == "" {
			msg := "missing bearer token: send Authorization: Bearer <the destination's reply token>"
			w.Header().Set("WWW-Authenticate", `Bearer realm="amtsbote-replies"`)
			if hasToken {
				msg = "unknown reply token"
				w.Header().Set("WWW-Authenticate", `Bearer realm="amtsbote-replies", error="invalid_token"`)
			}
			o := replies.Origin{Via: replies.ViaHTTP, Where: clientAddress(r)}
			if err := s.Replies.Refuse(r.Context(), o, nil, &replies.Refusal{Reason: replies.ReasonUnauthorised, Message: msg}); err != nil {
				s.Logger.Error("file an unauthorised reply failed", "error", err)
			}
			writeError(w, http.StatusUnauthorized, msg, nil)
			return
		}
		if wait := s.throttle("destination:" + found); wait > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
			writeError(w, http.StatusTooManyRequests, "too many requests from this destination; retry after the time in Retry-After", nil)
			return
		}
		next(w, r, found)
	}
}

// replyAccepted is the answer to a reply that was taken.
type replyAccepted struct {
	ID           string `json:"id"`
	SubmissionID string `json:"submission_id"`
	Status       string `json:"status"`
}

// replyStatus is the HTTP status of a refusal.
var replyStatus = map[replies.Reason]int{
	replies.ReasonBadRequest:   http.StatusBadRequest,
	replies.ReasonInvalid:      http.StatusUnprocessableEntity,
	replies.ReasonTooLarge:     http.StatusRequestEntityTooLarge,
	replies.ReasonUnsupported:  http.StatusUnsupportedMediaType,
	replies.ReasonUnmatched:    http.StatusNotFound,
	replies.ReasonUnauthorised: http.StatusNotFound, // whether the submission exists is not the sender's business
	replies.ReasonPurged:       http.StatusGone,
	replies.ReasonConflict:     http.StatusConflict,
}

// postReply takes a reply of a Fachverfahren: multipart/form-data (part "reply" with the JSON
// manifest, then one part "file" per file it names) or application/json (the files in base64).
// 202 once it is on disk; 200 with the stored reply when its id was handed in before.
func (s *Server) postReply(w http.ResponseWriter, r *http.Request, source string) {
	ctx := r.Context()
	o := replies.Origin{Via: replies.ViaHTTP, Source: source, Where: clientAddress(r)}
	lim := s.Replies.Limits
	var inc *replies.Incoming
	var refusal *replies.Refusal
	cleanup := func() {}
	switch mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt {
	case "multipart/form-data":
		inc, refusal, cleanup = s.readReplyMultipart(w, r, lim)
	case "application/json":
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.MaxBodyBytes))
		if err != nil {
			refusal = bodyRefusal(err)
		} else {
			inc, refusal = replies.Inline(body, lim)
		}
	default:
		refusal = &replies.Refusal{Reason: replies.ReasonUnsupported,
			Message: fmt.Sprintf("Content-Type %q: send multipart/form-data or application/json", r.Header.Get("Content-Type"))}
	}
	defer cleanup()
	if refusal != nil {
		if err := s.Replies.Refuse(ctx, o, inc, refusal); err != nil {
			s.internalError(w, "file a refused reply", err, "source", source)
			return
		}
		s.writeRefusal(w, refusal)
		return
	}
	acc, err := s.Replies.Accept(ctx, inc, o)
	if errors.As(err, &refusal) {
		s.writeRefusal(w, refusal)
		return
	}
	if err != nil {
		if errors.Is(err, store.ErrBroken) {
			s.storeUnavailable(w, "store reply", err, "source", source)
			return
		}
		s.internalError(w, "store reply", err, "source", source)
		return
	}
	status := http.StatusAccepted
	if acc.Duplicate {
		status = http.StatusOK
		w.Header().Set("Idempotent-Replayed", "true")
	}
	writeJSON(w, status, replyAccepted{ID: acc.Reply.ID, SubmissionID: acc.Reply.SubmissionID, Status: acc.Status})
}

func (s *Server) writeRefusal(w http.ResponseWriter, r *replies.Refusal) {
	status, ok := replyStatus[r.Reason]
	if !ok {
		status = http.StatusUnprocessableEntity
	}
	problems := make([]Problem, len(r.Problems))
	for i, p := range r.Problems {
		problems[i] = Problem(p)
	}
	writeError(w, status, r.Message, problems)
}

func bodyRefusal(err error) *replies.Refusal {
	st, pr := bodyError(err)
	reason := replies.ReasonBadRequest
	if st == http.StatusRequestEntityTooLarge {
		reason = replies.ReasonTooLarge
	}
	return &replies.Refusal{Reason: reason, Message: pr[0].Message}
}

// readReplyMultipart reads the part "reply" (the manifest, first) and one part "file" per file
// it names, each with its file name in Content-Disposition. Files are spooled as submissions'
// attachments are (in memory up to 1 MiB, else to server.spool_dir), within
// replies.max_document_bytes each; the cleanup removes them.
func (s *Server) readReplyMultipart(w http.ResponseWriter, r *http.Request, lim replies.Limits) (*replies.Incoming, *replies.Refusal, func()) {
	spooled := &intake{}
	cleanup := spooled.cleanup
	// The body holds at most every document and the message at their limit, and the manifest.
	maxBody := int64(lim.MaxDocuments+1)*lim.MaxDocumentBytes + replies.MaxManifestBytes + 1<<20
	body := http.MaxBytesReader(w, r.Body, maxBody)
	_, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || params["boundary"] == "" {
		return nil, &replies.Refusal{Reason: replies.ReasonBadRequest, Message: "multipart/form-data needs a boundary parameter"}, cleanup
	}
	mr := multipart.NewReader(body, params["boundary"])
	var inc *replies.Incoming
	bad := func(field, msg string) (*replies.Incoming, *replies.Refusal, func()) {
		return inc, &replies.Refusal{Reason: replies.ReasonBadRequest, Message: "the request is not a valid reply",
			Problems: []replies.Problem{{Field: field, Message: msg}}}, cleanup
	}
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return inc, bodyRefusal(err), cleanup
		}
		switch part.FormName() {
		case "reply":
			if inc != nil {
				return bad("reply", "appears twice")
			}
			raw, err := io.ReadAll(io.LimitReader(part, replies.MaxManifestBytes+1))
			if err != nil {
				return inc, bodyRefusal(err), cleanup
			}
			if len(raw) > replies.MaxManifestBytes {
				return nil, &replies.Refusal{Reason: replies.ReasonTooLarge,
					Message: fmt.Sprintf("the part reply is larger than %d bytes; documents go in parts of their own", replies.MaxManifestBytes)}, cleanup
			}
			m, refusal := replies.ParseManifest(raw, false, lim)
			inc = &replies.Incoming{Manifest: m, Raw: raw, Files: map[string]replies.File{}}
			if refusal != nil {
				return inc, refusal, cleanup
			}
		case "file":
			if inc == nil {
				return bad("file", `the part "reply" must come before the files`)
			}
			name := part.FileName()
			field := "file " + strconv.Quote(name)
			if !namesFile(inc.Manifest, name) {
				return bad(field, "the manifest names no such file (documents[].filename, message.filename)")
			}
			if _, dup := inc.Files[name]; dup {
				return bad(field, "comes twice")
			}
			sp := &spooler{in: spooled, dir: s.SpoolDir}
			n, err := io.Copy(sp, io.LimitReader(part, lim.MaxDocumentBytes+1))
			if errors.Is(err, errSpool) {
				return inc, &replies.Refusal{Reason: replies.ReasonBadRequest, Message: "could not spool the upload; retry"}, cleanup
			}
			if err != nil {
				return inc, bodyRefusal(err), cleanup
			}
			if n > lim.MaxDocumentBytes {
				return inc, &replies.Refusal{Reason: replies.ReasonTooLarge, Message: "a file of the reply is too large",
					Problems: []replies.Problem{{Field: field, Message: fmt.Sprintf("the file is larger than the limit of %d bytes", lim.MaxDocumentBytes)}}}, cleanup
			}
			inc.Files[name] = replies.File{Name: name, Open: func() (io.ReadCloser, error) {
				rd, err := sp.reader()
				if err != nil {
					return nil, err
				}
				return io.NopCloser(rd), nil
			}}
		default:
			return bad(part.FormName(), `unknown part; expected "reply" and "file"`)
		}
	}
	if inc == nil {
		return bad("reply", "missing: the JSON part named reply")
	}
	return inc, nil, cleanup
}

func namesFile(m replies.Manifest, name string) bool {
	for _, d := range m.Documents {
		if d.Filename == name {
			return true
		}
	}
	return m.Message != nil && m.Message.Filename == name
}

type replyView struct {
	ID         string              `json:"id"`
	Kind       string              `json:"kind"`
	Status     string              `json:"status"`
	Subject    string              `json:"subject"`
	Text       string              `json:"text"`
	Source     string              `json:"source"`
	ReceivedAt time.Time           `json:"received_at"`
	PurgedAt   *time.Time          `json:"purged_at,omitempty"`
	Documents  []replyDocumentView `json:"documents"`
}

type replyDocumentView struct {
	Seq       int    `json:"seq"`
	Name      string `json:"name"`
	MediaType string `json:"media_type"`
	Size      int64  `json:"size"`
	SHA256    string `json:"sha256,omitempty"`
	Links     struct {
		Download string `json:"download"`
	} `json:"links"`
}

// ownSubmission loads the submission of the request's {id} if it is the portal's; otherwise it
// has answered (404, as for a missing one).
func (s *Server) ownSubmission(w http.ResponseWriter, r *http.Request, portalID string) (store.Submission, bool) {
	id := r.PathValue("id")
	sub, err := s.Store.Submission(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && sub.Portal != portalID) {
		writeError(w, http.StatusNotFound, "submission not found", nil)
		return sub, false
	}
	if err != nil {
		s.internalError(w, "read submission", err, "submission_id", id)
		return sub, false
	}
	return sub, true
}

// getReplies lists the replies to one of the portal's submissions, oldest first, with links to
// their documents.
func (s *Server) getReplies(w http.ResponseWriter, r *http.Request, portalID string) {
	sub, ok := s.ownSubmission(w, r, portalID)
	if !ok {
		return
	}
	ctx := r.Context()
	list, err := s.Store.Replies(ctx, sub.ID)
	if err != nil {
		s.internalError(w, "read replies", err, "submission_id", sub.ID)
		return
	}
	out := make([]replyView, 0, len(list))
	for _, rp := range list {
		docs, err := s.Store.ReplyDocuments(ctx, rp.ID)
		if err != nil {
			s.internalError(w, "read reply documents", err, "reply_id", rp.ID)
			return
		}
		v := replyView{ID: rp.ID, Kind: rp.Kind, Status: rp.Status, Subject: rp.Subject, Text: rp.Text, Source: rp.Source,
			ReceivedAt: rp.ReceivedAt, Documents: make([]replyDocumentView, 0, len(docs))}
		if !rp.PurgedAt.IsZero() {
			v.PurgedAt = &rp.PurgedAt
		}
		for _, d := range docs {
			dv := replyDocumentView{Seq: d.Seq, Name: d.Name, MediaType: d.MediaType, Size: d.Size, SHA256: d.SHA256}
			dv.Links.Download = fmt.Sprintf("/v1/submissions/%s/replies/%s/documents/%d", sub.ID, rp.ID, d.Seq)
			v.Documents = append(v.Documents, dv)
		}
		out = append(out, v)
	}
	writeJSON(w, http.StatusOK, struct {
		Replies []replyView `json:"replies"`
		Links   links       `json:"links"`
	}{out, links{Self: "/v1/submissions/" + sub.ID + "/replies"}})
}

// getReplyDocument streams a document of a reply: its media type, a Content-Disposition with
// its name, its length and SHA-256 (Repr-Digest, and hex in X-Content-SHA256). 410 once
// retention deleted it.
func (s *Server) getReplyDocument(w http.ResponseWriter, r *http.Request, portalID string) {
	sub, ok := s.ownSubmission(w, r, portalID)
	if !ok {
		return
	}
	ctx := r.Context()
	rp, err := s.Store.Reply(ctx, r.PathValue("reply"))
	if errors.Is(err, store.ErrNotFound) || (err == nil && rp.SubmissionID != sub.ID) {
		writeError(w, http.StatusNotFound, "reply not found", nil)
		return
	}
	if err != nil {
		s.internalError(w, "read reply", err, "reply_id", r.PathValue("reply"))
		return
	}
	seq, err := strconv.Atoi(r.PathValue("seq"))
	docs, derr := s.Store.ReplyDocuments(ctx, rp.ID)
	if derr != nil {
		s.internalError(w, "read reply documents", derr, "reply_id", rp.ID)
		return
	}
	var doc *store.ReplyDocument
	for i := range docs {
		if err == nil && docs[i].Seq == seq {
			doc = &docs[i]
		}
	}
	if doc == nil {
		writeError(w, http.StatusNotFound, "the reply has no such document", nil)
		return
	}
	gone := func() {
		writeError(w, http.StatusGone, "retention deleted this document with the submission's data", nil)
	}
	if !sub.PurgedAt.IsZero() || !rp.PurgedAt.IsZero() {
		gone()
		return
	}
	rc := s.Store.OpenReplyDocument(ctx, rp.ID, doc.Seq, doc.Size)
	defer rc.Close()
	br := bufio.NewReaderSize(rc, 64<<10)
	if _, err := br.Peek(1); err != nil {
		if purged, perr := s.Store.Purged(ctx, sub.ID); perr == nil && purged {
			gone()
			return
		}
		s.internalError(w, "read reply document", err, "reply_id", rp.ID, "seq", doc.Seq)
		return
	}
	sum, _ := hex.DecodeString(doc.SHA256)
	h := w.Header()
	h.Set("Content-Type", doc.MediaType)
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": doc.Name}))
	h.Set("Content-Length", strconv.FormatInt(doc.Size, 10))
	h.Set("Repr-Digest", "sha-256=:"+base64.StdEncoding.EncodeToString(sum)+":")
	h.Set("X-Content-SHA256", doc.SHA256)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	if _, err := io.Copy(w, br); err != nil {
		// The length was promised: cut the connection so the portal sees an incomplete file.
		s.Logger.Warn("reply document download ended early", "reply_id", rp.ID, "seq", doc.Seq, "error", err)
		panic(http.ErrAbortHandler)
	}
}
