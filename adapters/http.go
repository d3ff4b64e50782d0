package adapters

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"regexp"
	"strings"
	"unicode"
)

func init() {
	Register("http", newHTTP)
}

// HTTPOptions configure the http adapter, which sends each package in one request.
type HTTPOptions struct {
	// The connection: url, headers, authentication, TLS, timeout (see HTTPClientOptions).
	HTTPClientOptions `mapstructure:",squash"`
	// Method is POST or PUT. Default: POST.
	Method string `mapstructure:"method"`
	// SOAP wraps the message XML in a SOAP envelope: "1.1" or "1.2". Default: "" (plain XML).
	SOAP string `mapstructure:"soap"`
	// SOAPAction is the action sent with SOAP (SOAPAction header for 1.1, the action parameter
	// of the Content-Type for 1.2). Default: none.
	SOAPAction string `mapstructure:"soap_action"`
	// Package is what the body holds: "xml" or its synonym "message" (the message only: XML, or
	// the JSON or CSV a mapping made, with its media type), "zip" (the xdomea zip filedrop
	// writes, message and attachments) or "multipart" (the message part first, then one part per
	// attachment). Default: xml.
	Package string `mapstructure:"package"`
}

func (o *HTTPOptions) setDefaults() {
	o.Method = strings.ToUpper(o.Method)
	if o.Method == "" {
		o.Method = http.MethodPost
	}
	if o.Package == "" {
		o.Package = "xml"
	}
}

func (o *HTTPOptions) validate() error {
	switch {
	case o.Method != http.MethodPost && o.Method != http.MethodPut:
		return fmt.Errorf("options.method %q: expected POST or PUT", o.Method)
	case o.SOAP != "" && o.SOAP != "1.1" && o.SOAP != "1.2":
		return fmt.Errorf("options.soap %q: expected \"1.1\" or \"1.2\" (or leave it out for plain XML)", o.SOAP)
	case o.SOAPAction != "" && o.SOAP == "":
		return errors.New("options.soap_action needs options.soap (\"1.1\" or \"1.2\")")
	case strings.ContainsAny(o.SOAPAction, "\"\\") || hasControl(o.SOAPAction):
		return fmt.Errorf("options.soap_action %q must not contain quotes, backslashes or control characters", o.SOAPAction)
	case o.Package != "xml" && o.Package != "message" && o.Package != "zip" && o.Package != "multipart":
		return fmt.Errorf("options.package %q: expected xml (or message), zip or multipart", o.Package)
	case o.Package == "zip" && o.SOAP != "":
		return errors.New("options.package zip cannot be wrapped in SOAP: use package xml or multipart with options.soap")
	}
	return nil
}

// httpAdapter sends each package in one request. One client, and so one pool of kept-alive
// connections, serves all deliveries of the destination.
type httpAdapter struct {
	client     *HTTPClient
	method     string
	soap       string
	soapAction string
	pkg        string
	inflight   Inflight
}

func newHTTP(options map[string]any) (Adapter, error) {
	var o HTTPOptions
	if err := DecodeOptions(options, &o); err != nil {
		return nil, fmt.Errorf("http: %w", err)
	}
	o.setDefaults()
	if err := o.validate(); err != nil {
		return nil, fmt.Errorf("http: %w", err)
	}
	client, err := o.Client("http")
	if err != nil {
		return nil, fmt.Errorf("http: %w", err)
	}
	return &httpAdapter{client: client, method: o.Method, soap: o.SOAP, soapAction: o.SOAPAction, pkg: o.Package}, nil
}

