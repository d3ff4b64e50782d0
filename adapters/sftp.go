package adapters

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

func init() {
	Register("sftp", newSFTP)
}

// SFTPOptions configure the sftp adapter. The server must prove its identity: set
// known_hosts_file or host_key_fingerprint.
type SFTPOptions struct {
	// Host is the SFTP server's name or IP address. Required.
	Host string `mapstructure:"host"`
	// Port is the server's SSH port. Default: 22.
	Port int `mapstructure:"port"`
	// User is the login name. Required.
	User string `mapstructure:"user"`
	// Password logs in by password (or keyboard-interactive with a single password prompt).
	// One of password and private_key_file is required; with both, the key is tried first.
	Password string `mapstructure:"password"`
	// PrivateKeyFile is a private key without passphrase (OpenSSH or PEM format) whose public
	// key is in the server's authorized_keys.
	PrivateKeyFile string `mapstructure:"private_key_file"`
	// KnownHostsFile is an OpenSSH known_hosts file that must list the server's host key.
	KnownHostsFile string `mapstructure:"known_hosts_file"`
	// HostKeyFingerprint pins the server's host key: "SHA256:…" as printed by ssh-keygen -lf.
	// Any of the server's keys (ED25519, ECDSA, RSA) may be pinned.
	HostKeyFingerprint string `mapstructure:"host_key_fingerprint"`
	// InsecureIgnoreHostKey accepts whatever key the server shows. For tests only: anyone
	// who can intercept the connection receives the packages and the password. Default: false.
	InsecureIgnoreHostKey bool `mapstructure:"insecure_ignore_host_key"`
	// Directory is the remote directory packages are written to; relative paths start at the
	// login directory. It must exist. Default: "." (the login directory).
	Directory string `mapstructure:"directory"`
	// FileMode is the octal mode of written packages. Default: "0640".
	FileMode string `mapstructure:"file_mode"`
	// ConnectTimeout bounds connecting, the SSH handshake and the login. Default: 10s.
	ConnectTimeout time.Duration `mapstructure:"connect_timeout"`
	// IOTimeout is how long a delivery waits for the server to answer before it gives the
	// connection up as dead. Default: 60s.
	IOTimeout time.Duration `mapstructure:"io_timeout"`
}

func (o *SFTPOptions) setDefaults() {
	if o.Port == 0 {
		o.Port = 22
	}
	if o.Directory == "" {
		o.Directory = "."
	}
	if o.FileMode == "" {
		o.FileMode = "0640"
	}
	if o.ConnectTimeout == 0 {
		o.ConnectTimeout = 10 * time.Second
	}
	if o.IOTimeout == 0 {
		o.IOTimeout = 60 * time.Second
	}
}

func (o *SFTPOptions) validate() error {
	hostKeySources := 0
	for _, set := range []bool{o.KnownHostsFile != "", o.HostKeyFingerprint != "", o.InsecureIgnoreHostKey} {
		if set {
			hostKeySources++
		}
	}
	switch {
	case o.Host == "":
		return errors.New("options.host must name the SFTP server")
	case o.Port < 1 || o.Port > 65535:
		return fmt.Errorf("options.port %d: expected a TCP port (1-65535)", o.Port)
	case o.User == "":
		return errors.New("options.user must name the login user")
	case o.Password == "" && o.PrivateKeyFile == "":
		return errors.New("options.password or options.private_key_file is required to log in")
	case hostKeySources == 0:
		return errors.New("options.known_hosts_file or options.host_key_fingerprint is required: amtsbote does not send packages to a server it cannot identify (get the fingerprint with: ssh-keyscan HOST | ssh-keygen -lf -)")
	case hostKeySources > 1:
		return errors.New("set only one of options.known_hosts_file, options.host_key_fingerprint and options.insecure_ignore_host_key")
	case o.ConnectTimeout < 0:
		return fmt.Errorf("options.connect_timeout %s: expected a positive duration such as 10s", o.ConnectTimeout)
	case o.IOTimeout < 0:
		return fmt.Errorf("options.io_timeout %s: expected a positive duration such as 60s", o.IOTimeout)
	}
	return nil
}

