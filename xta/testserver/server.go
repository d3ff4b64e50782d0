// Package testserver is a strict XTA-WS 2.1.1 server, written from the WSDL and XSDs, for tests
// and for trying amtsbote out: TLS with required client certificates, every request validated
// against the XSDs (libxml2) and its WS-Addressing headers checked, a mailbox per identity with
// status list, fetch and close, transport reports, and faults to inject (an inactive account, an
// unknown service, red reports, HTTP errors, slowness).
//
// What it does not do: OSCI transport to another broker (a message goes straight into the
// reader's mailbox on this server), the DVDV (services are configured with AddAccount),
// encrypted content containers, sendMessageSync, cancelMessage, getNextMessage and
// getNextStatusList, signed reports, and status lists in the MsgAttributes form.
package testserver

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/beevik/etree"

	"github.com/amtsbote/amtsbote/xoev"
	"github.com/amtsbote/amtsbote/xta"
)

// Paths of the three ports.
const (
	ManagementPath = "/MB_XTA-WS/XTA210managementPort.svc"
	SendPath       = "/MB_XTA-WS/XTA210sendPort.svc"
	MsgBoxPath     = "/MB_XTA-WS/XTA210msgBoxPort.svc"
)

var portPaths = map[string]xta.Port{ManagementPath: xta.ManagementPort, SendPath: xta.SendPort, MsgBoxPath: xta.MsgBoxPort}

// Message is a message the server holds: sent through it, or deposited.
type Message struct {
	Meta     xta.MessageMetaData
	metaXML  *etree.Element
	Dir      string
	Message  xta.Content
	Attached []xta.Content
	// Status is the transport report's status; Reason the red report's reason.
	Status   int
	Reason   string
	Received time.Time
	Fetched  int // how often it was fetched
	Closed   bool
}

type account struct {
	party    xta.Party
	active   bool
	services map[string]bool
	certs    []string // allowed client certificate CNs; none: any the CA issued
}

// Server is the XTA-WS test server. Use New, then Start or Handler.
type Server struct {
	dir      string
	identity string
	schema   *xoev.SchemaSet
	log      *slog.Logger

	mu        sync.Mutex
	accounts  map[string]*account
	issued    map[string]string // message id → the author it was issued to
	messages  map[string]*Message
	order     []string
	requests  map[string]string // MsgBoxRequestID → account
	red       map[string]string // reader → reason of red reports
	hold      bool
	down      int
	delay     time.Duration
	failNext  map[string][]failure
	actions   []string
	srv       *http.Server
	URL       string
	listeners []net.Listener
}

type failure struct {
	fault  *xta.Fault
	status int
}

// New makes a server that keeps messages in dir. log may be nil.
func New(dir string, log *slog.Logger) (*Server, error) {
	schema, err := xta.EnvelopeSchema()
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if err := os.MkdirAll(filepath.Join(dir, "incoming"), 0o700); err != nil {
		return nil, err
	}
	return &Server{dir: dir, identity: "amtsbote XTA test server", schema: schema, log: log,
		accounts: map[string]*account{}, issued: map[string]string{}, messages: map[string]*Message{},
		requests: map[string]string{}, red: map[string]string{}, failNext: map[string][]failure{}}, nil
}

// Start listens on addr (e.g. 127.0.0.1:0) with TLS and sets URL (the base: add the paths).
func (s *Server) Start(addr string, tlsConfig *tls.Config) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	s.srv = &http.Server{Handler: s, TLSConfig: tlsConfig, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelDebug)}
	s.URL = "https://" + ln.Addr().String()
	s.listeners = append(s.listeners, ln)
	go s.srv.ServeTLS(ln, "", "")
	return nil
}

// Close stops the server.
func (s *Server) Close() error {
	if s.srv == nil {
		return nil
	}
	return s.srv.Close()
}

// Endpoint is the URL of a port.
func (s *Server) Endpoint(p xta.Port) string {
	for path, port := range portPaths {
		if port == p {
			return s.URL + path
		}
	}
	return ""
}

// AddAccount creates (or replaces) an active account for party that offers the services as a
// reader. certCNs, if any, are the client certificates' common names that may act for it.
func (s *Server) AddAccount(p xta.Party, services []string, certCNs ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := &account{party: p, active: true, services: map[string]bool{}, certs: certCNs}
	for _, svc := range services {
		a.services[svc] = true
	}
	s.accounts[p.ID] = a
}

