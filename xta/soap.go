package xta

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/beevik/etree"
	"github.com/google/uuid"
)

// MaxEnvelopeBytes bounds a SOAP envelope (the XML part of a message, without MTOM
// attachments): headers, metadata and lists are small, payloads travel as attachments.
const MaxEnvelopeBytes = 16 << 20

// Envelope is a SOAP 1.2 envelope being built or read.
type Envelope struct {
	Doc    *etree.Document
	Header *etree.Element
	Body   *etree.Element
}

// NewEnvelope starts an envelope with the WS-Addressing headers of a request (or, with
// relatesTo, of an answer): Action, MessageID, To and ReplyTo (anonymous) or RelatesTo.
func NewEnvelope(action, to, messageID, relatesTo string) *Envelope {
	doc := etree.NewDocument()
	doc.CreateProcInst("xml", `version="1.0" encoding="UTF-8"`)
	root := doc.CreateElement("env:Envelope")
	for prefix, ns := range map[string]string{"env": NSSoap, "wsa": NSWSA, "xta": NSXTA, "oscimeta": NSOSCIMeta, "osci": NSOSCI} {
		root.CreateAttr("xmlns:"+prefix, ns)
	}
	e := &Envelope{Doc: doc, Header: root.CreateElement("env:Header"), Body: root.CreateElement("env:Body")}
	a := e.Header.CreateElement("wsa:Action")
	a.CreateAttr("env:mustUnderstand", "true")
	a.SetText(action)
	e.Header.CreateElement("wsa:MessageID").SetText(messageID)
	if relatesTo != "" {
		e.Header.CreateElement("wsa:RelatesTo").SetText(relatesTo)
		return e
	}
	t := e.Header.CreateElement("wsa:To")
	t.CreateAttr("env:mustUnderstand", "true")
	t.SetText(to)
	e.Header.CreateElement("wsa:ReplyTo").CreateElement("wsa:Address").SetText(Anonymous)
	return e
}

// NewMessageID is a fresh WS-Addressing message id.
func NewMessageID() string { return "urn:uuid:" + uuid.NewString() }

// Bytes serialises the envelope.
func (e *Envelope) Bytes() []byte {
	b, _ := e.Doc.WriteToBytes()
	return b
}

// ParseEnvelope reads a SOAP 1.2 envelope and finds its Header and Body.
func ParseEnvelope(data []byte) (*Envelope, error) {
	if len(data) > MaxEnvelopeBytes {
		return nil, fmt.Errorf("the SOAP envelope is larger than %d bytes", MaxEnvelopeBytes)
	}
	doc := etree.NewDocument()
	doc.ReadSettings.Permissive = false
	if err := doc.ReadFromBytes(data); err != nil {
		return nil, fmt.Errorf("the SOAP envelope is not well-formed XML: %w", err)
	}
	root := doc.Root()
	if root == nil || root.Tag != "Envelope" || root.NamespaceURI() != NSSoap {
		return nil, fmt.Errorf("the document is not a SOAP 1.2 envelope (expected {%s}Envelope as its root)", NSSoap)
	}
	e := &Envelope{Doc: doc, Header: Child(root, NSSoap, "Header"), Body: Child(root, NSSoap, "Body")}
	if e.Body == nil {
		return nil, errors.New("the SOAP envelope has no Body")
	}
	return e, nil
}

// Child returns el's first child element {ns}local, or nil.
func Child(el *etree.Element, ns, local string) *etree.Element {
	if el == nil {
		return nil
	}
	for _, c := range el.ChildElements() {
		if c.Tag == local && c.NamespaceURI() == ns {
			return c
		}
	}
	return nil
}

// Children returns el's child elements {ns}local.
func Children(el *etree.Element, ns, local string) []*etree.Element {
	if el == nil {
		return nil
	}
	var out []*etree.Element
	for _, c := range el.ChildElements() {
		if c.Tag == local && c.NamespaceURI() == ns {
			out = append(out, c)
		}
	}
	return out
}

// Text is the trimmed text of {ns}local under el ("" if there is none).
func Text(el *etree.Element, ns, local string) string {
	c := Child(el, ns, local)
	if c == nil {
		return ""
	}
	return strings.TrimSpace(c.Text())
}

// Addressing returns the WS-Addressing headers of an envelope.
func (e *Envelope) Addressing() (action, messageID, to, relatesTo string) {
	return Text(e.Header, NSWSA, "Action"), Text(e.Header, NSWSA, "MessageID"), Text(e.Header, NSWSA, "To"), Text(e.Header, NSWSA, "RelatesTo")
}

