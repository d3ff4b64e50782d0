package adapters_test

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/amtsbote/amtsbote/adapters"
	"github.com/amtsbote/amtsbote/adapters/adaptertest"
)

// The SFTP tests run against a real OpenSSH server on a loopback port. It serves this machine's
// file system, so the tests read what arrived directly from the remote directory.

func TestSFTPConformance(t *testing.T) {
	d := startSSHD(t, nil)
	var dir string
	adaptertest.Run(t, adaptertest.Harness{
		Factory: func(o map[string]any) (adapters.Adapter, error) { return adapters.New("sftp", o) },
		Options: func(t testing.TB) map[string]any {
			dir = t.TempDir()
			return d.options(dir, nil)
		},
		InvalidOptions: map[string]map[string]any{
			"no host":                     {"host": nil},
			"a port out of range":         {"port": 70000},
			"no user":                     {"user": nil},
			"no way to log in":            {"private_key_file": nil},
			"no way to know the server":   {"known_hosts_file": nil},
			"a malformed fingerprint":     {"known_hosts_file": nil, "host_key_fingerprint": "MD5:00"},
			"a file mode that is no mode": {"file_mode": "rw-r-----"},
			"a negative timeout":          {"io_timeout": "-1s"},
		},
		Received: func(t testing.TB, messageID string) [][]byte { return adaptertest.ZippedXML(dir, messageID) },
		Attachment: func(t testing.TB, messageID, name string) ([]byte, bool) {
			return adaptertest.ZippedFile(dir, messageID, name)
		},
		Files: func(t testing.TB) map[string][]byte { return adaptertest.DirFiles(t, dir) },
		// The server going away is what a transfer partner's outage looks like.
		BreakTransiently: func(t testing.TB) func() {
			d.stop(t)
			return func() { d.start(t) }
		},
		BreakPermanently: func(t testing.TB, p *adapters.Package) func() {
			name := filepath.Join(dir, p.MessageID+"_"+p.MessageType+".zip")
			if err := os.WriteFile(name, []byte("another file"), 0o600); err != nil {
				t.Fatal(err)
			}
			return func() { os.Remove(name) }
		},
	})
}

