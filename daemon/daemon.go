package daemon

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/amtsbote/amtsbote/adapters"
	"github.com/amtsbote/amtsbote/admin"
	"github.com/amtsbote/amtsbote/config"
	"github.com/amtsbote/amtsbote/console"
	"github.com/amtsbote/amtsbote/fitconnect"
	"github.com/amtsbote/amtsbote/inbound"
	"github.com/amtsbote/amtsbote/metrics"
	"github.com/amtsbote/amtsbote/payment"
	"github.com/amtsbote/amtsbote/pipeline"
	"github.com/amtsbote/amtsbote/priority"
	"github.com/amtsbote/amtsbote/receipts"
	"github.com/amtsbote/amtsbote/replies"
	"github.com/amtsbote/amtsbote/retention"
	"github.com/amtsbote/amtsbote/schedule"
	"github.com/amtsbote/amtsbote/snapshot"
	"github.com/amtsbote/amtsbote/store"
	"github.com/amtsbote/amtsbote/tracing"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/robfig/cron/v3"
)

// Daemon is a running amtsbote.
type Daemon struct {
	cfg      *config.Config
	log      *slog.Logger
	store    *store.Store
	current  atomic.Pointer[snapshot.Snapshot]
	reloadMu sync.Mutex
	runtime  runtimeState // the configuration in force and the reloads, for the admin API
	adapters map[string]adapters.Adapter
	pipeline *pipeline.Pipeline
	api      *inbound.Server
	spool    *inbound.Spool
	http     *http.Server
	listener net.Listener
	admin    *http.Server
	adminLn  net.Listener

	pipelineDone chan error
	httpDone     chan error

	cron     *cron.Cron
	receipts *receipts.Processor
	replies  *replies.Intake
	inbox    *adapters.SFTPInbox

	fitconnect     *fitconnect.Receiver
	fitconnectSubs []*fitconnect.Subscription
	payments       payment.Providers
	stopPolling    context.CancelFunc
	pollingDone    chan struct{}
	xta            *xtaPolling

	shutdownOnce sync.Once
	shutdownErr  error
	now          func() time.Time
	metrics      *metrics.Metrics
	stopTracing  func(context.Context) error
}

// ready says why the daemon cannot serve: the store is unreachable or no configuration is loaded.
func (d *Daemon) ready(ctx context.Context) error {
	if err := d.store.Broken(); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if err := d.store.DB.PingContext(ctx); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if _, err := d.store.DB.ExecContext(ctx, "SELECT 1"); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if s := d.current.Load(); s == nil || len(s.Schemas) != len(d.cfg.Schemas) {
		return errors.New("configuration not loaded")
	}
	if d.api.Draining() {
		return errors.New("shutting down")
	}
	return nil
}

// Metrics returns the daemon's instruments.
func (d *Daemon) Metrics() *metrics.Metrics { return d.metrics }

// Option changes how Start builds the daemon.
type Option func(*Daemon)

// WithClock makes the daemon read time from now (tests of schedules use a settable clock).
func WithClock(now func() time.Time) Option { return func(d *Daemon) { d.now = now } }

