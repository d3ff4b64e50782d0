// Package email is the e-mail channel of the return channel: it mails a reply to the address
// the application named, through an SMTP server, with the reply's documents attached, the text
// from a template, and — when the application gave an OpenPGP public key — the whole content
// encrypted as PGP/MIME (RFC 3156).
//
// The mail holds no personal data beyond what the template says: the built-in template names
// the application's reference, the kind of reply and its date, and that documents are
// attached. Documents are attached as they are. See docs/replies-email.md.
package email

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"reflect"
	"regexp"
	"strings"
	"time"

	"github.com/amtsbote/amtsbote/adapters"
	"github.com/amtsbote/amtsbote/replies"
)

// DefaultMaxMessageBytes is options.max_message_bytes unless set: the limit many mail
// providers apply to a mail as sent (attachments base64-encoded).
const DefaultMaxMessageBytes = 25 << 20

// genericSubject is the Subject of every encrypted mail (headers are not encrypted) and of a
// mail whose template made an empty one.
const genericSubject = "Nachricht zu Ihrem Antrag"

// Options configure the e-mail channel.
type Options struct {
	// The connection: host, port, TLS, login, timeout (as the smtp adapter's).
	adapters.SMTPServerOptions `mapstructure:",squash"`
	// From is the sender address, e.g. "Stadt Musterstadt <noreply@musterstadt.example>". Its
	// domain also names the Message-IDs. Required.
	From string `mapstructure:"from"`
	// ReplyTo is where the applicant's answers go, e.g. a mailbox of the office. Default: none.
	ReplyTo string `mapstructure:"reply_to"`
	// MaxMessageBytes is the largest mail sent, as it goes over the wire (attachments
	// base64-encoded, encryption included); a reply whose mail would be larger fails for good.
	// Default: 26214400 (25 MiB).
	MaxMessageBytes int64 `mapstructure:"max_message_bytes"`
}

// Sender mails replies. It is safe for concurrent use; each mail has its own connection.
type Sender struct {
	client    *adapters.SMTPClient
	from      *mail.Address
	replyTo   *mail.Address
	idDomain  string // the right part of Message-IDs
	max       int64
	templates templates
}

var _ replies.Sender = (*Sender)(nil)

// New builds the channel from its options (unknown keys are refused). It reads
// options.ca_file now, so that a broken file is a configuration error.
func New(options map[string]any) (*Sender, error) {
	var o Options
	if err := adapters.DecodeOptions(options, &o); err != nil {
		return nil, fmt.Errorf("e-mail: %w", err)
	}
	if err := o.SMTPServerOptions.Validate(); err != nil {
		return nil, fmt.Errorf("e-mail: %w", err)
	}
	s := &Sender{max: o.MaxMessageBytes}
	if s.max == 0 {
		s.max = DefaultMaxMessageBytes
	}
	if s.max < 0 {
		return nil, fmt.Errorf("e-mail: options.max_message_bytes %d: expected a positive number of bytes such as 26214400", o.MaxMessageBytes)
	}
	if o.From == "" {
		return nil, errors.New("e-mail: options.from must name the sender address, e.g. \"Stadt Musterstadt <noreply@musterstadt.example>\"")
	}
	var err error
	if s.from, err = configAddress("options.from", o.From); err != nil {
		return nil, err
	}
	s.idDomain = s.from.Address[strings.LastIndexByte(s.from.Address, '@')+1:]
	if o.ReplyTo != "" {
		if s.replyTo, err = configAddress("options.reply_to", o.ReplyTo); err != nil {
			return nil, err
		}
	}
	if s.client, err = o.SMTPServerOptions.Client("e-mail"); err != nil {
		return nil, fmt.Errorf("e-mail: %w", err)
	}
	s.client.RecipientHint = "the applicant's mail system refuses the address: it does not exist or takes no mail; the address came with the application"
	return s, nil
}