// Deliver sends the package and classifies the answer. Every request carries the message id
// (X-Amtsbote-Message-Id and Idempotency-Key), so the receiver can recognise a redelivery.
func (h *httpAdapter) Deliver(ctx context.Context, p *Package) (string, error) {
	done, err := h.inflight.Begin("http")
	if err != nil {
		return "", err
	}
	defer done()
	// The body is spooled rather than streamed: it gets a Content-Length, which many SOAP
	// stacks require, and a large package never has to fit in memory.
	write, contentType, err := h.body(p)
	if err != nil {
		return "", err
	}
	body, err := Spool(ctx, "", write)
	if err != nil {
		return "", fmt.Errorf("http: build the %s body for %s: %w", h.pkg, h.client.Target, err)
	}
	defer body.Close()
	req, err := h.client.NewRequest(ctx, h.method, h.client.URL.String(), body.Reader())
	if err != nil {
		return "", err
	}
	req.ContentLength, req.GetBody = body.Size(), body.Body
	h.setHeaders(req, p, contentType)
	resp, err := h.client.Do(req)
	if err != nil {
		return "", err
	}
	defer Discard(resp)
	if resp.StatusCode < 200 || resp.StatusCode >= 300 {
		return "", h.client.StatusError(resp, refusalHint(resp))
	}
	return fmt.Sprintf("HTTP %d %s", resp.StatusCode, h.client.Target), nil
}

func (h *httpAdapter) setHeaders(req *http.Request, p *Package, contentType string) {
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("X-Amtsbote-Message-Id", headerSafe(p.MessageID))
	req.Header.Set("X-Amtsbote-Message-Type", headerSafe(p.MessageType))
	req.Header.Set("X-Amtsbote-Submission-Id", headerSafe(p.SubmissionID))
	req.Header.Set("Idempotency-Key", headerSafe(p.MessageID))
	if h.soap == "1.1" {
		// SOAP 1.1 over HTTP requires the header, even empty.
		req.Header.Set("SOAPAction", `"`+h.soapAction+`"`)
	}
	if h.pkg == "zip" {
		req.Header.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": xdomeaBase(p) + ".zip"}))
	}
}

// headerSafe keeps values that come from a submission from breaking a header.
func headerSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, s)
}

func xdomeaBase(p *Package) string { return SafeName(p.MessageID + "_" + p.MessageType) }

// body says how to write the request body as options.package and options.soap ask.
func (h *httpAdapter) body(p *Package) (func(io.Writer) error, string, error) {
	xmlBody, xmlType := p.XML, p.MessageMediaType()
	if h.soap != "" && p.MessageExt() != ".xml" {
		return nil, "", Permanent(fmt.Errorf("http: %s: options.soap wraps XML messages; this destination gets %s", h.client.Target, xmlType))
	}
	if h.soap != "" {
		env, err := soapEnvelope(h.soap, p.XML)
		if err != nil {
			return nil, "", Permanent(fmt.Errorf("http: %s: %w", h.client.Target, err))
		}
		xmlBody, xmlType = env, soapContentType(h.soap, h.soapAction)
	}
	switch h.pkg {
	case "zip":
		return func(w io.Writer) error { return WriteZip(w, xdomeaBase(p)+p.MessageExt(), p) }, "application/zip", nil
	case "multipart":
		mw := multipart.NewWriter(io.Discard) // for its random boundary
		return func(w io.Writer) error { return h.writeMultipart(w, mw.Boundary(), p, xmlBody, xmlType) },
			h.multipartType(mw.Boundary(), xmlType), nil
	}
	return func(w io.Writer) error { _, err := w.Write(xmlBody); return err }, xmlType, nil
}

// writeMultipart writes the message part, then one part per attachment. Plain XML goes as
// multipart/form-data (fields "message" and "attachment"), what web frameworks parse out of
// the box; SOAP goes as multipart/related with the envelope as root part (SOAP with
// Attachments), what SOAP stacks expect.
func (h *httpAdapter) writeMultipart(w io.Writer, boundary string, p *Package, xmlBody []byte, xmlType string) error {
	mw := multipart.NewWriter(w)
	if err := mw.SetBoundary(boundary); err != nil {
		return err
	}
	related := h.soap != ""
	part := func(field, filename, mediaType, contentID string) (io.Writer, error) {
		hdr := textproto.MIMEHeader{"Content-Type": {mediaType}}
		if related {
			hdr.Set("Content-ID", contentID)
			hdr.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": filename}))
		} else {
			// RFC 7578 wants the plain file name in quotes, not RFC 2231's filename*.
			hdr.Set("Content-Disposition", fmt.Sprintf(`form-data; name="%s"; filename="%s"`, field, quoteEscaper.Replace(filename)))
		}
		return mw.CreatePart(hdr)
	}
	pw, err := part("message", xdomeaBase(p)+p.MessageExt(), xmlType, "<message@amtsbote>")
	if err != nil {
		return err
	}
	if _, err := pw.Write(xmlBody); err != nil {
		return err
	}
	for i, f := range p.Files {
		pw, err := part("attachment", SafeName(f.Name), mediaTypeOrDefault(f.MediaType), fmt.Sprintf("<attachment%d@amtsbote>", i+1))
		if err != nil {
			return err
		}
		if err := WriteAttachment(pw, f); err != nil {
			return err
		}
	}
	return mw.Close()
}