func TestSFTPDeliversXdomeaZipAndNeverOverwrites(t *testing.T) {
	d := startSSHD(t, nil)
	dir := t.TempDir()
	a := newSFTP(t, d.options(dir, nil))
	p := adaptertest.Package()
	artefact, err := a.Deliver(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	name := p.MessageID + "_Abgabe.Abgabe.0401.zip"
	if want := fmt.Sprintf("sftp://%s@127.0.0.1:%d%s/%s", d.user, d.port, dir, name); artefact != want {
		t.Errorf("artefact %s, want %s", artefact, want)
	}
	zr, err := zip.OpenReader(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range zr.File {
		names = append(names, f.Name)
	}
	zr.Close()
	want := []string{p.MessageID + "_Abgabe.Abgabe.0401.xml", p.Files[0].Name, p.Files[1].Name}
	if strings.Join(names, ",") != strings.Join(want, ",") {
		t.Errorf("zip entries %v, want %v", names, want)
	}
	if info, err := os.Stat(filepath.Join(dir, name)); err != nil || info.Mode().Perm() != 0o640 {
		t.Errorf("mode %v (%v), want 0640", info.Mode().Perm(), err)
	}
	before, _ := os.ReadFile(filepath.Join(dir, name))

	different := *p
	different.XML = []byte("<different/>")
	_, err = a.Deliver(context.Background(), &different)
	if !adapters.IsPermanent(err) || !strings.Contains(err.Error(), "refusing to overwrite") || !strings.Contains(err.Error(), name) {
		t.Fatalf("a different package under the same name must fail permanently, naming the file; got %v", err)
	}
	if after, _ := os.ReadFile(filepath.Join(dir, name)); !bytes.Equal(before, after) {
		t.Fatal("the existing file was changed")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("remote directory holds %v, want only the zip (no temporary files)", entries)
	}
}

func TestSFTPHostKeyVerification(t *testing.T) {
	d := startSSHD(t, nil)
	ed, ec := d.hostKeys[ssh.KeyAlgoED25519], d.hostKeys[ssh.KeyAlgoECDSA256]
	wrongKey := newPublicKey(t)
	wrongPin := ssh.FingerprintSHA256(wrongKey)
	tmp := t.TempDir()
	tests := []struct {
		name    string
		options map[string]any
		want    []string // substrings of a permanent error; none: delivery succeeds
	}{
		{"pinned ed25519 fingerprint", map[string]any{"host_key_fingerprint": ssh.FingerprintSHA256(ed)}, nil},
		{"pinned ecdsa fingerprint", map[string]any{"host_key_fingerprint": ssh.FingerprintSHA256(ec)}, nil},
		{"known_hosts listing the server", map[string]any{"known_hosts_file": d.knownHosts}, nil},
		// The client prefers ECDSA; known_hosts decides which key the server must show.
		{"known_hosts listing only the ed25519 key", map[string]any{
			"known_hosts_file": writeKnownHosts(t, tmp, d.addr, ed)}, nil},
		{"insecure_ignore_host_key", map[string]any{"insecure_ignore_host_key": true}, nil},
		{"wrong pinned fingerprint", map[string]any{"host_key_fingerprint": wrongPin},
			[]string{wrongPin, ssh.FingerprintSHA256(ed), ssh.FingerprintSHA256(ec), "refusing to connect"}},
		{"known_hosts without the server", map[string]any{
			"known_hosts_file": writeKnownHosts(t, tmp, "elsewhere.example:22", ed)},
			[]string{"not in options.known_hosts_file", d.addr, "refusing to connect"}},
		{"known_hosts with another key for the server", map[string]any{
			"known_hosts_file": writeKnownHosts(t, tmp, d.addr, wrongKey)},
			[]string{"does not match", d.addr, "refusing to connect"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			options := d.options(dir, map[string]any{"known_hosts_file": nil})
			for k, v := range tt.options {
				options[k] = v
			}
			_, err := newSFTP(t, options).Deliver(context.Background(), adaptertest.Package())
			if tt.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !adapters.IsPermanent(err) {
				t.Fatalf("want a permanent error, got %v", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Errorf("an unverified server received %v", entries)
			}
		})
	}
}

// The documentation tells operators to take the server's keys from ssh-keyscan; what it prints
// must work as known_hosts_file and as host_key_fingerprint.
func TestSFTPHostKeyFromSSHKeyscan(t *testing.T) {
	d := startSSHD(t, nil)
	keyscan, err1 := exec.LookPath("ssh-keyscan")
	keygen, err2 := exec.LookPath("ssh-keygen")
	if err1 != nil || err2 != nil {
		t.Fatal("ssh-keyscan and ssh-keygen are needed (Debian package openssh-client)")
	}
	scanned, err := exec.Command(keyscan, "-p", strconv.Itoa(d.port), "127.0.0.1").Output()
	if err != nil {
		t.Fatalf("ssh-keyscan: %v", err)
	}
	knownHosts := filepath.Join(t.TempDir(), "known_hosts")
	os.WriteFile(knownHosts, scanned, 0o600)
	fingerprints := exec.Command(keygen, "-lf", "-")
	fingerprints.Stdin = bytes.NewReader(scanned)
	out, err := fingerprints.Output()
	if err != nil {
		t.Fatalf("ssh-keygen -lf -: %v", err)
	}
	cases := []map[string]any{{"known_hosts_file": knownHosts}}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		// 256 SHA256:… [127.0.0.1]:PORT (ED25519)
		fields := strings.Fields(line)
		if len(fields) < 2 {
			t.Fatalf("ssh-keygen printed %q", line)
		}
		cases = append(cases, map[string]any{"known_hosts_file": nil, "host_key_fingerprint": fields[1]})
	}
	if len(cases) != 3 {
		t.Fatalf("ssh-keygen printed %q, want the server's two keys", out)
	}
	for _, c := range cases {
		if _, err := newSFTP(t, d.options(t.TempDir(), c)).Deliver(context.Background(), adaptertest.Package()); err != nil {
			t.Errorf("%v: %v", c, err)
		}
	}
}

func TestSFTPWrongUserKeyIsPermanent(t *testing.T) {
	d := startSSHD(t, nil)
	other := filepath.Join(t.TempDir(), "id_ed25519")
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	writePrivateKey(t, other, priv)
	_, err := newSFTP(t, d.options(t.TempDir(), map[string]any{"private_key_file": other})).
		Deliver(context.Background(), adaptertest.Package())
	if !adapters.IsPermanent(err) || !strings.Contains(err.Error(), "refused the login as "+d.user) {
		t.Fatalf("want a permanent error about the login, got %v", err)
	}
}

// Password login needs a user with a password, which the CI script creates and names in
// AMTSBOTE_TEST_SFTP_PASSWORD_USER and AMTSBOTE_TEST_SFTP_PASSWORD.
func TestSFTPPasswordLogin(t *testing.T) {
	name, password := os.Getenv("AMTSBOTE_TEST_SFTP_PASSWORD_USER"), os.Getenv("AMTSBOTE_TEST_SFTP_PASSWORD")
	if name == "" || password == "" {
		sshdBinary(t)
		t.Skip("password login needs a user with a password: set AMTSBOTE_TEST_SFTP_PASSWORD_USER and AMTSBOTE_TEST_SFTP_PASSWORD")
	}
	d := startSSHD(t, map[string]string{"PasswordAuthentication": "yes", "PermitRootLogin": "yes"})
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	// The user must be able to reach and write the directory; t.TempDir's parents are private.
	dir, err := os.MkdirTemp("", "amtsbote-sftp-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(dir, uid, gid); err != nil {
		t.Fatal(err)
	}
	login := map[string]any{"user": name, "password": password, "private_key_file": nil}
	if _, err := newSFTP(t, d.options(dir, login)).Deliver(context.Background(), adaptertest.Package()); err != nil {
		t.Fatalf("password login: %v", err)
	}
	login["password"] = password + "-wrong"
	_, err = newSFTP(t, d.options(dir, login)).Deliver(context.Background(), adaptertest.Package())
	if !adapters.IsPermanent(err) || !strings.Contains(err.Error(), "refused the login") {
		t.Fatalf("wrong password: want a permanent error about the login, got %v", err)
	}
}

func TestSFTPReusesOneConnection(t *testing.T) {
	d := startSSHD(t, nil)
	proxy := startProxy(t, d.addr)
	dir := t.TempDir()
	a := newSFTP(t, d.options(dir, proxy.options(t, d)))
	for i := 0; i < 3; i++ {
		if _, err := a.Deliver(context.Background(), adaptertest.Package()); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	errs := make([]error, 5)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = a.Deliver(context.Background(), adaptertest.Package())
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := proxy.connections(); n != 1 {
		t.Fatalf("8 deliveries opened %d SSH connections, want 1", n)
	}
	if zips, _ := filepath.Glob(filepath.Join(dir, "*.zip")); len(zips) != 8 {
		t.Fatalf("%d packages arrived, want 8", len(zips))
	}
}

func TestSFTPReconnectsAfterConnectionLoss(t *testing.T) {
	d := startSSHD(t, nil)
	proxy := startProxy(t, d.addr)
	a := newSFTP(t, d.options(t.TempDir(), proxy.options(t, d)))
	if _, err := a.Deliver(context.Background(), adaptertest.Package()); err != nil {
		t.Fatal(err)
	}
	proxy.dropAll()
	if _, err := a.Deliver(context.Background(), adaptertest.Package()); err != nil {
		t.Fatalf("after the connection was lost: %v", err)
	}
	if n := proxy.connections(); n != 2 {
		t.Fatalf("%d SSH connections, want 2", n)
	}
}

// A server that stops answering must not hold a delivery forever.
func TestSFTPStalledServerTimesOut(t *testing.T) {
	d := startSSHD(t, nil)
	proxy := startProxy(t, d.addr)
	options := proxy.options(t, d)
	options["io_timeout"] = "300ms"
	options["connect_timeout"] = "500ms"
	a := newSFTP(t, d.options(t.TempDir(), options))
	// With timeouts this short a loaded machine (the race detector, parallel test binaries) can
	// miss a handshake even before the stall: retry transient failures as the pipeline would.
	if err := deliverWithin(a, 15*time.Second); err != nil {
		t.Fatalf("before the stall: %v", err)
	}
	proxy.pause()
	start := time.Now()
	_, err := a.Deliver(context.Background(), adaptertest.Package())
	if err == nil || adapters.IsPermanent(err) {
		t.Fatalf("stalled server: want a transient error, got %v", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("the delivery gave up after %v, want about io_timeout + connect_timeout", took)
	}
	proxy.resume()
	if err := deliverWithin(a, 15*time.Second); err != nil {
		t.Fatalf("after the server answers again: %v", err)
	}
}

// deliverWithin delivers a package, retrying transient failures until it succeeds or d has
// passed, as the pipeline retries them; the last error if it never succeeds.
func deliverWithin(a adapters.Adapter, d time.Duration) error {
	var err error
	for deadline := time.Now().Add(d); time.Now().Before(deadline); {
		if _, err = a.Deliver(context.Background(), adaptertest.Package()); err == nil || adapters.IsPermanent(err) {
			return err
		}
	}
	return err
}

func TestSFTPMissingDirectoryIsTransient(t *testing.T) {
	d := startSSHD(t, nil)
	missing := filepath.Join(t.TempDir(), "not-yet-mounted")
	_, err := newSFTP(t, d.options(missing, nil)).Deliver(context.Background(), adaptertest.Package())
	if err == nil || adapters.IsPermanent(err) || !strings.Contains(err.Error(), missing) || !strings.Contains(err.Error(), "options.directory") {
		t.Fatalf("want a transient error naming the directory, got %v", err)
	}
}

// Temporary files an interrupted upload left behind are removed when the adapter connects;
// fresh ones (possibly another instance's upload in progress) stay.
func TestSFTPRemovesStaleTempFiles(t *testing.T) {
	d := startSSHD(t, nil)
	dir := t.TempDir()
	stale, fresh := filepath.Join(dir, ".amtsbote-1.tmp"), filepath.Join(dir, ".amtsbote-2.tmp")
	for _, p := range []string{stale, fresh} {
		os.WriteFile(p, []byte("x"), 0o600)
	}
	old := time.Now().Add(-time.Hour)
	os.Chtimes(stale, old, old)
	if _, err := newSFTP(t, d.options(dir, nil)).Deliver(context.Background(), adaptertest.Package()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Error("stale temporary file still there")
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Error("fresh temporary file was removed")
	}
}

// These need no server: nothing listens, or something listens and never speaks.
func TestSFTPUnreachableServerIsTransient(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedPort := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan net.Conn, 10)
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()
	defer func() {
		silent.Close()
		for c := range accepted {
			c.Close()
		}
	}()
	for name, port := range map[string]int{"connection refused": closedPort, "server never answers": silent.Addr().(*net.TCPAddr).Port} {
		t.Run(name, func(t *testing.T) {
			a := newSFTP(t, map[string]any{"host": "127.0.0.1", "port": port, "user": "u", "password": "p",
				"insecure_ignore_host_key": true, "connect_timeout": "300ms"})
			start := time.Now()
			_, err := a.Deliver(context.Background(), adaptertest.Package())
			if err == nil || adapters.IsPermanent(err) || !strings.Contains(err.Error(), fmt.Sprintf("127.0.0.1:%d", port)) {
				t.Fatalf("want a transient error naming the server, got %v", err)
			}
			if took := time.Since(start); took > 5*time.Second {
				t.Fatalf("gave up after %v, want about connect_timeout", took)
			}
		})
	}
}

func TestSFTPOptions(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "id_ed25519")
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	writePrivateKey(t, key, priv)
	fp := ssh.FingerprintSHA256(newPublicKey(t))
	valid := func(change map[string]any) map[string]any {
		o := map[string]any{"host": "sftp.example", "user": "amtsbote", "private_key_file": key, "host_key_fingerprint": fp}
		return adaptertest.With(o, change)
	}
	tests := []struct {
		name    string
		options map[string]any
		want    string
	}{
		{"missing host", valid(map[string]any{"host": nil}), "options.host"},
		{"missing user", valid(map[string]any{"user": nil}), "options.user"},
		{"neither password nor key", valid(map[string]any{"private_key_file": nil}), "options.password or options.private_key_file"},
		{"unknown key", valid(map[string]any{"hostname": "x"}), "hostname"},
		{"no host key verification", valid(map[string]any{"host_key_fingerprint": nil}), "options.known_hosts_file or options.host_key_fingerprint"},
		{"two host key sources", valid(map[string]any{"insecure_ignore_host_key": true}), "only one of"},
		{"MD5 fingerprint", valid(map[string]any{"host_key_fingerprint": "MD5:16:27:ac:a5:76:28:2d:36:63:1b:56:4d:eb:df:a6:48"}), "options.host_key_fingerprint"},
		{"missing key file", valid(map[string]any{"private_key_file": filepath.Join(dir, "nope")}), "options.private_key_file"},
		{"not a key", valid(map[string]any{"private_key_file": filepath.Join(dir)}), "options.private_key_file"},
		{"missing known_hosts", valid(map[string]any{"host_key_fingerprint": nil, "known_hosts_file": filepath.Join(dir, "nope")}), "options.known_hosts_file"},
		{"bad port", valid(map[string]any{"port": 70000}), "options.port"},
		{"bad mode", valid(map[string]any{"file_mode": "rw-r"}), "options.file_mode"},
		{"negative timeout", valid(map[string]any{"io_timeout": "-1s"}), "options.io_timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := adapters.New("sftp", tt.options)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error naming %s", err, tt.want)
			}
		})
	}
	a, err := adapters.New("sftp", valid(map[string]any{"port": "2222", "connect_timeout": "3s"}))
	if err != nil {
		t.Fatalf("valid options: %v", err)
	}
	a.Close()
}

