package inbound

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"regexp"
	"strings"
	"unicode/utf8"

	wmsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	json "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	jsonv1 "github.com/go-json-experiment/json/v1"

	"github.com/amtsbote/amtsbote/adapters"
	"github.com/amtsbote/amtsbote/fileformat"
	"github.com/amtsbote/amtsbote/jsonfield"
	"github.com/amtsbote/amtsbote/pipeline"
	"github.com/amtsbote/amtsbote/replies"
	"github.com/amtsbote/amtsbote/routes"
	"github.com/amtsbote/amtsbote/snapshot"
	"github.com/amtsbote/amtsbote/store"
	"github.com/amtsbote/amtsbote/tracing"
	"github.com/amtsbote/amtsbote/trust"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

type submissionRequest struct {
	Leistung    string              `json:"leistung"`
	AGS         string              `json:"ags"`
	ARS         string              `json:"ars"`
	Reference   string              `json:"reference"`
	Data        jsontext.Value      `json:"data"`
	Attachments []attachmentRequest `json:"attachments"`
	// Identity is how the applicant identified at the portal. Optional.
	Identity *identityRequest `json:"identity"`
	// Payment is the applicant's payment at an E-Payment platform. Optional.
	Payment *paymentRequest `json:"payment"`
	// ReplyChannel is how the authority's replies reach the applicant besides the portal.
	// Optional; stored in the submission's meta (replies.Address).
	ReplyChannel *replyChannelRequest `json:"reply_channel"`
}

// replyChannelRequest is the applicant's reply channel as the portal names it.
type replyChannelRequest struct {
	Email        string   `json:"email"`
	PGPPublicKey string   `json:"pgp_public_key"`
	Postal       []string `json:"postal"`
}

// replyChannel checks the request's reply channel and returns the submission's meta holding
// it and the payment (nil without either), or the problems, each naming its field.
func (r submissionRequest) replyChannel() ([]byte, []Problem) {
	if r.ReplyChannel == nil {
		return r.Payment.meta(), nil
	}
	a := replies.Address{Email: r.ReplyChannel.Email, PGPPublicKey: r.ReplyChannel.PGPPublicKey, Postal: r.ReplyChannel.Postal}
	var problems []Problem
	for _, p := range replies.CheckAddress(a) {
		field := "reply_channel"
		if p.Field != "" {
			field += "." + p.Field
		}
		problems = append(problems, Problem{Field: field, Message: p.Message})
	}
	if len(problems) > 0 {
		return nil, problems
	}
	meta, err := replies.MetaWithAddress(r.Payment.meta(), a)
	if err != nil {
		return nil, []Problem{{Field: "reply_channel", Message: err.Error()}}
	}
	return meta, nil
}

// identityRequest is the applicant's identification as the portal reports it.
type identityRequest struct {
	// TrustLevel is the level of assurance (trust.Parse: eIDAS, BSI or STORK names, eIDAS LoA
	// URIs), e.g. substantial.
	TrustLevel string `json:"trust_level"`
	// AccountType is person or organisation.
	AccountType string `json:"account_type"`
}

// level is the request's level of assurance on amtsbote's scale (checked by decodeSubmission).
func (r submissionRequest) level() (trust.Level, string) {
	if r.Identity == nil {
		return trust.None, ""
	}
	l, _ := trust.Parse(r.Identity.TrustLevel)
	at, _ := trust.ParseAccountType(r.Identity.AccountType)
	return l, at
}

type attachmentRequest struct {
	Filename  string `json:"filename"`
	MediaType string `json:"media_type"`
	// Title says what the file is (e.g. "Personalausweis, Vorder- und Rückseite"); optional.
	Title string `json:"title"`
	// Content is the file, sent as standard base64 and decoded straight into bytes.
	Content []byte `json:"content_base64"`
}

type acceptedBody struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	Links  links  `json:"links"`
}

var (
	leistungPattern = regexp.MustCompile(`^[0-9]{14}$`)
	agsPattern      = regexp.MustCompile(`^[0-9]{8}$`)
	arsPattern      = regexp.MustCompile(`^[0-9]{12}$`)
)

const maxIdempotencyKey = 255

