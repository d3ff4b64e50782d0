package adapters

import (
	"bufio"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"os"
	"strconv"
	"strings"
	"time"
)

func init() {
	Register("smtp", newSMTP)
}

// SMTPOptions configure the smtp adapter, which mails each package to a mailbox.
type SMTPOptions struct {
	// Host is the mail server (submission server or relay). Required.
	Host string `mapstructure:"host"`
	// Port is the server's port. Default: 587, or 465 with tls: implicit.
	Port int `mapstructure:"port"`
	// TLS is "starttls" (plain connection upgraded with STARTTLS, which the server must offer),
	// "implicit" (SMTPS: TLS from the first byte) or "none" (no encryption: only to a loopback
	// address, unless AllowUnencryptedPersonalData). Default: starttls.
	TLS string `mapstructure:"tls"`
	// AllowUnencryptedPersonalData permits tls: none to a host other than a loopback address,
	// for networks protected otherwise (a VPN, a relay on the same segment behind an encrypting
	// gateway). Without it such a host is refused: the mails hold personal data. A login over
	// such a connection stays refused even with it. Default: false.
	AllowUnencryptedPersonalData bool `mapstructure:"allow_unencrypted_personal_data"`
	// Username and Password log in with AUTH PLAIN, over TLS only (or to a loopback host with
	// tls: none). Default: no login.
	Username string `mapstructure:"username"`
	Password string `mapstructure:"password"`
	// From is the sender address, e.g. "amtsbote@kommune.example" or
	// "Amtsbote <amtsbote@kommune.example>". Required.
	From string `mapstructure:"from"`
	// To are the recipient addresses (a single string is one recipient). Required.
	To []string `mapstructure:"to"`
	// Subject is the subject line, with placeholders {message_type}, {message_id} (the
	// ProzessID), {leistung} and {ags}; non-ASCII is RFC 2047 encoded.
	// Default: "{message_type} {message_id}".
	Subject string `mapstructure:"subject"`
	// CAFile is a PEM bundle of the CAs that may issue the server's certificate, used instead of
	// the system's. Default: the system's CAs.
	CAFile string `mapstructure:"ca_file"`
	// InsecureSkipVerify accepts any server certificate. For tests only: anyone who can
	// intercept the connection receives the packages and the password. Default: false.
	InsecureSkipVerify bool `mapstructure:"insecure_skip_verify"`
	// Timeout bounds one delivery: connecting, TLS, login and sending the mail. Default: 30s.
	Timeout time.Duration `mapstructure:"timeout"`
}

func (o *SMTPOptions) setDefaults() {
	if o.TLS == "" {
		o.TLS = "starttls"
	}
	if o.Port == 0 {
		o.Port = 587
		if o.TLS == "implicit" {
			o.Port = 465
		}
	}
	if o.Subject == "" {
		o.Subject = "{message_type} {message_id}"
	}
	if o.Timeout == 0 {
		o.Timeout = 30 * time.Second
	}
}

func (o *SMTPOptions) validate() error {
	switch {
	case o.Host == "":
		return errors.New("options.host must name the mail server")
	case o.Port < 1 || o.Port > 65535:
		return fmt.Errorf("options.port %d: expected a TCP port (1-65535)", o.Port)
	case o.TLS != "starttls" && o.TLS != "implicit" && o.TLS != "none":
		return fmt.Errorf("options.tls %q: expected starttls, implicit or none", o.TLS)
	case o.Username == "" && o.Password != "":
		return errors.New("options.password needs options.username")
	case o.Username != "" && o.Password == "":
		return errors.New("options.username needs options.password")
	case o.Username != "" && o.TLS == "none" && !isLoopback(o.Host):
		return fmt.Errorf("options.tls none with options.username would send the password to %s in clear text: use tls: starttls or implicit (options.allow_unencrypted_personal_data does not lift this)", o.Host)
	case o.TLS == "none" && (o.CAFile != "" || o.InsecureSkipVerify):
		return errors.New("options.ca_file and options.insecure_skip_verify need options.tls starttls or implicit")
	case o.TLS == "none" && !isLoopback(o.Host) && !o.AllowUnencryptedPersonalData:
		// Loopback traffic never leaves the machine; anything else crosses a network.
		return fmt.Errorf("options.tls none would send personal data to %s in clear text; use tls: starttls or implicit, or set options.allow_unencrypted_personal_data: true if the network path is protected otherwise", o.Host)
	case o.TLS != "none" && o.AllowUnencryptedPersonalData:
		return fmt.Errorf("options.allow_unencrypted_personal_data has no effect with options.tls %s: remove it", o.TLS)
	case o.InsecureSkipVerify && o.CAFile != "":
		return errors.New("options.insecure_skip_verify and options.ca_file contradict each other: drop insecure_skip_verify")
	case o.From == "":
		return errors.New("options.from must name the sender address")
	case len(o.To) == 0:
		return errors.New("options.to must list at least one recipient address")
	case o.Timeout < 0:
		return fmt.Errorf("options.timeout %s: expected a positive duration such as 30s", o.Timeout)
	}
	if hasControl(o.Subject) {
		return fmt.Errorf("options.subject %q must not contain control characters", o.Subject)
	}
	return nil
}