// SetActive locks or unlocks an account (a locked one gets PermissionDeniedException 9011).
func (s *Server) SetActive(id string, active bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := s.accounts[id]; a != nil {
		a.active = active
	}
}

// SetRed makes reports of messages to reader red with reason ("" back to green).
func (s *Server) SetRed(reader, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if reason == "" {
		delete(s.red, reader)
	} else {
		s.red[reader] = reason
	}
}

// Hold keeps the reports of messages sent from now on open (status 0) until Release.
func (s *Server) Hold(hold bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hold = hold
}

// SetStatus sets the report status of a message (e.g. from open to green, or yellow).
func (s *Server) SetStatus(messageID string, status int, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m := s.messages[messageID]; m != nil {
		m.Status, m.Reason = status, reason
	}
}

// Break makes every request get the HTTP status (e.g. 503) until the returned restore.
func (s *Server) Break(status int) (restore func()) {
	s.mu.Lock()
	s.down = status
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		s.down = 0
		s.mu.Unlock()
	}
}

// SetDelay makes every answer wait d (a slow broker); 0 turns it off.
func (s *Server) SetDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// FailNext makes the next n requests of action fail: with the fault, or (fault nil) with the
// HTTP status. A failing sendMessage stores nothing.
func (s *Server) FailNext(action string, n int, fault *xta.Fault, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.failNext[action] = append(s.failNext[action], failure{fault: fault, status: status})
	}
}

// ClearFailures drops the failures FailNext queued that have not happened yet.
func (s *Server) ClearFailures() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failNext = map[string][]failure{}
}

// Count is how many requests of action passed the checks.
func (s *Server) Count(action string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, a := range s.actions {
		if a == action {
			n++
		}
	}
	return n
}

// Actions lists the actions of the requests that passed the checks, in order.
func (s *Server) Actions() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.actions)
}

// Messages lists the messages for a reader ("" for all), in the order they arrived.
func (s *Server) Messages(reader string) []*Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*Message
	for _, id := range s.order {
		if m := s.messages[id]; reader == "" || m.Meta.Reader.ID == reader {
			c := *m
			out = append(out, &c)
		}
	}
	return out
}

// IncomingDir is where uploads are spooled while they arrive; a finished or failed request
// leaves nothing there.
func (s *Server) IncomingDir() string { return filepath.Join(s.dir, "incoming") }

// Deposit puts a message into reader's mailbox, as if another authority had sent it: the
// message content from a file, and attachments. md's MessageID is made if empty.
func (s *Server) Deposit(md xta.MessageMetaData, message xta.Content, attachments ...xta.Content) (string, error) {
	if md.MessageID == "" {
		md.MessageID = newID()
	}
	dir := filepath.Join(s.dir, "messages", safe(md.MessageID))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	all := append([]xta.Content{message}, attachments...)
	for i := range all {
		dst := filepath.Join(dir, fmt.Sprintf("content-%d", i))
		if err := copyFile(all[i].Path, dst); err != nil {
			return "", err
		}
		all[i].Path = dst
		if fi, err := os.Stat(dst); err == nil {
			all[i].Size = fi.Size()
		}
	}
	doc := etree.NewDocument()
	root := doc.CreateElement("x")
	root.CreateAttr("xmlns:oscimeta", xta.NSOSCIMeta)
	root.CreateAttr("xmlns:wsa", xta.NSWSA)
	el := xta.WriteMetaData(root, md)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.messages[md.MessageID]; dup {
		return "", fmt.Errorf("message %s exists already", md.MessageID)
	}
	s.messages[md.MessageID] = &Message{Meta: md, metaXML: el, Dir: dir, Message: all[0], Attached: all[1:], Status: xta.StatusGreen, Received: time.Now()}
	s.order = append(s.order, md.MessageID)
	return md.MessageID, nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func newID() string {
	b := make([]byte, 16)
	rand.Read(b)
	h := hex.EncodeToString(b)
	return "urn:de:xta:messageid:" + h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// safe makes a message id a file name.
func safe(id string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' {
			return r
		}
		return '_'
	}, id)
}

// request is one request being handled.
type request struct {
	r       *http.Request
	env     *xta.Envelope
	action  string
	msgID   string
	author  xta.Party
	account *account
	parts   map[string]string
}