func (s *Server) postSubmission(w http.ResponseWriter, r *http.Request, portalID string) {
	ctx, span := tracing.Tracer().Start(r.Context(), "intake", trace.WithAttributes(attribute.String("amtsbote.portal", portalID)))
	defer span.End()
	key := r.Header.Get("Idempotency-Key")
	if len(key) > maxIdempotencyKey || !utf8.ValidString(key) {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("Idempotency-Key must be valid text of at most %d bytes", maxIdempotencyKey), nil)
		return
	}
	var in intake
	var status int
	var problems []Problem
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "multipart/form-data" {
		in, status, problems = s.readMultipart(w, r)
	} else {
		in, status, problems = s.readJSON(w, r, key != "")
	}
	defer in.cleanup()
	if status != 0 {
		reason := "invalid"
		if status == http.StatusRequestEntityTooLarge {
			reason = "too_large"
		}
		s.Metrics.SubmissionsRejected.WithLabelValues(portalID, reason).Inc()
		msg := "invalid submission"
		if len(problems) == 1 && problems[0].Field == "" {
			msg, problems = problems[0].Message, nil
		}
		writeError(w, status, msg, problems)
		return
	}
	meta, problems := in.req.replyChannel()
	if len(problems) > 0 {
		s.Metrics.SubmissionsRejected.WithLabelValues(portalID, "invalid").Inc()
		writeError(w, http.StatusUnprocessableEntity, "the reply channel is not valid", problems)
		return
	}
	if key != "" && s.replayIdempotent(w, ctx, portalID, key, in.requestHash) {
		return
	}
	req, atts, flagged, requestHash := in.req, in.atts, in.flagged, in.requestHash
	var data any
	_ = json.Unmarshal(req.Data, &data, decodeOptions) // checked by decodeSubmission
	level, accountType := req.level()
	levelName := ""
	if req.Identity != nil && strings.TrimSpace(req.Identity.TrustLevel) != "" {
		levelName = level.String()
	}
	snap := s.Current()
	route, ok := snap.Routes.Match(routes.Submission{
		Leistung: req.Leistung, AGS: req.AGS, ARS: req.ARS, Portal: portalID, Reference: req.Reference, Data: data,
		Channel: store.ChannelPortal, TrustLevel: levelName, AccountType: accountType,
	})
	routeID := ""
	allowed := true
	admitted, why := true, ""
	now := s.Now()
	sub := store.Submission{
		ID: newID(), Portal: portalID, Reference: req.Reference, Leistung: req.Leistung, AGS: req.AGS, ARS: req.ARS,
		Status: store.StatusReceived, Data: req.Data, IdempotencyKey: key,
		RequestHash: requestHash, ReceivedAt: now, TrustLevel: levelName, AccountType: accountType, Meta: meta,
	}
	var checked []pipeline.Problem
	knownProvider := req.Payment.knownIn(snap.Config)
	if ok {
		routeID = route.ID
		allowed = portalMayUse(snap, portalID, routeID)
		admitted, why = route.Admits(level)
		if allowed && admitted && (route.Schema != nil || route.CheckAtIntake) {
			sub.Route = routeID
			var err error
			if checked, err = pipeline.Check(sub, atts, route, snap, s.Now); err != nil {
				snap.Release()
				s.internalError(w, "check submission", err, "portal", portalID)
				return
			}
		}
	}
	snap.Release()
	if !allowed {
		s.Metrics.SubmissionsRejected.WithLabelValues(portalID, "route_not_allowed").Inc()
		writeError(w, http.StatusForbidden, fmt.Sprintf("portal %s may not submit to route %s (portals[].routes)", portalID, routeID), nil)
		return
	}
	if ok && !knownProvider {
		s.Metrics.SubmissionsRejected.WithLabelValues(portalID, "payment_provider").Inc()
		writeError(w, http.StatusUnprocessableEntity, "unknown payment provider",
			[]Problem{{Field: "payment.provider", Message: fmt.Sprintf("%q is not a payment provider amtsbote knows (payment.providers)", req.Payment.Provider)}})
		return
	}
	if ok && !admitted {
		s.Metrics.SubmissionsRejected.WithLabelValues(portalID, "trust_level").Inc()
		writeError(w, http.StatusUnprocessableEntity, "the applicant's identification is too weak for this service",
			[]Problem{{Field: "identity.trust_level", Message: why}})
		return
	}
	if !ok {
		s.Metrics.SubmissionsRejected.WithLabelValues(portalID, "no_route").Inc()
		writeError(w, http.StatusUnprocessableEntity,
			fmt.Sprintf("no route accepts leistung %s for ags %s; ask the operator to configure one", req.Leistung, req.AGS), nil)
		return
	}
	if len(checked) > 0 {
		s.Metrics.SubmissionsRejected.WithLabelValues(portalID, "check_failed").Inc()
		for i := range checked {
			if checked[i].Field == "" {
				checked[i].Field = "data"
			}
		}
		// The problems name the mapping rule (file:line) and the target too, for the integrator
		// who reads the portal's log.
		writeJSON(w, http.StatusUnprocessableEntity, struct {
			Error    string             `json:"error"`
			Problems []pipeline.Problem `json:"problems"`
		}{fmt.Sprintf("the submission would not make valid messages for route %s; nothing was stored — correct the data and send it again", routeID), checked})
		return
	}
	sub.Route = routeID
	// Group commit: submissions arriving together share one transaction and one sync to disk.
	// The statements run with the group's context, not the request's: a client that goes away
	// must not cancel a transaction other requests share.
	err := s.Store.InGroupTx(ctx, func(ctx context.Context, tx wmsql.Tx) error {
		if err := store.InsertSubmission(ctx, tx, sub, atts); err != nil {
			return err
		}
		if err := store.Audit(ctx, tx, store.AuditEntry{At: now, Actor: "portal:" + portalID, Action: "submit", Subject: sub.ID}); err != nil {
			return err
		}
		for _, m := range flagged {
			if err := store.AddEvent(ctx, tx, sub.ID, store.Event{At: now, Type: "attachment_flagged", Detail: m}); err != nil {
				return err
			}
		}
		return pipeline.Publish(tx, pipeline.TopicSubmissions, pipeline.NewWork(ctx, sub.ID, now))
	})
	if err != nil {
		if errors.Is(err, store.ErrBroken) {
			// Committed perhaps, but not durable: never 202, and no replay of the key either.
			s.storeUnavailable(w, "store submission", err, "portal", portalID)
			return
		}
		// Two requests with the same key at once: the loser answers with the winner's submission.
		if key != "" && s.replayIdempotent(w, ctx, portalID, key, requestHash) {
			return
		}
		s.internalError(w, "store submission", err, "portal", portalID)
		return
	}
	s.Metrics.SubmissionsAccepted.WithLabelValues(portalID, routeID).Inc()
	span.SetAttributes(attribute.String("amtsbote.submission_id", sub.ID), attribute.String("amtsbote.route", routeID))
	s.Logger.Info("submission accepted", "submission_id", sub.ID, "portal", portalID, "route", routeID,
		"attachments", len(atts))
	w.Header().Set("Location", selfLink(sub.ID).Self)
	writeJSON(w, http.StatusAccepted, acceptedBody{ID: sub.ID, Status: sub.Status, Links: selfLink(sub.ID)})
}

