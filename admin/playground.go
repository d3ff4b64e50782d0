package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"

	"github.com/beevik/etree"

	"github.com/amtsbote/amtsbote/mapping"
	"github.com/amtsbote/amtsbote/mapping/golden"
	"github.com/amtsbote/amtsbote/routes"
	"github.com/amtsbote/amtsbote/store"
)

// MaxPlaygroundBytes caps a playground request.
const MaxPlaygroundBytes = 8 << 20

// PlaygroundRequest asks the mapping playground to map a submission: one posted as a portal
// posts it, or a stored one by its id; optionally through a route other than the one that
// matches, and for one destination only.
type PlaygroundRequest struct {
	Submission   json.RawMessage `json:"submission,omitempty"`
	SubmissionID string          `json:"submission_id,omitempty"`
	Route        string          `json:"route,omitempty"`
	Destination  string          `json:"destination,omitempty"`
}

// PlaygroundResult is what the submission maps to with the configuration in force: the same
// engine as `amtsbote map`, with its fixed clock and counted UUIDs.
type PlaygroundResult struct {
	Route         string              `json:"route"`
	ConfigVersion string              `json:"config_version,omitempty"`
	Valid         bool                `json:"valid"`
	Messages      []PlaygroundMessage `json:"messages"`
	// Errors are every problem, each starting with its destination: the mapping rule
	// (file:line) and the XSD or JSON Schema problems, as `amtsbote map` reports them.
	Errors []string `json:"errors"`
}

// PlaygroundMessage is one target's message, or its problems.
type PlaygroundMessage struct {
	Destination string `json:"destination"`
	// Source is what makes the message: the mapping file, or "form data".
	Source    string `json:"source"`
	MediaType string `json:"media_type,omitempty"`
	// Content is the message as delivered (a CSV decoded to UTF-8); "" if it failed.
	Content string `json:"content,omitempty"`
	// Pretty is an XML message indented for reading.
	Pretty string   `json:"pretty,omitempty"`
	Errors []string `json:"errors"`
}

// Playground maps a submission with the configuration in force and validates the messages; it
// stores nothing.
func (s *Server) Playground(ctx context.Context, req PlaygroundRequest) (*PlaygroundResult, error) {
	if s.Runtime == nil {
		return nil, ErrNoRuntime
	}
	var in golden.Input
	switch {
	case len(req.Submission) > 0 && req.SubmissionID != "":
		return nil, badRequest("submission_id", "give either submission or submission_id, not both")
	case req.SubmissionID != "":
		var err error
		if in, err = s.storedInput(ctx, req.SubmissionID); err != nil {
			return nil, err
		}
	case len(req.Submission) > 0:
		dec := json.NewDecoder(bytes.NewReader(req.Submission))
		if err := dec.Decode(&in); err != nil {
			return nil, badRequest("submission", "not a submission as a portal posts it: "+err.Error())
		}
	default:
		return nil, badRequest("submission", "give the submission (as a portal posts it) or submission_id (a stored one)")
	}
	in.Route = req.Route
	snap, release := s.Runtime.Snapshot()
	defer release()
	if req.Route != "" {
		if _, ok := snap.Routes.Route(req.Route); !ok {
			return nil, &RequestError{Status: http.StatusUnprocessableEntity, Field: "route", Message: fmt.Sprintf("route %q is not configured", req.Route)}
		}
	}
	route, out, err := golden.MapSubmission(snap, in)
	if err != nil {
		return nil, &RequestError{Status: http.StatusUnprocessableEntity, Field: "submission", Message: err.Error()}
	}
	if req.Destination != "" {
		if _, ok := route.Target(req.Destination); !ok {
			return nil, &RequestError{Status: http.StatusUnprocessableEntity, Field: "destination",
				Message: fmt.Sprintf("route %s has no target %q", route.ID, req.Destination)}
		}
	}
	res := &PlaygroundResult{Route: route.ID, ConfigVersion: s.Runtime.Status().ConfigVersion, Messages: []PlaygroundMessage{}, Errors: []string{}}
	// Files are named relative to the configuration's directory, as in the routes file.
	base := filepath.Dir(snap.Config.File) + string(filepath.Separator)
	for i, e := range out.Errors {
		out.Errors[i] = strings.ReplaceAll(e, base, "")
	}
	msgs := map[string]golden.Message{}
	for _, m := range out.Select(route, req.Destination) {
		msgs[m.Target.Destination] = m
	}
	for _, t := range route.Targets {
		if req.Destination != "" && t.Destination != req.Destination {
			continue
		}
		pm := PlaygroundMessage{Destination: t.Destination, Source: t.Mapping, Errors: []string{}}
		if t.FormData != nil {
			pm.Source = "form data"
		}
		if m, ok := msgs[t.Destination]; ok {
			pm.MediaType = m.MediaType
			pm.Content = string(golden.Printable(m.Content, m.MediaType))
			if isXML(m.MediaType) {
				pm.Pretty = string(PrettyXML(m.Content))
			}
		}
		for _, e := range out.Errors {
			if strings.HasPrefix(e, t.Destination+": ") {
				pm.Errors = append(pm.Errors, e)
				res.Errors = append(res.Errors, e)
			}
		}
		res.Messages = append(res.Messages, pm)
	}
	if req.Destination == "" {
		for _, e := range out.Errors {
			if !hasDestinationPrefix(e, route.Targets) {
				res.Errors = append(res.Errors, e) // the route's own (the application document)
			}
		}
	}
	res.Valid = len(res.Errors) == 0
	return res, nil
}

