// Package intake takes messages from XTA 2 mailboxes in as submissions: it lists each reader's
// mailbox, selects by the metadata, fetches a message, stores it durably as a submission of
// channel xta — with the XTA message id as its idempotency key, so that a message fetched again
// (after a crash between storing and closing, or a close that failed) is never stored twice —
// and only then closes it at the server.
package intake

import (
	"archive/zip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	wmsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/google/uuid"

	"github.com/amtsbote/amtsbote/adapters"
	"github.com/amtsbote/amtsbote/config"
	"github.com/amtsbote/amtsbote/mapping"
	"github.com/amtsbote/amtsbote/pipeline"
	"github.com/amtsbote/amtsbote/routes"
	"github.com/amtsbote/amtsbote/snapshot"
	"github.com/amtsbote/amtsbote/store"
	"github.com/amtsbote/amtsbote/xoev"
	"github.com/amtsbote/amtsbote/xta"
)

// Channel is the channel of submissions taken from XTA mailboxes.
const Channel = "xta"

// Inbox is one configured inbox with its client.
type Inbox struct {
	Config  config.XTAInbox
	Client  *xta.Client
	Readers []xta.Party
}

// Load builds the inboxes of the configuration (reading the certificates now, so that a
// missing file is a start-up error).
func Load(cfg *config.Config) ([]*Inbox, error) {
	var out []*Inbox
	var errs []error
	for i, c := range cfg.XTA.Inboxes {
		key := fmt.Sprintf("xta.inboxes[%d].", i)
		pw := ""
		if c.PKCS12File != "" && (c.PKCS12Password != config.Secret{}) {
			v, err := c.PKCS12Password.Value(cfg)
			if err != nil {
				errs = append(errs, fmt.Errorf("%spkcs12_password: %w", key, err))
				continue
			}
			pw = v
		}
		tlsConfig, err := xta.TLSOptions{CAFile: cfg.Path(c.CAFile), ClientCertFile: cfg.Path(c.ClientCertFile),
			ClientKeyFile: cfg.Path(c.ClientKeyFile), PKCS12File: cfg.Path(c.PKCS12File), PKCS12Password: pw}.Config(key)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		client, err := xta.NewClient(xta.ClientOptions{ManagementURL: c.URL, MsgBoxURL: c.URL, TLS: tlsConfig, Timeout: c.Timeout,
			TempDir: cfg.SpoolDirectory()})
		if err != nil {
			errs = append(errs, fmt.Errorf("%surl: %w", key, err))
			continue
		}
		in := &Inbox{Config: c, Client: client}
		for _, r := range c.Readers {
			in.Readers = append(in.Readers, xta.Party{ID: r.Identifier, Type: r.Type, Name: r.Name, Category: r.Category})
		}
		out = append(out, in)
	}
	return out, errors.Join(errs...)
}

// Intake polls the inboxes.
type Intake struct {
	Store   *store.Store
	Inboxes []*Inbox
	// Current returns the configuration snapshot in force, acquired (routes, schema sets).
	Current func() *snapshot.Snapshot
	Logger  *slog.Logger
	Now     func() time.Time
}

func (in *Intake) now() time.Time {
	if in.Now != nil {
		return in.Now()
	}
	return time.Now()
}

// Poll polls every inbox at its interval until ctx ends.
func (in *Intake) Poll(ctx context.Context) {
	var wg sync.WaitGroup
	for _, box := range in.Inboxes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTimer(0)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
				if _, err := in.PollOnce(ctx, box); err != nil && ctx.Err() == nil {
					in.Logger.Warn("XTA poll failed; next poll as scheduled", "inbox", box.Config.ID, "error", err)
				}
				t.Reset(box.Config.PollInterval)
			}
		}()
	}
	wg.Wait()
}

// PollOnce empties the inbox's mailboxes once (one instance at a time in a cluster) and
// returns how many messages it stored.
func (in *Intake) PollOnce(ctx context.Context, box *Inbox) (int, error) {
	stored := 0
	var errs []error
	_, err := in.Store.Exclusive(ctx, "xta-poll-"+box.Config.ID, func() error {
		for _, reader := range box.Readers {
			n, err := in.pollReader(ctx, box, reader)
			stored += n
			if err != nil {
				errs = append(errs, fmt.Errorf("reader %s: %w", reader.ID, err))
			}
		}
		return nil
	})
	if err != nil {
		errs = append(errs, err)
	}
	return stored, errors.Join(errs...)
}