// sftpAdapter uploads each package as the same xdomea zip filedrop writes. One SSH connection
// serves all deliveries (the SFTP client multiplexes concurrent requests); it is opened on the
// first delivery and again after it broke.
type sftpAdapter struct {
	addr     string // host:port
	user     string
	dir      string
	mode     fs.FileMode
	auth     []ssh.AuthMethod
	hostKeys hostKeyPolicy

	connectTimeout, ioTimeout time.Duration

	// mu guards the fields below; dialMu serialises dialing, so that concurrent deliveries
	// wait for one connection instead of each opening their own.
	mu       sync.Mutex
	dialMu   sync.Mutex
	inflight Inflight
	conn     *sftpConn
	dials    int   // connection attempts so far
	dialErr  error // outcome of the latest attempt
}

func newSFTP(options map[string]any) (Adapter, error) {
	var o SFTPOptions
	if err := DecodeOptions(options, &o); err != nil {
		return nil, fmt.Errorf("sftp: %w", err)
	}
	o.setDefaults()
	if err := o.validate(); err != nil {
		return nil, fmt.Errorf("sftp: %w", err)
	}
	mode, err := strconv.ParseUint(o.FileMode, 8, 32)
	if err != nil || mode > 0o777 {
		return nil, fmt.Errorf("sftp: options.file_mode %q: expected an octal mode such as 0640", o.FileMode)
	}
	s := &sftpAdapter{
		addr: net.JoinHostPort(o.Host, strconv.Itoa(o.Port)), user: o.User, dir: o.Directory,
		mode: fs.FileMode(mode), connectTimeout: o.ConnectTimeout, ioTimeout: o.IOTimeout,
	}
	if s.auth, err = authMethods(o); err != nil {
		return nil, fmt.Errorf("sftp: %w", err)
	}
	if s.hostKeys, err = newHostKeyPolicy(o); err != nil {
		return nil, fmt.Errorf("sftp: %w", err)
	}
	return s, nil
}

// authMethods reads the key now, so that a missing or unusable key is a configuration error
// instead of a dead letter for every package.
func authMethods(o SFTPOptions) ([]ssh.AuthMethod, error) {
	var methods []ssh.AuthMethod
	if o.PrivateKeyFile != "" {
		pem, err := os.ReadFile(o.PrivateKeyFile)
		if err != nil {
			return nil, fmt.Errorf("options.private_key_file: %w", err)
		}
		signer, err := ssh.ParsePrivateKey(pem)
		var missing *ssh.PassphraseMissingError
		if errors.As(err, &missing) {
			return nil, fmt.Errorf("options.private_key_file %s is protected by a passphrase, which amtsbote cannot enter: use a key without passphrase and protect it by file permissions", o.PrivateKeyFile)
		}
		if err != nil {
			return nil, fmt.Errorf("options.private_key_file %s: %w", o.PrivateKeyFile, err)
		}
		methods = append(methods, ssh.PublicKeys(signer))
	}
	if o.Password != "" {
		pw := o.Password
		methods = append(methods, ssh.Password(pw),
			// Servers that check passwords through PAM often only offer keyboard-interactive.
			// Only a lone hidden prompt gets the password; anything else (a one-time code) is
			// not something a daemon can answer.
			ssh.KeyboardInteractive(func(_, _ string, questions []string, echos []bool) ([]string, error) {
				if len(questions) == 0 {
					return nil, nil
				}
				if len(questions) != 1 || echos[0] {
					return nil, fmt.Errorf("server asks %q; only a password prompt can be answered", questions)
				}
				return []string{pw}, nil
			}))
	}
	return methods, nil
}