// Payload is the Body's only child element (nil for an empty body).
func (e *Envelope) Payload() *etree.Element {
	els := e.Body.ChildElements()
	if len(els) == 0 {
		return nil
	}
	return els[0]
}

// Fault returns the fault the body holds, or nil.
func (e *Envelope) Fault() *Fault {
	f := Child(e.Body, NSSoap, "Fault")
	if f == nil {
		return nil
	}
	out := &Fault{SoapCode: Text(Child(f, NSSoap, "Code"), NSSoap, "Value"), Reason: Text(Child(f, NSSoap, "Reason"), NSSoap, "Text")}
	out.Action, _, _, _ = e.Addressing()
	if detail := Child(f, NSSoap, "Detail"); detail != nil {
		for _, ex := range detail.ChildElements() {
			if ex.NamespaceURI() == NSXTA {
				out.Exception = ex.Tag
				if ec := Child(ex, NSXTA, "errorCode"); ec != nil {
					out.Code = strings.TrimSpace(childText(ec, "code"))
				}
				break
			}
		}
	}
	return out
}

// childText is the text of an unqualified child (XÖV codes: code, name).
func childText(el *etree.Element, tag string) string {
	for _, c := range el.ChildElements() {
		if c.Tag == tag && c.Space == "" {
			return c.Text()
		}
	}
	return ""
}

// SetFault puts a SOAP fault into the body: Sender for what the caller must change, Receiver
// for the server's own problems.
func (e *Envelope) SetFault(f *Fault) {
	fe := e.Body.CreateElement("env:Fault")
	value := "env:Sender"
	if f.Transient() {
		value = "env:Receiver"
	}
	fe.CreateElement("env:Code").CreateElement("env:Value").SetText(value)
	t := fe.CreateElement("env:Reason").CreateElement("env:Text")
	t.CreateAttr("xml:lang", "de")
	reason := f.Reason
	if reason == "" {
		reason = CodeName(f.Code)
	}
	t.SetText(reason)
	ex := fe.CreateElement("env:Detail").CreateElement("xta:" + faultElement(f.Code))
	ec := ex.CreateElement("xta:errorCode")
	ec.CreateAttr("listURI", FaultCodeList)
	ec.CreateAttr("listVersionID", "1.0")
	ec.CreateElement("code").SetText(f.Code)
	ec.CreateElement("name").SetText(CodeName(f.Code))
}

// WriteParty writes an oscimeta party element (Author, Reader) under parent.
func WriteParty(parent *etree.Element, tag string, p Party) *etree.Element {
	el := parent.CreateElement(tag)
	id := el.CreateElement("oscimeta:Identifier")
	p = p.WithDefaults()
	id.CreateAttr("type", p.Type)
	if p.Name != "" {
		id.CreateAttr("name", p.Name)
	}
	if p.Category != "" {
		id.CreateAttr("category", p.Category)
	}
	id.SetText(p.ID)
	return el
}

// ReadParty reads an oscimeta party element.
func ReadParty(el *etree.Element) Party {
	id := Child(el, NSOSCIMeta, "Identifier")
	if id == nil {
		return Party{}
	}
	return Party{ID: strings.TrimSpace(id.Text()), Type: id.SelectAttrValue("type", ""), Name: id.SelectAttrValue("name", ""),
		Category: id.SelectAttrValue("category", "")}
}

func writeCode(el *etree.Element, c Code) {
	el.CreateAttr("listURI", c.ListURI)
	el.CreateAttr("listVersionID", c.ListVersion)
	el.CreateElement("code").SetText(c.Code)
	if c.Name != "" {
		el.CreateElement("name").SetText(c.Name)
	}
}

func readCode(el *etree.Element) Code {
	if el == nil {
		return Code{}
	}
	return Code{ListURI: el.SelectAttrValue("listURI", ""), ListVersion: el.SelectAttrValue("listVersionID", ""),
		Code: strings.TrimSpace(childText(el, "code")), Name: strings.TrimSpace(childText(el, "name"))}
}