// configAddress reads an address of the options: a display name may come with it.
func configAddress(key, v string) (*mail.Address, error) {
	if strings.ContainsAny(v, "\r\n") {
		return nil, fmt.Errorf("e-mail: %s %q must be on one line", key, v)
	}
	a, err := mail.ParseAddress(v)
	if err != nil {
		return nil, fmt.Errorf("e-mail: %s %q: %v (expected e.g. \"Stadt Musterstadt <noreply@musterstadt.example>\")", key, v, strings.TrimPrefix(err.Error(), "mail: "))
	}
	if a.Address, err = CheckAddress(a.Address); err != nil {
		return nil, fmt.Errorf("e-mail: %s %q: the address %v", key, v, err)
	}
	a.Name = oneLine(a.Name)
	return a, nil
}

// ResetTemplates forgets the parsed template files. Not needed for edits of a file (a file
// is read again when its modification time or size changes); for a configuration reload that
// wants every template read afresh.
func (s *Sender) ResetTemplates() { s.templates.Reset() }

// Send mails the reply to o.Address.Email. The Message-ID derives from o.ReplyID, so a retry
// after a crash sends the same Message-ID; SMTP itself cannot tell that a mail was already
// delivered, so whether the applicant sees it twice depends on the receiving mail system.
func (s *Sender) Send(ctx context.Context, o *replies.Outgoing) (string, error) {
	now := time.Now()
	if o.Address.Email == "" {
		return "", adapters.Permanent(errors.New("reply channel e-mail: the application named no e-mail address"))
	}
	to, err := CheckAddress(o.Address.Email)
	if err != nil {
		return "", adapters.Permanent(fmt.Errorf("reply channel e-mail address %q: %w", o.Address.Email, err))
	}
	var key *PublicKey
	if strings.TrimSpace(o.Address.PGPPublicKey) != "" {
		if key, err = ParsePublicKey(o.Address.PGPPublicKey, now); err != nil {
			return "", adapters.Permanent(fmt.Errorf("reply channel %w", err))
		}
	}
	t, err := s.templates.get(o.Template)
	if err != nil {
		return "", adapters.Permanent(fmt.Errorf("reply channel e-mail: %w", err))
	}
	subject, body, err := t.render(dataFor(o, key != nil))
	if err != nil {
		return "", adapters.Permanent(fmt.Errorf("reply channel e-mail: %w", err))
	}
	m := s.message(o, to, subject, body, key, now)
	size := m.estimate()
	if size > s.max {
		return "", adapters.Permanent(fmt.Errorf("reply channel e-mail: the mail would be %d bytes (%s) with its %d document(s) base64-encoded%s, more than options.max_message_bytes %d (%s): send the documents another way, or raise the limit if the mail systems take larger mails",
			size, sizeText(size), len(o.Documents), map[bool]string{true: " and encrypted", false: ""}[key != nil], s.max, sizeText(s.max)))
	}
	err = s.client.Send(ctx, &adapters.SMTPMail{From: s.from.Address, To: []string{to}, Size: size, Write: func(w io.Writer) error {
		return m.writeTo(&limitWriter{w: w, max: s.max})
	}})
	if err != nil {
		return "", err
	}
	artefact := "smtp://" + s.client.Addr + " " + m.msgID
	if key != nil {
		artefact += " OpenPGP " + key.EncryptionFingerprint
	}
	return artefact, nil
}

// message is one mail, ready to be written (or measured).
type message struct {
	from, replyTo, to string // header values
	subject, body     string
	msgID, replyID    string
	date              time.Time
	docs              []replies.Document
	names, types      []string
	key               *PublicKey
	now               time.Time
	boundary, outer   string // MIME boundaries
}

