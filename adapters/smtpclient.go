package adapters

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/smtp"
	"net/textproto"
	"os"
	"strconv"
	"strings"
	"time"
)

// SMTPServerOptions are the options everything that mails through an SMTP server shares: where,
// how encrypted, as whom, whom to trust, how long to wait. Embed them with
// `mapstructure:",squash"` and call Client (which validates) when the sender is built.
type SMTPServerOptions struct {
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
	// CAFile is a PEM bundle of the CAs that may issue the server's certificate, used instead of
	// the system's. Default: the system's CAs.
	CAFile string `mapstructure:"ca_file"`
	// InsecureSkipVerify accepts any server certificate. For tests only: anyone who can
	// intercept the connection receives the mails and the password. Default: false.
	InsecureSkipVerify bool `mapstructure:"insecure_skip_verify"`
	// Timeout bounds one mail: connecting, TLS, login and sending the mail. Default: 30s.
	Timeout time.Duration `mapstructure:"timeout"`
}

// Validate sets the defaults and checks the options.
func (o *SMTPServerOptions) Validate() error {
	if o.TLS == "" {
		o.TLS = "starttls"
	}
	if o.Port == 0 {
		o.Port = 587
		if o.TLS == "implicit" {
			o.Port = 465
		}
	}
	if o.Timeout == 0 {
		o.Timeout = 30 * time.Second
	}
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
	case o.Timeout < 0:
		return fmt.Errorf("options.timeout %s: expected a positive duration such as 30s", o.Timeout)
	}
	return nil
}

// SMTPClient mails through one server, each mail on its own connection: mails are rare enough
// that keeping a session open would mostly collect server idle timeouts. It is safe for
// concurrent use.
type SMTPClient struct {
	// Addr is host:port, for errors and artefacts.
	Addr string
	// RecipientHint says what to do when the server refuses a recipient for good (5xx on RCPT
	// TO). Default: check options.to.
	RecipientHint string

	name     string
	host     string
	mode     string // starttls, implicit or none
	tls      *tls.Config
	username string
	password string
	timeout  time.Duration
	helo     string
}

// Client validates the options, reads options.ca_file now (so that a missing or broken file is
// a configuration error instead of a dead letter for every mail) and builds the client. name
// starts every error message.
func (o *SMTPServerOptions) Client(name string) (*SMTPClient, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	c := &SMTPClient{
		Addr: net.JoinHostPort(o.Host, strconv.Itoa(o.Port)), RecipientHint: "recipient refused: check options.to",
		name: name, host: o.Host, mode: o.TLS, username: o.Username, password: o.Password, timeout: o.Timeout, helo: heloName(),
	}
	if o.TLS != "none" {
		c.tls = &tls.Config{ServerName: o.Host, MinVersion: tls.VersionTLS12, InsecureSkipVerify: o.InsecureSkipVerify}
		if o.CAFile != "" {
			var err error
			if c.tls.RootCAs, err = readCAFile(o.CAFile); err != nil {
				return nil, err
			}
		}
	}
	return c, nil
}

// SMTPMail is one mail to send: the envelope and the writer of its content.
type SMTPMail struct {
	// From is the envelope sender (a bare address), To the envelope recipients.
	From string
	To   []string
	// Size, when above 0, is how large the mail will be (an estimate will do): a server that
	// announces a lower limit (the SIZE extension) refuses it for good before it is sent.
	Size int64
	// Write writes the mail, headers and body, with CRLF line ends. Its error (wrapped) is
	// Send's; the mail is then not finished, so the server discards what it got.
	Write func(io.Writer) error
}

// Send opens a connection, secures it, logs in and sends the mail, all within options.timeout
// and ctx. Errors are classified: 4xx replies and the network are transient; 5xx replies, a
// failed login and an untrusted certificate permanent.
func (c *SMTPClient) Send(ctx context.Context, m *SMTPMail) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	s, err := c.session(ctx)
	if err != nil {
		return err
	}
	defer s.Close()
	if m.Size > 0 {
		if ok, limit := s.Extension("SIZE"); ok {
			if n, err := strconv.ParseInt(strings.TrimSpace(limit), 10, 64); err == nil && n > 0 && m.Size > n {
				return Permanent(fmt.Errorf("%s: %s accepts mails of at most %d bytes (SIZE), this one is %d bytes", c.name, c.Addr, n, m.Size))
			}
		}
	}
	if err := s.Mail(m.From); err != nil {
		return c.fail(ctx, "MAIL FROM", err)
	}
	for _, to := range m.To {
		if err := s.Rcpt(to); err != nil {
			return c.fail(ctx, "RCPT TO:<"+to+">", err)
		}
	}
	w, err := s.Data()
	if err != nil {
		return c.fail(ctx, "DATA", err)
	}
	// On an error, the mail is not finished with "." and the connection is closed: the server
	// discards what it got, so a failed mail never leaves half a mail.
	if err := m.Write(w); err != nil {
		return c.fail(ctx, "sending the mail", err)
	}
	if err := w.Close(); err != nil {
		return c.fail(ctx, "end of DATA", err)
	}
	_ = s.Quit()
	return nil
}