// WriteMetaData writes oscimeta:MessageMetaData under parent, in the schema's order.
func WriteMetaData(parent *etree.Element, md MessageMetaData) *etree.Element {
	el := parent.CreateElement("oscimeta:MessageMetaData")
	if md.Test {
		el.CreateAttr("TestMsg", "true")
	}
	da := el.CreateElement("oscimeta:DeliveryAttributes")
	if !md.Origin.IsZero() {
		da.CreateElement("oscimeta:Origin").SetText(md.Origin.UTC().Format(time.RFC3339))
	}
	WriteParty(el.CreateElement("oscimeta:Originators"), "oscimeta:Author", md.Author)
	WriteParty(el.CreateElement("oscimeta:Destinations"), "oscimeta:Reader", md.Reader)
	mi := el.CreateElement("oscimeta:MsgIdentification")
	mi.CreateElement("wsa:MessageID").SetText(md.MessageID)
	if md.ProcessRef != "" {
		mi.CreateElement("oscimeta:ProcessRef").CreateElement("oscimeta:Requester").SetText(md.ProcessRef)
	}
	q := el.CreateElement("oscimeta:Qualifier")
	q.CreateElement("oscimeta:Service").SetText(md.Service)
	bs := q.CreateElement("oscimeta:BusinessScenario")
	if md.BusinessScenario.Code != "" {
		writeCode(bs.CreateElement("oscimeta:Defined"), md.BusinessScenario)
	} else {
		bs.CreateElement("oscimeta:Undefined").SetText(md.Undefined)
	}
	mt := q.CreateElement("oscimeta:MessageType")
	writeCode(mt, md.MessageType)
	mt.CreateAttr("payloadSchema", md.PayloadSchema)
	if md.Size > 0 {
		el.CreateElement("oscimeta:MsgSize").SetText(strconv.FormatInt(md.Size, 10))
	}
	return el
}

// ReadMetaData reads oscimeta:MessageMetaData.
func ReadMetaData(el *etree.Element) MessageMetaData {
	md := MessageMetaData{Test: el.SelectAttrValue("TestMsg", "false") == "true"}
	if o := Text(Child(el, NSOSCIMeta, "DeliveryAttributes"), NSOSCIMeta, "Origin"); o != "" {
		md.Origin, _ = time.Parse(time.RFC3339, o)
	}
	md.Author = ReadParty(Child(Child(el, NSOSCIMeta, "Originators"), NSOSCIMeta, "Author"))
	md.Reader = ReadParty(Child(Child(el, NSOSCIMeta, "Destinations"), NSOSCIMeta, "Reader"))
	mi := Child(el, NSOSCIMeta, "MsgIdentification")
	md.MessageID = Text(mi, NSWSA, "MessageID")
	md.ProcessRef = Text(Child(mi, NSOSCIMeta, "ProcessRef"), NSOSCIMeta, "Requester")
	q := Child(el, NSOSCIMeta, "Qualifier")
	md.Service = Text(q, NSOSCIMeta, "Service")
	bs := Child(q, NSOSCIMeta, "BusinessScenario")
	md.BusinessScenario = readCode(Child(bs, NSOSCIMeta, "Defined"))
	md.Undefined = Text(bs, NSOSCIMeta, "Undefined")
	mt := Child(q, NSOSCIMeta, "MessageType")
	md.MessageType = readCode(mt)
	if mt != nil {
		md.PayloadSchema = mt.SelectAttrValue("payloadSchema", "")
	}
	md.Size, _ = strconv.ParseInt(Text(el, NSOSCIMeta, "MsgSize"), 10, 64)
	return md
}

// Content is one item of a GenericContentContainer (the Message or an Attachment).
type Content struct {
	Filename    string
	ContentType string
	Description string
	Size        int64
	// Write produces the content, for sending. (Received content is in a file instead.)
	Write func(io.Writer) error
	// Path is where received content was stored.
	Path string
	// cid is the MTOM part carrying it.
	cid string
}

// WriteContainer writes xta:GenericContentContainer into the body with each content as an MTOM
// reference (xop:Include), and returns the parts to send after the envelope.
func WriteContainer(body *etree.Element, message Content, attachments []Content) []Content {
	cc := body.CreateElement("xta:GenericContentContainer").CreateElement("xta:ContentContainer")
	var parts []Content
	add := func(tag string, c Content) {
		el := cc.CreateElement(tag)
		el.CreateAttr("contentType", c.ContentType)
		if c.Description != "" {
			el.CreateAttr("contentDescription", c.Description)
		}
		if c.Filename != "" {
			el.CreateAttr("filename", c.Filename)
		}
		if c.Size > 0 {
			el.CreateAttr("size", strconv.FormatInt(c.Size, 10))
		}
		c.cid = fmt.Sprintf("part%d.%s@amtsbote", len(parts)+1, uuid.NewString())
		inc := el.CreateElement("xop:Include")
		inc.CreateAttr("xmlns:xop", NSXOP)
		inc.CreateAttr("href", "cid:"+url.PathEscape(c.cid))
		parts = append(parts, c)
	}
	add("xta:Message", message)
	for _, a := range attachments {
		add("xta:Attachment", a)
	}
	return parts
}

