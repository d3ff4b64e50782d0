package xoev

import "C"

import (
	"net/url"
	"os"
	"path/filepath"
	"sync"
)

// resolver is what the libxml2 loader consults: the catalogs of all compiled schema sets, and
// whether local schema files may be read right now (only while a schema set compiles).
var resolver struct {
	sync.RWMutex
	catalog   map[string]string // absolute URL → local file
	compiling int
	refused   []string // URLs refused during the current compile
}

//export amtsboteResolve
func amtsboteResolve(curl *C.char) *C.char {
	local, ok := resolveURL(C.GoString(curl))
	if !ok {
		return nil
	}
	return C.CString(local) // freed by the C loader
}

// resolveURL maps what libxml2 wants to load to a local file, or refuses. A URL with a network
// scheme is served only through a catalog entry; a local path only while a schema compiles.
func resolveURL(raw string) (string, bool) {
	resolver.Lock()
	defer resolver.Unlock()
	if local, ok := resolver.catalog[raw]; ok {
		return local, true
	}
	if resolver.compiling == 0 {
		resolver.refused = append(resolver.refused, raw)
		return "", false
	}
	if u, err := url.Parse(raw); err == nil && u.Scheme != "" && len(u.Scheme) > 1 {
		if u.Scheme != "file" {
			resolver.refused = append(resolver.refused, raw)
			return "", false
		}
		raw = u.Path
	}
	if _, err := os.Stat(raw); err != nil {
		return "", false
	}
	return filepath.Clean(raw), true
}

// beginCompile lets local files load and adds a catalog; endCompile returns the URLs refused.
func beginCompile(catalog map[string]string) {
	resolver.Lock()
	defer resolver.Unlock()
	if resolver.catalog == nil {
		resolver.catalog = map[string]string{}
	}
	for k, v := range catalog {
		resolver.catalog[k] = v
	}
	resolver.compiling++
	resolver.refused = nil
}

func endCompile() []string {
	resolver.Lock()
	defer resolver.Unlock()
	resolver.compiling--
	refused := resolver.refused
	resolver.refused = nil
	return refused
}
