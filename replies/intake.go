package replies

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	wmsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/lestrrat-go/libxml2/types"

	"github.com/amtsbote/amtsbote/fileformat"
	"github.com/amtsbote/amtsbote/store"
	"github.com/amtsbote/amtsbote/store/queue"
	"github.com/amtsbote/amtsbote/xoev"
)

// Ways a reply comes in.
const (
	ViaHTTP  = "http"
	ViaInbox = "inbox"
)

// MaxFiledContent bounds what is kept of a filed reply: its manifest, never its documents (an
// inbox file stays in unmatched/ or malformed/ as it came).
const MaxFiledContent = 64 << 10

// EventReplyReceived is the event a taken reply adds to the submission's history.
const EventReplyReceived = "reply_received"

// Intake takes replies of Fachverfahren: it finds the submission a reply answers, checks that
// the sender may answer it, checks the documents and the XÖV message, and stores the reply, the
// submission's new status, an event and the reply's queue message in one durable transaction.
// What cannot be taken is filed (store.FileReply) and never delivered. It needs no reply
// channel configuration: the reply stage picks the channels.
type Intake struct {
	Store *store.Store
	// Validate checks an XÖV message against the configured schema set of its root namespace,
	// as receipts are checked; nil checks nothing beyond well-formedness.
	Validate func(namespace string, content []byte) error
	Limits   Limits
	Now      func() time.Time
	Logger   *slog.Logger
}

// Origin says where a reply came from.
type Origin struct {
	Via string // ViaHTTP or ViaInbox
	// Source is the destination that replies: the one the HTTP token belongs to, or the one an
	// inbox manifest names.
	Source string
	// Where is the inbox file's name or the HTTP client's address.
	Where string
}

// Accepted is a reply that was taken.
type Accepted struct {
	Reply store.Reply
	// Status is the submission's status after the reply (a later one stays).
	Status string
	// Duplicate says the source had handed in the same reply (its id) before: Reply is the one
	// stored then, and nothing new was stored.
	Duplicate bool
}

func (in *Intake) now() time.Time {
	if in.Now == nil {
		return time.Now()
	}
	return in.Now()
}

func (in *Intake) logger() *slog.Logger {
	if in.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return in.Logger
}