func (in *Intake) pollReader(ctx context.Context, box *Inbox, reader xta.Party) (int, error) {
	list, err := box.Client.StatusList(ctx, reader, 100)
	if err != nil {
		return 0, fmt.Errorf("getStatusList: %w", err)
	}
	stored := 0
	var errs []error
	for _, md := range list.Messages {
		if !box.wants(md) {
			continue
		}
		if ctx.Err() != nil {
			break
		}
		ok, err := in.take(ctx, box, reader, md)
		if ok {
			stored++
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("message %s: %w", md.MessageID, err))
		}
	}
	return stored, errors.Join(errs...)
}

// wants tells whether the inbox takes a message, by its metadata.
func (box *Inbox) wants(md xta.MessageMetaData) bool {
	if len(box.Config.Services) > 0 && !slices.Contains(box.Config.Services, md.Service) {
		return false
	}
	return len(box.Config.MessageTypes) == 0 || slices.Contains(box.Config.MessageTypes, md.MessageType.Code)
}

// take fetches, stores and closes one message; stored tells whether this call stored it.
func (in *Intake) take(ctx context.Context, box *Inbox, reader xta.Party, md xta.MessageMetaData) (stored bool, err error) {
	log := in.Logger.With("inbox", box.Config.ID, "reader", reader.ID, "xta_message_id", md.MessageID)
	existing, err := in.Store.SubmissionByIdempotencyKey(ctx, box.Config.ID, md.MessageID)
	switch {
	case err == nil:
		// Stored before and not closed (a crash, or a close that failed): close it now.
		f, err := box.Client.GetMessage(ctx, reader, md.MessageID)
		if err != nil {
			return false, fmt.Errorf("getMessage (to close a message stored as %s): %w", existing.ID, err)
		}
		f.Remove()
		if err := box.Client.Close(ctx, reader, f.RequestID, md.MessageID); err != nil {
			return false, fmt.Errorf("close (stored as %s): %w", existing.ID, err)
		}
		log.Info("XTA message closed that was stored before", "submission", existing.ID)
		return false, nil
	case !errors.Is(err, store.ErrNotFound):
		return false, err
	}
	f, err := box.Client.GetMessage(ctx, reader, md.MessageID)
	if err != nil {
		return false, fmt.Errorf("getMessage: %w", err)
	}
	defer f.Remove()
	sub, atts, closers, problem, err := in.submission(box, f)
	defer func() {
		for _, c := range closers {
			c.Close()
		}
	}()
	if err != nil {
		return false, err
	}
	if problem == "" {
		snap := in.Current()
		route, why := in.route(snap, box, sub)
		snap.Release()
		if route == nil {
			// amtsbote cannot place it: an operator must add a route. It stays in the mailbox.
			return false, errors.New(why)
		}
		sub.Route = route.ID
	}
	if problem != "" {
		sub.Status = store.StatusFailed
		log.Error("XTA message cannot be processed; it is filed as a failed submission for an operator", "problem", problem)
	}
	now := in.now()
	err = in.Store.InGroupTx(ctx, func(ctx context.Context, tx wmsql.Tx) error {
		if err := store.InsertSubmission(ctx, tx, sub, atts); err != nil {
			return err
		}
		detail := fmt.Sprintf("XTA message %s from %s to %s (service %s, message type %s)", md.MessageID, f.Meta.Author.ID,
			f.Meta.Reader.ID, f.Meta.Service, f.Meta.MessageType.Code)
		if err := store.AddEvent(ctx, tx, sub.ID, store.Event{At: now, Type: "xta_received", Detail: detail}); err != nil {
			return err
		}
		if problem != "" {
			if err := store.AddEvent(ctx, tx, sub.ID, store.Event{At: now, Type: "xta_rejected", Detail: problem}); err != nil {
				return err
			}
		}
		if err := store.Audit(ctx, tx, store.AuditEntry{At: now, Actor: "xta:" + box.Config.ID, Action: "submit", Subject: sub.ID,
			Detail: "XTA message " + md.MessageID}); err != nil {
			return err
		}
		if problem != "" {
			return nil
		}
		return pipeline.Publish(tx, pipeline.TopicSubmissions, pipeline.NewWork(ctx, sub.ID, now))
	})
	if err != nil {
		// Another instance, or an earlier attempt, may have stored it meanwhile.
		if _, lookErr := in.Store.SubmissionByIdempotencyKey(ctx, box.Config.ID, md.MessageID); lookErr != nil {
			return false, fmt.Errorf("store: %w", err)
		}
	} else {
		stored = true
		log.Info("XTA message stored", "submission", sub.ID, "failed", problem != "")
	}
	// Only now, with the submission durable, does the message leave the mailbox.
	if err := box.Client.Close(ctx, reader, f.RequestID, md.MessageID); err != nil {
		return stored, fmt.Errorf("close (stored as %s; closed at the next poll): %w", sub.ID, err)
	}
	return stored, nil
}