// ServeHTTP handles one SOAP request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	down, delay := s.down, s.delay
	s.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	if down != 0 {
		http.Error(w, "the XTA test server is down (Break)", down)
		return
	}
	port, ok := portPaths[r.URL.Path]
	if !ok {
		http.Error(w, "no XTA port here; the ports are "+ManagementPath+", "+SendPath+" and "+MsgBoxPath, http.StatusNotFound)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		http.Error(w, "XTA-WS takes POST only", http.StatusMethodNotAllowed)
		return
	}
	incoming, err := os.MkdirTemp(s.IncomingDir(), "req-")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	defer os.RemoveAll(incoming)
	n := 0
	raw, ctAction, parts, err := xta.ReadSOAP(r.Header.Get("Content-Type"), r.Body, func(cid string, body io.Reader) (string, error) {
		n++
		path := filepath.Join(incoming, strconv.Itoa(n))
		f, err := os.Create(path)
		if err != nil {
			return "", err
		}
		_, err = io.Copy(f, body)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return path, err
	})
	if err != nil {
		s.fault(w, "", "", xta.NewFault(xta.CodeInvalidParameters, "the request is not a SOAP 1.2 message: "+err.Error()))
		return
	}
	env, err := xta.ParseEnvelope(raw)
	if err != nil {
		s.fault(w, "", "", xta.NewFault(xta.CodeInvalidParameters, err.Error()))
		return
	}
	action, msgID, to, _ := env.Addressing()
	req := &request{r: r, env: env, action: action, msgID: msgID, parts: parts}
	if f := s.check(req, port, ctAction, to, raw); f != nil {
		s.log.Warn("XTA request refused", "action", action, "code", f.Code, "reason", f.Reason)
		s.fault(w, action, msgID, f)
		return
	}
	s.mu.Lock()
	s.actions = append(s.actions, action)
	var fail *failure
	if q := s.failNext[action]; len(q) > 0 {
		fail, s.failNext[action] = &q[0], q[1:]
	}
	s.mu.Unlock()
	if fail != nil {
		if fail.fault != nil {
			s.fault(w, action, msgID, fail.fault)
		} else {
			http.Error(w, "injected failure", fail.status)
		}
		return
	}
	handle := map[string]func(*request) (*xta.Envelope, []xta.Content, *xta.Fault){
		xta.ActionCheckAccountActive: s.checkAccountActive, xta.ActionLookupService: s.lookupService,
		xta.ActionCreateMessageID: s.createMessageID, xta.ActionGetTransportReport: s.transportReport,
		xta.ActionSendMessage: s.sendMessage, xta.ActionStatusList: s.statusList, xta.ActionGetMessage: s.getMessage,
		xta.ActionClose: s.close,
	}[action]
	ans, out, f := handle(req)
	if f != nil {
		s.log.Info("XTA fault", "action", action, "code", f.Code, "reason", f.Reason)
		s.fault(w, action, msgID, f)
		return
	}
	s.answer(w, action, ans, out)
}

// knownHeaders are the header blocks XTA-WS requests may carry.
var knownHeaders = map[string]bool{
	xta.NSWSA + " Action": true, xta.NSWSA + " MessageID": true, xta.NSWSA + " To": true, xta.NSWSA + " ReplyTo": true,
	xta.NSWSA + " From": true, xta.NSWSA + " FaultTo": true, xta.NSOSCIMeta + " Author": true,
	xta.NSOSCIMeta + " MessageMetaData": true, xta.NSOSCI + " X509TokenContainer": true,
}

// bodies are the body element each action takes ("" for an empty body).
var bodies = map[string]string{
	xta.ActionCheckAccountActive: "", xta.ActionCreateMessageID: "",
	xta.ActionLookupService:      xta.NSXTA + " LookupServiceRequest",
	xta.ActionGetTransportReport: xta.NSWSA + " MessageID",
	xta.ActionSendMessage:        xta.NSXTA + " GenericContentContainer",
	xta.ActionStatusList:         xta.NSOSCI + " MsgBoxStatusListRequest",
	xta.ActionGetMessage:         xta.NSOSCI + " MsgBoxFetchRequest",
	xta.ActionClose:              xta.NSOSCI + " MsgBoxCloseRequest",
}