// portalMayUse applies the portal's allow-list of routes.
func portalMayUse(snap *snapshot.Snapshot, portalID, routeID string) bool {
	for _, p := range snap.Config.Portals {
		if p.ID == portalID {
			return p.MayUse(routeID)
		}
	}
	return false
}

// replayIdempotent answers a repeated request with the submission its key already created, and
// reports whether it answered.
func (s *Server) replayIdempotent(w http.ResponseWriter, ctx context.Context, portalID, key, requestHash string) bool {
	prev, err := s.Store.SubmissionByIdempotencyKey(ctx, portalID, key)
	if errors.Is(err, store.ErrNotFound) {
		return false
	}
	if err != nil {
		s.internalError(w, "look up idempotency key", err, "portal", portalID)
		return true
	}
	if prev.RequestHash != requestHash {
		writeError(w, http.StatusUnprocessableEntity,
			"Idempotency-Key was already used for a different request body; use a new key for a new submission", nil)
		return true
	}
	// The row is visible once committed, which on SQLite is before its sync to disk ends (the
	// first request may still be waiting for it): 202 only once it is durable.
	if err := s.Store.Sync(); err != nil {
		s.storeUnavailable(w, "make the submission durable", err, "portal", portalID, "submission_id", prev.ID)
		return true
	}
	w.Header().Set("Location", selfLink(prev.ID).Self)
	w.Header().Set("Idempotent-Replayed", "true")
	writeJSON(w, http.StatusAccepted, acceptedBody{ID: prev.ID, Status: prev.Status, Links: selfLink(prev.ID)})
	return true
}

