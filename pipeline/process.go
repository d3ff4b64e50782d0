package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	wmsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/amtsbote/amtsbote/formdata"
	"github.com/amtsbote/amtsbote/formdoc"
	"github.com/amtsbote/amtsbote/mapping"
	"github.com/amtsbote/amtsbote/routes"
	"github.com/amtsbote/amtsbote/snapshot"
	"github.com/amtsbote/amtsbote/store"
	"github.com/amtsbote/amtsbote/xoev"
)

// process maps and validates one submission for every target of its route, then queues each
// message for its destination — all in the transaction that acks the queue message. If any
// target fails, the submission fails as a whole and nothing is delivered.
func (p *Pipeline) process(msg *message.Message, tx wmsql.Tx) error {
	ctx := msg.Context()
	id := string(msg.Payload)
	sub, atts, err := p.readSubmission(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		p.Logger.Error("queued submission does not exist; dropping the queue message", "submission_id", id)
		return nil
	}
	if err != nil {
		return err
	}
	if sub.Status != store.StatusReceived && sub.Status != store.StatusAwaitingPayment {
		return nil // processed before a crash or restart: nothing left to do
	}
	snap := p.Current()
	defer snap.Release()
	log := p.Logger.With("submission_id", id, "route", sub.Route)
	var route *routes.Route
	if msg.Metadata.Get(reprocessKey) != "" {
		var why string
		if route, why = reroute(sub, snap); route == nil {
			return p.fail(msg, tx, sub, []store.Event{{Type: "routing_failed", Detail: why}})
		}
		if route.ID != sub.Route {
			if err := store.SetRoute(ctx, tx, id, route.ID); err != nil {
				return err
			}
			if err := store.AddEvent(ctx, tx, id, store.Event{At: p.Now(), Type: "rerouted",
				Detail: fmt.Sprintf("route %s instead of %s", route.ID, sub.Route)}); err != nil {
				return err
			}
			sub.Route = route.ID
			log = log.With("route", route.ID)
		}
	} else if r, ok := snap.Routes.Route(sub.Route); ok {
		route = r
	} else {
		return p.fail(msg, tx, sub, []store.Event{{Type: "routing_failed", Detail: fmt.Sprintf("route %q is no longer configured", sub.Route)}})
	}
	if f, err := routeSchemaFailure(sub, route); err != nil {
		return err
	} else if f != nil {
		return p.fail(msg, tx, sub, []store.Event{f.event()})
	}
	if done, err := p.holdForPayment(msg, tx, sub, route, log); done || err != nil {
		return err // held until paid, or failed for its payment
	}
	// The readable application and the data as received: made once, stored with the messages
	// that reference them, so that every delivery (and redelivery) carries the same bytes.
	generated, err := applicationFiles(formData(sub), atts, route, snap.Config.Location(), len(atts))
	if err != nil {
		return err
	}
	atts = append(atts, generated...)
	in, err := mappingInput(sub, atts, snap)
	if err != nil {
		return p.fail(msg, tx, sub, []store.Event{{Type: "mapping_failed", Detail: err.Error()}})
	}
	var messages []store.Message
	var failures []store.Event
	for _, t := range route.Targets {
		m, failure, err := p.mapTarget(in, t, snap)
		if err != nil {
			return err
		}
		if failure != nil {
			failures = append(failures, failure.event())
			continue
		}
		messages = append(messages, store.Message{SubmissionID: id, Destination: t.Destination, MessageID: m.ID,
			MessageType: m.Type, SchemaSet: t.Schema, CreatedAt: m.CreatedAt, XML: m.XML, MediaType: m.MediaType})
	}
	if len(failures) > 0 {
		log.Info("submission does not map to valid messages", "failures", len(failures))
		return p.fail(msg, tx, sub, failures)
	}
	now := p.Now()
	if err := store.InsertAttachments(ctx, tx, id, generated); err != nil {
		return err
	}
	files := handedOffFiles(atts, generated)
	var events []store.Event
	for _, m := range messages {
		if err := store.InsertMessage(ctx, tx, m); err != nil {
			return err
		}
		events = append(events,
			store.Event{At: now, Type: "mapped", Destination: m.Destination, Detail: fmt.Sprintf("%s %s (route %s)", m.MessageType, m.MessageID, route.ID)},
			store.Event{At: now, Type: "validated", Destination: m.Destination, Detail: "valid against " + validatedBy(m, route)})
		if err := store.InsertDelivery(ctx, tx, id, m.Destination, now); err != nil {
			return err
		}
		work := NewWork(ctx, id, now)
		if err := Publish(tx, DeliveryTopic(m.Destination), work); err != nil {
			return err
		}
		p.handoff.put(work.UUID, handedOff(sub, m, files), time.Now())
	}
	if err := store.AddEvents(ctx, tx, id, events...); err != nil {
		return err
	}
	if err := store.SetStatus(ctx, tx, id, store.StatusProcessing, now); err != nil {
		return err
	}
	log.Info("submission mapped and validated", "destinations", len(messages))
	return nil
}