// ReadContainer reads a received GenericContentContainer: each item's attributes and the file
// its content was stored in (parts maps MTOM Content-IDs to files; inline base64 content is
// decoded into a file by inline).
func ReadContainer(gcc *etree.Element, parts map[string]string, inline func(name string, b64 string) (string, error)) (Content, []Content, error) {
	cc := Child(gcc, NSXTA, "ContentContainer")
	if cc == nil {
		if Child(gcc, "http://www.w3.org/2001/04/xmlenc#", "EncryptedData") != nil {
			return Content{}, nil, errors.New("the content container is encrypted (xenc:EncryptedData); amtsbote reads only unencrypted content containers")
		}
		return Content{}, nil, errors.New("the GenericContentContainer has no ContentContainer")
	}
	read := func(el *etree.Element, n int) (Content, error) {
		c := Content{Filename: el.SelectAttrValue("filename", ""), ContentType: el.SelectAttrValue("contentType", ""),
			Description: el.SelectAttrValue("contentDescription", "")}
		c.Size, _ = strconv.ParseInt(el.SelectAttrValue("size", "0"), 10, 64)
		if inc := Child(el, NSXOP, "Include"); inc != nil {
			cid, err := cidOf(inc.SelectAttrValue("href", ""))
			if err != nil {
				return c, err
			}
			path, ok := parts[cid]
			if !ok {
				return c, fmt.Errorf("%s refers to the MTOM part %q, which the message does not have", el.Tag, cid)
			}
			c.Path = path
			return c, nil
		}
		path, err := inline(fmt.Sprintf("content-%d", n), el.Text())
		c.Path = path
		return c, err
	}
	msgEl := Child(cc, NSXTA, "Message")
	if msgEl == nil {
		return Content{}, nil, errors.New("the ContentContainer has no Message")
	}
	msg, err := read(msgEl, 0)
	if err != nil {
		return msg, nil, err
	}
	var atts []Content
	for i, a := range Children(cc, NSXTA, "Attachment") {
		c, err := read(a, i+1)
		if err != nil {
			return msg, nil, err
		}
		atts = append(atts, c)
	}
	return msg, atts, nil
}

func cidOf(href string) (string, error) {
	rest, ok := strings.CutPrefix(href, "cid:")
	if !ok {
		return "", fmt.Errorf("xop:Include href %q is not a cid: URL", href)
	}
	cid, err := url.PathUnescape(rest)
	if err != nil {
		return "", fmt.Errorf("xop:Include href %q: %w", href, err)
	}
	return cid, nil
}

// WithoutXOP returns the envelope with every xop:Include removed, so that it can be validated:
// XOP stands for the base64 content of its parent, which an empty text satisfies.
func WithoutXOP(e *Envelope) []byte {
	doc := e.Doc.Copy()
	var strip func(el *etree.Element)
	strip = func(el *etree.Element) {
		for _, c := range el.ChildElements() {
			if c.Tag == "Include" && c.NamespaceURI() == NSXOP {
				el.RemoveChild(c)
				continue
			}
			strip(c)
		}
	}
	if doc.Root() != nil {
		strip(doc.Root())
	}
	b, _ := doc.WriteToBytes()
	return b
}

// SoapContentType is the Content-Type of a plain (not MTOM) SOAP 1.2 message with its action.
func SoapContentType(action string) string {
	return mime.FormatMediaType("application/soap+xml", map[string]string{"charset": "utf-8", "action": action})
}

const rootCID = "root.message@amtsbote"