// check validates a request: the XSDs, WS-Addressing, the body for the action, the identity.
func (s *Server) check(req *request, port xta.Port, ctAction, to string, raw []byte) *xta.Fault {
	bad := func(format string, args ...any) *xta.Fault {
		return xta.NewFault(xta.CodeInvalidParameters, fmt.Sprintf(format, args...))
	}
	if err := s.schema.Check(xta.WithoutXOP(req.env), false); err != nil {
		return bad("the request does not conform to the XTA-WS schemas: %v", err)
	}
	switch {
	case req.env.Header == nil:
		return bad("the request has no SOAP Header; XTA-WS requires WS-Addressing")
	case req.action == "":
		return bad("wsa:Action is missing (WS-Addressing is mandatory in XTA-WS)")
	case xta.PortOf(req.action) == "":
		return bad("wsa:Action %q is no operation of XTA-WS this server implements", req.action)
	case xta.PortOf(req.action) != port:
		return bad("wsa:Action %q belongs to the %s port, not the %s port this request was sent to", req.action, xta.PortOf(req.action), port)
	case ctAction != "" && ctAction != req.action:
		return bad("the action parameter of the Content-Type (%q) differs from wsa:Action (%q)", ctAction, req.action)
	case req.msgID == "":
		return bad("wsa:MessageID is missing")
	case to == "":
		return bad("wsa:To is missing")
	}
	if u, err := url.Parse(req.msgID); err != nil || u.Scheme == "" {
		return bad("wsa:MessageID %q is not an absolute URI", req.msgID)
	}
	if want := "https://" + req.r.Host + req.r.URL.Path; to != want {
		return bad("wsa:To %q is not the endpoint the request was sent to (%s)", to, want)
	}
	if rt := xta.Child(req.env.Header, xta.NSWSA, "ReplyTo"); rt != nil && xta.Text(rt, xta.NSWSA, "Address") != xta.Anonymous {
		return bad("wsa:ReplyTo must be anonymous: XTA-WS answers on the same connection")
	}
	for _, h := range req.env.Header.ChildElements() {
		if !knownHeaders[h.NamespaceURI()+" "+h.Tag] {
			return bad("unknown header block {%s}%s", h.NamespaceURI(), h.Tag)
		}
	}
	want := bodies[req.action]
	payload := req.env.Body.ChildElements()
	switch {
	case want == "" && len(payload) > 0:
		return bad("the body of %s must be empty", req.action)
	case want != "" && (len(payload) != 1 || payload[0].NamespaceURI()+" "+payload[0].Tag != want):
		return bad("the body of %s must hold exactly one {%s}", req.action, strings.Replace(want, " ", "}", 1))
	}
	if req.action == xta.ActionSendMessage {
		md := xta.Child(req.env.Header, xta.NSOSCIMeta, "MessageMetaData")
		if md == nil {
			return bad("sendMessage needs the oscimeta:MessageMetaData header")
		}
		req.author = xta.ReadMetaData(md).Author
	} else {
		a := xta.Child(req.env.Header, xta.NSOSCIMeta, "Author")
		if a == nil {
			return bad("this server needs the oscimeta:Author header to know the account acting")
		}
		req.author = xta.ReadParty(a)
	}
	s.mu.Lock()
	acc := s.accounts[req.author.ID]
	s.mu.Unlock()
	if acc == nil {
		return xta.NewFault(xta.CodeAccountUnknown, fmt.Sprintf("no account %q on this server", req.author.ID))
	}
	if !acc.active {
		return xta.NewFault(xta.CodeAccountLocked, fmt.Sprintf("the account %q is locked", req.author.ID))
	}
	if len(acc.certs) > 0 {
		cn := ""
		if req.r.TLS != nil && len(req.r.TLS.PeerCertificates) > 0 {
			cn = req.r.TLS.PeerCertificates[0].Subject.CommonName
		}
		if !slices.Contains(acc.certs, cn) {
			return xta.NewFault(xta.CodeCertNotAuthor, fmt.Sprintf("the client certificate %q may not act for %q", cn, req.author.ID))
		}
	}
	req.account = acc
	return nil
}

func (s *Server) reply(req *request) *xta.Envelope {
	return xta.NewEnvelope(req.action, "", xta.NewMessageID(), req.msgID)
}

func (s *Server) checkAccountActive(req *request) (*xta.Envelope, []xta.Content, *xta.Fault) {
	return s.reply(req), nil, nil
}