func (s *Sender) message(o *replies.Outgoing, to, subject, body string, key *PublicKey, now time.Time) *message {
	m := &message{
		from: s.from.String(), to: to, subject: subject, body: body, replyID: oneLine(o.ReplyID),
		msgID: "<" + messageIDLocal(o.ReplyID) + "@" + s.idDomain + ">", date: o.RepliedAt,
		docs: o.Documents, key: key, now: now,
	}
	if s.replyTo != nil {
		m.replyTo = s.replyTo.String()
	}
	if m.date.IsZero() {
		m.date = now
	}
	for i, d := range o.Documents {
		m.names = append(m.names, attachmentName(d.Name, i))
		m.types = append(m.types, mediaType(d.MediaType))
	}
	// The boundaries derive from the reply, so a retry writes the same mail (an encrypted one
	// differs in its ciphertext only); "=_" cannot occur in base64 or quoted-printable text.
	sum := sha256.Sum256([]byte("amtsbote reply " + o.ReplyID))
	m.boundary = "=_amtsbote_" + hex.EncodeToString(sum[:12])
	m.outer = "=_amtsbote_pgp_" + hex.EncodeToString(sum[12:24])
	return m
}

var safeID = regexp.MustCompile(`^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$`)

// messageIDLocal is the left part of the reply's Message-ID: "reply." and the reply id when it
// is made of safe characters (a UUID is), else a hash of it.
func messageIDLocal(replyID string) string {
	if len(replyID) <= 100 && safeID.MatchString(replyID) {
		return "reply." + replyID
	}
	sum := sha256.Sum256([]byte(replyID))
	return "reply." + hex.EncodeToString(sum[:16])
}

// writeTo writes the mail: the headers, then the content as it is, or encrypted.
func (m *message) writeTo(w io.Writer) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	if m.key == nil {
		m.writeHeaders(bw, m.subject)
		if err := m.writeEntity(bw, false, m.attach); err != nil {
			return err
		}
		return bw.Flush()
	}
	m.writeHeaders(bw, genericSubject)
	mw, err := m.writeEncryptedPrelude(bw)
	if err != nil {
		return err
	}
	plaintext, armour, err := m.key.encrypt(&crlfWriter{w: mw.part}, m.now)
	if err != nil {
		return adapters.Permanent(fmt.Errorf("reply channel OpenPGP key %s: encrypting: %w", m.key.Fingerprint, err))
	}
	pw := bufio.NewWriterSize(plaintext, 64<<10)
	if err := m.writeEntity(pw, true, m.attach); err != nil {
		return err
	}
	if err := pw.Flush(); err != nil {
		return err
	}
	if err := plaintext.Close(); err != nil {
		return err
	}
	if err := armour.Close(); err != nil {
		return err
	}
	if _, err := io.WriteString(mw.part, "\r\n"); err != nil {
		return err
	}
	if err := mw.w.Close(); err != nil {
		return err
	}
	return bw.Flush()
}

// estimate is the mail's size in bytes as sent, from the documents' recorded sizes; for an
// encrypted mail, a little more than it will be.
func (m *message) estimate() int64 {
	var c counter
	skip := func(_ io.Writer, i int) error { c.n += base64Len(m.docs[i].Size); return nil }
	if m.key == nil {
		m.writeHeaders(&c, m.subject)
		_ = m.writeEntity(&c, false, skip)
		return c.n
	}
	var inner counter
	skipInner := func(_ io.Writer, i int) error { inner.n += base64Len(m.docs[i].Size); return nil }
	_ = m.writeEntity(&inner, true, skipInner)
	m.writeHeaders(&c, genericSubject)
	mw, _ := m.writeEncryptedPrelude(&c)
	_, _ = io.WriteString(mw.part, "\r\n")
	_ = mw.w.Close()
	return c.n + armouredLen(encryptedLen(inner.n))
}

// encryptedLen bounds the OpenPGP message of n bytes: the session key for the recipient (an
// RSA-4096 one takes about 530 bytes), the literal data, encryption and integrity packets, and
// one length byte per chunk of at least 512 bytes, in two layers.
func encryptedLen(n int64) int64 { return n + 1024 + 2*(n/512+1) }