// submission makes the fetched message a submission: the XÖV message as its data (the message
// itself, or the one XML file of a zip such as an xdomea package) and the other files as its
// attachments. A message that cannot be read as such, or fails its schema, gives a problem: it
// is filed (failed, its content as attachments) for an operator.
func (in *Intake) submission(box *Inbox, f *xta.Fetched) (store.Submission, []store.Attachment, []io.Closer, string, error) {
	meta, _ := json.Marshal(map[string]any{"xta": metaJSON(box, f)})
	sub := store.Submission{ID: store.NewID(), Portal: box.Config.ID, Reference: ref(f.Meta), Leistung: box.Config.Leistung,
		AGS: box.Config.AGS, Status: store.StatusReceived, IdempotencyKey: f.Meta.MessageID, ReceivedAt: in.now(),
		Channel: Channel, DataType: "application/xml", Meta: meta}
	var closers []io.Closer
	var atts []store.Attachment
	addFile := func(name, mediaType string, r io.Reader) {
		if mediaType == "" {
			mediaType = mime.TypeByExtension(path.Ext(name))
		}
		if mediaType == "" {
			mediaType = "application/octet-stream"
		}
		atts = append(atts, store.Attachment{Seq: len(atts), Filename: name, PackageName: adapters.PackageName(uuid.NewString(), name),
			MediaType: mediaType, Content: r})
	}
	openFile := func(c xta.Content) (*os.File, error) {
		fi, err := os.Stat(c.Path)
		if err != nil {
			return nil, err
		}
		if fi.Size() > box.Config.MaxMessageBytes {
			return nil, fmt.Errorf("%s has %d bytes, more than max_message_bytes %d", c.Filename, fi.Size(), box.Config.MaxMessageBytes)
		}
		file, err := os.Open(c.Path)
		if err == nil {
			closers = append(closers, file)
		}
		return file, err
	}
	fail := func(problem string) (store.Submission, []store.Attachment, []io.Closer, string, error) {
		// File everything as received, so that an operator can look at it.
		atts = atts[:0]
		for i, c := range append([]xta.Content{f.Message}, f.Attachments...) {
			file, err := openFile(c)
			if err != nil {
				return sub, nil, closers, "", err
			}
			name := c.Filename
			if name == "" {
				name = fmt.Sprintf("content-%d", i)
			}
			addFile(name, c.ContentType, file)
		}
		sub.Data, sub.DataType = []byte("{}"), store.JSONData
		return sub, atts, closers, problem, nil
	}
	msgFile, err := openFile(f.Message)
	if err != nil {
		return fail(err.Error())
	}
	var data []byte
	if isZip(f.Message) {
		fi, _ := msgFile.Stat()
		zr, err := zip.NewReader(msgFile, fi.Size())
		if err != nil {
			return fail("the message is announced as a zip but is none: " + err.Error())
		}
		var xmlNames []string
		for _, e := range zr.File {
			if !e.FileInfo().IsDir() && strings.EqualFold(path.Ext(e.Name), ".xml") && !strings.Contains(e.Name, "/") {
				xmlNames = append(xmlNames, e.Name)
			}
		}
		if len(xmlNames) != 1 {
			return fail(fmt.Sprintf("the zip holds %d XML files at its top (%v); amtsbote takes a package with exactly one message", len(xmlNames), xmlNames))
		}
		for _, e := range zr.File {
			if e.FileInfo().IsDir() {
				continue
			}
			if uint64(box.Config.MaxMessageBytes) < e.UncompressedSize64 {
				return fail(fmt.Sprintf("%s in the zip has %d bytes, more than max_message_bytes", e.Name, e.UncompressedSize64))
			}
			rc, err := e.Open()
			if err != nil {
				return fail(fmt.Sprintf("%s in the zip: %v", e.Name, err))
			}
			closers = append(closers, rc)
			if e.Name == xmlNames[0] {
				data, err = io.ReadAll(io.LimitReader(rc, xoev.DefaultMaxBytes+1))
				if err != nil {
					return fail(fmt.Sprintf("%s in the zip: %v", e.Name, err))
				}
				continue
			}
			addFile(path.Base(e.Name), "", io.LimitReader(rc, box.Config.MaxMessageBytes))
		}
	} else {
		if data, err = io.ReadAll(io.LimitReader(msgFile, xoev.DefaultMaxBytes+1)); err != nil {
			return sub, nil, closers, "", err
		}
	}
	for _, a := range f.Attachments {
		file, err := openFile(a)
		if err != nil {
			return fail(err.Error())
		}
		addFile(a.Filename, a.ContentType, file)
	}
	if problem := in.check(data); problem != "" {
		return fail(problem)
	}
	sub.Data = data
	return sub, atts, closers, "", nil
}