// Deliver uploads the zip to a temporary name in the remote directory and links it to its
// final name, which fails rather than overwrite. An existing file with the same bytes is the
// same delivery done before: success. A different file under that name is a permanent error.
func (s *sftpAdapter) Deliver(ctx context.Context, p *Package) (string, error) {
	done, err := s.inflight.Begin("sftp")
	if err != nil {
		return "", err
	}
	defer done()

	// A connection that sat idle may have died unnoticed (a restarted server, a NAT that
	// forgot it); that is no reason to make the package wait for the next retry, so a
	// reused connection gets one second chance on a fresh one. Deliver is idempotent.
	for attempt := 1; ; attempt++ {
		c, fresh, err := s.connect(ctx)
		if err != nil {
			return "", err
		}
		artefact, err := s.deliverOn(ctx, c, p)
		if err == nil || IsPermanent(err) {
			return artefact, err
		}
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		if c.broken(err) {
			s.drop(c)
			if !fresh && attempt == 1 {
				continue
			}
		}
		return "", Transient(err, 0)
	}
}

func (s *sftpAdapter) deliverOn(ctx context.Context, c *sftpConn, p *Package) (string, error) {
	c.tc.begin()
	defer c.tc.end()
	dir, err := c.sftp.RealPath(s.dir)
	if err != nil {
		return "", fmt.Errorf("sftp: remote directory %q on %s: %w (create it, or correct options.directory)", s.dir, s.addr, err)
	}
	base := SafeName(p.MessageID + "_" + p.MessageType)
	target := path.Join(dir, base+".zip")
	tmp := path.Join(dir, ".amtsbote-"+randomHex()+".tmp")
	if err := s.upload(ctx, c.sftp, tmp, base+p.MessageExt(), p); err != nil {
		if !c.broken(err) {
			_ = c.sftp.Remove(tmp)
		}
		return "", err
	}
	moved, err := placeNoClobber(c.sftp, tmp, target)
	if err != nil {
		if _, statErr := c.sftp.Stat(target); statErr != nil {
			_ = c.sftp.Remove(tmp)
			return "", fmt.Errorf("sftp: move %s to %s on %s: %w", tmp, target, s.addr, err)
		}
		same, cmpErr := remoteSameZip(c.sftp, tmp, target)
		_ = c.sftp.Remove(tmp)
		if cmpErr != nil {
			return "", fmt.Errorf("sftp: compare with the existing %s on %s: %w", target, s.addr, cmpErr)
		}
		if !same {
			return "", Permanent(fmt.Errorf("sftp: %s on %s already exists with different content; refusing to overwrite it (move it away on the server, then replay the message if it should still be delivered)", target, s.addr))
		}
	} else if !moved {
		_ = c.sftp.Remove(tmp)
	}
	return (&url.URL{Scheme: "sftp", User: url.User(s.user), Host: s.addr, Path: "/" + strings.TrimPrefix(target, "/")}).String(), nil
}

// upload writes the zip while it is being built, so a large package never has to fit in
// memory, with many writes in flight, so a distant server is not paid one round trip per 32 KiB.
func (s *sftpAdapter) upload(ctx context.Context, c *sftp.Client, tmp, xmlName string, p *Package) error {
	f, err := c.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL)
	if err != nil {
		// Said once here rather than checked before every upload: a missing directory is
		// often a share that is not mounted yet.
		if info, statErr := c.Stat(path.Dir(tmp)); statErr != nil || !info.IsDir() {
			return fmt.Errorf("sftp: remote directory %s on %s does not exist or is not a directory (create it, or correct options.directory): %w", path.Dir(tmp), s.addr, err)
		}
		return fmt.Errorf("sftp: create %s on %s: %w", tmp, s.addr, err)
	}
	defer f.Close()
	pr, pw := io.Pipe()
	built := make(chan struct{})
	go func() {
		defer close(built)
		pw.CloseWithError(WriteZip(ctxWriter{ctx, pw}, xmlName, p))
	}()
	_, err = f.ReadFromWithConcurrency(pr, 0)
	pr.CloseWithError(errors.New("upload aborted")) // unblocks writeZip if the upload stopped early
	<-built
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("sftp: write %s on %s: %w", tmp, s.addr, err)
	}
	if err := f.Chmod(s.mode); err != nil {
		return fmt.Errorf("sftp: chmod %s on %s: %w", tmp, s.addr, err)
	}
	if _, ok := c.HasExtension("fsync@openssh.com"); ok {
		if err := f.Sync(); err != nil {
			return fmt.Errorf("sftp: sync %s on %s: %w", tmp, s.addr, err)
		}
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("sftp: close %s on %s: %w", tmp, s.addr, err)
	}
	return nil
}

