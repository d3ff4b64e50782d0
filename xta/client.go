package xta

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/beevik/etree"
)

// ClientOptions configure a Client.
type ClientOptions struct {
	// URLs of the three ports (https://). ManagementURL is required; SendURL and MsgBoxURL
	// default to it (brokers that serve every port at one address).
	ManagementURL, SendURL, MsgBoxURL string
	// TLS carries the client certificate and the trusted CAs.
	TLS *tls.Config
	// Timeout bounds one call: connecting, sending, reading the answer. Default 60s.
	Timeout time.Duration
	// TempDir holds fetched content ("" for the system's temporary directory).
	TempDir string
}

// Client calls an XTA server. It is safe for concurrent use.
type Client struct {
	urls    map[Port]string
	http    *http.Client
	timeout time.Duration
	tempDir string
}

// NewClient checks the options and builds a client.
func NewClient(o ClientOptions) (*Client, error) {
	if o.SendURL == "" {
		o.SendURL = o.ManagementURL
	}
	if o.MsgBoxURL == "" {
		o.MsgBoxURL = o.ManagementURL
	}
	if o.Timeout == 0 {
		o.Timeout = 60 * time.Second
	}
	if o.Timeout < 0 {
		return nil, fmt.Errorf("timeout %s: expected a positive duration", o.Timeout)
	}
	urls := map[Port]string{ManagementPort: o.ManagementURL, SendPort: o.SendURL, MsgBoxPort: o.MsgBoxURL}
	for port, u := range urls {
		if err := checkURL(u); err != nil {
			return nil, fmt.Errorf("the %s port's URL: %w", port, err)
		}
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.TLSClientConfig = o.TLS
	transport.MaxIdleConnsPerHost = 64
	// SOAP over HTTP/1.1, as XTA-WS brokers speak it; over HTTP/2 a refused client certificate
	// surfaces as "could not establish the connection" instead of the server's TLS alert.
	transport.ForceAttemptHTTP2 = false
	transport.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	return &Client{urls: urls, timeout: o.Timeout, tempDir: o.TempDir,
		http: &http.Client{Transport: transport, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}, nil
}

func checkURL(s string) error {
	if s == "" {
		return errors.New("missing: name the XTA server's endpoint, e.g. https://xta.example/MB_XTA-WS/XTA210managementPort.svc")
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil {
		return fmt.Errorf("%q: expected an absolute https:// URL without credentials (XTA authenticates by client certificate)", s)
	}
	return nil
}

// URL returns the endpoint of a port.
func (c *Client) URL(p Port) string { return c.urls[p] }

// CloseIdle closes kept-alive connections.
func (c *Client) CloseIdle() { c.http.CloseIdleConnections() }

// HTTPError is an answer that is neither success nor a SOAP fault.
type HTTPError struct {
	Status int
	Body   string
	URL    string
}

func (e *HTTPError) Error() string {
	s := fmt.Sprintf("the XTA server %s answered HTTP %d %s", e.URL, e.Status, http.StatusText(e.Status))
	if e.Body != "" {
		s += ": " + e.Body
	}
	return s
}

// ProtocolError is an answer that breaks XTA-WS (not SOAP, wrong addressing, missing parts).
type ProtocolError struct{ Err error }

func (e *ProtocolError) Error() string {
	return "the XTA server's answer is not valid XTA-WS: " + e.Err.Error()
}
func (e *ProtocolError) Unwrap() error { return e.Err }

// Transient tells whether a failed call is worth retrying: the network, timeouts, HTTP 408,
// 429 and 5xx, and faults that say so (Fault.Transient). An untrusted server certificate, a
// refused client certificate, an answer that breaks the protocol and the other faults are
// not: a person must act first.
func Transient(err error) bool {
	var f *Fault
	var h *HTTPError
	var p *ProtocolError
	switch {
	case errors.As(err, &f):
		return f.Transient()
	case errors.As(err, &h):
		return h.Status == http.StatusRequestTimeout || h.Status == http.StatusTooManyRequests || h.Status >= 500
	case errors.As(err, &p):
		return false
	case TLSRefused(err):
		return false
	}
	return true
}

// TLSRefused tells whether the TLS handshake failed over certificates: the server's is not
// trusted, or the server refused ours.
func TLSRefused(err error) bool {
	var verifyErr *tls.CertificateVerificationError
	var unknownCA x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var invalid x509.CertificateInvalidError
	if errors.As(err, &verifyErr) || errors.As(err, &unknownCA) || errors.As(err, &hostErr) || errors.As(err, &invalid) {
		return true
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Op == "remote error" && opErr.Err != nil {
		alert := opErr.Err.Error()
		for _, s := range []string{"certificate", "unknown certificate authority", "access denied", "handshake failure", "protocol version"} {
			if strings.Contains(alert, s) {
				return true
			}
		}
	}
	return false
}

// envelope starts a request to the action's port.
func (c *Client) envelope(action string) (*Envelope, string) {
	id := NewMessageID()
	return NewEnvelope(action, c.urls[PortOf(action)], id, ""), id
}

// answer is a parsed answer.
type answer struct {
	env   *Envelope
	parts map[string]string
}

// call sends a request and reads the answer. parts, if any, go as MTOM attachments; keep stores
// the answer's MTOM parts (nil refuses them).
func (c *Client) call(ctx context.Context, action string, env *Envelope, msgID string, parts []Content, keep bool) (*answer, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	endpoint := c.urls[PortOf(action)]
	envelope := env.Bytes()
	var body io.Reader
	var contentType string
	var writer chan error
	var pr *io.PipeReader
	if len(parts) == 0 {
		body, contentType = bytes.NewReader(envelope), SoapContentType(action)
	} else {
		boundary := randomBoundary()
		var pw *io.PipeWriter
		pr, pw = io.Pipe()
		body, contentType = pr, MTOMContentType(boundary, action)
		writer = make(chan error, 1)
		go func() {
			err := WriteMTOM(pw, boundary, envelope, action, parts)
			pw.CloseWithError(err)
			writer <- err
		}()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("User-Agent", "amtsbote")
	resp, err := c.http.Do(req)
	if pr != nil {
		defer func() {
			pr.CloseWithError(errors.New("the request ended"))
			<-writer
		}()
	}
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
			err = fmt.Errorf("%w: %w", ctxErr, err)
		}
		return nil, fmt.Errorf("%s: %w", endpoint, err)
	}
	defer resp.Body.Close()
	ct := resp.Header.Get("Content-Type")
	if !strings.HasPrefix(ct, "application/soap+xml") && !strings.HasPrefix(ct, "multipart/related") {
		ex, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
		if resp.StatusCode/100 == 2 {
			return nil, &ProtocolError{fmt.Errorf("Content-Type %q, expected application/soap+xml", ct)}
		}
		return nil, &HTTPError{Status: resp.StatusCode, Body: excerpt(ex), URL: endpoint}
	}
	var kept []string
	store := func(cid string, r io.Reader) (string, error) {
		if !keep {
			return "", &ProtocolError{fmt.Errorf("the answer to %s carries an attachment (%s), which it should not", action, cid)}
		}
		f, err := os.CreateTemp(c.tempDir, "xta-*.part")
		if err != nil {
			return "", err
		}
		kept = append(kept, f.Name())
		_, err = io.Copy(f, r)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return f.Name(), err
	}
	raw, _, partFiles, err := ReadSOAP(ct, resp.Body, store)
	cleanup := func() {
		for _, k := range kept {
			os.Remove(k)
		}
	}
	if err != nil {
		cleanup()
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, fmt.Errorf("%s: %w: %w", endpoint, ctxErr, err)
		}
		var p *ProtocolError
		if errors.As(err, &p) {
			return nil, err
		}
		return nil, &ProtocolError{err}
	}
	ans, err := ParseEnvelope(raw)
	if err != nil {
		cleanup()
		return nil, &ProtocolError{err}
	}
	if f := ans.Fault(); f != nil {
		cleanup()
		return nil, f
	}
	if resp.StatusCode/100 != 2 {
		cleanup()
		return nil, &HTTPError{Status: resp.StatusCode, URL: endpoint}
	}
	gotAction, _, _, relatesTo := ans.Addressing()
	switch {
	case gotAction != action:
		cleanup()
		return nil, &ProtocolError{fmt.Errorf("wsa:Action %q, expected %q", gotAction, action)}
	case relatesTo != msgID:
		cleanup()
		return nil, &ProtocolError{fmt.Errorf("wsa:RelatesTo %q does not name the request %s", relatesTo, msgID)}
	}
	return &answer{env: ans, parts: partFiles}, nil
}

func randomBoundary() string {
	b := make([]byte, 16)
	rand.Read(b)
	return "amtsbote-" + hex.EncodeToString(b)
}

func excerpt(b []byte) string {
	s := strings.Map(func(r rune) rune {
		switch {
		case unicode.IsSpace(r):
			return ' '
		case unicode.IsControl(r):
			return -1
		}
		return r
	}, strings.ToValidUTF8(string(b), ""))
	return strings.Join(strings.Fields(s), " ")
}

// withAuthor starts a request with the oscimeta:Author header (the account acting).
func (c *Client) withAuthor(action string, author Party) (*Envelope, string) {
	env, id := c.envelope(action)
	WriteParty(env.Header, "oscimeta:Author", author)
	return env, id
}

// CheckAccountActive asks whether the author's account may use the server: nil if it may, the
// server's fault (e.g. PermissionDeniedException 9011, locked) if not.
func (c *Client) CheckAccountActive(ctx context.Context, author Party) error {
	env, id := c.withAuthor(ActionCheckAccountActive, author)
	_, err := c.call(ctx, ActionCheckAccountActive, env, id, nil, false)
	return err
}

// LookupService asks whether reader can receive messages of service. known is false when the
// server cannot tell (ServiceIsAvailableUnknown).
func (c *Client) LookupService(ctx context.Context, author, reader Party, service string) (available, known bool, err error) {
	env, id := c.withAuthor(ActionLookupService, author)
	ls := env.Body.CreateElement("xta:LookupServiceRequest").CreateElement("xta:LookupServiceRequestList").CreateElement("xta:LookupService")
	WriteParty(ls, "oscimeta:Reader", reader)
	ls.CreateElement("xta:ServiceType").SetText(service)
	ans, err := c.call(ctx, ActionLookupService, env, id, nil, false)
	if err != nil {
		return false, false, err
	}
	res := Child(Child(Child(ans.env.Body, NSXTA, "LookupServiceResponse"), NSXTA, "LookupServiceResultList"), NSXTA, "LookupServiceResult")
	v := Child(res, NSXTA, "IsServiceAvailableValue")
	if v == nil {
		return false, false, &ProtocolError{errors.New("LookupServiceResponse without LookupServiceResult/IsServiceAvailableValue")}
	}
	if Child(v, NSXTA, "ServiceIsAvailableUnknown") != nil {
		return false, false, nil
	}
	available, _ = strconv.ParseBool(Text(v, NSXTA, "ServiceIsAvailable"))
	return available, true, nil
}

// CreateMessageID has the server make the id of a message to send.
func (c *Client) CreateMessageID(ctx context.Context, author Party) (string, error) {
	env, id := c.withAuthor(ActionCreateMessageID, author)
	ans, err := c.call(ctx, ActionCreateMessageID, env, id, nil, false)
	if err != nil {
		return "", err
	}
	msgID := Text(ans.env.Body, NSWSA, "MessageID")
	if msgID == "" {
		return "", &ProtocolError{errors.New("the answer to CreateMessageID has no wsa:MessageID in its body")}
	}
	return msgID, nil
}

// SendMessage hands a message to the server: metadata in the header, the message and its
// attachments as MTOM parts of the GenericContentContainer, streamed from their Write.
func (c *Client) SendMessage(ctx context.Context, md MessageMetaData, message Content, attachments []Content) error {
	env, id := c.envelope(ActionSendMessage)
	WriteMetaData(env.Header, md)
	parts := WriteContainer(env.Body, message, attachments)
	_, err := c.call(ctx, ActionSendMessage, env, id, parts, false)
	return err
}

// TransportReport reads the transport report of a message the author sent.
func (c *Client) TransportReport(ctx context.Context, author Party, messageID string) (Report, error) {
	env, id := c.withAuthor(ActionGetTransportReport, author)
	env.Body.CreateElement("wsa:MessageID").SetText(messageID)
	ans, err := c.call(ctx, ActionGetTransportReport, env, id, nil, false)
	if err != nil {
		return Report{}, err
	}
	tr := Child(ans.env.Body, NSXTA, "TransportReport")
	if tr == nil {
		return Report{}, &ProtocolError{errors.New("the answer to GetTransportReport has no TransportReport")}
	}
	return ReadReport(tr)
}

// ReadReport reads an xta:TransportReport.
func ReadReport(tr *etree.Element) (Report, error) {
	r := Report{Server: Text(tr, NSXTA, "XTAServerIdentity")}
	if md := Child(tr, NSOSCIMeta, "MessageMetaData"); md != nil {
		r.MessageID = ReadMetaData(md).MessageID
	}
	r.Time, _ = time.Parse(time.RFC3339, Text(tr, NSXTA, "ReportTime"))
	ms := Child(tr, NSXTA, "MessageStatus")
	st, err := strconv.Atoi(Text(ms, NSXTA, "Status"))
	if err != nil {
		return r, &ProtocolError{fmt.Errorf("TransportReport: MessageStatus/Status %q is not a number", Text(ms, NSXTA, "Status"))}
	}
	r.Status = st
	records := func(list, item string) []string {
		var out []string
		for _, e := range Children(Child(ms, NSXTA, list), NSXTA, item) {
			code := strings.TrimSpace(childText(Child(e, NSXTA, "Code"), "code"))
			out = append(out, strings.TrimSpace(code+": "+Text(e, NSXTA, "Reason")))
		}
		return out
	}
	r.Errors, r.Warnings, r.Infos = records("ErrorList", "Error"), records("WarnList", "Warning"), records("InfoList", "Info")
	return r, nil
}

// StatusList is a mailbox's list of messages waiting.
type StatusList struct {
	// RequestID identifies the mailbox request (MsgBoxResponse/@MsgBoxRequestID).
	RequestID string
	// Pending is how many more messages wait than the list holds.
	Pending  int
	Messages []MessageMetaData
}

// StatusList lists up to max messages waiting in reader's mailbox, with their metadata.
func (c *Client) StatusList(ctx context.Context, reader Party, max int) (StatusList, error) {
	env, id := c.withAuthor(ActionStatusList, reader)
	req := env.Body.CreateElement("osci:MsgBoxStatusListRequest")
	if max > 0 {
		req.CreateAttr("maxListItems", strconv.Itoa(max))
	}
	req.CreateAttr("ListForm", "MessageMetaData")
	ans, err := c.call(ctx, ActionStatusList, env, id, nil, false)
	if err != nil {
		return StatusList{}, err
	}
	var out StatusList
	if mr := Child(ans.env.Header, NSOSCI, "MsgBoxResponse"); mr != nil {
		out.RequestID = mr.SelectAttrValue("MsgBoxRequestID", "")
		out.Pending, _ = strconv.Atoi(Text(mr, NSOSCI, "ItemsPending"))
	}
	list := Child(ans.env.Body, NSOSCI, "MsgStatusList")
	if list == nil {
		return out, &ProtocolError{errors.New("the answer to getStatusList has no MsgStatusList")}
	}
	for _, md := range Children(list, NSOSCIMeta, "MessageMetaData") {
		out.Messages = append(out.Messages, ReadMetaData(md))
	}
	return out, nil
}

// Fetched is a message fetched from a mailbox; its content is in temporary files until Remove.
type Fetched struct {
	RequestID   string
	Meta        MessageMetaData
	Message     Content
	Attachments []Content
}

// Remove deletes the fetched content's files.
func (f *Fetched) Remove() {
	os.Remove(f.Message.Path)
	for _, a := range f.Attachments {
		os.Remove(a.Path)
	}
}

// GetMessage fetches one message from reader's mailbox. It stays there until Close.
func (c *Client) GetMessage(ctx context.Context, reader Party, messageID string) (*Fetched, error) {
	env, id := c.withAuthor(ActionGetMessage, reader)
	env.Body.CreateElement("osci:MsgBoxFetchRequest").CreateElement("osci:MsgSelector").CreateElement("wsa:MessageID").SetText(messageID)
	ans, err := c.call(ctx, ActionGetMessage, env, id, nil, true)
	if err != nil {
		return nil, err
	}
	removeParts := func() {
		for _, p := range ans.parts {
			os.Remove(p)
		}
	}
	f := &Fetched{}
	if mr := Child(ans.env.Header, NSOSCI, "MsgBoxResponse"); mr != nil {
		f.RequestID = mr.SelectAttrValue("MsgBoxRequestID", "")
	}
	md := Child(ans.env.Header, NSOSCIMeta, "MessageMetaData")
	gcc := Child(ans.env.Body, NSXTA, "GenericContentContainer")
	if md == nil || gcc == nil {
		removeParts()
		return nil, &ProtocolError{errors.New("the answer to getMessage lacks the MessageMetaData header or the GenericContentContainer")}
	}
	f.Meta = ReadMetaData(md)
	if f.Meta.MessageID != messageID {
		removeParts()
		return nil, &ProtocolError{fmt.Errorf("asked for message %s, got %s", messageID, f.Meta.MessageID)}
	}
	var inlined []string
	f.Message, f.Attachments, err = ReadContainer(gcc, ans.parts, func(_ string, b64 string) (string, error) {
		file, err := os.CreateTemp(c.tempDir, "xta-*.part")
		if err != nil {
			return "", err
		}
		inlined = append(inlined, file.Name())
		_, err = io.Copy(file, base64.NewDecoder(base64.StdEncoding, strings.NewReader(strings.Join(strings.Fields(b64), ""))))
		if cerr := file.Close(); err == nil {
			err = cerr
		}
		return file.Name(), err
	})
	if err != nil {
		removeParts()
		for _, p := range inlined {
			os.Remove(p)
		}
		return nil, &ProtocolError{err}
	}
	return f, nil
}

// Close tells the server that the message was received: it leaves the mailbox. requestID is
// the MsgBoxRequestID of the getMessage that fetched it.
func (c *Client) Close(ctx context.Context, reader Party, requestID, messageID string) error {
	env, id := c.withAuthor(ActionClose, reader)
	req := env.Body.CreateElement("osci:MsgBoxCloseRequest")
	req.CreateAttr("MsgBoxRequestID", requestID)
	req.CreateElement("osci:LastMsgReceived").SetText(messageID)
	_, err := c.call(ctx, ActionClose, env, id, nil, false)
	return err
}
