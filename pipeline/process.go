package pipeline

import (
	"errors"
	"fmt"
	"strings"

	wmsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/amtsbote/amtsbote/mapping"
	"github.com/amtsbote/amtsbote/store"
	"github.com/amtsbote/amtsbote/xoev"
)

// process routes, maps and validates one submission, then queues it for every destination of
// its route — all in the transaction that acks the message.
func (p *Pipeline) process(msg *message.Message, tx wmsql.Tx) error {
	ctx := msg.Context()
	id := string(msg.Payload)
	sub, err := p.Store.Submission(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		p.Logger.Error("queued submission does not exist; dropping the queue message", "submission_id", id)
		return nil
	}
	if err != nil {
		return err
	}
	if sub.Status != store.StatusReceived {
		return nil // processed before a crash or restart: nothing left to do
	}
	log := p.Logger.With("submission_id", id, "route", sub.Route)
	route, ok := p.Routes.Route(sub.Route)
	if !ok {
		return p.fail(msg, tx, sub, "routing_failed", fmt.Sprintf("route %q is no longer configured", sub.Route))
	}
	mapper, err := mapping.Lookup(route.Mapping)
	if err != nil {
		return p.fail(msg, tx, sub, "mapping_failed", err.Error())
	}
	atts, err := p.Store.Attachments(ctx, id, false)
	if err != nil {
		return err
	}
	in := mapping.Input{
		SubmissionID: sub.ID, Portal: sub.Portal, Reference: sub.Reference,
		Leistung: sub.Leistung, AGS: sub.AGS, ReceivedAt: sub.ReceivedAt, Data: sub.Data,
		Sender: p.Config.Sender, Recipient: route.Recipient, Now: p.Now,
	}
	for _, a := range atts {
		in.Attachments = append(in.Attachments, mapping.Attachment{
			Filename: a.Filename, PackageName: a.PackageName, MediaType: a.MediaType, Size: a.Size, SHA256: a.SHA256,
		})
	}
	m, err := mapper.Map(in)
	if err != nil {
		if mapping.IsMappingError(err) {
			log.Info("mapping failed", "reason", err)
			return p.fail(msg, tx, sub, "mapping_failed", err.Error())
		}
		return err
	}
	validator, ok := p.Schemas[route.Schema]
	if !ok {
		return p.fail(msg, tx, sub, "validation_failed", fmt.Sprintf("schema set %q is not configured", route.Schema))
	}
	if err := validator.Validate(m.XML); err != nil {
		var ve *xoev.ValidationError
		var pe *xoev.ParseError
		switch {
		case errors.As(err, &ve):
			log.Info("message is not valid", "problems", len(ve.Problems))
			lines := make([]string, len(ve.Problems))
			for i, pr := range ve.Problems {
				lines[i] = pr.String()
			}
			return p.fail(msg, tx, sub, "validation_failed", strings.Join(lines, "\n"))
		case errors.As(err, &pe):
			return p.fail(msg, tx, sub, "validation_failed", pe.Error())
		}
		return err
	}

	now := p.Now()
	if err := store.InsertMessage(ctx, tx, store.Message{
		SubmissionID: id, MessageID: m.ID, MessageType: m.Type, SchemaSet: route.Schema, CreatedAt: m.CreatedAt, XML: m.XML,
	}); err != nil {
		return err
	}
	events := []store.Event{
		{At: now, Type: "mapped", Detail: fmt.Sprintf("%s %s (route %s, mapping %s)", m.Type, m.ID, route.ID, route.Mapping)},
		{At: now, Type: "validated", Detail: "valid against " + route.Schema},
	}
	for _, e := range events {
		if err := store.AddEvent(ctx, tx, id, e); err != nil {
			return err
		}
	}
	for _, dest := range route.Destinations {
		if err := store.InsertDelivery(ctx, tx, id, dest, now); err != nil {
			return err
		}
		if err := Publish(tx, DeliveryTopic(dest), NewWork(id, now)); err != nil {
			return err
		}
	}
	if err := store.SetStatus(ctx, tx, id, store.StatusProcessing, now); err != nil {
		return err
	}
	log.Info("submission mapped and validated", "message_id", m.ID, "destinations", len(route.Destinations))
	return nil
}

// fail marks a submission failed with a reason the portal and the operator can read.
func (p *Pipeline) fail(msg *message.Message, tx wmsql.Tx, sub store.Submission, event, reason string) error {
	ctx := msg.Context()
	now := p.Now()
	if err := store.AddEvent(ctx, tx, sub.ID, store.Event{At: now, Type: event, Detail: reason}); err != nil {
		return err
	}
	return store.SetStatus(ctx, tx, sub.ID, store.StatusFailed, now)
}

func (p *Pipeline) processGaveUp(msg *message.Message, tx wmsql.Tx, cause error) error {
	sub, err := p.Store.Submission(msg.Context(), string(msg.Payload))
	if err != nil {
		return err
	}
	return p.fail(msg, tx, sub, "processing_failed", "internal error, gave up after repeated attempts: "+cause.Error())
}
