package adapters

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"strings"
	"time"
)

func init() {
	Register("smtp", newSMTP)
}

// SMTPOptions configure the smtp adapter, which mails each package to a mailbox.
type SMTPOptions struct {
	// The connection: host, port, TLS, login, timeout (see SMTPServerOptions).
	SMTPServerOptions `mapstructure:",squash"`
	// From is the sender address, e.g. "amtsbote@kommune.example" or
	// "Amtsbote <amtsbote@kommune.example>". Required.
	From string `mapstructure:"from"`
	// To are the recipient addresses (a single string is one recipient). Required.
	To []string `mapstructure:"to"`
	// Subject is the subject line, with placeholders {message_type}, {message_id} (the
	// ProzessID), {leistung} and {ags}; non-ASCII is RFC 2047 encoded.
	// Default: "{message_type} {message_id}".
	Subject string `mapstructure:"subject"`
}

func (o *SMTPOptions) validate() error {
	if o.Subject == "" {
		o.Subject = "{message_type} {message_id}"
	}
	switch {
	case o.From == "":
		return errors.New("options.from must name the sender address")
	case len(o.To) == 0:
		return errors.New("options.to must list at least one recipient address")
	case hasControl(o.Subject):
		return fmt.Errorf("options.subject %q must not contain control characters", o.Subject)
	}
	return nil
}

// smtpAdapter mails each package through its SMTPClient, each on its own connection.
type smtpAdapter struct {
	client   *SMTPClient
	from     *mail.Address
	to       []*mail.Address
	subject  Pattern
	inflight Inflight
}

func newSMTP(options map[string]any) (Adapter, error) {
	var o SMTPOptions
	if err := DecodeOptions(options, &o); err != nil {
		return nil, fmt.Errorf("smtp: %w", err)
	}
	if err := o.SMTPServerOptions.Validate(); err != nil {
		return nil, fmt.Errorf("smtp: %w", err)
	}
	if err := o.validate(); err != nil {
		return nil, fmt.Errorf("smtp: %w", err)
	}
	s := &smtpAdapter{}
	var err error
	if s.subject, err = ParsePattern("options.subject", o.Subject, "{message_type}", "{message_id}", "{leistung}", "{ags}"); err != nil {
		return nil, fmt.Errorf("smtp: %w", err)
	}
	if s.from, err = mail.ParseAddress(o.From); err != nil {
		return nil, fmt.Errorf("smtp: options.from %q: %w (expected e.g. amtsbote@kommune.example)", o.From, err)
	}
	for _, to := range o.To {
		addr, err := mail.ParseAddress(to)
		if err != nil {
			return nil, fmt.Errorf("smtp: options.to %q: %w (expected e.g. poststelle@kommune.example)", to, err)
		}
		s.to = append(s.to, addr)
	}
	if s.client, err = o.SMTPServerOptions.Client("smtp"); err != nil {
		return nil, fmt.Errorf("smtp: %w", err)
	}
	return s, nil
}

// Deliver mails the package. The Message-ID derives from the ProzessID, so a redelivery is
// the same mail to the receiving mail system, which can drop the duplicate.
func (s *smtpAdapter) Deliver(ctx context.Context, p *Package) (string, error) {
	done, err := s.inflight.Begin("smtp")
	if err != nil {
		return "", err
	}
	defer done()

	msgID := "<" + messageIDLocal(p.MessageID) + "@amtsbote>"
	to := make([]string, len(s.to))
	for i, a := range s.to {
		to[i] = a.Address
	}
	err = s.client.Send(ctx, &SMTPMail{From: s.from.Address, To: to, Write: func(w io.Writer) error { return s.writeMail(w, p, msgID) }})
	if err != nil {
		return "", err
	}
	return "smtp://" + s.client.Addr + " " + msgID, nil
}

// messageIDLocal makes the ProzessID usable as the left part of a Message-ID.
func messageIDLocal(id string) string {
	out := strings.Map(func(r rune) rune {
		if r < 0x80 && (r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || strings.ContainsRune("!#$%&'*+-/=?^_`{|}~.", r)) {
			return r
		}
		return '_'
	}, id)
	if out = strings.Trim(out, "."); out == "" {
		return "unnamed"
	}
	return strings.ReplaceAll(out, "..", "._")
}