// Accept takes a read reply. A *Refusal error says why it was not taken; the reply has then
// been filed. Any other error is the store's: nothing was taken or filed, and the caller may
// try again. A nil error means the reply is on disk (or was already).
func (in *Intake) Accept(ctx context.Context, inc *Incoming, o Origin) (Accepted, error) {
	m := inc.Manifest
	refuse := func(r *Refusal) (Accepted, error) {
		if err := in.Refuse(ctx, o, inc, r); err != nil {
			return Accepted{}, err
		}
		return Accepted{}, r
	}
	if m.Source != "" && m.Source != o.Source {
		return refuse(invalid(ReasonInvalid, "the reply names another source than the one it comes from",
			[]Problem{{Field: "source", Message: fmt.Sprintf("is %q, but the reply comes from %q", m.Source, o.Source)}}))
	}
	if o.Source == "" {
		return refuse(invalid(ReasonInvalid, "the reply does not say which destination it comes from",
			[]Problem{{Field: "source", Message: "must name the destination (Fachverfahren) that replies"}}))
	}
	sub, r, err := in.resolve(ctx, m, o.Source)
	if err != nil {
		return Accepted{}, err
	}
	if r != nil {
		return refuse(r)
	}
	if m.ID != "" {
		if acc, r, err := in.repeated(ctx, m, o.Source, sub.ID); err != nil || r != nil || acc.Duplicate {
			if r != nil {
				return refuse(r)
			}
			return acc, err
		}
	}
	if !sub.PurgedAt.IsZero() {
		return refuse(&Refusal{Reason: ReasonPurged, Message: fmt.Sprintf(
			"retention deleted the data of submission %s on %s: it can no longer be answered through amtsbote", sub.ID, sub.PurgedAt.Format(time.RFC3339))})
	}
	status, err := StatusFor(m.Kind, m.Status)
	if err != nil { // ParseManifest checked it
		return refuse(invalid(ReasonInvalid, err.Error(), nil))
	}
	docs, r := in.checkDocuments(inc)
	if r != nil {
		return refuse(r)
	}
	message, messageType, r := in.checkMessage(inc)
	if r != nil {
		return refuse(r)
	}
	now := in.now()
	reply := store.Reply{ID: store.NewID(), SubmissionID: sub.ID, Source: o.Source, Via: o.Via, ExternalID: m.ID,
		Kind: m.Kind, Status: status, Subject: m.Subject, Text: m.Text, Message: message, MessageType: messageType, ReceivedAt: now}
	var readers []io.Closer
	defer func() {
		for _, c := range readers {
			c.Close()
		}
	}()
	stored := make([]store.ReplyDocument, len(docs))
	for i, d := range docs {
		rc, err := inc.Files[d.Name].Open()
		if err != nil {
			return Accepted{}, fmt.Errorf("read document %s: %w", d.Name, err)
		}
		readers = append(readers, rc)
		d.Content = rc
		stored[i] = d
	}
	// Replies coming together share one transaction and one sync to disk (store.InGroupTx),
	// as submissions do.
	err = in.Store.InGroupTx(ctx, func(ctx context.Context, tx wmsql.Tx) error {
		if err := store.InsertReply(ctx, tx, reply, stored); err != nil {
			return err
		}
		moved, err := store.AdvanceStatus(ctx, tx, sub.ID, status, now)
		if err != nil {
			return err
		}
		detail := fmt.Sprintf("%s, reply %s: %s", reply.Kind, reply.ID, status)
		if !moved {
			detail += " (the submission's status stays: it is already there or further)"
		}
		if err := store.AddEvent(ctx, tx, sub.ID, store.Event{At: now, Type: EventReplyReceived, Destination: o.Source, Detail: detail}); err != nil {
			return err
		}
		if err := store.Audit(ctx, tx, store.AuditEntry{At: now, Actor: "destination:" + o.Source, Action: "reply", Subject: sub.ID,
			Detail: fmt.Sprintf("%s %s via %s", reply.Kind, reply.ID, o.Via)}); err != nil {
			return err
		}
		return queue.Publish(tx, store.TopicReplies, queue.NewWork(ctx, reply.ID, time.Time{}))
	})
	if errors.Is(err, store.ErrDuplicate) {
		// The same reply, handed in at the same moment, was stored by the other request.
		acc, r, err := in.repeated(ctx, m, o.Source, sub.ID)
		if r != nil {
			return refuse(r)
		}
		if err == nil && !acc.Duplicate {
			err = fmt.Errorf("reply %s of %s: stored twice, yet not found", m.ID, o.Source)
		}
		return acc, err
	}
	if err != nil {
		return Accepted{}, err
	}
	acc := Accepted{Reply: reply, Status: status}
	if cur, err := in.Store.Submission(ctx, sub.ID); err == nil {
		acc.Status = cur.Status
	}
	in.logger().Info("reply accepted", "reply_id", reply.ID, "submission_id", sub.ID, "source", o.Source, "via", o.Via,
		"kind", reply.Kind, "status", acc.Status, "documents", len(stored), "external_id", reply.ExternalID)
	return acc, nil
}

// repeated finds an earlier reply of the source under the same id: the same reply again
// (Duplicate, once it is on disk), or a conflict when the id named another reply.
func (in *Intake) repeated(ctx context.Context, m Manifest, source, submissionID string) (Accepted, *Refusal, error) {
	prev, err := in.Store.ReplyByExternalID(ctx, source, m.ID)
	if errors.Is(err, store.ErrNotFound) {
		return Accepted{}, nil, nil
	}
	if err != nil {
		return Accepted{}, nil, err
	}
	if prev.SubmissionID != submissionID || prev.Kind != m.Kind {
		return Accepted{}, &Refusal{Reason: ReasonConflict, Message: fmt.Sprintf(
			"id %q was already used for a %s replying to submission %s: give a new reply a new id", m.ID, prev.Kind, prev.SubmissionID)}, nil
	}
	// Visible once committed, which on SQLite is before its sync ends: answer once durable.
	if err := in.Store.Sync(); err != nil {
		return Accepted{}, nil, err
	}
	acc := Accepted{Reply: prev, Status: prev.Status, Duplicate: true}
	if cur, err := in.Store.Submission(ctx, submissionID); err == nil {
		acc.Status = cur.Status
	}
	return acc, nil, nil
}

