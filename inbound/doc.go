// Package inbound is the HTTP API portals talk to: POST /v1/submissions hands in an application
// and is answered 202 only once it is durably stored; GET /v1/submissions/{id} reads back its
// status, history and per-destination delivery state. Portals authenticate with a bearer token
// and only ever see their own submissions.
package inbound
