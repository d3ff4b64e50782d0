package daemon

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	wmsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/fsnotify/fsnotify"

	"github.com/amtsbote/amtsbote/config"
	"github.com/amtsbote/amtsbote/snapshot"
	"github.com/amtsbote/amtsbote/store"
)

// ReloadStats counts configuration reloads and tells the last one's outcome.
type ReloadStats struct {
	OK, Failed int
	// LastError is the error of the last refused reload ("" if none was refused).
	LastError string
	// LastAt is when the last reload ran (zero: none yet); LastOK whether it succeeded.
	LastAt time.Time
	LastOK bool
}

// Reload builds a complete new snapshot from the configuration file — config, schema sets,
// routes, mappings — checks it fully and swaps it in whole. If anything is wrong, or a change
// needs a restart, the running snapshot stays and the error says why. Work in flight finishes on
// the snapshot it started with.
func (d *Daemon) Reload() error {
	d.reloadMu.Lock()
	defer d.reloadMu.Unlock()
	err := d.reload()
	detail := "ok"
	if err != nil {
		detail = "refused: " + err.Error()
	}
	_ = store.Audit(context.Background(), wmsql.BeginnerFromStdSQL(d.store.DB), store.AuditEntry{At: d.now(), Actor: "system:reload", Action: "reload",
		Subject: d.cfg.File, Detail: detail})
	if err != nil {
		d.metrics.ConfigReloads.WithLabelValues("failed").Inc()
		d.reloaded(d.now(), err)
		d.log.Error("configuration reload refused; the running configuration stays", "config", d.cfg.File, "error", err)
		return err
	}
	d.metrics.ConfigReloads.WithLabelValues("ok").Inc()
	d.reloaded(d.now(), nil)
	return nil
}

func (d *Daemon) reload() error {
	cfg, err := config.Load(d.cfg.File)
	if err != nil {
		return err
	}
	if why := snapshot.RestartNeeded(d.cfg, cfg); why != "" {
		return fmt.Errorf("config %s: %s", cfg.File, why)
	}
	snap, err := snapshot.FromConfig(cfg)
	if err != nil {
		return err
	}
	if err := d.store.SetCallbackPortals(context.Background(), callbackPortals(cfg)); err != nil {
		snap.Close()
		return err
	}
	old := d.current.Swap(snap)
	old.Retire()
	d.loaded(snap, d.now())
	for _, w := range snap.Warnings() {
		d.log.Warn("configuration: " + w)
	}
	d.log.Info("configuration reloaded", "config", cfg.File, "routes", len(snap.Routes.Routes))
	return nil
}

// Reloads reports how many reloads succeeded and failed, and the last one's outcome.
func (d *Daemon) Reloads() ReloadStats {
	d.runtime.mu.Lock()
	defer d.runtime.mu.Unlock()
	return d.runtime.reloads
}

// WatchConfig reloads when a configuration file (config, routes, mappings, partials) changes,
// until ctx ends. Bursts of changes (an editor saving several files) cause one reload.
func (d *Daemon) WatchConfig(ctx context.Context, debounce time.Duration) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch configuration: %w", err)
	}
	snap := d.acquire()
	dirs := map[string]bool{}
	for _, f := range snap.Files() {
		dirs[filepath.Dir(f)] = true
	}
	snap.Release()
	for dir := range dirs {
		if err := w.Add(dir); err != nil {
			w.Close()
			return fmt.Errorf("watch %s: %w", dir, err)
		}
	}
	go func() {
		defer w.Close()
		var timer <-chan time.Time
		for {
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-w.Events:
				if !ok {
					return
				}
				if ev.Op&(fsnotify.Write|fsnotify.Create|fsnotify.Rename|fsnotify.Remove) != 0 {
					timer = time.After(debounce)
				}
			case err, ok := <-w.Errors:
				if !ok {
					return
				}
				d.log.Warn("configuration watcher", "error", err)
			case <-timer:
				timer = nil
				_ = d.Reload()
			}
		}
	}()
	return nil
}