// smtpAdapter mails each package on its own connection: deliveries are rare enough that
// keeping a session open would mostly collect server idle timeouts.
type smtpAdapter struct {
	host     string
	addr     string // host:port
	mode     string // starttls, implicit or none
	tls      *tls.Config
	username string
	password string
	from     *mail.Address
	to       []*mail.Address
	subject  Pattern
	timeout  time.Duration
	helo     string
	inflight Inflight
}

func newSMTP(options map[string]any) (Adapter, error) {
	var o SMTPOptions
	if err := DecodeOptions(options, &o); err != nil {
		return nil, fmt.Errorf("smtp: %w", err)
	}
	o.setDefaults()
	if err := o.validate(); err != nil {
		return nil, fmt.Errorf("smtp: %w", err)
	}
	s := &smtpAdapter{
		host: o.Host, addr: net.JoinHostPort(o.Host, strconv.Itoa(o.Port)), mode: o.TLS,
		username: o.Username, password: o.Password, timeout: o.Timeout, helo: heloName(),
	}
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
	if o.TLS != "none" {
		s.tls = &tls.Config{ServerName: o.Host, MinVersion: tls.VersionTLS12, InsecureSkipVerify: o.InsecureSkipVerify}
		if o.CAFile != "" {
			if s.tls.RootCAs, err = readCAFile(o.CAFile); err != nil {
				return nil, fmt.Errorf("smtp: %w", err)
			}
		}
	}
	return s, nil
}

// heloName is how amtsbote introduces itself; servers that check it want the machine's name.
func heloName() string {
	if h, err := os.Hostname(); err == nil && h != "" && !strings.ContainsAny(h, " \r\n") {
		return h
	}
	return "localhost"
}

