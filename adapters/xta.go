package adapters

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/beevik/etree"

	"github.com/amtsbote/amtsbote/xta"
)

func init() {
	Register("xta", newXTA)
}

// XTAOptions configure the xta adapter, which hands each package to an XTA 2 server (XTA-WS
// 2.1.1, a state's OSCI message broker, e.g. Governikus MultiMessenger) for a reader: it
// checks the account, looks the reader's service up, has the server create the message id,
// sends the package with its metadata, and reads the transport report (docs/xta.md).
type XTAOptions struct {
	// URL is the endpoint of the XTA server's management port (https://). Required.
	URL string `mapstructure:"url"`
	// SendURL is the endpoint of its send port. Default: url (brokers that serve every port
	// at one address).
	SendURL string `mapstructure:"send_url"`
	// CAFile is a PEM bundle of the CAs that may issue the server's certificate. Default: the
	// system's CAs.
	CAFile string `mapstructure:"ca_file"`
	// ClientCertFile and ClientKeyFile are the client certificate that authenticates the
	// account and its key (PEM, the key without passphrase); or pkcs12_file. One of the two is
	// required.
	ClientCertFile string `mapstructure:"client_cert_file"`
	ClientKeyFile  string `mapstructure:"client_key_file"`
	// PKCS12File is the client certificate with its key as PKCS#12 (.p12/.pfx), as brokers hand
	// them out, and PKCS12Password its password; instead of client_cert_file and
	// client_key_file.
	PKCS12File     string `mapstructure:"pkcs12_file"`
	PKCS12Password string `mapstructure:"pkcs12_password"`
	// Timeout bounds one call to the server. Default: 60s.
	Timeout time.Duration `mapstructure:"timeout"`
	// Author is the sending identity (identifier, type, name, category), Reader the receiving
	// one. Either, if its identifier is empty, comes from the message's header: the
	// Behördenkennung of the author (autor, Absender) or reader (leser, Empfaenger) as
	// prefix:key. Default type: xoev.
	Author xta.Party `mapstructure:"author"`
	Reader xta.Party `mapstructure:"reader"`
	// Service is the service URN the reader receives the messages under (DVDV), e.g.
	// urn:xoev-de:xdomea:schema:3.0.0. Required.
	Service string `mapstructure:"service"`
	// BusinessScenario is the business scenario code (e.g. XDOMEAGAD_DATA) with its code list
	// (business_scenario_list, business_scenario_list_version); without a code the scenario is
	// sent as Undefined with business_scenario_undefined (default: the message type).
	BusinessScenario            string `mapstructure:"business_scenario"`
	BusinessScenarioList        string `mapstructure:"business_scenario_list"`
	BusinessScenarioListVersion string `mapstructure:"business_scenario_list_version"`
	BusinessScenarioUndefined   string `mapstructure:"business_scenario_undefined"`
	// MessageTypeList and MessageTypeListVersion name the code list of the message type (its
	// code is the package's message type). Default: urn:de:payloadSchema:elementName, 1.0.
	MessageTypeList        string `mapstructure:"message_type_list"`
	MessageTypeListVersion string `mapstructure:"message_type_list_version"`
	// PayloadSchema is the payload's schema namespace. Default: the namespace of the message's
	// root element.
	PayloadSchema string `mapstructure:"payload_schema"`
	// LookupService asks the server whether the reader receives the service before the first
	// sending of each package; a "no" is a permanent error. Default: true.
	LookupService *bool `mapstructure:"lookup_service"`
	// ReportWait is how long one delivery waits for a final transport report (green or red)
	// before it is retried later (without sending again). Default: 10s.
	ReportWait time.Duration `mapstructure:"report_wait"`
	// Test marks the messages as test messages (MessageMetaData/@TestMsg). Default: false.
	Test bool `mapstructure:"test"`
	// StateDir is where the adapter notes the XTA message id of each package until its report
	// is final, so that a retry — after a timeout, a crash, a pending report — asks for the
	// report or sends again under the same id instead of sending a second message. Keep it on
	// durable storage, shared if several instances deliver. Required.
	StateDir string `mapstructure:"state_dir"`
	// The package as content: name and format as for filedrop (FileOptions). zip (default) sends
	// the xdomea zip as the message; files sends the XÖV message as the message and each
	// attachment as an attachment.
	FileOptions `mapstructure:",squash"`
}