// placeNoClobber gives tmp its final name without ever replacing an existing file, so it
// deliberately avoids posix-rename@openssh.com, which replaces by definition. A hard link
// (hardlink@openssh.com) fails atomically if the name is taken. Where the server cannot link
// (no extension, or a file system without hard links), the plain SFTP rename must refuse to
// overwrite by the protocol; some servers overwrite anyway, hence the check before it.
func placeNoClobber(c *sftp.Client, tmp, target string) (moved bool, err error) {
	if _, ok := c.HasExtension("hardlink@openssh.com"); ok {
		if err = c.Link(tmp, target); err == nil {
			return false, nil
		}
		if _, statErr := c.Stat(target); !errors.Is(statErr, fs.ErrNotExist) {
			return false, err
		}
	}
	if _, err := c.Stat(target); err == nil {
		return false, fs.ErrExist
	}
	if err := c.Rename(tmp, target); err != nil {
		return false, err
	}
	return true, nil
}

// remoteSameZip tells whether the zip just uploaded as ours holds the same files as the one
// already on the server (see samefile.go); only the zips' central directories are read.
func remoteSameZip(c *sftp.Client, ours, existing string) (bool, error) {
	return sameFiles(c.Open, ours, existing, PackageFile{Zip: true})
}

// Close refuses new deliveries, waits for those in flight, then closes the connection.
func (s *sftpAdapter) Close() error {
	s.inflight.Close()
	s.mu.Lock()
	c := s.conn
	s.conn = nil
	s.mu.Unlock()
	if c != nil {
		c.close()
	}
	return nil
}

// connect returns the shared connection, dialing it if there is none; fresh tells whether
// it was dialed for this delivery.
func (s *sftpAdapter) connect(ctx context.Context) (c *sftpConn, fresh bool, err error) {
	s.mu.Lock()
	c, seen := s.conn, s.dials
	s.mu.Unlock()
	if c != nil && c.alive() {
		return c, false, nil
	}
	s.dialMu.Lock()
	defer s.dialMu.Unlock()
	s.mu.Lock()
	c, dials, dialErr := s.conn, s.dials, s.dialErr
	s.mu.Unlock()
	if c != nil && c.alive() {
		return c, true, nil
	}
	// Deliveries that queued behind a failed attempt share its error rather than each waiting
	// out another connect timeout against a server that is down; not when the attempt was
	// merely cancelled by its own delivery's context.
	if dials != seen && dialErr != nil && !errors.Is(dialErr, context.Canceled) && !errors.Is(dialErr, context.DeadlineExceeded) {
		return nil, false, dialErr
	}
	c, err = s.dial(ctx)
	s.mu.Lock()
	s.dials++
	s.dialErr = err
	if err == nil {
		s.conn = c
	}
	s.mu.Unlock()
	if err != nil {
		return nil, false, err
	}
	s.removeStaleTemps(c)
	return c, true, nil
}

// drop forgets a broken connection so the next delivery dials a new one.
func (s *sftpAdapter) drop(c *sftpConn) {
	s.mu.Lock()
	if s.conn == c {
		s.conn = nil
	}
	s.mu.Unlock()
	c.close()
}