// Start builds everything the configuration describes, checks that it fits together, and starts
// serving. On error nothing is left running.
func Start(ctx context.Context, cfg *config.Config, log *slog.Logger, opts ...Option) (_ *Daemon, err error) {
	d := &Daemon{cfg: cfg, log: log, adapters: map[string]adapters.Adapter{}, now: time.Now}
	for _, o := range opts {
		o(d)
	}
	defer func() {
		if err != nil {
			d.release()
		}
	}()
	if d.stopTracing, err = tracing.Setup(ctx, cfg.Tracing.OTLPEndpoint, cfg.Tracing.Insecure); err != nil {
		return nil, err
	}
	snap, err := snapshot.FromConfig(cfg)
	if err != nil {
		return nil, err
	}
	d.current.Store(snap)
	d.loaded(snap, d.now())
	for _, w := range snap.Warnings() {
		log.Warn("configuration: " + w)
	}
	for _, dest := range cfg.Destinations {
		a, err := adapters.New(dest.Type, dest.Options)
		if err != nil {
			return nil, fmt.Errorf("destination %s: %w", dest.ID, err)
		}
		d.adapters[dest.ID] = a
	}
	if d.store, err = store.OpenWith(ctx, StoreOptions(cfg)); err != nil {
		return nil, err
	}
	if err := d.store.SetCallbackPortals(ctx, callbackPortals(cfg)); err != nil {
		return nil, err
	}
	var removed int
	if d.spool, removed, err = inbound.OpenSpool(cfg.SpoolDirectory()); err != nil {
		return nil, fmt.Errorf("server.spool_dir: %w", err)
	}
	if removed > 0 {
		log.Warn("removed uploads a stopped process left in the spool directory", "files", removed, "dir", d.spool.Dir)
	}
	var stages []pipeline.Stage
	queues := pipeline.Topics(cfg)
	d.metrics = metrics.New(d.store.DB, func() []string { return queues })
	if cfg.FitConnect.Enabled {
		if err := d.setupFitConnect(snap); err != nil {
			return nil, err
		}
		stages = d.fitconnect.Stages()
		queues = append(queues, fitconnect.TopicFetch, fitconnect.TopicDecide)
	}
	if err := d.setupPayment(); err != nil {
		return nil, err
	}
	replyDeps, err := d.replyDeps()
	if err != nil {
		return nil, err
	}
	var intake *priority.Intake
	if cfg.Pipeline.IntakeBurst > 0 {
		intake = priority.New(cfg.Pipeline.IntakeBurst, d.metrics.ObserveYield)
	}
	d.pipeline, err = pipeline.New(pipeline.Deps{
		Store: d.store, Config: cfg, Current: d.acquire, Adapters: d.adapters, Logger: log, Now: d.now,
		Metrics: d.metrics, Stages: stages, Payments: d.payments, Replies: replyDeps, Priority: intake,
	})
	if err != nil {
		return nil, err
	}
	d.replies = &replies.Intake{Store: d.store, Validate: d.validateXML, Now: d.now, Logger: log,
		Limits: replies.Limits{MaxDocumentBytes: cfg.Replies.MaxDocumentBytes, MaxDocuments: cfg.Replies.MaxDocuments}}
	d.api = inbound.NewServer(cfg, d.store, d.acquire, log)
	d.api.Now, d.api.Metrics = d.now, d.metrics
	d.api.SpoolDir = d.spool.Dir
	d.api.Replies = d.replies
	d.api.Priority = intake
	d.listener, err = net.Listen("tcp", cfg.Server.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen on %s (server.listen): %w", cfg.Server.Listen, err)
	}
	handler := d.api.Handler()
	if d.fitconnect != nil {
		mux := http.NewServeMux()
		callbacks := d.fitconnect.CallbackHandler()
		mux.Handle("/fitconnect/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if d.api.Draining() {
				http.Error(w, "shutting down", http.StatusServiceUnavailable)
				return
			}
			callbacks.ServeHTTP(w, r)
		}))
		mux.Handle("/", handler)
		handler = mux
	}
	handler = d.withPaymentNotifications(handler)
	d.http = &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: cfg.Server.ReadHeaderTimeout,
		ReadTimeout:       cfg.Server.ReadTimeout,
		IdleTimeout:       cfg.Server.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}

	d.pipelineDone = make(chan error, 1)
	go func() { d.pipelineDone <- d.pipeline.Run(context.Background()) }()
	select {
	case <-d.pipeline.Running():
	case err := <-d.pipelineDone:
		return nil, fmt.Errorf("pipeline did not start: %w", err)
	}
	if d.adminLn, err = net.Listen("tcp", cfg.Admin.Listen); err != nil {
		return nil, fmt.Errorf("listen on %s (admin.listen): %w", cfg.Admin.Listen, err)
	}
	users := cfg.Admin.AdminUsers()
	adm := admin.New(d.store, users, log)
	adm.Now, adm.Ready, adm.Runtime = d.now, d.ready, d
	adm.Metrics = promhttp.HandlerFor(d.metrics.Registry, promhttp.HandlerOpts{})
	adm.UI = console.New(adm, console.Options{Users: users, SessionIdle: cfg.Admin.SessionIdle,
		SessionMaxAge: cfg.Admin.SessionMaxAge, Location: cfg.Location(), Logger: log, Now: d.now})
	d.admin = &http.Server{Handler: adm.Handler(), ReadHeaderTimeout: cfg.Server.ReadHeaderTimeout,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	go func() { _ = d.admin.Serve(d.adminLn) }()
	log.Info("admin API and operator console are serving", "listen", d.adminLn.Addr().String(), "users", len(users))
	d.cron = cron.New(cron.WithChain(cron.SkipIfStillRunning(cron.DiscardLogger)),
		cron.WithLocation(cfg.Location()), cron.WithParser(schedule.Parser{Location: cfg.Location()}))
	if _, err := d.cron.AddFunc(cfg.Retention.Schedule, func() { _, _ = d.RunRetention(context.Background()) }); err != nil {
		return nil, fmt.Errorf("retention.schedule: %w", err)
	}
	if err := d.startReceipts(); err != nil {
		return nil, err
	}
	d.cron.Start()
	if d.fitconnect != nil {
		var pollCtx context.Context
		pollCtx, d.stopPolling = context.WithCancel(context.Background())
		d.pollingDone = make(chan struct{})
		go func() { defer close(d.pollingDone); d.fitconnect.Poll(pollCtx) }()
	}
	if err := d.startXTA(); err != nil {
		d.release()
		return nil, err
	}
	d.httpDone = make(chan error, 1)
	if cfg.Server.TLSCertFile != "" {
		if d.http.TLSConfig, err = tlsConfig(cfg.Server); err != nil {
			return nil, err
		}
		go func() { d.httpDone <- d.http.ServeTLS(d.listener, cfg.Server.TLSCertFile, cfg.Server.TLSKeyFile) }()
	} else {
		go func() { d.httpDone <- d.http.Serve(d.listener) }()
	}
	log.Info("amtsbote is serving", "listen", d.listener.Addr().String(), "config", cfg.File,
		"data_dir", cfg.Storage.DataDir, "routes", len(snap.Routes.Routes), "destinations", len(cfg.Destinations))
	return d, nil
}