// Deliver mails the package. The Message-ID derives from the ProzessID, so a redelivery is
// the same mail to the receiving mail system, which can drop the duplicate.
func (s *smtpAdapter) Deliver(ctx context.Context, p *Package) (string, error) {
	done, err := s.inflight.Begin("smtp")
	if err != nil {
		return "", err
	}
	defer done()

	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	msgID := "<" + messageIDLocal(p.MessageID) + "@amtsbote>"
	c, err := s.session(ctx)
	if err != nil {
		return "", err
	}
	defer c.Close()
	if err := c.Mail(s.from.Address); err != nil {
		return "", s.fail(ctx, "MAIL FROM", err)
	}
	for _, to := range s.to {
		if err := c.Rcpt(to.Address); err != nil {
			return "", s.fail(ctx, "RCPT TO:<"+to.Address+">", err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return "", s.fail(ctx, "DATA", err)
	}
	// On an error, the mail is not finished with "." and the connection is closed: the server
	// discards what it got, so a failed delivery never leaves half a mail.
	if err := s.writeMail(w, p, msgID); err != nil {
		return "", s.fail(ctx, "sending the mail", err)
	}
	if err := w.Close(); err != nil {
		return "", s.fail(ctx, "end of DATA", err)
	}
	_ = c.Quit()
	return "smtp://" + s.addr + " " + msgID, nil
}

// session connects, secures the connection and logs in. The connection is closed when ctx
// ends, which is what bounds every step by options.timeout: net/smtp has no deadlines.
func (s *smtpAdapter) session(ctx context.Context) (*smtp.Client, error) {
	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", s.addr)
	if err != nil {
		return nil, s.fail(ctx, "connect", err)
	}
	// Deliver's ctx ends when it returns at the latest, so the watcher never outlives it.
	context.AfterFunc(ctx, func() { raw.Close() })
	conn := raw
	if s.mode == "implicit" {
		tc := tls.Client(raw, s.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			raw.Close()
			return nil, s.fail(ctx, "TLS handshake", err)
		}
		conn = tc
	}
	c, err := smtp.NewClient(conn, s.host)
	if err != nil {
		raw.Close()
		return nil, s.fail(ctx, "greeting", err)
	}
	if err := s.secureAndLogin(ctx, c); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func (s *smtpAdapter) secureAndLogin(ctx context.Context, c *smtp.Client) error {
	if err := c.Hello(s.helo); err != nil {
		return s.fail(ctx, "EHLO", err)
	}
	if s.mode == "starttls" {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return Permanent(fmt.Errorf("smtp: %s does not offer STARTTLS, and options.tls is starttls: if the server speaks TLS from the start (port 465), set tls: implicit; never send packages unencrypted over a network", s.addr))
		}
		if err := c.StartTLS(s.tls); err != nil {
			return s.fail(ctx, "STARTTLS", err)
		}
	}
	if s.username == "" {
		return nil
	}
	if ok, mechs := c.Extension("AUTH"); !ok || !containsFold(strings.Fields(mechs), "PLAIN") {
		return Permanent(fmt.Errorf("smtp: %s does not offer AUTH PLAIN (offers %q): remove options.username, or ask the server's operator to enable it", s.addr, mechs))
	}
	if err := c.Auth(plainAuth{s.username, s.password}); err != nil {
		return s.fail(ctx, "AUTH", err)
	}
	return nil
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

// plainAuth is AUTH PLAIN. net/smtp's own refuses unencrypted connections to any host but
// "localhost"; the options decide that here (validate), so that tls: none works for loopback
// test servers on 127.0.0.1.
type plainAuth struct{ user, password string }

func (a plainAuth) Start(*smtp.ServerInfo) (string, []byte, error) {
	return "PLAIN", []byte("\x00" + a.user + "\x00" + a.password), nil
}

func (a plainAuth) Next(_ []byte, more bool) ([]byte, error) {
	if more {
		return nil, errors.New("unexpected server challenge after AUTH PLAIN")
	}
	return nil, nil
}

// fail classifies an error: 4xx replies and the network are worth retrying; 5xx replies, a
// failed login and an untrusted certificate need someone to act first.
func (s *smtpAdapter) fail(ctx context.Context, stage string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		if errors.Is(ctxErr, context.DeadlineExceeded) {
			return Transient(fmt.Errorf("smtp: %s at %s: no answer within options.timeout %s", stage, s.addr, s.timeout), 0)
		}
		return fmt.Errorf("smtp: %s at %s: %w", stage, s.addr, ctxErr)
	}
	var reply *textproto.Error
	if errors.As(err, &reply) {
		failure := fmt.Errorf("smtp: %s at %s: the server answered %d %s", stage, s.addr, reply.Code, headerSafe(strings.ReplaceAll(reply.Msg, "\n", " ")))
		if reply.Code >= 500 {
			return Permanent(fmt.Errorf("%w (%s)", failure, smtpHint(stage)))
		}
		return Transient(failure, 0)
	}
	if isTLSVerifyError(err) {
		return Permanent(fmt.Errorf("smtp: %s at %s: %w (the server's certificate is not trusted: set options.ca_file to the CA that issued it, or correct options.host)", stage, s.addr, err))
	}
	if alert := tlsRemoteAlert(err); alert != "" {
		return Permanent(fmt.Errorf("smtp: %s at %s: the server refused the TLS handshake: %s", stage, s.addr, alert))
	}
	var recordErr tls.RecordHeaderError
	if errors.As(err, &recordErr) {
		return Permanent(fmt.Errorf("smtp: %s at %s: %w (the server does not speak TLS on this port: check options.tls and options.port)", stage, s.addr, err))
	}
	return Transient(fmt.Errorf("smtp: %s at %s: %w", stage, s.addr, err), 0)
}

func smtpHint(stage string) string {
	switch {
	case stage == "AUTH":
		return "login refused: check options.username and options.password"
	case strings.HasPrefix(stage, "RCPT"):
		return "recipient refused: check options.to"
	case stage == "MAIL FROM":
		return "sender refused: check options.from and whether the login may send as it"
	}
	return "the server refuses the mail; replay it once the cause is fixed"
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
	enc := base64.NewEncoder(base64.StdEncoding, &lineWrapper{w: pw})
	if err := write(enc); err != nil {
		return err
	}
	if err := enc.Close(); err != nil {
		return err
	}
	_, err = io.WriteString(pw, "\r\n")
	return err
}

// lineWrapper breaks base64 into the 76-character lines MIME requires.
type lineWrapper struct {
	w   io.Writer
	col int
}

func (l *lineWrapper) Write(b []byte) (int, error) {
	n := 0
	for len(b) > 0 {
		if l.col == 76 {
			if _, err := io.WriteString(l.w, "\r\n"); err != nil {
				return n, err
			}
			l.col = 0
		}
		chunk := min(len(b), 76-l.col)
		m, err := l.w.Write(b[:chunk])
		n += m
		l.col += m
		if err != nil {
			return n, err
		}
		b = b[chunk:]
	}
	return n, nil
}

// Close refuses new deliveries and waits for those in flight; each holds its own connection.
func (s *smtpAdapter) Close() error {
	s.inflight.Close()
	return nil
}