func newSFTP(t *testing.T, options map[string]any) adapters.Adapter {
	t.Helper()
	a, err := adapters.New("sftp", options)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

// sshd is an OpenSSH server on a loopback port with its own keys and configuration.
type sshd struct {
	bin, config string
	port        int
	addr        string // 127.0.0.1:port
	user        string // the current user, who logs in with userKey
	userKey     string
	knownHosts  string // lists both host keys
	hostKeys    map[string]ssh.PublicKey
	log         *lockedBuffer

	cmd    *exec.Cmd
	exited chan struct{}
}

// sshdBinary returns the sshd to test against, or skips the test when none is configured.
func sshdBinary(t *testing.T) string {
	bin := os.Getenv("AMTSBOTE_TEST_SSHD")
	if bin == "" {
		t.Skip("SFTP tests need a real OpenSSH server: set AMTSBOTE_TEST_SSHD=/usr/sbin/sshd (Debian package openssh-server)")
	}
	// sshd re-executes itself for each connection and insists on an absolute path.
	abs, err := exec.LookPath(bin)
	if err == nil {
		abs, err = filepath.Abs(abs)
	}
	if err != nil {
		t.Fatalf("AMTSBOTE_TEST_SSHD=%s: %v", bin, err)
	}
	return abs
}

// startSSHD starts a server with an ECDSA and an ED25519 host key, as most servers have.
// settings override the defaults of the generated sshd_config.
func startSSHD(t *testing.T, settings map[string]string) *sshd {
	d := &sshd{bin: sshdBinary(t), log: &lockedBuffer{}, hostKeys: map[string]ssh.PublicKey{}}
	cur, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	d.user = cur.Username
	// sshd refuses to start without its privilege separation directory.
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		t.Fatalf("sshd needs the directory /run/sshd: %v", err)
	}
	dir := t.TempDir()
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for name, k := range map[string]crypto.Signer{"host_ed25519": edKey, "host_ecdsa": ecKey} {
		pub := writePrivateKey(t, filepath.Join(dir, name), k)
		d.hostKeys[pub.Type()] = pub
	}
	_, userKey, _ := ed25519.GenerateKey(rand.Reader)
	d.userKey = filepath.Join(dir, "id_ed25519")
	userPub := writePrivateKey(t, d.userKey, userKey)
	os.WriteFile(filepath.Join(dir, "authorized_keys"), ssh.MarshalAuthorizedKey(userPub), 0o600)

	config := []string{
		"ListenAddress 127.0.0.1",
		"HostKey " + filepath.Join(dir, "host_ecdsa"),
		"HostKey " + filepath.Join(dir, "host_ed25519"),
		"PidFile " + filepath.Join(dir, "sshd.pid"),
		"AuthorizedKeysFile " + filepath.Join(dir, "authorized_keys"),
		"Subsystem sftp internal-sftp",
		"LogLevel VERBOSE",
	}
	defaults := map[string]string{
		"UsePAM": "no", "StrictModes": "no", "PermitRootLogin": "prohibit-password",
		"PubkeyAuthentication": "yes", "PasswordAuthentication": "no", "KbdInteractiveAuthentication": "no",
	}
	for k, v := range settings {
		defaults[k] = v
	}
	for k, v := range defaults {
		config = append(config, k+" "+v)
	}
	d.config = filepath.Join(dir, "sshd_config")
	t.Cleanup(func() {
		d.stop(t)
		if t.Failed() {
			t.Logf("sshd log:\n%s", d.log)
		}
	})
	// The free port may be taken between finding and binding it; another port then.
	for attempt := 1; ; attempt++ {
		d.port = freePort(t)
		d.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(d.port))
		os.WriteFile(d.config, []byte(strings.Join(append(config, "Port "+strconv.Itoa(d.port)), "\n")+"\n"), 0o600)
		err := d.tryStart()
		if err == nil {
			break
		}
		if attempt == 3 {
			t.Fatalf("AMTSBOTE_TEST_SSHD is set but %s does not start: %v\nsshd log:\n%s", d.bin, err, d.log)
		}
	}
	d.knownHosts = writeKnownHosts(t, dir, d.addr, d.hostKeys[ssh.KeyAlgoED25519], d.hostKeys[ssh.KeyAlgoECDSA256])
	return d
}