type xtaAdapter struct {
	o        XTAOptions
	client   *xta.Client
	name     Pattern
	format   Format
	lookup   bool
	inflight Inflight

	locks   sync.Mutex
	perMsg  map[string]*msgLock
	checked sync.Map // author id → time.Time of the last successful checkAccountActive
}

// xtaCheckEvery is how often the account is checked again (checkAccountActive).
const xtaCheckEvery = 5 * time.Minute

func newXTA(options map[string]any) (Adapter, error) {
	var o XTAOptions
	if err := DecodeOptions(options, &o); err != nil {
		return nil, fmt.Errorf("xta: %w", err)
	}
	name, format, err := o.Parse()
	if err != nil {
		return nil, fmt.Errorf("xta: %w", err)
	}
	switch {
	case strings.TrimSpace(o.Service) == "":
		return nil, errors.New("xta: options.service is required: the service URN the reader receives under, e.g. urn:xoev-de:xdomea:schema:3.0.0")
	case o.StateDir == "":
		return nil, errors.New("xta: options.state_dir is required: a directory on durable storage for the message ids of packages in transit")
	case o.ReportWait < 0:
		return nil, fmt.Errorf("xta: options.report_wait %s: expected a positive duration", o.ReportWait)
	case o.BusinessScenario == "" && (o.BusinessScenarioList != "" || o.BusinessScenarioListVersion != ""):
		return nil, errors.New("xta: options.business_scenario_list needs options.business_scenario (the code)")
	case o.BusinessScenario != "" && (o.BusinessScenarioList == "" || o.BusinessScenarioListVersion == ""):
		return nil, errors.New("xta: options.business_scenario needs options.business_scenario_list and business_scenario_list_version (its code list)")
	}
	for what, p := range map[string]xta.Party{"options.author": o.Author, "options.reader": o.Reader} {
		if p.ID != "" {
			if err := p.Check(what); err != nil {
				return nil, fmt.Errorf("xta: %w", err)
			}
		}
	}
	if o.ReportWait == 0 {
		o.ReportWait = 10 * time.Second
	}
	if o.MessageTypeList == "" {
		o.MessageTypeList, o.MessageTypeListVersion = "urn:de:payloadSchema:elementName", "1.0"
	}
	if o.MessageTypeListVersion == "" {
		return nil, errors.New("xta: options.message_type_list needs options.message_type_list_version")
	}
	tlsConfig, err := xta.TLSOptions{CAFile: o.CAFile, ClientCertFile: o.ClientCertFile, ClientKeyFile: o.ClientKeyFile,
		PKCS12File: o.PKCS12File, PKCS12Password: o.PKCS12Password}.Config("options.")
	if err != nil {
		return nil, fmt.Errorf("xta: %w", err)
	}
	if err := os.MkdirAll(o.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("xta: options.state_dir: %w", err)
	}
	client, err := xta.NewClient(xta.ClientOptions{ManagementURL: o.URL, SendURL: o.SendURL, TLS: tlsConfig, Timeout: o.Timeout})
	if err != nil {
		return nil, fmt.Errorf("xta: options.url: %w", err)
	}
	return &xtaAdapter{o: o, client: client, name: name, format: format, lookup: o.LookupService == nil || *o.LookupService,
		perMsg: map[string]*msgLock{}}, nil
}

// xtaState is what the adapter notes about a package in transit (state_dir/<ProzessID>.json).
type xtaState struct {
	MessageID string    `json:"xta_message_id"`
	Sent      bool      `json:"sent"`
	Reader    string    `json:"reader"`
	Created   time.Time `json:"created"`
}