// heloName is how amtsbote introduces itself; servers that check it want the machine's name.
func heloName() string {
	if h, err := os.Hostname(); err == nil && h != "" && !strings.ContainsAny(h, " \r\n") {
		return h
	}
	return "localhost"
}

// session connects, secures the connection and logs in. The connection is closed when ctx
// ends, which is what bounds every step by options.timeout: net/smtp has no deadlines.
func (c *SMTPClient) session(ctx context.Context) (*smtp.Client, error) {
	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", c.Addr)
	if err != nil {
		return nil, c.fail(ctx, "connect", err)
	}
	// Send's ctx ends when it returns at the latest, so the watcher never outlives it.
	context.AfterFunc(ctx, func() { raw.Close() })
	conn := raw
	if c.mode == "implicit" {
		tc := tls.Client(raw, c.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			raw.Close()
			return nil, c.fail(ctx, "TLS handshake", err)
		}
		conn = tc
	}
	s, err := smtp.NewClient(conn, c.host)
	if err != nil {
		raw.Close()
		return nil, c.fail(ctx, "greeting", err)
	}
	if err := c.secureAndLogin(ctx, s); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func (c *SMTPClient) secureAndLogin(ctx context.Context, s *smtp.Client) error {
	if err := s.Hello(c.helo); err != nil {
		return c.fail(ctx, "EHLO", err)
	}
	if c.mode == "starttls" {
		if ok, _ := s.Extension("STARTTLS"); !ok {
			return Permanent(fmt.Errorf("%s: %s does not offer STARTTLS, and options.tls is starttls: if the server speaks TLS from the start (port 465), set tls: implicit; never send mail with personal data unencrypted over a network", c.name, c.Addr))
		}
		if err := s.StartTLS(c.tls); err != nil {
			return c.fail(ctx, "STARTTLS", err)
		}
	}
	if c.username == "" {
		return nil
	}
	if ok, mechs := s.Extension("AUTH"); !ok || !containsFold(strings.Fields(mechs), "PLAIN") {
		return Permanent(fmt.Errorf("%s: %s does not offer AUTH PLAIN (offers %q): remove options.username, or ask the server's operator to enable it", c.name, c.Addr, mechs))
	}
	if err := s.Auth(plainAuth{c.username, c.password}); err != nil {
		return c.fail(ctx, "AUTH", err)
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
// "localhost"; the options decide that here (Validate), so that tls: none works for loopback
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
func (c *SMTPClient) fail(ctx context.Context, stage string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		if errors.Is(ctxErr, context.DeadlineExceeded) {
			return Transient(fmt.Errorf("%s: %s at %s: no answer within options.timeout %s", c.name, stage, c.Addr, c.timeout), 0)
		}
		return fmt.Errorf("%s: %s at %s: %w", c.name, stage, c.Addr, ctxErr)
	}
	var reply *textproto.Error
	if errors.As(err, &reply) {
		failure := fmt.Errorf("%s: %s at %s: the server answered %d %s", c.name, stage, c.Addr, reply.Code, headerSafe(strings.ReplaceAll(reply.Msg, "\n", " ")))
		if reply.Code >= 500 {
			return Permanent(fmt.Errorf("%w (%s)", failure, c.hint(stage)))
		}
		return Transient(failure, 0)
	}
	if isTLSVerifyError(err) {
		return Permanent(fmt.Errorf("%s: %s at %s: %w (the server's certificate is not trusted: set options.ca_file to the CA that issued it, or correct options.host)", c.name, stage, c.Addr, err))
	}
	if alert := tlsRemoteAlert(err); alert != "" {
		return Permanent(fmt.Errorf("%s: %s at %s: the server refused the TLS handshake: %s", c.name, stage, c.Addr, alert))
	}
	var recordErr tls.RecordHeaderError
	if errors.As(err, &recordErr) {
		return Permanent(fmt.Errorf("%s: %s at %s: %w (the server does not speak TLS on this port: check options.tls and options.port)", c.name, stage, c.Addr, err))
	}
	// What Write returned is not the server's doing: keep its classification if it has one.
	var permanent *PermanentError
	if errors.As(err, &permanent) {
		return Permanent(fmt.Errorf("%s: %s at %s: %w", c.name, stage, c.Addr, err))
	}
	return Transient(fmt.Errorf("%s: %s at %s: %w", c.name, stage, c.Addr, err), 0)
}

func (c *SMTPClient) hint(stage string) string {
	switch {
	case stage == "AUTH":
		return "login refused: check options.username and options.password"
	case strings.HasPrefix(stage, "RCPT"):
		return c.RecipientHint
	case stage == "MAIL FROM":
		return "sender refused: check options.from and whether the login may send as it"
	}
	return "the server refuses the mail; replay it once the cause is fixed"
}

// NewBase64Writer encodes what is written to it as base64 in the 76-character lines MIME
// requires, CRLF between them (none after the last). Close flushes the last line.
func NewBase64Writer(w io.Writer) io.WriteCloser {
	return base64.NewEncoder(base64.StdEncoding, &lineWrapper{w: w})
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