func (s *Server) lookupService(req *request) (*xta.Envelope, []xta.Content, *xta.Fault) {
	ans := s.reply(req)
	list := ans.Body.CreateElement("xta:LookupServiceResponse").CreateElement("xta:LookupServiceResultList")
	for _, l := range xta.Children(xta.Child(req.env.Payload(), xta.NSXTA, "LookupServiceRequestList"), xta.NSXTA, "LookupService") {
		reader := xta.ReadParty(xta.Child(l, xta.NSOSCIMeta, "Reader"))
		service := xta.Text(l, xta.NSXTA, "ServiceType")
		s.mu.Lock()
		acc := s.accounts[reader.ID]
		available := acc != nil && acc.services[service]
		s.mu.Unlock()
		res := list.CreateElement("xta:LookupServiceResult")
		xta.WriteParty(res, "oscimeta:Reader", reader)
		res.CreateElement("xta:ServiceType").SetText(service)
		res.CreateElement("xta:IsServiceAvailableValue").CreateElement("xta:ServiceIsAvailable").SetText(strconv.FormatBool(available))
	}
	return ans, nil, nil
}

func (s *Server) createMessageID(req *request) (*xta.Envelope, []xta.Content, *xta.Fault) {
	id := newID()
	s.mu.Lock()
	s.issued[id] = req.author.ID
	s.mu.Unlock()
	ans := s.reply(req)
	ans.Body.CreateElement("wsa:MessageID").SetText(id)
	return ans, nil, nil
}

