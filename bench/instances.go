package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Instances are amtsbote daemons the load tool started as child processes, each with its own
// ports, working directory (where relative data paths land) and log file.
type Instances struct {
	Dir   string
	procs []*exec.Cmd
	addrs []string

	mu       sync.Mutex
	maxRSS   []int64 // bytes, sampled
	startRSS []int64 // bytes, once listening
	startCPU []CPU   // once listening
	stop     chan struct{}
	done     sync.WaitGroup
}

// StartOptions say which daemons to start.
type StartOptions struct {
	Binary string // the amtsbote binary
	Config string // configuration file
	N      int
	Driver string // sqlite or postgres
	DSN    string // postgres
	// Env adds AMTSBOTE_* overrides for every instance.
	Env []string
	// Derive, if set, writes a configuration derived from Config into dir (inside the temporary
	// directory, removed with it) and returns its file: the daemons run with that one.
	Derive func(config, dir string) (string, error)
}

// Start starts n daemons in a new temporary directory and waits until they listen.
func Start(ctx context.Context, o StartOptions) (*Instances, error) {
	if o.N <= 0 {
		o.N = 1
	}
	if o.N > 1 && o.Driver != "postgres" {
		return nil, fmt.Errorf("%d instances need the postgres driver: a SQLite store serves one process", o.N)
	}
	cfg, err := filepath.Abs(o.Config)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "amtsbote-bench-")
	if err != nil {
		return nil, err
	}
	in := &Instances{Dir: dir, maxRSS: make([]int64, o.N), startRSS: make([]int64, o.N), startCPU: make([]CPU, o.N),
		stop: make(chan struct{})}
	if o.Derive != nil {
		confDir := filepath.Join(dir, "config")
		if err := os.MkdirAll(confDir, 0o750); err != nil {
			in.Stop()
			return nil, err
		}
		if cfg, err = o.Derive(cfg, confDir); err != nil {
			in.Stop()
			return nil, err
		}
	}
	for i := 0; i < o.N; i++ {
		addr, admin := freeAddr(), freeAddr()
		work := filepath.Join(dir, fmt.Sprintf("instance-%d", i))
		os.MkdirAll(work, 0o750)
		cmd := exec.CommandContext(ctx, o.Binary, "serve", "--config", cfg)
		cmd.Dir = work
		cmd.Env = append(os.Environ(),
			"AMTSBOTE_SERVER_LISTEN="+addr, "AMTSBOTE_ADMIN_LISTEN="+admin,
			"AMTSBOTE_SERVER_RATE_PER_SECOND=0", "AMTSBOTE_LOG_LEVEL=warn",
			"AMTSBOTE_STORAGE_DRIVER="+o.Driver, "AMTSBOTE_STORAGE_DATA_DIR="+filepath.Join(work, "data"),
			"AMTSBOTE_STORAGE_DSN="+o.DSN)
		cmd.Env = append(cmd.Env, o.Env...)
		log, err := os.Create(filepath.Join(work, "amtsbote.log"))
		if err != nil {
			in.Stop()
			return nil, err
		}
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Start(); err != nil {
			in.Stop()
			return nil, fmt.Errorf("start %s: %w", o.Binary, err)
		}
		in.procs = append(in.procs, cmd)
		in.addrs = append(in.addrs, addr)
		if err := waitListening(addr, 60*time.Second); err != nil {
			in.Stop()
			logText, _ := os.ReadFile(filepath.Join(work, "amtsbote.log"))
			return nil, fmt.Errorf("instance %d did not start: %w\n%s", i, err, logText)
		}
		in.startRSS[i] = RSS(cmd.Process.Pid)
		in.startCPU[i] = CPUTime(cmd.Process.Pid)
		in.done.Add(1)
		go in.sample(i, cmd.Process.Pid)
	}
	return in, nil
}

// Targets are the instances' base URLs.
func (in *Instances) Targets() []string {
	out := make([]string, len(in.addrs))
	for i, a := range in.addrs {
		out[i] = "http://" + a
	}
	return out
}

// MaxRSS is the highest resident set size seen per instance, in bytes.
func (in *Instances) MaxRSS() []int64 {
	in.mu.Lock()
	defer in.mu.Unlock()
	return append([]int64(nil), in.maxRSS...)
}

// StartRSS is each instance's resident set size once it listened, in bytes.
func (in *Instances) StartRSS() []int64 { return append([]int64(nil), in.startRSS...) }

// CPUSinceStart is the CPU time each instance used since it listened.
func (in *Instances) CPUSinceStart() []CPU {
	out := make([]CPU, len(in.procs))
	for i, p := range in.procs {
		out[i] = CPUTime(p.Process.Pid).Since(in.startCPU[i])
	}
	return out
}

// ResetRSS starts the peak measurement anew (e.g. after a warm-up).
func (in *Instances) ResetRSS() {
	in.mu.Lock()
	defer in.mu.Unlock()
	clear(in.maxRSS)
}

func (in *Instances) sample(i, pid int) {
	defer in.done.Done()
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-in.stop:
			return
		case <-t.C:
		}
		if rss := RSS(pid); rss > 0 {
			in.mu.Lock()
			in.maxRSS[i] = max(in.maxRSS[i], rss)
			in.mu.Unlock()
		}
	}
}

// Stop ends the instances (SIGTERM, then SIGKILL after 15 s) and removes their directory.
func (in *Instances) Stop() {
	select {
	case <-in.stop:
	default:
		close(in.stop)
	}
	in.done.Wait()
	for _, p := range in.procs {
		p.Process.Signal(syscall.SIGTERM)
		exited := make(chan struct{})
		go func() { p.Wait(); close(exited) }()
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			p.Process.Kill()
			<-exited
		}
	}
	os.RemoveAll(in.Dir)
}

// RSS reads a process's resident set size in bytes from /proc (0 if unknown).
func RSS(pid int) int64 {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// CPU is processor time spent in user and in system (kernel) mode.
type CPU struct {
	User, System time.Duration
}

// Since is the CPU time used from earlier to c.
func (c CPU) Since(earlier CPU) CPU {
	return CPU{User: c.User - earlier.User, System: c.System - earlier.System}
}

// userHZ is the unit of the times in /proc/PID/stat: 100 per second on Linux.
const userHZ = 100

// CPUTime reads a process's CPU time from /proc (zero if unknown).
func CPUTime(pid int) CPU {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return CPU{}
	}
	// The command name, in parentheses, may hold spaces; the fields after it start with the
	// state (field 3 of proc(5)); utime and stime are fields 14 and 15.
	i := bytes.LastIndexByte(raw, ')')
	if i < 0 {
		return CPU{}
	}
	fields := strings.Fields(string(raw[i+1:]))
	if len(fields) < 13 {
		return CPU{}
	}
	user, _ := strconv.ParseInt(fields[11], 10, 64)
	system, _ := strconv.ParseInt(fields[12], 10, 64)
	return CPU{User: time.Duration(user) * time.Second / userHZ, System: time.Duration(system) * time.Second / userHZ}
}

func freeAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "127.0.0.1:0"
	}
	defer l.Close()
	return l.Addr().String()
}

func waitListening(addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("nothing listens on %s after %v", addr, timeout)
}
