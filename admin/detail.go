package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/amtsbote/amtsbote/adapters"
	"github.com/amtsbote/amtsbote/store"
)

// MessageDetail is a generated message as the submission's detail lists it; its content is a
// download of its own (Links.Download).
type MessageDetail struct {
	Destination string    `json:"destination"`
	MessageID   string    `json:"message_id"`
	MessageType string    `json:"message_type"`
	SchemaSet   string    `json:"schema_set,omitempty"`
	MediaType   string    `json:"media_type"`
	Size        int64     `json:"size"`
	CreatedAt   time.Time `json:"created_at"`
	// Purged: retention deleted the content; the download answers 410.
	Purged bool `json:"purged,omitempty"`
	Links  struct {
		Download string `json:"download"`
	} `json:"links"`
}

// ReceiptDetail is a receipt of a receiving system matched to the submission.
type ReceiptDetail struct {
	ReceivedAt  time.Time `json:"received_at"`
	Kind        string    `json:"kind"`
	MessageID   string    `json:"message_id"`
	Destination string    `json:"destination"`
	Outcome     string    `json:"outcome"`
	Detail      string    `json:"detail,omitempty"`
	File        string    `json:"file"`
}

// FailureDetail is why a failed submission failed: the failure events of its last run, read
// into the mapping rules (file:line) and the XSD or JSON Schema problems they name.
type FailureDetail struct {
	At time.Time `json:"at"`
	// Type is the first failure event's type (routing_failed, mapping_failed,
	// validation_failed, processing_failed, payment_failed), Summary its first line.
	Type    string `json:"type"`
	Summary string `json:"summary"`
	// Rules are the mapping rules the problems name, each once, in order.
	Rules    []string         `json:"rules"`
	Problems []FailureProblem `json:"problems"`
}

// FailureProblem is one problem of a failure.
type FailureProblem struct {
	Destination string `json:"destination,omitempty"`
	// Rule is the mapping rule (file:line) that made the element, or failed.
	Rule string `json:"rule,omitempty"`
	// Line and Column are the place in the generated message (XSD problems).
	Line    int    `json:"line,omitempty"`
	Column  int    `json:"column,omitempty"`
	Message string `json:"message"`
}

// extendDetail adds what operators look at in a submission's detail: the generated messages,
// the receipts, the reason of a failure and whether retention purged the data.
func (s *Server) extendDetail(ctx context.Context, sub store.Submission, v *SubmissionView, events []store.Event) error {
	infos, err := s.Store.MessageInfos(ctx, sub.ID)
	if err != nil {
		return err
	}
	v.Messages = []MessageDetail{}
	for _, m := range infos {
		md := MessageDetail{Destination: m.Destination, MessageID: m.MessageID, MessageType: m.MessageType, SchemaSet: m.SchemaSet,
			MediaType: m.MediaType, Size: m.Size, CreatedAt: m.CreatedAt, Purged: m.Size == 0 && !sub.PurgedAt.IsZero()}
		md.Links.Download = MessageLink(sub.ID, m.Destination)
		v.Messages = append(v.Messages, md)
	}
	receipts, err := s.Store.SubmissionReceipts(ctx, sub.ID)
	if err != nil {
		return err
	}
	v.Receipts = []ReceiptDetail{}
	for _, r := range receipts {
		v.Receipts = append(v.Receipts, ReceiptDetail{ReceivedAt: r.ReceivedAt, Kind: r.Kind, MessageID: r.MessageID,
			Destination: r.Destination, Outcome: r.Outcome, Detail: r.Detail, File: r.File})
	}
	if sub.Status == store.StatusFailed {
		v.Failure = Failure(events)
	}
	if !sub.PurgedAt.IsZero() {
		v.PurgedNote = PurgedNote(sub.PurgedAt)
	}
	return nil
}

// PurgedNote says what retention deleted of a submission, and when.
func PurgedNote(at time.Time) string {
	return "Retention deleted this submission's personal data on " + at.UTC().Format("2006-01-02 15:04 MST") +
		": the form data, the attachments, the generated messages and the details that may quote them. " +
		"The history, the deliveries and the receipts' outcomes stay."
}

// MessageLink is where a submission's message for a destination is downloaded.
func MessageLink(submission, destination string) string {
	return "/v1/submissions/" + url.PathEscape(submission) + "/messages/" + url.PathEscape(destination)
}

