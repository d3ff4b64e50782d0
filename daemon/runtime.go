package daemon

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"sync"
	"time"

	"github.com/amtsbote/amtsbote/admin"
	"github.com/amtsbote/amtsbote/snapshot"
)

// runtimeState is what the daemon knows of its configuration in force and its reloads, for the
// admin API (admin.Runtime). Its own lock: reading it never waits for a reload in progress.
type runtimeState struct {
	mu       sync.Mutex
	version  string
	file     string
	loadedAt time.Time
	reloads  ReloadStats
}

// loaded records the snapshot that came into force at now: its files' version.
func (d *Daemon) loaded(snap *snapshot.Snapshot, now time.Time) {
	v := ConfigVersion(snap)
	d.runtime.mu.Lock()
	defer d.runtime.mu.Unlock()
	d.runtime.version, d.runtime.file, d.runtime.loadedAt = v, snap.Config.File, now
}

// reloaded records a reload's outcome.
func (d *Daemon) reloaded(at time.Time, err error) {
	d.runtime.mu.Lock()
	defer d.runtime.mu.Unlock()
	r := &d.runtime.reloads
	r.LastAt, r.LastOK = at, err == nil
	if err != nil {
		r.Failed++
		r.LastError = err.Error()
		return
	}
	r.OK++
}

// ConfigVersion identifies a configuration by its content: the first 12 hex digits of a
// SHA-256 over every file it consists of (snapshot.Files: config, routes, mappings and their
// partials, JSON Schemas, labels), each with its path. An unreadable file counts by its path.
func ConfigVersion(snap *snapshot.Snapshot) string {
	h := sha256.New()
	for _, f := range snap.Files() {
		io.WriteString(h, f)
		h.Write([]byte{0})
		if fh, err := os.Open(f); err == nil {
			_, _ = io.Copy(h, fh)
			fh.Close()
		}
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}

// Status is the daemon's state for the admin API: the configuration in force, the reloads and
// each destination's circuit and last transport error, in configuration order.
func (d *Daemon) Status() admin.RuntimeStatus {
	d.runtime.mu.Lock()
	st := admin.RuntimeStatus{ConfigVersion: d.runtime.version, ConfigFile: d.runtime.file, LoadedAt: d.runtime.loadedAt,
		ReloadsOK: d.runtime.reloads.OK, ReloadsFailed: d.runtime.reloads.Failed}
	if r := d.runtime.reloads; !r.LastAt.IsZero() {
		st.LastReload = &admin.ReloadResult{At: r.LastAt, OK: r.LastOK}
		if !r.LastOK {
			st.LastReload.Error = r.LastError
		}
	}
	d.runtime.mu.Unlock()
	states := d.pipeline.DestinationStates()
	st.Destinations = make([]admin.DestinationStatus, 0, len(d.cfg.Destinations))
	for _, dest := range d.cfg.Destinations {
		s := states[dest.ID]
		ds := admin.DestinationStatus{ID: dest.ID, Type: dest.Type, Circuit: s.Circuit, LastError: s.LastError}
		if !s.LastErrorAt.IsZero() {
			at := s.LastErrorAt
			ds.LastErrorAt = &at
		}
		if !s.LastSuccessAt.IsZero() {
			at := s.LastSuccessAt
			ds.LastSuccessAt = &at
		}
		st.Destinations = append(st.Destinations, ds)
	}
	return st
}

// Snapshot is the configuration in force, acquired; release ends the use.
func (d *Daemon) Snapshot() (*snapshot.Snapshot, func()) {
	snap := d.acquire()
	return snap, snap.Release
}