// multipartType is the Content-Type of the body writeMultipart writes.
func (h *httpAdapter) multipartType(boundary, xmlType string) string {
	if h.soap != "" {
		return mime.FormatMediaType("multipart/related", map[string]string{
			"boundary": boundary, "type": strings.SplitN(xmlType, ";", 2)[0], "start": "<message@amtsbote>",
		})
	}
	return mime.FormatMediaType("multipart/form-data", map[string]string{"boundary": boundary})
}

var quoteEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\r", "", "\n", "")

// mediaTypeOrDefault keeps a malformed media type from the submission out of the headers.
func mediaTypeOrDefault(mt string) string {
	if parsed, params, err := mime.ParseMediaType(mt); err == nil {
		return mime.FormatMediaType(parsed, params)
	}
	return "application/octet-stream"
}

const (
	soap11Namespace = "http://schemas.xmlsoap.org/soap/envelope/"
	soap12Namespace = "http://www.w3.org/2003/05/soap-envelope"
)

func soapContentType(version, action string) string {
	if version == "1.1" {
		return "text/xml; charset=utf-8"
	}
	params := map[string]string{"charset": "utf-8"}
	if action != "" {
		params["action"] = action
	}
	return mime.FormatMediaType("application/soap+xml", params)
}

var (
	xmlDeclaration = regexp.MustCompile(`^\s*<\?xml\s[^?]*\?>`)
	xmlEncoding    = regexp.MustCompile(`encoding\s*=\s*["']([^"']+)["']`)
)

// soapEnvelope puts the message into the SOAP body. The message's XML declaration has to go
// (it may only start a document); the envelope is UTF-8, so the message must be too.
func soapEnvelope(version string, msg []byte) ([]byte, error) {
	msg = bytes.TrimPrefix(msg, []byte("\xef\xbb\xbf"))
	if decl := xmlDeclaration.Find(msg); decl != nil {
		if m := xmlEncoding.FindSubmatch(decl); m != nil && !strings.EqualFold(string(m[1]), "utf-8") {
			return nil, fmt.Errorf("the message XML is encoded in %s; only UTF-8 can be put into a SOAP envelope", m[1])
		}
		msg = msg[len(decl):]
	}
	ns := soap11Namespace
	if version == "1.2" {
		ns = soap12Namespace
	}
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	b.WriteString(`<soap:Envelope xmlns:soap="` + ns + `"><soap:Body>`)
	b.Write(bytes.TrimSpace(msg))
	b.WriteString(`</soap:Body></soap:Envelope>`)
	return b.Bytes(), nil
}

func refusalHint(resp *http.Response) string {
	switch code := resp.StatusCode; {
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		return "check options.basic_user/basic_password, options.bearer_token or the client certificate, then replay the message"
	case code == http.StatusNotFound || code == http.StatusMethodNotAllowed:
		return "check options.url and options.method, then replay the message"
	case code == http.StatusUnsupportedMediaType:
		return "the receiver wants another format: check options.package and options.soap"
	case code == http.StatusRequestEntityTooLarge:
		return "the receiver does not accept a package this large"
	}
	return "the receiver refuses the message; replay it once the cause is fixed"
}

// Close refuses new deliveries, waits for those in flight, then closes the kept-alive
// connections.
func (h *httpAdapter) Close() error {
	h.inflight.Close()
	h.client.Close()
	return nil
}