// Failure reads the failure events of a submission's last failed run (those at the time of
// the latest one); nil if it has none.
func Failure(events []store.Event) *FailureDetail {
	last := -1
	for i, e := range events {
		if slices.Contains(store.FailedEventTypes, e.Type) {
			last = i
		}
	}
	if last < 0 {
		return nil
	}
	at := events[last].At
	f := &FailureDetail{At: at, Rules: []string{}, Problems: []FailureProblem{}}
	for _, e := range events {
		if !slices.Contains(store.FailedEventTypes, e.Type) || !e.At.Equal(at) {
			continue
		}
		summary, problems := ParseFailure(e.Type, e.Detail)
		if f.Type == "" {
			f.Type, f.Summary = e.Type, summary
		}
		for _, p := range problems {
			p.Destination = e.Destination
			f.Problems = append(f.Problems, p)
			if p.Rule != "" && !slices.Contains(f.Rules, p.Rule) {
				f.Rules = append(f.Rules, p.Rule)
			}
		}
	}
	return f
}

var (
	// A mapping problem: "<file>:<line>: <element>: <problem>", continued on further lines.
	ruleLine = regexp.MustCompile(`^(\S+:\d+): (.*)$`)
	// An XSD problem: "line L, column C: <path>: <message> (mapping rule <file>:<line>)".
	xsdPlace = regexp.MustCompile(`^line (\d+)(?:, column (\d+))?: `)
	xsdRule  = regexp.MustCompile(` \(mapping rule ([^()]+)\)$`)
)

// ParseFailure reads a failure event's detail as the pipeline writes it: a first line saying
// what failed, then a problem a line (mapping_failed: the rule's file:line first, lines of the
// expression's position following it; validation_failed: the place in the message, the
// problem and the mapping rule that made the element). What it does not recognise stays a
// problem's message as it is.
func ParseFailure(typ, detail string) (summary string, problems []FailureProblem) {
	lines := strings.Split(strings.TrimRight(detail, "\n"), "\n")
	summary = lines[0]
	rest := lines[1:]
	if len(rest) == 0 {
		if typ == "mapping_failed" || typ == "validation_failed" {
			return summary, []FailureProblem{{Message: summary}}
		}
		return summary, nil
	}
	for _, l := range rest {
		switch {
		case typ == "mapping_failed":
			if m := ruleLine.FindStringSubmatch(l); m != nil {
				problems = append(problems, FailureProblem{Rule: m[1], Message: m[2]})
			} else if len(problems) > 0 {
				problems[len(problems)-1].Message += "\n" + l
			} else {
				problems = append(problems, FailureProblem{Message: l})
			}
		default:
			p := FailureProblem{Message: l}
			if m := xsdPlace.FindStringSubmatch(p.Message); m != nil {
				p.Line, _ = strconv.Atoi(m[1])
				p.Column, _ = strconv.Atoi(m[2])
				p.Message = p.Message[len(m[0]):]
			}
			if m := xsdRule.FindStringSubmatch(p.Message); m != nil {
				p.Rule = m[1]
				p.Message = p.Message[:len(p.Message)-len(m[0])]
			}
			problems = append(problems, p)
		}
	}
	return summary, problems
}

// messageDownload answers GET /v1/submissions/{id}/messages/{destination}: the generated
// message as stored, as a file; ?pretty=true indents XML for reading.
func (s *Server) messageDownload(w http.ResponseWriter, r *http.Request) {
	sub, ok := s.find(w, r)
	if !ok {
		return
	}
	pretty := false
	if v := r.URL.Query().Get("pretty"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			s.answerError(w, badRequest("pretty", "must be true or false"))
			return
		}
		pretty = b
	}
	dest := r.PathValue("destination")
	m, err := s.Store.Message(r.Context(), sub.ID, dest)
	if errors.Is(err, store.ErrNotFound) {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "the submission has no message for destination " + strconv.Quote(dest)})
		return
	}
	if err != nil {
		s.fail(w, err)
		return
	}
	if len(m.XML) == 0 {
		msg := "the message's content is gone"
		if !sub.PurgedAt.IsZero() {
			msg = PurgedNote(sub.PurgedAt)
		}
		writeJSON(w, http.StatusGone, map[string]string{"error": msg})
		return
	}
	mt := m.MediaType
	if mt == "" {
		mt = store.MediaTypeXML
	}
	content := m.XML
	if pretty {
		switch ext := (&adapters.Package{MediaType: mt}).MessageExt(); ext {
		case ".xml":
			content = PrettyXML(content)
		case ".json":
			content = prettyJSON(content)
		}
	}
	name := fmt.Sprintf("%s-%s%s", sub.ID, dest, (&adapters.Package{MediaType: mt}).MessageExt())
	w.Header().Set("Content-Type", mt)
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename=%q`, safeFilename(name)))
	w.Header().Set("Content-Length", strconv.Itoa(len(content)))
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(content)
}

// safeFilename keeps a download's name to characters every browser takes.
func safeFilename(name string) string {
	return strings.Map(func(r rune) rune {
		if r == '.' || r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
			return r
		}
		return '_'
	}, name)
}