func (d *sshd) start(t testing.TB) {
	if err := d.tryStart(); err != nil {
		t.Fatalf("restart sshd: %v\nsshd log:\n%s", err, d.log)
	}
}

// tryStart starts sshd and waits until it greets on its port.
func (d *sshd) tryStart() error {
	cmd := exec.Command(d.bin, "-D", "-e", "-f", d.config)
	cmd.Stdout, cmd.Stderr = d.log, d.log
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if c, err := net.DialTimeout("tcp", d.addr, time.Second); err == nil {
			c.SetDeadline(time.Now().Add(2 * time.Second))
			banner := make([]byte, 8)
			_, err := io.ReadFull(c, banner)
			c.Close()
			if err == nil && string(banner) == "SSH-2.0-" {
				d.cmd, d.exited = cmd, exited
				return nil
			}
		}
		select {
		case <-exited:
			return fmt.Errorf("sshd exited: %v", cmd.ProcessState)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			<-exited
			return fmt.Errorf("sshd does not accept connections on %s", d.addr)
		}
	}
}

// stop ends sshd and the processes it forked for connections, which would otherwise outlive it.
func (d *sshd) stop(t testing.TB) {
	if d.cmd == nil {
		return
	}
	pid := d.cmd.Process.Pid
	// Connection processes end by themselves once their client has closed; sshd reaps them.
	// Only those of connections still open are killed.
	waitGone := func(timeout time.Duration) {
		for deadline := time.Now().Add(timeout); len(descendants(pid)) > 0 && time.Now().Before(deadline); {
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitGone(3 * time.Second)
	for _, p := range descendants(pid) {
		syscall.Kill(p, syscall.SIGKILL)
	}
	waitGone(3 * time.Second)
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
	case <-time.After(5 * time.Second):
		d.cmd.Process.Kill()
		<-d.exited
	}
	if left := descendants(pid); len(left) > 0 {
		t.Errorf("sshd processes left behind: %v", left)
	}
	d.cmd = nil
}

// options are adapter options for this server, changed by change (nil deletes an option).
func (d *sshd) options(dir string, change map[string]any) map[string]any {
	o := map[string]any{"host": "127.0.0.1", "port": d.port, "user": d.user, "private_key_file": d.userKey,
		"known_hosts_file": d.knownHosts, "directory": dir}
	for k, v := range change {
		if v == nil {
			delete(o, k)
		} else {
			o[k] = v
		}
	}
	return o
}

// descendants lists the processes below pid, read from /proc.
func descendants(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	children := map[int][]int{}
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid …; comm may contain anything, so parse after its last ')'.
		fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(fields) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(fields[1])
		children[ppid] = append(children[ppid], p)
	}
	var out []int
	for queue := children[pid]; len(queue) > 0; queue = queue[1:] {
		out = append(out, queue[0])
		queue = append(queue, children[queue[0]]...)
	}
	return out
}

