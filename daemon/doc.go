// Package daemon assembles one amtsbote process from a configuration: the store, the compiled
// schema sets, the routes, the adapters, the pipeline and the inbound API, and shuts them down in
// the order that loses nothing.
package daemon
