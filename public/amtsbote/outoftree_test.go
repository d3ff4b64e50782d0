package amtsbote_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The extension path works as documented: a module outside this repository with an adapter of
// its own, written against public/adapter, and a main that imports it and calls
// public/amtsbote.Main, builds into an amtsbote that knows the adapter type. The build is
// offline (GOPROXY=off): every dependency comes from the module cache.
func TestOutOfTreeAdapterBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a whole amtsbote binary")
	}
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	mod := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		path := filepath.Join(mod, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	goMod, err := os.ReadFile(filepath.Join(repo, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	// The module requires what amtsbote requires, as a tidy module would: with only amtsbote
	// required, go would look up the go.mod of every module in amtsbote's graph, also of those
	// no package is built from (cobra's Windows helper), which a module cache filled by building
	// amtsbote does not hold, and the build is offline.
	goVersion := strings.Fields(strings.SplitN(string(goMod[strings.Index(string(goMod), "\ngo ")+1:]), "\n", 2)[0])[1]
	_, requires, ok := strings.Cut(string(goMod), "\nrequire")
	if !ok {
		t.Fatal("go.mod requires nothing")
	}
	write("go.mod", "module example.org/amtsbote-extra\n\n"+
		"go "+goVersion+"\n\n"+
		"require github.com/amtsbote/amtsbote v0.0.0\n\n"+
		"require"+requires+"\n"+
		"replace github.com/amtsbote/amtsbote => "+repo+"\n")
	goSum, err := os.ReadFile(filepath.Join(repo, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	write("go.sum", string(goSum))
	write("logbook/logbook.go", `// Package logbook is an adapter outside amtsbote's repository.
package logbook

import (
	"context"
	"errors"
	"fmt"

	"github.com/amtsbote/amtsbote/public/adapter"
)

func init() { adapter.Register("logbook", newLogbook) }

// Options configure the logbook adapter.
type Options struct {
	// Book names the logbook. Required.
	Book string `+"`mapstructure:\"book\"`"+`
}

type logbook struct {
	book     string
	inflight adapter.Inflight
}

func newLogbook(options map[string]any) (adapter.Adapter, error) {
	var o Options
	if err := adapter.DecodeOptions(options, &o); err != nil {
		return nil, fmt.Errorf("logbook: %w", err)
	}
	if o.Book == "" {
		return nil, errors.New("logbook: options.book must name the logbook")
	}
	return &logbook{book: o.Book}, nil
}

func (l *logbook) Deliver(ctx context.Context, p *adapter.Package) (string, error) {
	done, err := l.inflight.Begin("logbook")
	if err != nil {
		return "", err
	}
	defer done()
	return l.book + ":" + adapter.SafeName(p.MessageID), nil
}

func (l *logbook) Close() error { l.inflight.Close(); return nil }
`)
	write("main.go", `package main

import (
	"github.com/amtsbote/amtsbote/public/amtsbote"

	_ "example.org/amtsbote-extra/logbook"
)

func main() { amtsbote.Main() }
`)
	bin := filepath.Join(mod, "amtsbote")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = mod
	build.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off", "GOSUMDB=off", "GOWORK=off", "CGO_ENABLED=1")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build of the out-of-tree module: %v\n%s", err, out)
	}

	// The example configuration, with one destination of the new type.
	fixtures := filepath.Join(repo, "fixtures")
	config := func(typ, options string) string {
		b, err := os.ReadFile(filepath.Join(fixtures, "examples", "amtsbote.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		s := strings.ReplaceAll(string(b), "../", fixtures+"/")
		s = strings.Replace(s, "routes_file: routes.yaml", "routes_file: "+filepath.Join(fixtures, "examples", "routes.yaml"), 1)
		s = strings.Replace(s, "{id: dms, type: filedrop, options: {path: var/examples/out/dms}}", "{id: dms, type: "+typ+", options: "+options+"}", 1)
		path := filepath.Join(t.TempDir(), "amtsbote.yaml")
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	for _, c := range []struct {
		name, typ, options string
		ok                 bool
		want               string
	}{
		{"the new type", "logbook", "{book: eingang}", true, "3 destinations"},
		{"its options are checked", "logbook", "{}", false, "options.book must name the logbook"},
		{"an unknown type is refused", "nowhere", "{}", false, "unknown adapter type"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cmd := exec.Command(bin, "config", "check", "--config", config(c.typ, c.options))
			cmd.Dir = t.TempDir()
			out, err := cmd.CombinedOutput()
			if (err == nil) != c.ok || !strings.Contains(string(out), c.want) {
				t.Fatalf("config check: %v\n%s\nwant success %v and %q", err, out, c.ok, c.want)
			}
			if !c.ok && c.typ == "nowhere" && !strings.Contains(string(out), "logbook") {
				t.Errorf("the known types listed do not include logbook:\n%s", out)
			}
		})
	}
}