// Deliver sends the package unless it was sent before (state_dir), then reads the transport
// report: green is delivered, red a permanent error with the broker's reasons, open or yellow
// a transient error (the delivery asks again later, without sending again).
func (a *xtaAdapter) Deliver(ctx context.Context, p *Package) (string, error) {
	done, err := a.inflight.Begin("xta")
	if err != nil {
		return "", err
	}
	defer done()
	unlock := a.lock(p.MessageID)
	defer unlock()
	if err := ctx.Err(); err != nil {
		return "", Transient(fmt.Errorf("xta: %w", err), 0)
	}
	author, reader, err := a.parties(p)
	if err != nil {
		return "", Permanent(fmt.Errorf("xta: %w", err))
	}
	if err := a.checkAccount(ctx, author); err != nil {
		return "", err
	}
	state, err := a.readState(p.MessageID)
	if err != nil {
		return "", err
	}
	if state == nil {
		if a.lookup {
			available, known, err := a.client.LookupService(ctx, author, reader, a.o.Service)
			if err != nil {
				return "", a.classify("lookupService", err)
			}
			if known && !available {
				return "", Permanent(fmt.Errorf("xta: the reader %s does not receive the service %s (lookupService said no): check options.reader and options.service, or the reader's DVDV entry", reader.ID, a.o.Service))
			}
		}
		id, err := a.client.CreateMessageID(ctx, author)
		if err != nil {
			return "", a.classify("createMessageID", err)
		}
		state = &xtaState{MessageID: id, Reader: reader.ID, Created: time.Now().UTC()}
		if err := a.writeState(p.MessageID, state); err != nil {
			return "", err
		}
	}
	if !state.Sent {
		if err := a.send(ctx, p, state, author, reader); err != nil {
			return "", err
		}
	}
	return a.report(ctx, p, state, author)
}

// send sends the package under the state's message id; a server that has it already (9024)
// counts as sent.
func (a *xtaAdapter) send(ctx context.Context, p *Package, state *xtaState, author, reader xta.Party) error {
	files := a.format.Files(a.name.Name(p), p)
	var contents []xta.Content
	for _, f := range files {
		ct := "application/octet-stream"
		switch {
		case f.Zip:
			ct = "application/zip"
		case strings.HasSuffix(f.Name, p.MessageExt()) && len(contents) == len(files)-1:
			ct = p.MessageMediaType()
		default:
			for _, pf := range p.Files {
				if SafeName(pf.Name) == f.Name && pf.MediaType != "" {
					ct = pf.MediaType
				}
			}
		}
		contents = append(contents, xta.Content{Filename: f.Name, ContentType: ct, Write: func(w io.Writer) error {
			return f.Write(ctxWriter{ctx: ctx, w: w})
		}})
	}
	message := contents[len(contents)-1]
	md := xta.MessageMetaData{MessageID: state.MessageID, ProcessRef: p.MessageID, Author: author, Reader: reader,
		Service: a.o.Service, Origin: p.CreatedAt, Test: a.o.Test,
		MessageType:   xta.Code{ListURI: a.o.MessageTypeList, ListVersion: a.o.MessageTypeListVersion, Code: p.MessageType},
		PayloadSchema: a.o.PayloadSchema}
	if md.MessageType.Code == "" {
		md.MessageType.Code = "unknown"
	}
	if md.PayloadSchema == "" {
		md.PayloadSchema = rootNamespace(p.XML)
		if md.PayloadSchema == "" {
			md.PayloadSchema = "urn:amtsbote:payload:" + strings.TrimPrefix(p.MessageMediaType(), "application/")
		}
	}
	if a.o.BusinessScenario != "" {
		md.BusinessScenario = xta.Code{ListURI: a.o.BusinessScenarioList, ListVersion: a.o.BusinessScenarioListVersion, Code: a.o.BusinessScenario}
	} else if md.Undefined = a.o.BusinessScenarioUndefined; md.Undefined == "" {
		md.Undefined = md.MessageType.Code
	}
	err := a.client.SendMessage(ctx, md, message, contents[:len(contents)-1])
	if xta.FaultCode(err) == xta.CodeMessageIDUsed {
		err = nil // sent before: the answer was lost (a timeout, a crash)
	}
	if err != nil {
		return a.classify("sendMessage", err)
	}
	state.Sent = true
	return a.writeState(p.MessageID, state)
}