// tlsConfig is the inbound API's TLS: modern versions only, and client certificates verified
// against server.client_ca_file when set (portals may then authenticate with them).
func tlsConfig(sc config.Server) (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if sc.ClientCAFile != "" {
		pem, err := os.ReadFile(sc.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("server.client_ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("server.client_ca_file %s: no PEM certificates in it", sc.ClientCAFile)
		}
		c.ClientCAs, c.ClientAuth = pool, tls.VerifyClientCertIfGiven
	}
	return c, nil
}

// startReceipts polls the receipts inbox on its schedule; polls never overlap.
func (d *Daemon) startReceipts() error {
	rc := d.cfg.Receipts
	if rc.Directory == "" {
		return nil
	}
	if err := os.MkdirAll(rc.Directory, 0o750); err != nil {
		return fmt.Errorf("receipts.directory: %w", err)
	}
	if rc.SFTP != nil {
		inbox, err := adapters.NewSFTPInbox(rc.SFTP)
		if err != nil {
			return fmt.Errorf("receipts.sftp: %w", err)
		}
		d.inbox = inbox
	}
	d.receipts = &receipts.Processor{Store: d.store, Inbox: rc.Directory, Logger: d.log, Now: d.now,
		Validate: d.validateXML, Replies: d.replies}
	if _, err := d.cron.AddFunc(rc.Schedule, func() { _, _ = d.PollReceipts(context.Background()) }); err != nil {
		return fmt.Errorf("receipts.schedule: %w", err)
	}
	return nil
}

// validateXML checks an XÖV document (a receipt, a reply's message) against the configured
// schema set of its root namespace. The snapshot stays acquired while its schema set
// validates: a reload retiring it meanwhile frees the set only after the release.
func (d *Daemon) validateXML(ns string, content []byte) error {
	snap := d.acquire()
	defer snap.Release()
	set := snap.SchemaSetFor(ns)
	if set == nil {
		return fmt.Errorf("no schema set is configured for namespace %q", ns)
	}
	return set.Validate(content)
}

// RunRetention purges the personal data that is due now (the schedule does it too).
func (d *Daemon) RunRetention(ctx context.Context) (int, error) {
	snap := d.acquire()
	defer snap.Release()
	job := retention.Job{Store: d.store, Config: d.cfg.Retention, Routes: snap.Routes, Logger: d.log, Now: d.now}
	var n int
	ran, err := d.store.Exclusive(ctx, "retention", func() (err error) {
		n, err = job.Run(ctx)
		return err
	})
	if !ran && err == nil {
		d.log.Debug("retention runs on another instance right now")
	}
	if err != nil {
		d.log.Error("retention purge failed; it runs again on schedule", "purged", n, "error", err)
	}
	return n, err
}

// PollReceipts reads the receipts inbox now (the schedule does it too).
func (d *Daemon) PollReceipts(ctx context.Context) (receipts.Result, error) {
	if d.receipts == nil {
		return receipts.Result{}, errors.New("receipts are off: set receipts.directory")
	}
	var res receipts.Result
	ran, err := d.store.Exclusive(ctx, "receipts", func() (err error) {
		if d.inbox != nil {
			if n, err := d.inbox.Fetch(ctx, d.cfg.Receipts.Directory); err != nil {
				d.log.Warn("fetching receipts by SFTP failed; reading what is here", "fetched", n, "error", err)
			}
		}
		res, err = d.receipts.Poll(ctx)
		return err
	})
	if !ran && err == nil {
		d.log.Debug("receipts are read by another instance right now")
	}
	for outcome, n := range map[string]int{"acknowledged": res.Acknowledged, "rejected": res.Rejected, "unmatched": res.Unmatched, "malformed": res.Malformed} {
		d.metrics.Receipts.WithLabelValues(outcome).Add(float64(n))
	}
	if err != nil {
		d.log.Error("reading receipts failed; the files stay in the inbox", "error", err)
	}
	return res, err
}

// acquire returns the snapshot in force, marked in use; the caller releases it.
func (d *Daemon) acquire() *snapshot.Snapshot {
	for {
		s := d.current.Load()
		s.Acquire()
		if d.current.Load() == s {
			return s
		}
		s.Release() // swapped meanwhile: take the new one
	}
}

// AdminAddr is the address the admin API listens on ("" when it is off).
func (d *Daemon) AdminAddr() string {
	if d.adminLn == nil {
		return ""
	}
	return d.adminLn.Addr().String()
}

// Addr is the address the inbound API listens on.
func (d *Daemon) Addr() string { return d.listener.Addr().String() }

// Wait blocks until the HTTP server or the pipeline stops on its own (an error) or ctx ends.
func (d *Daemon) Wait(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return nil
	case err := <-d.httpDone:
		return fmt.Errorf("http server stopped: %w", err)
	case err := <-d.pipelineDone:
		return fmt.Errorf("pipeline stopped: %w", err)
	case <-d.store.BrokenC():
		// As PostgreSQL after a failed fsync: stop, so that a restart recovers from what is on
		// the disk (a supervisor restarts amtsbote; the exit status says it failed).
		return fmt.Errorf("stopping: %w", d.store.Broken())
	}
}