// armouredLen is n bytes armoured: base64 in lines of 64 with CRLF, the BEGIN and END lines and
// the checksum.
func armouredLen(n int64) int64 {
	b64 := (n + 2) / 3 * 4
	lines := (b64 + 63) / 64
	return b64 + 2*lines + 128
}

// base64Len is the size of n bytes as an attachment: base64 in lines of 76, CRLF between them.
func base64Len(n int64) int64 {
	if n <= 0 {
		return 0
	}
	b64 := (n + 2) / 3 * 4
	return b64 + 2*((b64+75)/76-1)
}

func (m *message) writeHeaders(w io.Writer, subject string) {
	h := func(name, value string) { fmt.Fprintf(w, "%s: %s\r\n", name, value) }
	h("From", m.from)
	h("To", m.to)
	if m.replyTo != "" {
		h("Reply-To", m.replyTo)
	}
	h("Subject", encodeWord(subject))
	h("Date", m.date.In(berlin).Format(time.RFC1123Z))
	h("Message-ID", m.msgID)
	h("Auto-Submitted", "auto-generated")
	h("X-Auto-Response-Suppress", "All")
	if m.replyID != "" {
		h("X-Amtsbote-Reply-Id", encodeWord(m.replyID))
	}
	h("MIME-Version", "1.0")
}

// encryptedPart is the multipart/encrypted writer and its second part, where the armoured
// OpenPGP message goes.
type encryptedPart struct {
	w    *multipart.Writer
	part io.Writer
}

// writeEncryptedPrelude writes the rest of the outer headers of an RFC 3156 mail, its version
// part and the header of the part that holds the encrypted message.
func (m *message) writeEncryptedPrelude(w io.Writer) (*encryptedPart, error) {
	fmt.Fprintf(w, "Content-Type: %s\r\n\r\n", withParams("multipart/encrypted",
		[2]string{"protocol", "application/pgp-encrypted"}, [2]string{"boundary", m.outer}))
	io.WriteString(w, "This is an OpenPGP/MIME encrypted message (RFC 4880 and 3156).\r\n")
	mw := multipart.NewWriter(w)
	if err := mw.SetBoundary(m.outer); err != nil {
		return nil, err
	}
	version, err := mw.CreatePart(textproto.MIMEHeader{
		"Content-Type": {"application/pgp-encrypted"}, "Content-Description": {"PGP/MIME version identification"},
	})
	if err != nil {
		return nil, err
	}
	if _, err := io.WriteString(version, "Version: 1\r\n"); err != nil {
		return nil, err
	}
	part, err := mw.CreatePart(textproto.MIMEHeader{
		"Content-Type":        {withParams("application/octet-stream", [2]string{"name", "encrypted.asc"})},
		"Content-Description": {"OpenPGP encrypted message"},
		"Content-Disposition": {withParams("inline", [2]string{"filename", "encrypted.asc"})},
	})
	if err != nil {
		return nil, err
	}
	return &encryptedPart{w: mw, part: part}, nil
}