// resolve finds the submission the manifest names and checks that source may answer it: it
// was routed there (has a delivery to it).
func (in *Intake) resolve(ctx context.Context, m Manifest, source string) (store.Submission, *Refusal, error) {
	notDelivered := func(what string, detail string) *Refusal {
		return &Refusal{Reason: ReasonUnauthorised, Message: fmt.Sprintf("no %s was delivered to %s", what, source), Detail: detail}
	}
	var id string
	switch {
	case m.SubmissionID != "":
		id = m.SubmissionID
	case m.ProzessID != "":
		msg, err := in.Store.MessageByID(ctx, m.ProzessID)
		if errors.Is(err, store.ErrNotFound) {
			return store.Submission{}, &Refusal{Reason: ReasonUnmatched, Message: "no delivered message has ProzessID " + m.ProzessID}, nil
		}
		if err != nil {
			return store.Submission{}, nil, err
		}
		if msg.Destination != source {
			return store.Submission{}, notDelivered("message with ProzessID "+m.ProzessID,
				fmt.Sprintf("ProzessID %s is the message of submission %s for %s, not for %s", m.ProzessID, msg.SubmissionID, msg.Destination, source)), nil
		}
		id = msg.SubmissionID
	default:
		ids, err := in.Store.SubmissionsByCaseID(ctx, m.CaseID)
		if err != nil {
			return store.Submission{}, nil, err
		}
		if len(ids) == 0 {
			return store.Submission{}, &Refusal{Reason: ReasonUnmatched, Message: "no submission came from FIT-Connect case " + m.CaseID}, nil
		}
		// The case's first submission delivered to the source is the application it answers.
		id = ""
		for _, candidate := range ids {
			ok, err := in.Store.HasDelivery(ctx, candidate, source)
			if err != nil {
				return store.Submission{}, nil, err
			}
			if ok {
				id = candidate
				break
			}
		}
		if id == "" {
			return store.Submission{}, notDelivered("submission of FIT-Connect case "+m.CaseID,
				fmt.Sprintf("case %s has submissions %s, none delivered to %s", m.CaseID, strings.Join(ids, ", "), source)), nil
		}
	}
	sub, err := in.Store.Submission(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return store.Submission{}, &Refusal{Reason: ReasonUnmatched, Message: "no submission " + id}, nil
	}
	if err != nil {
		return store.Submission{}, nil, err
	}
	ok, err := in.Store.HasDelivery(ctx, sub.ID, source)
	if err != nil {
		return store.Submission{}, nil, err
	}
	if !ok {
		return store.Submission{}, notDelivered("submission "+sub.ID, fmt.Sprintf("submission %s (route %s) was not routed to %s", sub.ID, sub.Route, source)), nil
	}
	return sub, nil, nil
}