func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func writePrivateKey(t *testing.T, path string, key crypto.Signer) ssh.PublicKey {
	t.Helper()
	block, err := ssh.MarshalPrivateKey(key, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	pub, err := ssh.NewPublicKey(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

func newPublicKey(t *testing.T) ssh.PublicKey {
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	key, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func writeKnownHosts(t *testing.T, dir, addr string, keys ...ssh.PublicKey) string {
	f, err := os.CreateTemp(dir, "known_hosts-")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, k := range keys {
		fmt.Fprintln(f, knownhosts.Line([]string{knownhosts.Normalize(addr)}, k))
	}
	return f.Name()
}

// tcpProxy stands between the adapter and sshd to count connections, cut them, or stall them.
type tcpProxy struct {
	ln     net.Listener
	target string

	mu       sync.Mutex
	cond     *sync.Cond
	accepted int
	conns    []net.Conn
	paused   bool
	closed   bool
}

func startProxy(t *testing.T, target string) *tcpProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{ln: ln, target: target}
	p.cond = sync.NewCond(&p.mu)
	go p.serve()
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		p.closed = true
		p.cond.Broadcast()
		p.mu.Unlock()
		p.dropAll()
	})
	return p
}

// options point the adapter at the proxy, with a known_hosts entry for the proxy's address.
func (p *tcpProxy) options(t *testing.T, d *sshd) map[string]any {
	port := p.ln.Addr().(*net.TCPAddr).Port
	kh := writeKnownHosts(t, t.TempDir(), p.ln.Addr().String(), d.hostKeys[ssh.KeyAlgoED25519], d.hostKeys[ssh.KeyAlgoECDSA256])
	return map[string]any{"port": port, "known_hosts_file": kh}
}

func (p *tcpProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.accepted++
		p.conns = append(p.conns, c, s)
		p.mu.Unlock()
		go p.pipe(c, s)
		go p.pipe(s, c)
	}
}

func (p *tcpProxy) pipe(dst, src net.Conn) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			for p.paused && !p.closed {
				p.cond.Wait()
			}
			p.mu.Unlock()
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *tcpProxy) connections() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.accepted
}

func (p *tcpProxy) dropAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func (p *tcpProxy) pause()  { p.setPaused(true) }
func (p *tcpProxy) resume() { p.setPaused(false) }

func (p *tcpProxy) setPaused(paused bool) {
	p.mu.Lock()
	p.paused = paused
	p.cond.Broadcast()
	p.mu.Unlock()
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