// Limits bound what one submission may contain.
type Limits struct {
	MaxAttachments     int
	MaxAttachmentBytes int64
	MaxJSONDepth       int
}

func (s *Server) limits() Limits {
	return Limits{MaxAttachments: s.MaxAttachments, MaxAttachmentBytes: s.MaxAttachmentBytes, MaxJSONDepth: s.MaxJSONDepth}
}

// decodeOptions make the decoder strict: unknown fields are refused (and so are names that
// differ only in case), as are duplicate names. Base64 may be wrapped in lines (MIME style), as
// portals' encoders often produce it. The body's bytes must be valid UTF-8 (checked before
// decoding); an escaped lone surrogate (\ud83d, a string cut in the middle of an emoji by a
// JavaScript portal) is allowed and reads as U+FFFD, as it always did.
var decodeOptions = json.JoinOptions(json.RejectUnknownMembers(true), jsonv1.ParseBytesWithLooseRFC4648(true),
	jsontext.AllowInvalidUTF8(true))

// decodeSubmission parses and checks the body, reporting every problem with its field. It uses
// encoding/json/v2 (github.com/go-json-experiment/json until Go 1.27): it decodes a body with a
// 100 KB file five times faster than encoding/json and names the field of every error.
func decodeSubmission(body []byte, lim Limits) (submissionRequest, []Problem) {
	var req submissionRequest
	if len(bytes.TrimSpace(body)) == 0 {
		return req, []Problem{{Message: "the request body is empty; expected a JSON object"}}
	}
	if !utf8.Valid(body) {
		return req, []Problem{{Message: fmt.Sprintf("the body is not valid UTF-8 (%s)", position(body, invalidUTF8At(body)))}}
	}
	if depth := jsonDepth(body); lim.MaxJSONDepth > 0 && depth > lim.MaxJSONDepth {
		return req, []Problem{{Message: fmt.Sprintf("the JSON is nested %d levels deep; the limit is %d", depth, lim.MaxJSONDepth)}}
	}
	if err := json.Unmarshal(body, &req, decodeOptions, limitAttachments(lim.MaxAttachments)); err != nil {
		if errors.Is(err, errTooManyAttachments) {
			return req, []Problem{{Field: "attachments", Message: fmt.Sprintf("more than %d attachments; the limit is %d", lim.MaxAttachments, lim.MaxAttachments)}}
		}
		return req, []Problem{jsonProblem(body, err)}
	}
	var problems []Problem
	add := func(field, format string, args ...any) {
		problems = append(problems, Problem{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	if !leistungPattern.MatchString(req.Leistung) {
		add("leistung", "must be the 14-digit Leistungsschlüssel (LeiKa/FIM), got %q", req.Leistung)
	}
	if !agsPattern.MatchString(req.AGS) {
		add("ags", "must be the 8-digit Amtlicher Gemeindeschlüssel, got %q", req.AGS)
	}
	if req.ARS != "" && !arsPattern.MatchString(req.ARS) {
		add("ars", "must be the 12-digit Amtlicher Regionalschlüssel when given, got %q", req.ARS)
	}
	if strings.TrimSpace(req.Reference) == "" {
		add("reference", "must be the portal's own id of the submission")
	} else if len(req.Reference) > 200 {
		add("reference", "must be at most 200 bytes")
	}
	if trimmed := bytes.TrimSpace(req.Data); len(trimmed) == 0 || trimmed[0] != '{' {
		add("data", "must be a JSON object holding the form data")
	}
	problems = append(problems, req.Payment.check()...)
	if id := req.Identity; id != nil {
		if _, err := trust.Parse(id.TrustLevel); err != nil {
			add("identity.trust_level", "%v", err)
		}
		if _, err := trust.ParseAccountType(id.AccountType); err != nil {
			add("identity.account_type", "%v", err)
		}
	}
	for i, a := range req.Attachments {
		field := fmt.Sprintf("attachments[%d]", i)
		if size := int64(len(a.Content)); lim.MaxAttachmentBytes > 0 && size > lim.MaxAttachmentBytes {
			add(field+".content_base64", "the file is %d bytes; the limit is %d", size, lim.MaxAttachmentBytes)
			continue
		}
		if strings.TrimSpace(a.Filename) == "" {
			add(field+".filename", "must not be empty")
		} else if len(a.Filename) > 255 {
			add(field+".filename", "must be at most 255 bytes")
		}
		if len(a.Title) > 500 {
			add(field+".title", "must be at most 500 bytes")
		}
		if mt, _, err := mime.ParseMediaType(a.MediaType); err != nil || !strings.Contains(mt, "/") {
			add(field+".media_type", "must be a media type such as application/pdf, got %q", a.MediaType)
		}
		if len(a.Content) == 0 {
			add(field+".content_base64", "must hold the file's content in base64")
		}
	}
	return req, capProblems(problems)
}

// maxProblems bounds the problems one answer lists: enough to fix a request, never a response
// larger than the request.
const maxProblems = 50

// capProblems keeps the first problems and says how many more there were.
func capProblems(problems []Problem) []Problem {
	if len(problems) <= maxProblems {
		return problems
	}
	more := len(problems) - (maxProblems - 1)
	return append(problems[:maxProblems-1:maxProblems-1], Problem{Message: fmt.Sprintf("and %d more problems", more)})
}

var errTooManyAttachments = errors.New("too many attachments")

// limitAttachments decodes the attachments array one element at a time and stops at the first
// element over the limit (0: no limit), so that a body of many small elements never becomes
// many decoded ones, nor a problem each.
func limitAttachments(limit int) json.Options {
	if limit <= 0 {
		return json.JoinOptions()
	}
	return json.WithUnmarshalers(json.UnmarshalFromFunc(func(dec *jsontext.Decoder, v *[]attachmentRequest) error {
		if dec.PeekKind() != '[' {
			return errors.ErrUnsupported // null, or the wrong kind: the default decoding names the problem
		}
		if _, err := dec.ReadToken(); err != nil {
			return err
		}
		*v = (*v)[:0]
		for dec.PeekKind() != ']' {
			if len(*v) == limit {
				return errTooManyAttachments
			}
			var a attachmentRequest
			if err := json.UnmarshalDecode(dec, &a); err != nil {
				return err
			}
			*v = append(*v, a)
		}
		_, err := dec.ReadToken()
		return err
	}))
}

// jsonDepth is the deepest nesting of objects and arrays in a JSON text (strings skipped).
func jsonDepth(b []byte) int {
	depth, deepest := 0, 0
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '"':
			// Skip the string; most of a body is in strings (base64 files), so jump between
			// quotes and backslashes instead of looking at every byte.
			for i++; i < len(b); i++ {
				q := bytes.IndexByte(b[i:], '"')
				if q < 0 {
					return deepest
				}
				if e := bytes.IndexByte(b[i:i+q], '\\'); e >= 0 {
					i += e + 1 // the escaped byte; go on after it
					continue
				}
				i += q
				break
			}
		case '{', '[':
			depth++
			deepest = max(deepest, depth)
		case '}', ']':
			depth--
		}
	}
	return deepest
}

// jsonProblem turns a decoding error into a problem naming the field (as in
// attachments[1].content_base64) and, for malformed JSON, the line and column.
func jsonProblem(body []byte, err error) Problem {
	var syntax *jsontext.SyntacticError
	var semantic *json.SemanticError
	switch {
	case errors.As(err, &syntax):
		field := jsonfield.Path(syntax.JSONPointer)
		switch {
		case errors.Is(syntax.Err, jsontext.ErrDuplicateName):
			return Problem{Field: field, Message: "appears twice in the same object"}
		case errors.Is(syntax.Err, io.ErrUnexpectedEOF):
			return Problem{Field: field, Message: "malformed JSON: the body ends in the middle of a value"}
		case afterFirstValue(body, syntax.ByteOffset):
			return Problem{Message: fmt.Sprintf("unexpected data after the JSON object (%s)", position(body, syntax.ByteOffset))}
		}
		return Problem{Field: field, Message: fmt.Sprintf("malformed JSON (%s): %v", position(body, syntax.ByteOffset), syntax.Err)}
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
		return Problem{Field: field, Message: fmt.Sprintf("must be a JSON %s, not %s", jsonKind(semantic.GoType), jsonfield.KindName(semantic.JSONKind))}
	}
	return Problem{Message: "malformed JSON: " + err.Error()}
}

// afterFirstValue tells whether offset lies after a complete first JSON value, i.e. the error
// there is data after the object rather than a mistake inside it.
func afterFirstValue(body []byte, offset int64) bool {
	dec := jsontext.NewDecoder(bytes.NewReader(body), decodeOptions)
	return dec.SkipValue() == nil && offset >= dec.InputOffset()
}

// expectedFields lists the names allowed in the object holding the unknown member.
func expectedFields(p jsontext.Pointer) string {
	switch {
	case strings.HasPrefix(string(p), "/attachments/"):
		return "filename, media_type, title, content_base64"
	case strings.HasPrefix(string(p), "/identity/"):
		return "trust_level, account_type"
	case strings.HasPrefix(string(p), "/payment/"):
		return "provider, transaction_id"
	case strings.HasPrefix(string(p), "/reply_channel/"):
		return "email, pgp_public_key, postal"
	}
	return "leistung, ags, ars, reference, data, attachments, identity, payment, reply_channel"
}

// position names where in the body a byte is: line, column and byte offset.
func position(body []byte, offset int64) string {
	offset = min(max(offset, 0), int64(len(body)))
	before := body[:offset]
	line := bytes.Count(before, []byte("\n")) + 1
	column := utf8.RuneCount(before[bytes.LastIndexByte(before, '\n')+1:]) + 1
	return fmt.Sprintf("line %d, column %d, byte %d", line, column, offset)
}

// invalidUTF8At is the offset of the first byte that is not valid UTF-8.
func invalidUTF8At(b []byte) int64 {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return int64(i)
		}
		i += n
	}
	return int64(len(b))
}

