package adapters

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"
)

func init() {
	Register("webdav", newWebDAV)
}

// WebDAVOptions configure the webdav adapter, which uploads each package into a WebDAV
// collection (many document management systems accept uploads so).
type WebDAVOptions struct {
	// The connection (see the http adapter): url is the collection the packages go into,
	// created if missing; headers, basic_user/basic_password or bearer_token, ca_file,
	// client_cert_file/client_key_file, insecure_skip_verify, timeout and
	// allow_unencrypted_personal_data work as there.
	HTTPClientOptions `mapstructure:",squash"`
	// The file names and the format: name and format, as for filedrop (see FileOptions).
	FileOptions `mapstructure:",squash"`
}

// webdav places every file of a package as filedrop does, over WebDAV: PUT to a temporary
// name, then MOVE to its own name with "Overwrite: F", which refuses to replace a file.
type webdav struct {
	client   *HTTPClient
	dir      url.URL // the collection, its path ending in /
	name     Pattern
	format   Format
	inflight Inflight
}

func newWebDAV(options map[string]any) (Adapter, error) {
	var o WebDAVOptions
	if err := DecodeOptions(options, &o); err != nil {
		return nil, fmt.Errorf("webdav: %w", err)
	}
	name, format, err := o.Parse()
	if err != nil {
		return nil, fmt.Errorf("webdav: %w", err)
	}
	client, err := o.Client("webdav")
	if err != nil {
		return nil, fmt.Errorf("webdav: %w", err)
	}
	w := &webdav{client: client, dir: *client.URL, name: name, format: format}
	w.dir.Path = strings.TrimSuffix(w.dir.Path, "/") + "/"
	w.dir.RawPath = ""
	return w, nil
}

// Deliver places the package's files, the message (or the zip) last; it returns its URL.
func (w *webdav) Deliver(ctx context.Context, p *Package) (artefact string, err error) {
	done, err := w.inflight.Begin("webdav")
	if err != nil {
		return "", err
	}
	defer done()
	for _, pf := range w.format.Files(w.name.Name(p), p) {
		if artefact, err = w.place(ctx, pf); err != nil {
			return "", err
		}
	}
	return artefact, nil
}

// place uploads one file to a temporary name and moves it to its own. If the name is taken,
// the file there is read back: the same content is this file delivered before (success),
// anything else a permanent error — never an overwrite.
func (w *webdav) place(ctx context.Context, pf PackageFile) (string, error) {
	ours, err := Spool(ctx, "", pf.Write)
	if err != nil {
		return "", fmt.Errorf("webdav: build %s: %w", pf.Name, err)
	}
	defer ours.Close()
	target, tmp := w.at(pf.Name), w.at(".amtsbote-"+randomHex()+".tmp")
	resp, err := w.do(ctx, "PUT", tmp, ours, nil, http.StatusConflict)
	if err == nil && resp.StatusCode == http.StatusConflict { // the collection is missing
		if err = w.mkcol(ctx, w.dir); err == nil {
			resp, err = w.do(ctx, "PUT", tmp, ours, nil)
		}
	}
	defer func() {
		if tmp != "" { // not moved: remove what may be there, even if ctx is done
			w.remove(ctx, tmp)
		}
	}()
	if err != nil {
		return "", err
	}
	Discard(resp)
	move := http.Header{"Destination": {target}, "Overwrite": {"F"}}
	if resp, err = w.do(ctx, "MOVE", tmp, nil, move, http.StatusPreconditionFailed); err != nil {
		return "", err
	}
	Discard(resp)
	if resp.StatusCode != http.StatusPreconditionFailed {
		tmp = ""
		return target, nil
	}
	same, err := w.same(ctx, pf, ours, target)
	switch {
	case err != nil:
		return "", fmt.Errorf("webdav: compare with the existing %s: %w", target, err)
	case !same:
		return "", Permanent(fmt.Errorf("webdav: %s already exists with different content; refusing to overwrite it (move it away on the server, then replay the message if it should still be delivered)", target))
	}
	return target, nil
}

// same reads the file under target back and compares it with ours (PackageFile.Same).
func (w *webdav) same(ctx context.Context, pf PackageFile, ours *Spooled, target string) (bool, error) {
	resp, err := w.do(ctx, "GET", target, nil, nil)
	if err != nil {
		return false, err
	}
	defer Discard(resp)
	existing, err := SpoolReader(ctx, "", resp.Body)
	if err != nil {
		return false, err
	}
	defer existing.Close()
	return pf.Same(ours, ours.Size(), existing, existing.Size())
}

// mkcol creates the collection dir, and its parents as far as they are missing.
func (w *webdav) mkcol(ctx context.Context, dir url.URL) error {
	resp, err := w.do(ctx, "MKCOL", dir.String(), nil, nil, http.StatusMethodNotAllowed, http.StatusConflict)
	if err != nil {
		return err
	}
	Discard(resp)
	if resp.StatusCode != http.StatusConflict {
		return nil // created, or there already (405)
	}
	parent := dir
	if parent.Path = path.Dir(strings.TrimSuffix(dir.Path, "/")) + "/"; parent.Path == dir.Path || parent.Path == "//" {
		return Permanent(fmt.Errorf("webdav: MKCOL %s answered 409 Conflict at the root: check options.url", dir.Redacted()))
	}
	if err := w.mkcol(ctx, parent); err != nil {
		return err
	}
	return w.mkcol(ctx, dir)
}

// remove deletes a temporary file, within 10s even when ctx is done.
func (w *webdav) remove(ctx context.Context, target string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if resp, err := w.do(ctx, "DELETE", target, nil, nil, http.StatusNotFound); err == nil {
		Discard(resp)
	}
}

// do sends one request. Answers other than 2xx and the statuses in pass come back as errors,
// classified by HTTPClient.StatusError; the caller discards the answer's body.
func (w *webdav) do(ctx context.Context, method, target string, body *Spooled, header http.Header, pass ...int) (*http.Response, error) {
	req, err := w.client.NewRequest(ctx, method, target, http.NoBody)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Body, _ = body.Body()
		req.ContentLength, req.GetBody = body.Size(), body.Body
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := w.client.Do(req)
	if err != nil || resp.StatusCode/100 == 2 || slices.Contains(pass, resp.StatusCode) {
		return resp, err
	}
	defer Discard(resp)
	return nil, w.client.StatusError(resp, "check options.url and the login's rights on the collection, then replay the message")
}

func (w *webdav) at(name string) string { return w.dir.JoinPath(name).String() }

// Close refuses new deliveries, waits for those in flight, then closes idle connections.
func (w *webdav) Close() error {
	w.inflight.Close()
	w.client.Close()
	return nil
}