// writeEntity writes the content: the text alone, or multipart/mixed with the text and the
// documents (content writes document i's base64). Encrypted, it carries the real Subject and
// the other headers inside (protected headers), where mail programs that decrypt show them.
func (m *message) writeEntity(w io.Writer, protected bool, content func(io.Writer, int) error) error {
	var params [][2]string
	if protected {
		params = append(params, [2]string{"protected-headers", "v1"})
	}
	var mw *multipart.Writer
	if len(m.docs) == 0 {
		fmt.Fprintf(w, "Content-Type: %s\r\nContent-Transfer-Encoding: quoted-printable\r\n",
			withParams("text/plain", append([][2]string{{"charset", "utf-8"}}, params...)...))
	} else {
		fmt.Fprintf(w, "Content-Type: %s\r\n", withParams("multipart/mixed", append([][2]string{{"boundary", m.boundary}}, params...)...))
	}
	if protected {
		h := func(name, value string) { fmt.Fprintf(w, "%s: %s\r\n", name, value) }
		h("Subject", encodeWord(m.subject))
		h("From", m.from)
		h("To", m.to)
		if m.replyTo != "" {
			h("Reply-To", m.replyTo)
		}
		h("Date", m.date.In(berlin).Format(time.RFC1123Z))
		h("Message-ID", m.msgID)
	}
	io.WriteString(w, "\r\n")
	text := w
	if len(m.docs) > 0 {
		mw = multipart.NewWriter(w)
		if err := mw.SetBoundary(m.boundary); err != nil {
			return err
		}
		var err error
		if text, err = mw.CreatePart(textproto.MIMEHeader{
			"Content-Type": {"text/plain; charset=utf-8"}, "Content-Transfer-Encoding": {"quoted-printable"},
		}); err != nil {
			return err
		}
	}
	qp := quotedprintable.NewWriter(text)
	if _, err := io.WriteString(qp, strings.TrimRight(m.body, "\n")+"\n"); err != nil {
		return err
	}
	if err := qp.Close(); err != nil {
		return err
	}
	if mw == nil {
		return nil
	}
	for i := range m.docs {
		name := m.names[i]
		pw, err := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {withParams(m.types[i], [2]string{"name", name})},
			"Content-Disposition":       {withParams("attachment", [2]string{"filename", name})},
			"Content-Transfer-Encoding": {"base64"},
		})
		if err != nil {
			return err
		}
		if err := content(pw, i); err != nil {
			return err
		}
		if _, err := io.WriteString(pw, "\r\n"); err != nil {
			return err
		}
	}
	return mw.Close()
}

// attach writes document i base64-encoded, streaming it from the store.
func (m *message) attach(w io.Writer, i int) error {
	d := m.docs[i]
	if d.Open == nil {
		return fmt.Errorf("document %d (%s) cannot be read: no content", i+1, m.names[i])
	}
	r, err := d.Open()
	if err != nil {
		return fmt.Errorf("document %d (%s): %w", i+1, m.names[i], err)
	}
	defer r.Close()
	enc := adapters.NewBase64Writer(w)
	if _, err := io.Copy(enc, r); err != nil {
		return fmt.Errorf("document %d (%s): %w", i+1, m.names[i], err)
	}
	return enc.Close()
}

type counter struct{ n int64 }

func (c *counter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// limitWriter refuses to write more than max bytes: a document larger than its recorded size
// cannot make the mail larger than options.max_message_bytes.
type limitWriter struct {
	w      io.Writer
	n, max int64
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if l.n+int64(len(p)) > l.max {
		return 0, adapters.Permanent(fmt.Errorf("the mail grew past options.max_message_bytes %d while it was sent (a document is larger than its recorded size)", l.max))
	}
	n, err := l.w.Write(p)
	l.n += int64(n)
	return n, err
}

// crlfWriter turns the armour's LF line ends into the CRLF of a mail.
type crlfWriter struct {
	w io.Writer
}

func (c *crlfWriter) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		i := strings.IndexByte(string(p), '\n')
		if i < 0 {
			n, err := c.w.Write(p)
			return written + n, err
		}
		if _, err := c.w.Write(p[:i]); err != nil {
			return written, err
		}
		if _, err := io.WriteString(c.w, "\r\n"); err != nil {
			return written, err
		}
		written += i + 1
		p = p[i+1:]
	}
	return written, nil
}

// OptionKeys lists the channel's option keys, in the order of Options.
func OptionKeys() []string { return optionKeys(reflect.TypeFor[Options]()) }

func optionKeys(t reflect.Type) []string {
	var keys []string
	for f := range t.Fields() {
		tag := f.Tag.Get("mapstructure")
		name, flags, _ := strings.Cut(tag, ",")
		if f.Anonymous && strings.Contains(flags, "squash") {
			keys = append(keys, optionKeys(f.Type)...)
			continue
		}
		if name != "" && name != "-" {
			keys = append(keys, name)
		}
	}
	return keys
}