// checkDocuments reads every document once: within its size limit, not empty, and a PDF by
// its content (whatever was declared). It returns them ready for store.InsertReply, their
// hashes computed.
func (in *Intake) checkDocuments(inc *Incoming) ([]store.ReplyDocument, *Refusal) {
	var out []store.ReplyDocument
	for i, ref := range inc.Manifest.Documents {
		field := fmt.Sprintf("documents[%d]", i)
		bad := func(reason Reason, format string, args ...any) *Refusal {
			return invalid(reason, "a document of the reply is not accepted", []Problem{{Field: field, Message: fmt.Sprintf(format, args...)}})
		}
		f, ok := inc.Files[ref.Filename]
		if !ok {
			return nil, bad(ReasonInvalid, "the file %q did not come with the reply", ref.Filename)
		}
		rc, err := f.Open()
		if err != nil {
			return nil, bad(ReasonInvalid, "%q cannot be read: %v", ref.Filename, err)
		}
		sum := sha256.New()
		var det fileformat.Detector
		n, err := io.Copy(io.MultiWriter(sum, &det), &capReader{r: rc, max: in.Limits.MaxDocumentBytes})
		rc.Close()
		switch {
		case errors.Is(err, ErrTooLarge):
			return nil, bad(ReasonTooLarge, "%q is larger than the limit of %d bytes", ref.Filename, in.Limits.MaxDocumentBytes)
		case err != nil:
			return nil, bad(ReasonInvalid, "%q cannot be read: %v", ref.Filename, err)
		case n == 0:
			return nil, bad(ReasonInvalid, "%q is empty", ref.Filename)
		}
		format := det.Format("application/pdf", ref.Filename)
		if format.Content != "pdf" {
			seen := format.Content
			if seen == "" {
				seen = "nothing known"
			}
			return nil, bad(ReasonInvalid, "%q is not a PDF: its content shows %s (documents of a reply must be PDF)", ref.Filename, seen)
		}
		out = append(out, store.ReplyDocument{Seq: i, Name: ref.Filename, MediaType: "application/pdf", Size: n,
			SHA256: hex.EncodeToString(sum.Sum(nil))})
	}
	return out, nil
}

// checkMessage reads the XÖV message, parses it safely and validates it against the schema set
// of its root namespace; it returns the message and its type (the root element's name).
func (in *Intake) checkMessage(inc *Incoming) ([]byte, string, *Refusal) {
	ref := inc.Manifest.Message
	if ref == nil {
		return nil, "", nil
	}
	bad := func(reason Reason, problems ...Problem) *Refusal {
		return invalid(reason, "the reply's XÖV message is not valid", problems)
	}
	f, ok := inc.Files[ref.Filename]
	if !ok {
		return nil, "", bad(ReasonInvalid, Problem{Field: "message", Message: fmt.Sprintf("the file %q did not come with the reply", ref.Filename)})
	}
	rc, err := f.Open()
	if err != nil {
		return nil, "", bad(ReasonInvalid, Problem{Field: "message", Message: err.Error()})
	}
	max := int64(xoev.DefaultMaxBytes)
	if in.Limits.MaxDocumentBytes > 0 {
		max = min(max, in.Limits.MaxDocumentBytes)
	}
	content, err := io.ReadAll(&capReader{r: rc, max: max})
	rc.Close()
	if errors.Is(err, ErrTooLarge) {
		return nil, "", bad(ReasonTooLarge, Problem{Field: "message", Message: fmt.Sprintf("the message is larger than the limit of %d bytes", max)})
	}
	if err != nil {
		return nil, "", bad(ReasonInvalid, Problem{Field: "message", Message: err.Error()})
	}
	doc, err := xoev.Parse(content, max)
	if err != nil {
		return nil, "", bad(ReasonInvalid, Problem{Field: "message", Message: err.Error()})
	}
	var ns, name string
	if root, err := doc.DOM().DocumentElement(); err == nil {
		if el, ok := root.(types.Element); ok {
			ns, name = el.NamespaceURI(), el.LocalName()
		}
	}
	doc.Free()
	if name == "" {
		return nil, "", bad(ReasonInvalid, Problem{Field: "message", Message: "the document has no root element"})
	}
	if in.Validate != nil {
		if err := in.Validate(ns, content); err != nil {
			var verr *xoev.ValidationError
			if errors.As(err, &verr) && len(verr.Problems) > 0 {
				problems := make([]Problem, len(verr.Problems))
				for i, p := range verr.Problems {
					problems[i] = Problem{Field: "message", Message: fmt.Sprintf("not valid against %s: %s", verr.SchemaSet, p.String())}
				}
				return nil, "", bad(ReasonInvalid, capProblems(problems)...)
			}
			return nil, "", bad(ReasonInvalid, Problem{Field: "message", Message: err.Error()})
		}
	}
	return content, name, nil
}

