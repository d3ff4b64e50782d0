package replies

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"regexp"
	"strings"
	"unicode/utf8"

	json "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	jsonv1 "github.com/go-json-experiment/json/v1"

	"github.com/amtsbote/amtsbote/jsonfield"
	"github.com/amtsbote/amtsbote/store"
)

// ManifestName is the manifest's name inside a package.
const ManifestName = "reply.json"

// Limits of what one reply may hold.
const (
	// MaxManifestBytes bounds reply.json in a package or the inbox (and the part "reply" of a
	// multipart request): subject and text, never documents.
	MaxManifestBytes = 1 << 20
	MaxIDBytes       = 200
	MaxSubjectBytes  = 500
	MaxTextBytes     = 100_000
	MaxFilenameBytes = 255
)

// Limits bound the documents of one reply (config replies.max_document_bytes, max_documents).
type Limits struct {
	MaxDocumentBytes int64
	MaxDocuments     int
}

// Manifest is a reply as the Fachverfahren describes it (reply.json, or the JSON body of
// POST /v1/replies).
type Manifest struct {
	// Exactly one of SubmissionID, ProzessID (the id of the delivered message) and CaseID (the
	// FIT-Connect caseId) names the original.
	SubmissionID string `json:"submission_id"`
	ProzessID    string `json:"prozess_id"`
	CaseID       string `json:"case_id"`
	// Source is the destination (Fachverfahren) that replies: required in the inbox; over HTTP
	// the token says it, and Source, if given, must agree.
	Source string `json:"source"`
	// ID is the Fachverfahren's own id of the reply: the same id again is the same reply.
	ID   string `json:"id"`
	Kind string `json:"kind"`
	// Status is the status a reply of kind status names: in_progress, decided or closed.
	Status    string    `json:"status"`
	Subject   string    `json:"subject"`
	Text      string    `json:"text"`
	Documents []FileRef `json:"documents"`
	// Message is an XÖV message the reply carries (XML), optional.
	Message *FileRef `json:"message"`
}

// FileRef names a file of a reply: in a package or a multipart request by its file name; in a
// JSON body with its content in base64.
type FileRef struct {
	Filename  string `json:"filename"`
	MediaType string `json:"media_type"`
	Content   []byte `json:"content_base64"`
}

// Names is what the manifest names as the original, for a filed reply: "submission_id=…".
func (m Manifest) Names() string {
	var out []string
	for _, n := range []struct{ key, v string }{{"submission_id", m.SubmissionID}, {"prozess_id", m.ProzessID}, {"case_id", m.CaseID}} {
		if n.v != "" {
			out = append(out, n.key+"="+truncate(n.v, MaxIDBytes))
		}
	}
	return strings.Join(out, " ")
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

var (
	sourcePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)
	decodeOptions = json.JoinOptions(json.RejectUnknownMembers(true), jsonv1.ParseBytesWithLooseRFC4648(true))
)