func isZip(c xta.Content) bool {
	return c.ContentType == "application/zip" || strings.EqualFold(path.Ext(c.Filename), ".zip")
}

// check parses the message and validates it against the schema set of its namespace, if one
// is configured; it returns what is wrong.
func (in *Intake) check(data []byte) string {
	ns, err := xoev.RootNamespace(data)
	if err != nil {
		return "the message is not well-formed XML: " + err.Error()
	}
	snap := in.Current()
	defer snap.Release()
	set := snap.SchemaSetFor(ns)
	if set == nil {
		return ""
	}
	if err := set.Validate(data); err != nil {
		return fmt.Sprintf("the message does not conform to schema set %s: %v", set.ID, err)
	}
	return ""
}

// route is the inbox's route, or the routes' matching.
func (in *Intake) route(snap *snapshot.Snapshot, box *Inbox, sub store.Submission) (*routes.Route, string) {
	if box.Config.Route != "" {
		if rt, ok := snap.Routes.Route(box.Config.Route); ok {
			return rt, ""
		}
		return nil, fmt.Sprintf("route %q of xta inbox %s is not in the routes", box.Config.Route, box.Config.ID)
	}
	var data any
	if tree, err := mapping.XMLData(sub.Data); err == nil {
		_ = json.Unmarshal(tree, &data)
	}
	rt, ok := snap.Routes.Match(routes.Submission{Leistung: sub.Leistung, AGS: sub.AGS, Portal: box.Config.ID, Reference: sub.Reference,
		Channel: Channel, Data: data})
	if !ok {
		return nil, fmt.Sprintf("no route accepts the messages of xta inbox %s (portal %s, channel xta); add one, or set the inbox's route; the message stays in the mailbox",
			box.Config.ID, box.Config.ID)
	}
	return rt, ""
}

func ref(md xta.MessageMetaData) string {
	if md.ProcessRef != "" && len(md.ProcessRef) <= 200 {
		return md.ProcessRef
	}
	return md.MessageID
}

// metaJSON is what routes and mappings see of the XTA metadata (submission meta "xta").
func metaJSON(box *Inbox, f *xta.Fetched) map[string]any {
	md := f.Meta
	party := func(p xta.Party) map[string]any {
		return map[string]any{"identifier": p.ID, "type": p.Type, "name": p.Name, "category": p.Category}
	}
	out := map[string]any{
		"inbox": box.Config.ID, "message_id": md.MessageID, "process_ref": md.ProcessRef,
		"author": party(md.Author), "reader": party(md.Reader), "service": md.Service,
		"business_scenario": md.BusinessScenario.Code, "message_type": md.MessageType.Code, "payload_schema": md.PayloadSchema,
		"test": md.Test, "message": map[string]any{"filename": f.Message.Filename, "content_type": f.Message.ContentType},
	}
	if md.Undefined != "" {
		out["business_scenario"] = md.Undefined
	}
	if !md.Origin.IsZero() {
		out["origin"] = md.Origin.UTC().Format(time.RFC3339)
	}
	return out
}