// writeMail writes the mail: headers, a short text, the message XML and the attachments, all
// base64. The boundary derives from the message id, so a redelivery is byte for byte the same
// mail; the "=_" in it cannot occur in base64 or quoted-printable text.
func (s *smtpAdapter) writeMail(w io.Writer, p *Package, msgID string) error {
	bw := bufio.NewWriter(w)
	sum := sha256.Sum256([]byte(p.MessageID))
	boundary := "=_amtsbote_" + hex.EncodeToString(sum[:12])
	date := p.CreatedAt
	if date.IsZero() {
		date = time.Now()
	}
	to := make([]string, len(s.to))
	for i, a := range s.to {
		to[i] = a.String()
	}
	header := func(name, value string) { fmt.Fprintf(bw, "%s: %s\r\n", name, value) }
	header("From", s.from.String())
	header("To", strings.Join(to, ",\r\n "))
	header("Subject", foldWords(mime.QEncoding.Encode("utf-8", s.subjectFor(p))))
	header("Date", date.Format(time.RFC1123Z))
	header("Message-ID", msgID)
	header("X-Amtsbote-Message-Id", encodeHeader(p.MessageID))
	header("X-Amtsbote-Message-Type", encodeHeader(p.MessageType))
	header("MIME-Version", "1.0")
	header("Content-Type", mime.FormatMediaType("multipart/mixed", map[string]string{"boundary": boundary}))
	bw.WriteString("\r\n")

	mw := multipart.NewWriter(bw)
	if err := mw.SetBoundary(boundary); err != nil {
		return err
	}
	xmlName := xdomeaBase(p) + p.MessageExt()
	text, err := mw.CreatePart(textproto.MIMEHeader{
		"Content-Type": {"text/plain; charset=utf-8"}, "Content-Transfer-Encoding": {"quoted-printable"},
	})
	if err != nil {
		return err
	}
	qp := quotedprintable.NewWriter(text)
	fmt.Fprintf(qp, "amtsbote stellt die Nachricht %s zu.\r\n\r\nProzessID: %s\r\nLeistung: %s\r\nAGS: %s\r\n\r\nDie Nachricht ist als %s angehängt, dazu %d Anlage(n).\r\n",
		headerSafe(p.MessageType), headerSafe(p.MessageID), headerSafe(p.Leistung), headerSafe(p.AGS), xmlName, len(p.Files))
	if err := qp.Close(); err != nil {
		return err
	}
	if err := writeBase64Part(mw, xmlName, p.MessageMediaType(), func(w io.Writer) error { _, err := w.Write(p.XML); return err }); err != nil {
		return err
	}
	for _, f := range p.Files {
		if err := writeBase64Part(mw, SafeName(f.Name), mediaTypeOrDefault(f.MediaType), func(w io.Writer) error { return WriteAttachment(w, f) }); err != nil {
			return err
		}
	}
	if err := mw.Close(); err != nil {
		return err
	}
	return bw.Flush()
}

func (s *smtpAdapter) subjectFor(p *Package) string {
	subject := s.subject.Fill(p, headerSafe)
	// Keeps the header within the line length mail servers accept, whatever the submission holds.
	if len(subject) > 200 {
		subject = truncateUTF8(subject, 200)
	}
	return subject
}

// foldWords and foldParams break header values where folding changes nothing, between encoded
// words and between parameters, so that lines stay within the 78 characters RFC 5322 asks for.
func foldWords(v string) string  { return strings.ReplaceAll(v, "?= =?", "?=\r\n =?") }
func foldParams(v string) string { return strings.ReplaceAll(v, "; ", ";\r\n ") }

// encodeHeader keeps a value from the submission to one safe header line.
func encodeHeader(v string) string { return foldWords(mime.QEncoding.Encode("utf-8", headerSafe(v))) }

func writeBase64Part(mw *multipart.Writer, filename, mediaType string, write func(io.Writer) error) error {
	parsed, params, err := mime.ParseMediaType(mediaType)
	if err != nil {
		parsed, params = "application/octet-stream", map[string]string{}
	}
	params["name"] = filename
	pw, err := mw.CreatePart(textproto.MIMEHeader{
		"Content-Type":              {foldParams(mime.FormatMediaType(parsed, params))},
		"Content-Disposition":       {foldParams(mime.FormatMediaType("attachment", map[string]string{"filename": filename}))},
		"Content-Transfer-Encoding": {"base64"},
	})
	if err != nil {
		return err
	}
	enc := NewBase64Writer(pw)
	if err := write(enc); err != nil {
		return err
	}
	if err := enc.Close(); err != nil {
		return err
	}
	_, err = io.WriteString(pw, "\r\n")
	return err
}

// Close refuses new deliveries and waits for those in flight; each holds its own connection.
func (s *smtpAdapter) Close() error {
	s.inflight.Close()
	return nil
}
