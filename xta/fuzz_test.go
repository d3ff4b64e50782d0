package xta

import (
	"bytes"
	"io"
	"testing"
)

// FuzzReadSOAP reads what an XTA server (or client) sends: the HTTP body as plain SOAP or MTOM,
// the envelope, its fault, metadata, report and content container. Nothing may panic, and every
// part stored must be one the message has.
func FuzzReadSOAP(f *testing.F) {
	env := NewEnvelope(ActionGetMessage, "", NewMessageID(), "urn:uuid:1")
	md := WriteMetaData(env.Header, MessageMetaData{MessageID: "urn:x", Author: Party{ID: "a"}, Reader: Party{ID: "b"}, Service: "urn:s",
		MessageType: Code{ListURI: "l", ListVersion: "1", Code: "c"}, PayloadSchema: "urn:p"})
	_ = md
	parts := WriteContainer(env.Body, Content{ContentType: "application/xml", Filename: "m.xml", Write: func(w io.Writer) error { _, err := w.Write([]byte("<m/>")); return err }}, nil)
	var mtom bytes.Buffer
	WriteMTOM(&mtom, "b0undary", env.Bytes(), ActionGetMessage, parts)
	f.Add(MTOMContentType("b0undary", ActionGetMessage), mtom.Bytes())
	fault := NewEnvelope(ActionSendMessage, "", NewMessageID(), "urn:uuid:2")
	fault.SetFault(NewFault(CodeAccountLocked, "gesperrt"))
	f.Add(SoapContentType(ActionSendMessage), fault.Bytes())
	f.Add("application/soap+xml", []byte(`<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"><env:Body><xta:TransportReport xmlns:xta="http://xoev.de/transport/xta/211"><xta:MessageStatus><xta:Status>3</xta:Status></xta:MessageStatus></xta:TransportReport></env:Body></env:Envelope>`))
	f.Add("multipart/related; type=\"application/xop+xml\"; boundary=x", []byte("--x\r\nContent-Type: application/xop+xml\r\n\r\n<a/>\r\n--x--"))
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		stored := map[string]bool{}
		raw, _, got, err := ReadSOAP(contentType, bytes.NewReader(body), func(cid string, r io.Reader) (string, error) {
			io.Copy(io.Discard, r)
			stored[cid] = true
			return "file:" + cid, nil
		})
		if err != nil {
			return
		}
		for cid := range got {
			if !stored[cid] {
				t.Fatalf("part %q returned but never stored", cid)
			}
		}
		e, err := ParseEnvelope(raw)
		if err != nil {
			return
		}
		e.Fault()
		e.Addressing()
		if m := Child(e.Header, NSOSCIMeta, "MessageMetaData"); m != nil {
			ReadMetaData(m)
		}
		if tr := Child(e.Body, NSXTA, "TransportReport"); tr != nil {
			ReadReport(tr)
		}
		if g := Child(e.Body, NSXTA, "GenericContentContainer"); g != nil {
			ReadContainer(g, got, func(string, string) (string, error) { return "inline", nil })
		}
		WithoutXOP(e)
	})
}