func jsonKind(t reflect.Type) string {
	if t == nil {
		return "value"
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return "string (base64)"
		}
		return "array"
	case reflect.Struct, reflect.Map:
		return "object"
	}
	return t.Kind().String()
}

// sniffed are the media types whose content can be recognised reliably from the first bytes.
var sniffed = map[string]bool{"application/pdf": true, "image/png": true, "image/jpeg": true, "image/gif": true,
	"image/webp": true, "application/zip": true}

// mismatch describes how an attachment's content contradicts its declared media type, or is
// empty. Such files are accepted (the portal may know better) but flagged in the history for the
// operator.
func mismatch(seq int, mediaType string, content []byte) string {
	detected, _, _ := mime.ParseMediaType(http.DetectContentType(content))
	if (sniffed[mediaType] || sniffed[detected]) && detected != mediaType {
		return fmt.Sprintf("attachments[%d] is declared %s but its content looks like %s", seq, mediaType, detected)
	}
	return ""
}

// attachments decodes the files and names each for the delivered package: a fresh UUID, then
// the portal's file name made safe. xdomea requires file names to start with a UUID, and the UUID
// keeps names unique within a package. It also lists the files flagged by mismatch.
func attachments(reqs []attachmentRequest) ([]store.Attachment, []string) {
	out := make([]store.Attachment, 0, len(reqs))
	var flagged []string
	for i, a := range reqs {
		content := a.Content
		mt, _, _ := mime.ParseMediaType(a.MediaType)
		if m := mismatch(i, mt, content); m != "" {
			flagged = append(flagged, m)
		}
		sum := sha256.Sum256(content) // here, in parallel, not in the shared commit
		f := fileformat.Detect(content, mt, a.Filename)
		out = append(out, store.Attachment{
			Seq: i, Filename: a.Filename, PackageName: adapters.PackageName(newID(), a.Filename), Title: strings.TrimSpace(a.Title),
			MediaType: mt, SHA256: hex.EncodeToString(sum[:]), Content: store.Content(content),
			Format: f.Name, FormatVersion: f.Version, PDFA: f.PDFA,
		})
	}
	return out, flagged
}