// formData is the submission with its data as JSON: data sent as XML becomes its tree
// (mapping.XMLData); if it does not parse, the submission keeps it, and mapping reports it.
func formData(sub store.Submission) store.Submission {
	if sub.DataType == "application/xml" {
		if tree, err := mapping.XMLData(sub.Data); err == nil {
			sub.Data = tree
		}
	}
	return sub
}

func mappingInput(sub store.Submission, atts []store.Attachment, snap *snapshot.Snapshot) (mapping.Input, error) {
	in := mapping.Input{
		SubmissionID: sub.ID, Portal: sub.Portal, Reference: sub.Reference, Leistung: sub.Leistung,
		AGS: sub.AGS, ARS: sub.ARS, ReceivedAt: sub.ReceivedAt, Data: json.RawMessage(sub.Data),
		Sender: snap.Config.Sender, Product: snap.Config.Product, Channel: sub.Channel, TrustLevel: sub.TrustLevel, AccountType: sub.AccountType,
	}
	if sub.DataType == "application/xml" {
		tree, err := mapping.XMLData(sub.Data)
		if err != nil {
			return in, err
		}
		in.Data, in.DataXML = tree, sub.Data
	}
	in.FitConnect, in.XTA = sub.ChannelMeta()
	for _, a := range atts {
		ma := mapping.Attachment{
			Filename: a.Filename, PackageName: a.PackageName, MediaType: a.MediaType, Size: a.Size, SHA256: a.SHA256,
			Title: a.Title, Format: a.Format, FormatVersion: a.FormatVersion, PDFA: a.PDFA,
			Generated: a.Origin == store.OriginGenerated,
		}
		if ma.Generated {
			ma.CreatedAt = sub.ReceivedAt // the application as received
		}
		in.Attachments = append(in.Attachments, ma)
	}
	return in, nil
}

// applicationFiles renders the readable application and keeps the data as received, if the
// route asks for them and they were not made before; seq numbers follow the portal's files.
func applicationFiles(sub store.Submission, atts []store.Attachment, route *routes.Route, loc *time.Location, next int) ([]store.Attachment, error) {
	return makeApplicationFiles(sub, atts, route, loc, next, true)
}