func (s *Server) sendMessage(req *request) (*xta.Envelope, []xta.Content, *xta.Fault) {
	mdEl := xta.Child(req.env.Header, xta.NSOSCIMeta, "MessageMetaData")
	md := xta.ReadMetaData(mdEl)
	msg, atts, err := xta.ReadContainer(req.env.Payload(), req.parts, func(string, string) (string, error) {
		return "", errors.New("this server takes content as MTOM attachments (xop:Include) only")
	})
	if err != nil {
		return nil, nil, xta.NewFault(xta.CodeInvalidParameters, err.Error())
	}
	all := append([]xta.Content{msg}, atts...)
	if len(req.parts) != len(all) {
		return nil, nil, xta.NewFault(xta.CodeInvalidParameters, fmt.Sprintf("the request has %d MTOM parts, but the container refers to %d", len(req.parts), len(all)))
	}
	for _, c := range all {
		fi, err := os.Stat(c.Path)
		if err != nil {
			return nil, nil, xta.NewFault(xta.CodeInternal, err.Error())
		}
		if c.Size > 0 && fi.Size() != c.Size {
			return nil, nil, xta.NewFault(xta.CodeInvalidParameters, fmt.Sprintf("%s: the size attribute says %d bytes, the part has %d", c.Filename, c.Size, fi.Size()))
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch issuedTo, ok := s.issued[md.MessageID]; {
	case !ok || issuedTo != req.author.ID:
		return nil, nil, xta.NewFault(xta.CodeUnknownMessageID, fmt.Sprintf("the MessageID %s was not created for %s by createMessageID", md.MessageID, req.author.ID))
	case s.messages[md.MessageID] != nil:
		return nil, nil, xta.NewFault(xta.CodeMessageIDUsed, fmt.Sprintf("a message with the MessageID %s was sent already", md.MessageID))
	}
	m := &Message{Meta: md, metaXML: mdEl.Copy(), Status: xta.StatusGreen, Received: time.Now(),
		Dir: filepath.Join(s.dir, "messages", safe(md.MessageID))}
	reader := s.accounts[md.Reader.ID]
	switch {
	case reader == nil:
		m.Status, m.Reason = xta.StatusRed, fmt.Sprintf("no reader %q is known", md.Reader.ID)
	case !reader.services[md.Service]:
		m.Status, m.Reason = xta.StatusRed, fmt.Sprintf("the reader %q does not receive the service %s", md.Reader.ID, md.Service)
	case s.red[md.Reader.ID] != "":
		m.Status, m.Reason = xta.StatusRed, s.red[md.Reader.ID]
	case s.hold:
		m.Status = xta.StatusOpen
	}
	if err := os.MkdirAll(m.Dir, 0o700); err != nil {
		return nil, nil, xta.NewFault(xta.CodeInternal, err.Error())
	}
	for i := range all {
		dst := filepath.Join(m.Dir, fmt.Sprintf("content-%d", i))
		if err := os.Rename(all[i].Path, dst); err != nil {
			return nil, nil, xta.NewFault(xta.CodeInternal, err.Error())
		}
		all[i].Path = dst
	}
	m.Message, m.Attached = all[0], all[1:]
	s.messages[md.MessageID] = m
	s.order = append(s.order, md.MessageID)
	s.log.Info("XTA message received", "message_id", md.MessageID, "author", md.Author.ID, "reader", md.Reader.ID,
		"service", md.Service, "report", xta.StatusName(m.Status), "dir", m.Dir)
	return s.reply(req), nil, nil
}

func (s *Server) transportReport(req *request) (*xta.Envelope, []xta.Content, *xta.Fault) {
	id := strings.TrimSpace(req.env.Payload().Text())
	s.mu.Lock()
	m := s.messages[id]
	var status int
	var reason string
	var meta *etree.Element
	if m != nil {
		status, reason, meta = m.Status, m.Reason, m.metaXML.Copy()
	}
	s.mu.Unlock()
	if m == nil || m.Meta.Author.ID != req.author.ID {
		return nil, nil, xta.NewFault(xta.CodeUnknownMessageID, fmt.Sprintf("no message %s of %s", id, req.author.ID))
	}
	ans := s.reply(req)
	tr := ans.Body.CreateElement("xta:TransportReport")
	tr.AddChild(meta)
	tr.CreateElement("xta:ReportTime").SetText(time.Now().UTC().Format(time.RFC3339))
	tr.CreateElement("xta:XTAServerIdentity").SetText(s.identity)
	ms := tr.CreateElement("xta:MessageStatus")
	ms.CreateElement("xta:Status").SetText(strconv.Itoa(status))
	if status == xta.StatusRed {
		e := ms.CreateElement("xta:ErrorList").CreateElement("xta:Error")
		e.CreateElement("xta:Timestamp").SetText(time.Now().UTC().Format(time.RFC3339))
		c := e.CreateElement("xta:Code")
		c.CreateAttr("listURI", xta.FaultCodeList)
		c.CreateAttr("listVersionID", "1.0")
		c.CreateElement("code").SetText(xta.CodeDelivery)
		e.CreateElement("xta:Reason").SetText(reason)
	}
	return ans, nil, nil
}

func (s *Server) statusList(req *request) (*xta.Envelope, []xta.Content, *xta.Fault) {
	p := req.env.Payload()
	if form := p.SelectAttrValue("ListForm", "MessageMetaData"); form != "MessageMetaData" {
		return nil, nil, xta.NewFault(xta.CodeInvalidParameters, "this test server lists in the form MessageMetaData only")
	}
	max, _ := strconv.Atoi(p.SelectAttrValue("maxListItems", "0"))
	var metas []*etree.Element
	pending := 0
	s.mu.Lock()
	for _, id := range s.order {
		m := s.messages[id]
		if m.Closed || m.Meta.Reader.ID != req.author.ID {
			continue
		}
		if max > 0 && len(metas) >= max {
			pending++
			continue
		}
		metas = append(metas, m.metaXML.Copy())
	}
	rid := newRequestID()
	s.requests[rid] = req.author.ID
	s.mu.Unlock()
	ans := s.reply(req)
	mr := ans.Header.CreateElement("osci:MsgBoxResponse")
	mr.CreateAttr("MsgBoxRequestID", rid)
	if len(metas) == 0 {
		mr.CreateElement("osci:NoMessageAvailable").CreateAttr("reason", "http://www.osci.eu/ws/2008/05/transport/MsgBox/reasons/NoMatch")
	} else {
		mr.CreateElement("osci:ItemsPending").SetText(strconv.Itoa(pending))
	}
	list := ans.Body.CreateElement("osci:MsgStatusList")
	for _, m := range metas {
		list.AddChild(m)
	}
	return ans, nil, nil
}

func newRequestID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return "urn:amtsbote:xta-test:msgbox-request:" + hex.EncodeToString(b)
}

func (s *Server) getMessage(req *request) (*xta.Envelope, []xta.Content, *xta.Fault) {
	sel := xta.Child(req.env.Payload(), xta.NSOSCI, "MsgSelector")
	ids := xta.Children(sel, xta.NSWSA, "MessageID")
	s.mu.Lock()
	var m *Message
	switch {
	case len(ids) > 1:
		s.mu.Unlock()
		return nil, nil, xta.NewFault(xta.CodeInvalidParameters, "getMessage fetches one message: name at most one wsa:MessageID")
	case len(ids) == 1:
		m = s.messages[strings.TrimSpace(ids[0].Text())]
	default:
		for _, id := range s.order {
			if c := s.messages[id]; !c.Closed && c.Meta.Reader.ID == req.author.ID {
				m = c
				break
			}
		}
	}
	if m == nil || m.Closed || m.Meta.Reader.ID != req.author.ID {
		s.mu.Unlock()
		return nil, nil, xta.NewFault(xta.CodeUnknownMessageID, "no such message in the mailbox of "+req.author.ID)
	}
	m.Fetched++
	rid := newRequestID()
	s.requests[rid] = req.author.ID
	meta := m.metaXML.Copy()
	message, attached := m.Message, slices.Clone(m.Attached)
	s.mu.Unlock()
	ans := s.reply(req)
	ans.Header.AddChild(meta)
	mr := ans.Header.CreateElement("osci:MsgBoxResponse")
	mr.CreateAttr("MsgBoxRequestID", rid)
	mr.CreateElement("osci:ItemsPending").SetText("0")
	fileWriter := func(c xta.Content) xta.Content {
		path := c.Path
		c.Write = func(w io.Writer) error {
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = io.Copy(w, f)
			return err
		}
		return c
	}
	for i := range attached {
		attached[i] = fileWriter(attached[i])
	}
	parts := xta.WriteContainer(ans.Body, fileWriter(message), attached)
	return ans, parts, nil
}

func (s *Server) close(req *request) (*xta.Envelope, []xta.Content, *xta.Fault) {
	p := req.env.Payload()
	rid := p.SelectAttrValue("MsgBoxRequestID", "")
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.requests[rid] != req.author.ID {
		return nil, nil, xta.NewFault(xta.CodeInvalidParameters, fmt.Sprintf("MsgBoxRequestID %q is no request of %s", rid, req.author.ID))
	}
	for _, l := range xta.Children(p, xta.NSOSCI, "LastMsgReceived") {
		m := s.messages[strings.TrimSpace(l.Text())]
		if m == nil || m.Meta.Reader.ID != req.author.ID || m.Fetched == 0 {
			return nil, nil, xta.NewFault(xta.CodeUnknownMessageID, fmt.Sprintf("no fetched message %s in the mailbox of %s", l.Text(), req.author.ID))
		}
	}
	for _, l := range xta.Children(p, xta.NSOSCI, "LastMsgReceived") {
		s.messages[strings.TrimSpace(l.Text())].Closed = true
		s.log.Info("XTA message closed", "message_id", strings.TrimSpace(l.Text()), "reader", req.author.ID)
	}
	return s.reply(req), nil, nil
}

// answer writes a successful answer: plain SOAP, or MTOM with parts.
func (s *Server) answer(w http.ResponseWriter, action string, env *xta.Envelope, parts []xta.Content) {
	if len(parts) == 0 {
		w.Header().Set("Content-Type", xta.SoapContentType(action))
		w.Write(env.Bytes())
		return
	}
	boundary := "xta-test-" + hex.EncodeToString([]byte(newRequestID()[len(newRequestID())-8:]))
	w.Header().Set("Content-Type", xta.MTOMContentType(boundary, action))
	if err := xta.WriteMTOM(w, boundary, env.Bytes(), action, parts); err != nil {
		s.log.Warn("XTA answer broken off", "action", action, "error", err)
	}
}

// fault answers a fault: HTTP 400 for the caller's faults, 500 for the server's (SOAP 1.2
// HTTP binding).
func (s *Server) fault(w http.ResponseWriter, action, relatesTo string, f *xta.Fault) {
	if relatesTo == "" {
		relatesTo = "http://www.w3.org/2005/08/addressing/unspecified"
	}
	env := xta.NewEnvelope(action, "", xta.NewMessageID(), relatesTo)
	env.SetFault(f)
	w.Header().Set("Content-Type", xta.SoapContentType(action))
	status := http.StatusBadRequest
	if f.Transient() {
		status = http.StatusInternalServerError
	}
	w.WriteHeader(status)
	w.Write(env.Bytes())
}

// Run serves until ctx ends.
func (s *Server) Run(ctx context.Context) {
	<-ctx.Done()
	shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if s.srv != nil {
		s.srv.Shutdown(shut)
	}
}