// removeStaleTemps deletes temporary files that an interrupted upload left behind. The server's
// clock decides their age, so staleTempAge also absorbs clock skew.
func (s *sftpAdapter) removeStaleTemps(c *sftpConn) {
	c.tc.begin()
	defer c.tc.end()
	entries, err := c.sftp.ReadDir(s.dir)
	if err != nil {
		return
	}
	before := time.Now().Add(-staleTempAge)
	for _, e := range entries {
		if ok, _ := path.Match(tempPattern, e.Name()); ok && e.Mode().IsRegular() && e.ModTime().Before(before) {
			_ = c.sftp.Remove(path.Join(s.dir, e.Name()))
		}
	}
}

// dial connects and logs in. A pinned fingerprint may take more than one handshake: servers
// usually have several host keys, the client (not the user who copied one fingerprint) picks
// which one the server shows, so each key type that does not match is excluded in turn until
// the pinned key shows up or the server has no other key.
func (s *sftpAdapter) dial(ctx context.Context) (*sftpConn, error) {
	var algos, offered []string
	for {
		c, err := s.dialOnce(ctx, algos)
		var mismatch *pinMismatchError
		switch {
		case errors.As(err, &mismatch):
			offered = append(offered, mismatch.key.Type()+" "+ssh.FingerprintSHA256(mismatch.key))
			if algos == nil {
				algos = ssh.SupportedAlgorithms().HostKeys
			}
			algos = slices.DeleteFunc(slices.Clone(algos), func(a string) bool {
				return slices.Contains(hostKeyAlgorithms(mismatch.key.Type()), a)
			})
			if len(algos) > 0 {
				continue
			}
		case len(offered) > 0 && err != nil && strings.Contains(err.Error(), "no common algorithm for host key"):
		default:
			return c, err
		}
		return nil, Permanent(fmt.Errorf("sftp: host key of %s does not match options.host_key_fingerprint %s (the server offered %s); refusing to connect. If the server's key was changed on purpose, check the new fingerprint with its operator (ssh-keyscan -p %s %s | ssh-keygen -lf -) and update host_key_fingerprint",
			s.addr, s.hostKeys.pin, strings.Join(offered, ", "), s.port(), s.host()))
	}
}

func (s *sftpAdapter) host() string { h, _, _ := net.SplitHostPort(s.addr); return h }
func (s *sftpAdapter) port() string { _, p, _ := net.SplitHostPort(s.addr); return p }