// makeApplicationFiles is applicationFiles; without render the PDF is described, not made (a
// dry run's mapping needs its name and format only).
func makeApplicationFiles(sub store.Submission, atts []store.Attachment, route *routes.Route, loc *time.Location, next int, render bool) ([]store.Attachment, error) {
	if route.ApplicationDocument == nil {
		return nil, nil
	}
	for _, a := range atts {
		if a.Origin == store.OriginGenerated {
			return nil, nil // made by an earlier run
		}
	}
	doc := routes.DocumentFor(route, routes.SubmissionInfo{ID: sub.ID, Portal: sub.Portal, Reference: sub.Reference,
		Leistung: sub.Leistung, AGS: sub.AGS, ReceivedAt: sub.ReceivedAt, Data: sub.Data}, loc)
	for _, a := range atts {
		doc.Attachments = append(doc.Attachments, formdoc.Attachment{Name: a.Filename, MediaType: a.MediaType, Size: a.Size})
	}
	files := formdoc.ApplicationFilesUnrendered(doc, mapping.ObjectID(sub.ID, "antrag"))
	if render {
		var err error
		if files, err = formdoc.ApplicationFiles(doc, mapping.ObjectID(sub.ID, "antrag")); err != nil {
			return nil, fmt.Errorf("render the application of %s: %w", sub.ID, err)
		}
	}
	out := make([]store.Attachment, len(files))
	for i, f := range files {
		out[i] = store.Attachment{Seq: next + i, Filename: f.Filename, PackageName: f.PackageName, MediaType: f.MediaType,
			Title: f.Title, Format: f.Format, FormatVersion: f.FormatVersion, PDFA: f.PDFA, Origin: store.OriginGenerated,
			Content: store.Content(f.Content)}
	}
	return out, nil
}

// validatedBy names what a message was checked against.
func validatedBy(m store.Message, route *routes.Route) string {
	t, ok := route.Target(m.Destination)
	switch {
	case ok && t.FormData != nil && t.FormData.JSONSchema != "":
		return t.FormData.JSONSchema
	case ok && t.FormData == nil:
		if mm, isMapping := t.Mapper.(*mapping.Mapping); isMapping && mm.Output != mapping.OutputXML {
			if mm.JSONSchemaFile != "" {
				return filepath.Base(mm.JSONSchemaFile)
			}
			return "nothing (" + mm.Output + ": no schema configured)"
		}
	}
	if m.SchemaSet != "" {
		return m.SchemaSet
	}
	return "nothing (no schema configured)"
}

// failure is why a target's message could not be made: the event for the history, and the same
// problems one by one for a check at intake.
type failure struct {
	Type, Destination, Detail string
	Problems                  []Problem
}

func (f *failure) event() store.Event {
	return store.Event{Type: f.Type, Destination: f.Destination, Detail: f.Detail}
}

// mapTarget builds and validates the message for one target. A problem with the submission is
// returned as a failure; only internal errors are errors.
func (p *Pipeline) mapTarget(in mapping.Input, t routes.Target, snap *snapshot.Snapshot) (*mapping.Message, *failure, error) {
	return mapTarget(in, t, snap, p.Now)
}