// report reads the transport report until it is final or report_wait passed.
func (a *xtaAdapter) report(ctx context.Context, p *Package, state *xtaState, author xta.Party) (string, error) {
	deadline := time.Now().Add(a.o.ReportWait)
	wait := 100 * time.Millisecond
	for {
		r, err := a.client.TransportReport(ctx, author, state.MessageID)
		if xta.FaultCode(err) == xta.CodeUnknownMessageID {
			// The server does not know it (it lost it, or the answer to sendMessage was a lie):
			// send again under the same id.
			state.Sent = false
			if err := a.writeState(p.MessageID, state); err != nil {
				return "", err
			}
			return "", Transient(fmt.Errorf("xta: the server does not know the message %s it accepted; it is sent again", state.MessageID), 0)
		}
		if err != nil {
			return "", a.classify("getTransportReport", err)
		}
		artefact := fmt.Sprintf("xta:%s to %s", state.MessageID, state.Reader)
		switch r.Status {
		case xta.StatusGreen:
			return artefact, nil
		case xta.StatusRed:
			// A replay after the cause is fixed sends a new message.
			os.Remove(a.statePath(p.MessageID))
			return "", Permanent(fmt.Errorf("xta: the transport report of %s is red: %s", state.MessageID, reasons(r)))
		}
		if time.Now().Add(wait).After(deadline) {
			return "", Transient(fmt.Errorf("xta: the transport report of %s is %s (%s); amtsbote asks again later without sending again",
				state.MessageID, xta.StatusName(r.Status), reasons(r)), 0)
		}
		select {
		case <-ctx.Done():
			return "", Transient(fmt.Errorf("xta: %w", ctx.Err()), 0)
		case <-time.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
	}
}

func reasons(r xta.Report) string {
	all := append(append(append([]string{}, r.Errors...), r.Warnings...), r.Infos...)
	if len(all) == 0 {
		return "no reason given"
	}
	return strings.Join(all, "; ")
}

// checkAccount calls checkAccountActive for the author, at the first delivery and then every
// few minutes.
func (a *xtaAdapter) checkAccount(ctx context.Context, author xta.Party) error {
	if t, ok := a.checked.Load(author.ID); ok && time.Since(t.(time.Time)) < xtaCheckEvery {
		return nil
	}
	if err := a.Check(ctx, author); err != nil {
		return err
	}
	a.checked.Store(author.ID, time.Now())
	return nil
}

// Check asks the server whether the author's account is active (health checks); author's
// empty identifier means options.author.
func (a *xtaAdapter) Check(ctx context.Context, author xta.Party) error {
	if author.ID == "" {
		author = a.o.Author.WithDefaults()
	}
	if author.ID == "" {
		return nil // derived from each message's header: checked at its delivery
	}
	if err := a.client.CheckAccountActive(ctx, author); err != nil {
		return a.classify("checkAccountActive", err)
	}
	return nil
}

// classify wraps a failed call as transient or permanent, saying what to do.
func (a *xtaAdapter) classify(op string, err error) error {
	wrapped := fmt.Errorf("xta: %s: %w", op, err)
	var f *xta.Fault
	switch {
	case errors.As(err, &f) && strings.HasPrefix(f.Code, "901"):
		wrapped = fmt.Errorf("%w (the account or its certificate is not allowed: check options.author and the client certificate with the broker's operator)", wrapped)
	case xta.TLSRefused(err):
		wrapped = fmt.Errorf("%w (check options.ca_file and the client certificate)", wrapped)
	}
	if xta.Transient(err) {
		return Transient(wrapped, 0)
	}
	return Permanent(wrapped)
}

// parties returns the author and reader: configured, else from the message's header.
func (a *xtaAdapter) parties(p *Package) (author, reader xta.Party, err error) {
	author, reader = a.o.Author, a.o.Reader
	if author.ID == "" || reader.ID == "" {
		fromAuthor, fromReader := HeaderParties(p.XML)
		if author.ID == "" {
			author.ID = fromAuthor
		}
		if reader.ID == "" {
			reader.ID = fromReader
		}
	}
	switch {
	case author.ID == "":
		return author, reader, errors.New("no author: set options.author.identifier, or send messages whose header names the author's Behördenkennung")
	case reader.ID == "":
		return author, reader, errors.New("no reader: set options.reader.identifier, or send messages whose header names the reader's Behördenkennung")
	}
	return author.WithDefaults(), reader.WithDefaults(), nil
}

// HeaderParties reads the author's and the reader's Behördenkennung (prefix:key) from an XÖV
// message's header: the Basisnachricht G2G's autor and leser (kennung), or xdomea's Absender and
// Empfaenger (Behoerdenkennung: Praefix and Kennung). Empty where the header names none.
func HeaderParties(msg []byte) (author, reader string) {
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(msg); err != nil || doc.Root() == nil {
		return "", ""
	}
	var walk func(el *etree.Element, depth int)
	walk = func(el *etree.Element, depth int) {
		if depth > 6 {
			return
		}
		for _, c := range el.ChildElements() {
			switch c.Tag {
			case "autor", "Absender":
				if author == "" {
					author = kennung(c)
				}
				continue
			case "leser", "Empfaenger":
				if reader == "" {
					reader = kennung(c)
				}
				continue
			}
			walk(c, depth+1)
		}
	}
	walk(doc.Root(), 0)
	return author, reader
}

// kennung is the Behördenkennung under a party element.
func kennung(el *etree.Element) string {
	if k := findLocal(el, "kennung", 1); k != nil && len(k.ChildElements()) == 0 {
		return strings.TrimSpace(k.Text())
	}
	bk := findLocal(el, "Behoerdenkennung", 4)
	if bk == nil {
		return ""
	}
	code := func(tag string) string {
		if c := findLocal(bk, tag, 1); c != nil {
			if cc := findLocal(c, "code", 1); cc != nil {
				return strings.TrimSpace(cc.Text())
			}
		}
		return ""
	}
	key, prefix := code("Kennung"), code("Praefix")
	if key == "" || prefix == "" {
		return key
	}
	return prefix + ":" + key
}

func findLocal(el *etree.Element, tag string, depth int) *etree.Element {
	for _, c := range el.ChildElements() {
		if c.Tag == tag {
			return c
		}
	}
	if depth > 1 {
		for _, c := range el.ChildElements() {
			if f := findLocal(c, tag, depth-1); f != nil {
				return f
			}
		}
	}
	return nil
}

// rootNamespace is the namespace of an XML message's root element ("" if it is not XML).
func rootNamespace(msg []byte) string {
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(msg); err != nil || doc.Root() == nil {
		return ""
	}
	return doc.Root().NamespaceURI()
}

// msgLock serialises the deliveries of one package; n counts its holders and waiters.
type msgLock struct {
	sync.Mutex
	n int
}

// lock serialises deliveries of one package in this process: a second one waits, then finds
// the first one's state.
func (a *xtaAdapter) lock(id string) func() {
	a.locks.Lock()
	m := a.perMsg[id]
	if m == nil {
		m = &msgLock{}
		a.perMsg[id] = m
	}
	m.n++
	a.locks.Unlock()
	m.Lock()
	return func() {
		m.Unlock()
		a.locks.Lock()
		if m.n--; m.n == 0 {
			delete(a.perMsg, id)
		}
		a.locks.Unlock()
	}
}

func (a *xtaAdapter) statePath(id string) string {
	return filepath.Join(a.o.StateDir, SafeName(id)+".json")
}

func (a *xtaAdapter) readState(id string) (*xtaState, error) {
	b, err := os.ReadFile(a.statePath(id))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, Transient(fmt.Errorf("xta: options.state_dir: %w", err), 0)
	}
	var s xtaState
	if err := json.Unmarshal(b, &s); err != nil || s.MessageID == "" {
		return nil, Permanent(fmt.Errorf("xta: %s is damaged (%v): it should name the XTA message id of the package; look the message up at the broker, then remove the file and replay", a.statePath(id), err))
	}
	return &s, nil
}

// writeState replaces the state file atomically and durably.
func (a *xtaAdapter) writeState(id string, s *xtaState) error {
	b, _ := json.Marshal(s)
	f, err := os.CreateTemp(a.o.StateDir, ".state-*.tmp")
	if err == nil {
		_, err = io.Copy(f, bytes.NewReader(b))
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Rename(f.Name(), a.statePath(id))
		}
		if err != nil {
			os.Remove(f.Name())
		}
	}
	if err == nil {
		if d, derr := os.Open(a.o.StateDir); derr == nil {
			err = d.Sync()
			d.Close()
		}
	}
	if err != nil {
		return Transient(fmt.Errorf("xta: options.state_dir: %w", err), 0)
	}
	return nil
}

// Close refuses new deliveries, waits for those in flight, then closes idle connections.
func (a *xtaAdapter) Close() error {
	a.inflight.Close()
	a.client.CloseIdle()
	return nil
}