// ParseManifest reads and checks a manifest. inline says the files come with it in base64 (a
// JSON body); otherwise they are named by file name and come beside it (a package, a multipart
// request), and content_base64 must not be given. Every problem is named with its field; too
// large documents make a refusal of ReasonTooLarge.
func ParseManifest(raw []byte, inline bool, lim Limits) (Manifest, *Refusal) {
	var m Manifest
	if len(bytes.TrimSpace(raw)) == 0 {
		return m, invalid(ReasonBadRequest, "the manifest is empty; expected a JSON object", nil)
	}
	if !utf8.Valid(raw) {
		return m, invalid(ReasonBadRequest, "the manifest is not valid UTF-8", nil)
	}
	if err := json.Unmarshal(raw, &m, decodeOptions); err != nil {
		return m, invalid(ReasonBadRequest, "the manifest is not a valid reply", []Problem{jsonProblem(err)})
	}
	var problems []Problem
	add := func(field, format string, args ...any) {
		problems = append(problems, Problem{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	named := 0
	for _, ref := range []struct{ field, v string }{{"submission_id", m.SubmissionID}, {"prozess_id", m.ProzessID}, {"case_id", m.CaseID}} {
		if ref.v == "" {
			continue
		}
		named++
		if err := checkID(ref.v); err != nil {
			add(ref.field, "%v", err)
		}
	}
	if named != 1 {
		add("submission_id", "name the original by exactly one of submission_id, prozess_id (the ProzessID of the delivered message) and case_id (FIT-Connect); %d given", named)
	}
	if m.Source != "" && (!sourcePattern.MatchString(m.Source) || len(m.Source) > MaxIDBytes) {
		add("source", "%q is not a destination id", truncate(m.Source, MaxIDBytes))
	}
	if m.ID != "" {
		if err := checkID(m.ID); err != nil {
			add("id", "%v", err)
		}
	}
	if _, err := StatusFor(m.Kind, m.Status); err != nil {
		if m.Kind == KindStatus {
			add("status", "%q: a status reply names in_progress, decided or closed", m.Status)
		} else {
			add("kind", "%q: must be one of %s", m.Kind, strings.Join(Kinds, ", "))
		}
	} else if m.Kind != KindStatus && m.Status != "" {
		add("status", "is for kind status only; a %s sets the status itself", m.Kind)
	}
	switch {
	case len(m.Subject) > MaxSubjectBytes:
		add("subject", "is %d bytes; the limit is %d", len(m.Subject), MaxSubjectBytes)
	case strings.ContainsFunc(m.Subject, isControl):
		add("subject", "must be one line without control characters")
	}
	if len(m.Text) > MaxTextBytes {
		add("text", "is %d bytes; the limit is %d", len(m.Text), MaxTextBytes)
	}
	if lim.MaxDocuments > 0 && len(m.Documents) > lim.MaxDocuments {
		add("documents", "%d documents; the limit is %d", len(m.Documents), lim.MaxDocuments)
	}
	names := map[string]string{}
	file := func(field string, f FileRef, mediaTypes ...string) {
		if err := CheckFilename(f.Filename); err != nil {
			add(field+".filename", "%v", err)
		} else if other, dup := names[strings.ToLower(f.Filename)]; dup {
			add(field+".filename", "%q is named twice (also %s)", f.Filename, other)
		} else {
			names[strings.ToLower(f.Filename)] = field
		}
		if f.MediaType != "" {
			mt, _, err := mime.ParseMediaType(f.MediaType)
			if err != nil || !contains(mediaTypes, mt) {
				add(field+".media_type", "must be %s, got %q", strings.Join(mediaTypes, " or "), f.MediaType)
			}
		}
		switch {
		case inline && len(f.Content) == 0:
			add(field+".content_base64", "must hold the file's content in base64")
		case !inline && f.Content != nil:
			add(field+".content_base64", "is for JSON bodies; here the file comes beside the manifest under its filename")
		}
	}
	for i, d := range m.Documents {
		file(fmt.Sprintf("documents[%d]", i), d, "application/pdf")
	}
	if m.Message != nil {
		file("message", *m.Message, "application/xml", "text/xml")
	}
	if len(problems) > 0 {
		return m, invalid(ReasonInvalid, "the reply is not valid", capProblems(problems))
	}
	if inline && lim.MaxDocumentBytes > 0 {
		var tooLarge []Problem
		for i, d := range m.Documents {
			if int64(len(d.Content)) > lim.MaxDocumentBytes {
				tooLarge = append(tooLarge, Problem{Field: fmt.Sprintf("documents[%d].content_base64", i),
					Message: fmt.Sprintf("the file is %d bytes; the limit is %d", len(d.Content), lim.MaxDocumentBytes)})
			}
		}
		if m.Message != nil && int64(len(m.Message.Content)) > lim.MaxDocumentBytes {
			tooLarge = append(tooLarge, Problem{Field: "message.content_base64",
				Message: fmt.Sprintf("the message is %d bytes; the limit is %d", len(m.Message.Content), lim.MaxDocumentBytes)})
		}
		if len(tooLarge) > 0 {
			return m, invalid(ReasonTooLarge, "a file of the reply is too large", tooLarge)
		}
	}
	return m, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// checkID accepts an id: printable text of at most MaxIDBytes.
func checkID(s string) error {
	switch {
	case len(s) > MaxIDBytes:
		return fmt.Errorf("is %d bytes; the limit is %d", len(s), MaxIDBytes)
	case strings.TrimSpace(s) != s:
		return errors.New("has spaces around it")
	case strings.ContainsFunc(s, isControl):
		return errors.New("holds a control character")
	}
	return nil
}

// CheckFilename accepts a plain file name: no directories, nothing hidden, no control or
// path characters, at most MaxFilenameBytes.
func CheckFilename(name string) error {
	switch {
	case name == "":
		return errors.New("must not be empty")
	case len(name) > MaxFilenameBytes:
		return fmt.Errorf("is %d bytes; the limit is %d", len(name), MaxFilenameBytes)
	case !utf8.ValidString(name):
		return errors.New("is not valid UTF-8")
	case strings.ContainsAny(name, `/\:`) || strings.ContainsFunc(name, isControl):
		return fmt.Errorf("%q must be a plain file name without directories, drive or control characters", name)
	case strings.HasPrefix(name, ".") || strings.TrimSpace(name) != name:
		return fmt.Errorf("%q must not start with a dot or have spaces around it", name)
	}
	return nil
}

// maxProblems bounds the problems one answer lists.
const maxProblems = 50

func capProblems(problems []Problem) []Problem {
	if len(problems) <= maxProblems {
		return problems
	}
	more := len(problems) - (maxProblems - 1)
	return append(problems[:maxProblems-1:maxProblems-1], Problem{Message: fmt.Sprintf("and %d more problems", more)})
}

// jsonProblem names the field of a decoding error (documents[1].content_base64).
func jsonProblem(err error) Problem {
	var syntax *jsontext.SyntacticError
	var semantic *json.SemanticError
	switch {
	case errors.As(err, &syntax):
		field := jsonfield.Path(syntax.JSONPointer)
		switch {
		case errors.Is(syntax.Err, jsontext.ErrDuplicateName):
			return Problem{Field: field, Message: "appears twice in the same object"}
		case errors.Is(syntax.Err, io.ErrUnexpectedEOF):
			return Problem{Field: field, Message: "malformed JSON: it ends in the middle of a value"}
		}
		return Problem{Field: field, Message: fmt.Sprintf("malformed JSON at byte %d: %v", syntax.ByteOffset, syntax.Err)}
	case errors.As(err, &semantic):
		field := jsonfield.Path(semantic.JSONPointer)
		switch {
		case errors.Is(semantic.Err, json.ErrUnknownName):
			return Problem{Field: field, Message: "unknown field; expected " + expectedFields(semantic.JSONPointer)}
		case semantic.Err != nil && strings.HasSuffix(field, "content_base64"):
			return Problem{Field: field, Message: "is not valid base64: " + semantic.Err.Error()}
		case semantic.Err != nil:
			return Problem{Field: field, Message: semantic.Err.Error()}
		}
		return Problem{Field: field, Message: fmt.Sprintf("must be a JSON %s", kindOf(field))}
	}
	return Problem{Message: "malformed JSON: " + err.Error()}
}

func kindOf(field string) string {
	switch {
	case field == "documents":
		return "array"
	case field == "message" || strings.HasPrefix(field, "documents["):
		if strings.Contains(field, ".") {
			return "string"
		}
		return "object"
	case field == "":
		return "object"
	}
	return "string"
}

func expectedFields(p jsontext.Pointer) string {
	if strings.HasPrefix(string(p), "/documents/") || strings.HasPrefix(string(p), "/message/") {
		return "filename, media_type, content_base64"
	}
	return "submission_id, prozess_id, case_id, source, id, kind, status, subject, text, documents, message"
}

// Reason is why a reply was refused; it decides the HTTP status.
type Reason string

// Reasons.
const (
	ReasonBadRequest   Reason = "bad_request"  // the body or manifest cannot be read (400)
	ReasonInvalid      Reason = "invalid"      // a field, document or message is wrong (422)
	ReasonTooLarge     Reason = "too_large"    // a document or the request is too large (413)
	ReasonUnsupported  Reason = "unsupported"  // not JSON, multipart or a package (415)
	ReasonUnmatched    Reason = "unmatched"    // no such submission (404)
	ReasonUnauthorised Reason = "unauthorised" // not delivered to the source (404: its existence is not revealed)
	ReasonPurged       Reason = "purged"       // retention deleted the submission's data (410)
	ReasonConflict     Reason = "conflict"     // the id was used for another reply (409)
)

// Refusal says why a reply was not taken. It is filed with its Outcome (store.Filed…).
type Refusal struct {
	Reason   Reason
	Message  string
	Problems []Problem
	// Detail, when set, is what the filed record says beyond what the sender is told (an
	// unauthorised sender does not learn where a submission went).
	Detail string
}

func (r *Refusal) Error() string {
	var b strings.Builder
	b.WriteString(r.Message)
	for i, p := range r.Problems {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		if p.Field != "" {
			b.WriteString(p.Field + ": ")
		}
		b.WriteString(p.Message)
	}
	return b.String()
}

// Outcome is how the refused reply is filed (store.FiledMalformed, …).
func (r *Refusal) Outcome() string {
	switch r.Reason {
	case ReasonUnmatched:
		return store.FiledUnmatched
	case ReasonUnauthorised:
		return store.FiledUnauthorised
	case ReasonPurged:
		return store.FiledPurged
	}
	return store.FiledMalformed
}

func invalid(reason Reason, msg string, problems []Problem) *Refusal {
	return &Refusal{Reason: reason, Message: msg, Problems: problems}
}