// Shutdown stops in the order that loses nothing: refuse new requests (503), let requests in
// flight finish, stop the pipeline (handlers in flight finish or their messages stay queued),
// close the adapters and the store.
func (d *Daemon) Shutdown(ctx context.Context) error {
	d.shutdownOnce.Do(func() { d.shutdownErr = d.shutdown(ctx) })
	return d.shutdownErr
}

func (d *Daemon) shutdown(ctx context.Context) error {
	d.log.Info("shutting down")
	d.api.Drain()
	var errs []error
	if err := d.http.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("http shutdown: %w", err))
	}
	if d.admin != nil {
		if err := d.admin.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("admin shutdown: %w", err))
		}
	}
	if d.cron != nil {
		<-d.cron.Stop().Done() // a poll in progress finishes
	}
	if d.inbox != nil {
		d.inbox.Close()
	}
	if d.stopPolling != nil {
		d.stopPolling()
		<-d.pollingDone
	}
	d.stopXTA()
	if err := d.pipeline.Close(); err != nil {
		errs = append(errs, fmt.Errorf("pipeline shutdown: %w", err))
	}
	d.release()
	d.log.Info("stopped")
	return errors.Join(errs...)
}

func (d *Daemon) release() {
	d.stopXTA()
	if d.stopPolling != nil {
		d.stopPolling()
		<-d.pollingDone
		d.stopPolling = nil
	}
	for _, s := range d.fitconnectSubs {
		s.Close()
	}
	for id, a := range d.adapters {
		if err := a.Close(); err != nil {
			d.log.Warn("closing adapter failed", "destination", id, "error", err)
		}
	}
	if d.store != nil {
		d.store.Close()
	}
	d.spool.Close()
	if s := d.current.Load(); s != nil {
		s.Retire()
	}
	if d.stopTracing != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = d.stopTracing(ctx) // flush the last spans
	}
}