// Refuse files a reply that was not taken: what it named, why, and its manifest (bounded).
// Transport-level refusals (an unknown token, a body that cannot be read) are filed through it
// too, with inc nil or holding what was read.
func (in *Intake) Refuse(ctx context.Context, o Origin, inc *Incoming, r *Refusal) error {
	f := store.FiledReply{ReceivedAt: in.now(), Via: o.Via, Source: o.Source, Origin: o.Where, Outcome: r.Outcome(), Detail: r.Error()}
	if r.Detail != "" {
		f.Detail = r.Detail + " — answered: " + f.Detail
	}
	f.Detail = truncate(f.Detail, 4000)
	if inc != nil {
		f.Names = inc.Manifest.Names()
		if len(inc.Raw) > 0 {
			f.Content = []byte(truncate(string(inc.Raw), MaxFiledContent))
		}
	}
	err := in.Store.InTx(ctx, func(tx wmsql.Tx) error { return store.FileReply(ctx, tx, f) })
	if err != nil {
		return err
	}
	in.logger().Warn("reply filed, not taken", "outcome", f.Outcome, "via", o.Via, "source", o.Source, "origin", o.Where,
		"names", f.Names, "reason", f.Detail)
	return nil
}

// Outcomes of an inbox file besides the filed ones (store.FiledUnmatched, …).
const (
	OutcomeAccepted  = "accepted"
	OutcomeDuplicate = "duplicate"
)

// AcceptFile takes a reply from the inbox: a zip package (reply.json and the files it names)
// or a bare reply.json (any *.json). The manifest must name its source: the inbox is not
// authenticated per sender. A reply without an id gets the file's SHA-256 as its id, so that a
// file read again (after a crash before it was moved) is stored once. It returns
// OutcomeAccepted, OutcomeDuplicate, or the outcome the reply was filed with; an error means
// the store failed and the file should stay for the next poll.
func (in *Intake) AcceptFile(ctx context.Context, path string) (string, error) {
	name := filepath.Base(path)
	o := Origin{Via: ViaInbox, Where: name}
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return "", err
	}
	maxSize := int64(MaxInlineFileBytes)
	isZip := strings.HasSuffix(strings.ToLower(name), ".zip")
	if isZip {
		maxSize = MaxManifestBytes + int64(in.Limits.MaxDocuments+1)*in.Limits.MaxDocumentBytes
	}
	var inc *Incoming
	var r *Refusal
	switch {
	case info.Size() > maxSize:
		inc, r = &Incoming{}, invalid(ReasonTooLarge, fmt.Sprintf("the file is %d bytes; a reply is at most %d", info.Size(), maxSize), nil)
	case isZip:
		inc, r = ReadPackage(f, info.Size(), in.Limits)
	default:
		raw, err := io.ReadAll(f)
		if err != nil {
			return "", err
		}
		inc, r = ReadManifestOnly(raw, in.Limits)
	}
	o.Source = inc.Manifest.Source
	if r != nil {
		if err := in.Refuse(ctx, o, inc, r); err != nil {
			return "", err
		}
		return r.Outcome(), nil
	}
	if inc.Manifest.ID == "" {
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return "", err
		}
		sum := sha256.New()
		if _, err := io.Copy(sum, f); err != nil {
			return "", err
		}
		inc.Manifest.ID = "sha256:" + hex.EncodeToString(sum.Sum(nil))
	}
	acc, err := in.Accept(ctx, inc, o)
	var refusal *Refusal
	switch {
	case errors.As(err, &refusal):
		return refusal.Outcome(), nil
	case err != nil:
		return "", err
	case acc.Duplicate:
		return OutcomeDuplicate, nil
	}
	return OutcomeAccepted, nil
}