// WriteMTOM writes an envelope with its parts as an MTOM (XOP) multipart/related message and
// returns nothing until all is written or an error occurs. contentType is what the HTTP
// Content-Type must say (MTOMContentType).
func WriteMTOM(w io.Writer, boundary string, envelope []byte, action string, parts []Content) error {
	mw := multipart.NewWriter(w)
	if err := mw.SetBoundary(boundary); err != nil {
		return err
	}
	h := textproto.MIMEHeader{}
	h.Set("Content-Type", mime.FormatMediaType("application/xop+xml", map[string]string{"charset": "UTF-8",
		"type": mime.FormatMediaType("application/soap+xml", map[string]string{"action": action})}))
	h.Set("Content-Transfer-Encoding", "binary")
	h.Set("Content-ID", "<"+rootCID+">")
	pw, err := mw.CreatePart(h)
	if err != nil {
		return err
	}
	if _, err := pw.Write(envelope); err != nil {
		return err
	}
	for _, p := range parts {
		h := textproto.MIMEHeader{}
		h.Set("Content-Type", "application/octet-stream")
		h.Set("Content-Transfer-Encoding", "binary")
		h.Set("Content-ID", "<"+p.cid+">")
		pw, err := mw.CreatePart(h)
		if err != nil {
			return err
		}
		if err := p.Write(pw); err != nil {
			return err
		}
	}
	return mw.Close()
}

// MTOMContentType is the HTTP Content-Type of an MTOM message written by WriteMTOM.
func MTOMContentType(boundary, action string) string {
	return mime.FormatMediaType("multipart/related", map[string]string{"type": "application/xop+xml", "boundary": boundary,
		"start": "<" + rootCID + ">", "start-info": mime.FormatMediaType("application/soap+xml", map[string]string{"action": action})})
}

// ReadSOAP reads a SOAP message from an HTTP body: plain application/soap+xml, or MTOM
// (multipart/related with application/xop+xml root). Each MTOM part other than the root is
// handed to store with its Content-ID, which returns where it put it. It returns the envelope
// bytes and the action the Content-Type names ("" if none).
func ReadSOAP(contentType string, body io.Reader, store func(cid string, r io.Reader) (string, error)) (envelope []byte, action string, parts map[string]string, err error) {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return nil, "", nil, fmt.Errorf("Content-Type %q: %w", contentType, err)
	}
	switch mt {
	case "application/soap+xml":
		env, err := readLimited(body)
		return env, params["action"], nil, err
	case "multipart/related":
	default:
		return nil, "", nil, fmt.Errorf("Content-Type %s: expected application/soap+xml (SOAP 1.2) or multipart/related (MTOM)", mt)
	}
	if params["type"] != "application/xop+xml" {
		return nil, "", nil, fmt.Errorf("multipart/related with type %q: expected application/xop+xml (MTOM)", params["type"])
	}
	start := strings.Trim(params["start"], "<>")
	if _, si, err := mime.ParseMediaType(params["start-info"]); err == nil {
		action = si["action"]
	}
	mr := multipart.NewReader(body, params["boundary"])
	parts = map[string]string{}
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, "", nil, fmt.Errorf("MTOM: %w", err)
		}
		cid := strings.Trim(p.Header.Get("Content-ID"), "<>")
		if envelope == nil && (start == "" || cid == start) {
			pmt, pparams, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
			if pmt != "application/xop+xml" {
				return nil, "", nil, fmt.Errorf("MTOM: the root part is %q, expected application/xop+xml", pmt)
			}
			if _, tp, err := mime.ParseMediaType(pparams["type"]); err == nil && action == "" {
				action = tp["action"]
			}
			if envelope, err = readLimited(p); err != nil {
				return nil, "", nil, err
			}
			continue
		}
		if cid == "" {
			return nil, "", nil, errors.New("MTOM: a part without Content-ID")
		}
		if _, dup := parts[cid]; dup {
			return nil, "", nil, fmt.Errorf("MTOM: the Content-ID %q appears twice", cid)
		}
		path, err := store(cid, p)
		if err != nil {
			return nil, "", nil, err
		}
		parts[cid] = path
	}
	if envelope == nil {
		return nil, "", nil, errors.New("MTOM: no root part with the SOAP envelope")
	}
	return envelope, action, parts, nil
}

func readLimited(r io.Reader) ([]byte, error) {
	var b bytes.Buffer
	n, err := b.ReadFrom(io.LimitReader(r, MaxEnvelopeBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading the SOAP envelope: %w", err)
	}
	if n > MaxEnvelopeBytes {
		return nil, fmt.Errorf("the SOAP envelope is larger than %d bytes", MaxEnvelopeBytes)
	}
	return b.Bytes(), nil
}