// ShutdownTimeout is how long Shutdown may take by configuration.
func (d *Daemon) ShutdownTimeout() time.Duration { return d.cfg.Server.ShutdownTimeout }

// Store gives tests and tools read access to the daemon's store.
func (d *Daemon) Store() *store.Store { return d.store }

// StoreOptions selects the store the configuration names. The PostgreSQL pool holds, unless
// storage.max_connections says otherwise, two connections per pipeline handler (the handler's
// transaction, which holds its message, and its reads) and 16 for intake and tools.
func StoreOptions(cfg *config.Config) store.Options {
	conns := cfg.Storage.MaxConnections
	if conns == 0 {
		handlers := 1 + pipeline.ProcessWorkers(cfg) // callbacks, process
		for _, d := range cfg.Destinations {
			handlers += d.MaxInFlight
		}
		if cfg.FitConnect.Enabled {
			handlers += 4 // fetch and decide
		}
		handlers += 1 + len(replies.Channels)*max(cfg.Replies.MaxInFlight, 1) // plan, send per channel
		conns = 2*handlers + 16
	}
	return store.Options{Driver: cfg.Storage.Driver, DataDir: cfg.Storage.DataDir, DSN: cfg.Storage.DSN, MaxConns: conns}
}

// callbackPortals lists the portals with a callback URL.
func callbackPortals(cfg *config.Config) []string {
	var out []string
	for _, p := range cfg.Portals {
		if p.CallbackURL != "" {
			out = append(out, p.ID)
		}
	}
	return out
}

// setupFitConnect loads the FIT-Connect subscriptions (keys, schemas, secrets) and checks that
// the routes their destinations name exist.
func (d *Daemon) setupFitConnect(snap *snapshot.Snapshot) error {
	subs, err := fitconnect.Load(d.cfg)
	if err != nil {
		return fmt.Errorf("fitconnect:\n%w", err)
	}
	d.fitconnectSubs = subs
	if err := fitconnect.CheckRoutes(d.cfg, snap.Routes); err != nil {
		return err
	}
	dir := filepath.Join(d.spool.Dir, "fitconnect")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("fitconnect spool: %w", err)
	}
	bySub := map[string]*fitconnect.Subscription{}
	for _, s := range subs {
		bySub[s.Config.ID] = s
	}
	d.fitconnect = &fitconnect.Receiver{Store: d.store, Subscriptions: bySub, Current: d.acquire, Logger: d.log,
		Metrics: d.metrics, TempDir: dir, Now: d.now}
	for _, s := range subs {
		d.log.Info("FIT-Connect intake is on", "subscription", s.Config.ID, "api_url", s.Config.APIURL,
			"destinations", len(s.Config.Destinations), "accept", s.Config.Accept, "poll_interval", s.Config.PollInterval,
			"callback_path", fitconnect.CallbackPath(s.Config.ID), "callbacks", len(s.CallbackSecrets) > 0)
	}
	return nil
}