func hasDestinationPrefix(e string, targets []routes.Target) bool {
	for _, t := range targets {
		if strings.HasPrefix(e, t.Destination+": ") {
			return true
		}
	}
	return false
}

// storedInput is a stored submission as the playground maps it: its data, what its channel
// said, and its attachments' descriptions (mappings never read their content). The readable
// application is made again, as a reprocess would.
func (s *Server) storedInput(ctx context.Context, id string) (golden.Input, error) {
	var in golden.Input
	sub, err := s.Store.Submission(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return in, &RequestError{Status: http.StatusNotFound, Field: "submission_id", Message: "no submission with this id"}
	}
	if err != nil {
		return in, err
	}
	if !sub.PurgedAt.IsZero() {
		return in, &RequestError{Status: http.StatusGone, Field: "submission_id",
			Message: "retention deleted this submission's data on " + sub.PurgedAt.UTC().Format("2006-01-02 15:04 MST") + ": there is nothing left to map"}
	}
	in = golden.Input{Leistung: sub.Leistung, AGS: sub.AGS, ARS: sub.ARS, Reference: sub.Reference, Portal: sub.Portal,
		Data: json.RawMessage(sub.Data), Channel: sub.Channel, TrustLevel: sub.TrustLevel, AccountType: sub.AccountType}
	if sub.DataType == "application/xml" {
		tree, err := mapping.XMLData(sub.Data)
		if err != nil {
			return in, &RequestError{Status: http.StatusUnprocessableEntity, Field: "submission_id", Message: "the stored data is XML that does not parse: " + err.Error()}
		}
		in.Data = tree
	}
	in.FitConnect, in.XTA = sub.ChannelMeta()
	atts, err := s.Store.Attachments(ctx, id)
	if err != nil {
		return in, err
	}
	for _, a := range atts {
		if a.Origin == store.OriginGenerated {
			continue // made again by the mapping run
		}
		in.Attachments = append(in.Attachments, golden.Attachment{Filename: a.Filename, MediaType: a.MediaType, Title: a.Title,
			Stored: &golden.StoredAttachment{Size: a.Size, SHA256: a.SHA256, Format: a.Format, FormatVersion: a.FormatVersion, PDFA: a.PDFA}})
	}
	return in, nil
}

// playground answers POST /v1/playground.
func (s *Server) playground(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxPlaygroundBytes))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		s.answerError(w, &RequestError{Status: http.StatusRequestEntityTooLarge, Field: "body",
			Message: fmt.Sprintf("the request is larger than %d MiB", MaxPlaygroundBytes>>20)})
		return
	}
	if err != nil {
		s.answerError(w, badRequest("body", "cannot read the request: "+err.Error()))
		return
	}
	var req PlaygroundRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		s.answerError(w, badRequest("body", "not a playground request ({\"submission\": {…}} or {\"submission_id\": \"…\"}, optional route and destination): "+err.Error()))
		return
	}
	res, err := s.Playground(r.Context(), req)
	if err != nil {
		s.answerError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// isXML tells whether a message of this media type is XML.
func isXML(mediaType string) bool {
	return mediaType == "" || strings.HasPrefix(mediaType, store.MediaTypeXML) || strings.HasSuffix(strings.Split(mediaType, ";")[0], "+xml")
}

// PrettyXML indents an XML document for reading; what does not parse stays as it is.
func PrettyXML(content []byte) []byte {
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(content); err != nil {
		return content
	}
	doc.Indent(2)
	out, err := doc.WriteToBytes()
	if err != nil {
		return content
	}
	return out
}

// prettyJSON indents a JSON document; what does not parse stays as it is.
func prettyJSON(content []byte) []byte {
	var b bytes.Buffer
	if err := json.Indent(&b, content, "", "  "); err != nil {
		return content
	}
	b.WriteByte('\n')
	return b.Bytes()
}