func (s *sftpAdapter) dialOnce(ctx context.Context, algos []string) (*sftpConn, error) {
	d := net.Dialer{Timeout: s.connectTimeout}
	raw, err := d.DialContext(ctx, "tcp", s.addr)
	if err != nil {
		return nil, Transient(fmt.Errorf("sftp: connect to %s: %w", s.addr, err), 0)
	}
	raw.SetDeadline(time.Now().Add(s.connectTimeout))
	stop := context.AfterFunc(ctx, func() { raw.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if algos == nil {
		algos = s.hostKeys.knownAlgorithms(s.addr, raw.RemoteAddr())
	}
	var (
		hostMu  sync.Mutex
		hostErr error
	)
	cfg := &ssh.ClientConfig{
		User: s.user, Auth: s.auth, HostKeyAlgorithms: algos,
		HostKeyCallback: func(host string, remote net.Addr, key ssh.PublicKey) error {
			err := s.hostKeys.check(host, remote, key)
			hostMu.Lock()
			hostErr = err
			hostMu.Unlock()
			return err
		},
	}
	tc := &timeoutConn{Conn: raw, timeout: s.ioTimeout}
	sc, chans, reqs, err := ssh.NewClientConn(tc, s.addr, cfg)
	if err != nil {
		hostMu.Lock()
		defer hostMu.Unlock()
		return nil, s.handshakeError(ctx, err, hostErr)
	}
	client := ssh.NewClient(sc, chans, reqs)
	sc2, err := sftp.NewClient(client)
	if err != nil {
		client.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, Transient(fmt.Errorf("sftp: start the SFTP subsystem on %s as %s: %w", s.addr, s.user, err), 0)
	}
	if !stop() {
		sc2.Close()
		client.Close()
		return nil, ctx.Err()
	}
	raw.SetDeadline(time.Time{})
	c := &sftpConn{ssh: client, sftp: sc2, tc: tc, done: make(chan struct{})}
	go func() {
		client.Wait()
		close(c.done)
	}()
	return c, nil
}

func (s *sftpAdapter) handshakeError(ctx context.Context, err, hostErr error) error {
	msg := err.Error()
	switch {
	case hostErr != nil:
		var mismatch *pinMismatchError
		if errors.As(hostErr, &mismatch) {
			return hostErr // dial decides, after trying the server's other keys
		}
		return Permanent(hostErr)
	case strings.Contains(msg, "unable to authenticate") || strings.Contains(msg, "Too many authentication failures"):
		return Permanent(fmt.Errorf("sftp: %s refused the login as %s: %w; check options.user and options.private_key_file or options.password, and that the key is in the user's authorized_keys on the server", s.addr, s.user, err))
	case ctx.Err() != nil:
		return ctx.Err()
	}
	return Transient(fmt.Errorf("sftp: SSH handshake with %s: %w", s.addr, err), 0)
}

// sftpConn is one SSH connection with its SFTP session.
type sftpConn struct {
	ssh  *ssh.Client
	sftp *sftp.Client
	tc   *timeoutConn
	done chan struct{} // closed when the SSH connection has ended
}

func (c *sftpConn) alive() bool {
	select {
	case <-c.done:
		return false
	default:
		return true
	}
}

// broken tells whether err means the connection is unusable, as opposed to the server
// refusing one operation.
func (c *sftpConn) broken(err error) bool {
	var netErr net.Error
	return !c.alive() || errors.Is(err, sftp.ErrSSHFxConnectionLost) || errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) || errors.As(err, &netErr)
}

func (c *sftpConn) close() {
	c.sftp.Close()
	c.ssh.Close()
}

// timeoutConn makes a server that stops answering an error instead of a hang: while a delivery
// runs, data must arrive within timeout. An idle connection has no deadline, so it is not torn
// down between deliveries.
type timeoutConn struct {
	net.Conn
	timeout time.Duration
	mu      sync.Mutex
	busy    int
}

func (c *timeoutConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 {
		c.mu.Lock()
		if c.busy > 0 {
			c.Conn.SetReadDeadline(time.Now().Add(c.timeout))
		}
		c.mu.Unlock()
	}
	return n, err
}

func (c *timeoutConn) Write(b []byte) (int, error) {
	c.Conn.SetWriteDeadline(time.Now().Add(c.timeout))
	return c.Conn.Write(b)
}

func (c *timeoutConn) begin() {
	c.mu.Lock()
	if c.busy == 0 {
		c.Conn.SetReadDeadline(time.Now().Add(c.timeout))
	}
	c.busy++
	c.mu.Unlock()
}

func (c *timeoutConn) end() {
	c.mu.Lock()
	c.busy--
	if c.busy == 0 {
		c.Conn.SetReadDeadline(time.Time{})
	}
	c.mu.Unlock()
}

// hostKeyPolicy decides whether the server is the one configured.
type hostKeyPolicy struct {
	known     ssh.HostKeyCallback
	knownFile string
	pin       string // "SHA256:" and unpadded base64, as ssh.FingerprintSHA256 prints it
	insecure  bool
}

func newHostKeyPolicy(o SFTPOptions) (hostKeyPolicy, error) {
	p := hostKeyPolicy{insecure: o.InsecureIgnoreHostKey, knownFile: o.KnownHostsFile}
	if o.KnownHostsFile != "" {
		cb, err := knownhosts.New(o.KnownHostsFile)
		if err != nil {
			return p, fmt.Errorf("options.known_hosts_file: %w", err)
		}
		p.known = cb
	}
	if o.HostKeyFingerprint != "" {
		fp := strings.TrimRight(strings.TrimSpace(o.HostKeyFingerprint), "=")
		raw, err := base64.RawStdEncoding.DecodeString(strings.TrimPrefix(fp, "SHA256:"))
		if !strings.HasPrefix(fp, "SHA256:") || err != nil || len(raw) != sha256.Size {
			return p, fmt.Errorf("options.host_key_fingerprint %q: expected a SHA256 fingerprint such as SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s, as printed by: ssh-keyscan HOST | ssh-keygen -lf -", o.HostKeyFingerprint)
		}
		p.pin = fp
	}
	return p, nil
}

// pinMismatchError is a host key that is not the pinned one.
type pinMismatchError struct{ key ssh.PublicKey }

func (e *pinMismatchError) Error() string {
	return "host key " + ssh.FingerprintSHA256(e.key) + " is not the pinned one"
}

func (p hostKeyPolicy) check(addr string, remote net.Addr, key ssh.PublicKey) error {
	switch {
	case p.insecure:
		return nil
	case p.pin != "":
		if ssh.FingerprintSHA256(key) != p.pin {
			return &pinMismatchError{key: key}
		}
		return nil
	}
	err := p.known(addr, remote, key)
	var keyErr *knownhosts.KeyError
	var revoked *knownhosts.RevokedError
	shown := key.Type() + " " + ssh.FingerprintSHA256(key)
	host, port, _ := net.SplitHostPort(addr)
	switch {
	case errors.As(err, &keyErr) && len(keyErr.Want) == 0:
		return fmt.Errorf("sftp: host key of %s (%s) is not in options.known_hosts_file %s; refusing to connect. Check the fingerprint with the server's operator, then add the key (ssh-keyscan -p %s %s >> %s) or set host_key_fingerprint instead",
			addr, shown, p.knownFile, port, host, p.knownFile)
	case errors.As(err, &keyErr):
		return fmt.Errorf("sftp: host key of %s (%s) does not match %s; refusing to connect: the server's key has changed, or someone is intercepting the connection. If the change is expected, check the new fingerprint with the server's operator and replace the entry",
			addr, shown, keyErr.Want[0].String())
	case errors.As(err, &revoked):
		return fmt.Errorf("sftp: host key of %s (%s) is marked @revoked in %s:%d; refusing to connect", addr, shown, revoked.Revoked.Filename, revoked.Revoked.Line)
	case err != nil:
		return fmt.Errorf("sftp: host key of %s (%s): %w; refusing to connect", addr, shown, err)
	}
	return nil
}

// knownAlgorithms restricts the handshake to the key types known_hosts lists for the server.
// Left to itself the client asks for an ECDSA key first, and a server whose ED25519 key alone
// is listed would look like an impostor.
func (p hostKeyPolicy) knownAlgorithms(addr string, remote net.Addr) []string {
	if p.known == nil {
		return nil
	}
	var keyErr *knownhosts.KeyError
	if !errors.As(p.known(addr, remote, probeKey()), &keyErr) {
		return nil
	}
	var algos []string
	for _, k := range keyErr.Want {
		for _, a := range hostKeyAlgorithms(k.Key.Type()) {
			if !slices.Contains(algos, a) {
				algos = append(algos, a)
			}
		}
	}
	return algos
}

// probeKey is a key no known_hosts file lists; checking it reveals which keys are listed.
var probeKey = sync.OnceValue(func() ssh.PublicKey {
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	key, err := ssh.NewPublicKey(pub)
	if err != nil {
		panic(err)
	}
	return key
})

// hostKeyAlgorithms lists the signature algorithms a host key of the given type can be
// negotiated as.
func hostKeyAlgorithms(keyType string) []string {
	switch keyType {
	case ssh.KeyAlgoRSA:
		return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
	case ssh.CertAlgoRSAv01:
		return []string{ssh.CertAlgoRSASHA512v01, ssh.CertAlgoRSASHA256v01, ssh.CertAlgoRSAv01}
	}
	return []string{keyType}
}

func randomHex() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}