func mapTarget(in mapping.Input, t routes.Target, snap *snapshot.Snapshot, now func() time.Time) (*mapping.Message, *failure, error) {
	in, in.Now = t.Input(in), now
	m, err := t.Mapper.Map(in)
	var fe *formdata.ValidationError
	var me *mapping.Error
	switch {
	case errors.As(err, &fe):
		return nil, schemaFailure(fe, t.Destination), nil
	case errors.As(err, &me):
		f := &failure{Type: "mapping_failed", Destination: t.Destination, Detail: err.Error()}
		for _, pr := range me.Problems {
			msg, _, _ := strings.Cut(pr.Problem, "\n") // the expression's position follows; the history has it
			if pr.Element != "" {
				msg = pr.Element + ": " + msg
			}
			f.Problems = append(f.Problems, Problem{Destination: t.Destination, Field: pr.Field, Message: msg, Rule: pr.Where})
		}
		return nil, f, nil
	case err != nil:
		return nil, nil, err
	case t.FormData != nil:
		return m, nil, nil // checked against its JSON Schema while mapped
	}
	against := t.Schema
	if mm, ok := t.Mapper.(*mapping.Mapping); ok && mm.Output != mapping.OutputXML {
		// JSON against the mapping's JSON Schema; a CSV has none
		err = mm.Check(m)
		against = filepath.Base(mm.JSONSchemaFile)
	} else if set, ok := snap.Schemas[t.Schema]; !ok {
		detail := fmt.Sprintf("schema set %q is not configured", t.Schema)
		return nil, &failure{Type: "validation_failed", Destination: t.Destination, Detail: detail,
			Problems: []Problem{{Destination: t.Destination, Message: detail}}}, nil
	} else {
		err = set.Validate(m.XML)
	}
	if err != nil {
		var ve *xoev.ValidationError
		var pe *xoev.ParseError
		switch {
		case errors.As(err, &ve):
			m.Annotate(ve.Problems)
			lines := make([]string, len(ve.Problems))
			f := &failure{Type: "validation_failed", Destination: t.Destination}
			for i, pr := range ve.Problems {
				lines[i] = pr.String()
				msg := pr.Message
				if pr.Path != "" {
					msg = pr.Path + ": " + msg
				}
				f.Problems = append(f.Problems, Problem{Destination: t.Destination, Message: fmt.Sprintf("%s is not valid against %s: %s", m.Type, against, msg), Rule: pr.Rule})
			}
			f.Detail = fmt.Sprintf("%s (mapping %s) is not valid against %s:\n%s", m.Type, t.Mapping, against, strings.Join(lines, "\n"))
			return nil, f, nil
		case errors.As(err, &pe):
			return nil, &failure{Type: "validation_failed", Destination: t.Destination, Detail: pe.Error(),
				Problems: []Problem{{Destination: t.Destination, Message: pe.Error()}}}, nil
		}
		return nil, nil, err
	}
	return m, nil, nil
}

// schemaFailure is form data that does not fit a JSON Schema (a route's, or a form_data target's).
func schemaFailure(fe *formdata.ValidationError, destination string) *failure {
	f := &failure{Type: "validation_failed", Destination: destination}
	lines := make([]string, len(fe.Problems))
	for i, pr := range fe.Problems {
		lines[i] = pr.String()
		field := "data"
		if pr.Path != "" {
			field += "." + pr.Path
		}
		f.Problems = append(f.Problems, Problem{Destination: destination, Field: field, Message: pr.Message + " (" + fe.Schema + ")"})
	}
	f.Detail = fmt.Sprintf("the form data is not valid against %s:\n%s", fe.Schema, strings.Join(lines, "\n"))
	return f
}

// fail marks a submission failed with reasons the portal and the operator can read.
func (p *Pipeline) fail(msg *message.Message, tx wmsql.Tx, sub store.Submission, events []store.Event) error {
	ctx := msg.Context()
	now := p.Now()
	for i := range events {
		events[i].At = now
	}
	if err := store.AddEvents(ctx, tx, sub.ID, events...); err != nil {
		return err
	}
	return store.SetStatus(ctx, tx, sub.ID, store.StatusFailed, now)
}

// readSubmission reads a submission and its attachments (without content) in one go.
func (p *Pipeline) readSubmission(ctx context.Context, id string) (store.Submission, []store.Attachment, error) {
	reads, err := p.Store.BeginReads(ctx)
	if err != nil {
		return store.Submission{}, nil, err
	}
	defer reads.End()
	sub, err := reads.Submission(ctx, id)
	if err != nil {
		return store.Submission{}, nil, err
	}
	atts, err := reads.Attachments(ctx, id)
	if err != nil {
		return store.Submission{}, nil, err
	}
	return sub, atts, nil
}

func (p *Pipeline) processGaveUp(msg *message.Message, tx wmsql.Tx, cause error) error {
	sub, err := p.Store.Submission(msg.Context(), string(msg.Payload))
	if err != nil {
		return err
	}
	return p.fail(msg, tx, sub, []store.Event{{Type: "processing_failed", Detail: "internal error, gave up after repeated attempts: " + cause.Error()}})
}
