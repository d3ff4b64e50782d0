package simulator

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Request body limits.
const (
	maxAttachmentBody = 200 << 20
	maxBody           = 10 << 20
)

type endpoint struct {
	op string
	h  http.HandlerFunc
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	add := func(pattern string, methods map[string]endpoint) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			ep, ok := methods[r.Method]
			if !ok {
				allow := make([]string, 0, len(methods))
				for m := range methods {
					allow = append(allow, m)
				}
				sort.Strings(allow)
				w.Header().Set("Allow", strings.Join(allow, ", "))
				s.problem(w, r, http.StatusMethodNotAllowed, fmt.Sprintf("%s is not allowed on %s (allowed: %s)", r.Method, r.URL.Path, strings.Join(allow, ", ")))
				return
			}
			handle, lose := s.arrive(w, r, ep.op)
			if !handle {
				return
			}
			if lose {
				ep.h(discard{header: http.Header{}}, r)
				s.problem(w, r, http.StatusBadGateway, fmt.Sprintf("injected fault for operation %q: the request was handled, its answer is lost", ep.op))
				return
			}
			ep.h(w, r)
		})
	}
	add("/token", map[string]endpoint{http.MethodPost: {OpToken, s.handleToken}})
	add("/.well-known/jwks.json", map[string]endpoint{http.MethodGet: {OpJWKS, s.handleJWKS}})
	add("/v1/info", map[string]endpoint{http.MethodGet: {OpInfo, s.handleInfo}})
	add("/v1/destinations/{destinationId}", map[string]endpoint{http.MethodGet: {OpDestination, s.handleDestination}})
	add("/v1/destinations/{destinationId}/keys/{keyId}", map[string]endpoint{http.MethodGet: {OpKey, s.handleKey}})
	add("/v1/submissions", map[string]endpoint{
		http.MethodGet:  {OpList, s.handleList},
		http.MethodPost: {OpCreate, s.handleCreate},
	})
	add("/v1/submissions/{submissionId}", map[string]endpoint{
		http.MethodGet: {OpGet, s.handleGet},
		http.MethodPut: {OpSubmit, s.handleSubmit},
	})
	add("/v1/submissions/{submissionId}/attachments/{attachmentId}", map[string]endpoint{
		http.MethodGet: {OpAttachment, s.handleAttachment},
		http.MethodPut: {OpUpload, s.handleUpload},
	})
	add("/v1/cases/{caseId}/events", map[string]endpoint{
		http.MethodGet:  {OpEventLog, s.handleEventLog},
		http.MethodPost: {OpEvent, s.handlePostEvent},
	})
	s.replyRoutes(add)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.problem(w, r, http.StatusNotFound, fmt.Sprintf("no endpoint %s %s in the Submission API", r.Method, r.URL.Path))
	})
	return mux
}

// arrive counts the request and applies injected faults. It reports whether the request
// should be handled, and whether its answer is to be lost.
func (s *Server) arrive(w http.ResponseWriter, r *http.Request, op string) (handle, lose bool) {
	s.mu.Lock()
	s.requests[op]++
	stall := takeFault(s.stalls, op)
	fail := takeFault(s.fails, op)
	if fail == nil {
		lose = takeFault(s.losses, op) != nil
	}
	s.mu.Unlock()
	if stall != nil && stall.delay > 0 {
		t := time.NewTimer(stall.delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return false, false
		}
	}
	if fail != nil {
		if fail.retryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int(fail.retryAfter/time.Second)))
		}
		s.problem(w, r, fail.status, fmt.Sprintf("injected fault for operation %q", op))
		return false, false
	}
	return true, lose
}

// discard is a ResponseWriter that drops the answer (LoseAnswer).
type discard struct{ header http.Header }

func (d discard) Header() http.Header         { return d.header }
func (d discard) Write(b []byte) (int, error) { return len(b), nil }
func (d discard) WriteHeader(int)             {}

func takeFault(m map[string]*fault, op string) *fault {
	f, ok := m[op]
	if !ok {
		return nil
	}
	cp := *f
	if f.n > 0 {
		f.n--
		if f.n == 0 {
			delete(m, op)
		}
	}
	return &cp
}

// apiError is a refused request.
type apiError struct {
	status int
	detail string
}

func errorf(status int, format string, args ...any) *apiError {
	return &apiError{status: status, detail: fmt.Sprintf(format, args...)}
}

// problem writes an RFC 7807 application/problem+json error.
func (s *Server) problem(w http.ResponseWriter, r *http.Request, status int, detail string) {
	s.log.Info("fitconnect simulator: request refused", "method", r.Method, "path", r.URL.Path, "status", status, "detail", detail)
	body, _ := json.Marshal(map[string]any{
		"type":   "about:blank",
		"title":  http.StatusText(status),
		"status": status,
		"detail": detail,
	})
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="fitconnect-simulator"`)
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, err *apiError) {
	s.problem(w, r, err.status, err.detail)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// --- authentication -----------------------------------------------------------------

func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	oauthErr := func(status int, code, desc string) {
		s.log.Info("fitconnect simulator: token refused", "error", code, "detail", desc)
		w.Header().Set("Cache-Control", "no-store")
		writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/x-www-form-urlencoded" {
		oauthErr(http.StatusBadRequest, "invalid_request", "the token request must be application/x-www-form-urlencoded")
		return
	}
	if err := r.ParseForm(); err != nil {
		oauthErr(http.StatusBadRequest, "invalid_request", "cannot parse form: "+err.Error())
		return
	}
	form := r.PostForm
	switch gt := form.Get("grant_type"); gt {
	case "client_credentials":
	case "":
		oauthErr(http.StatusBadRequest, "invalid_request", "grant_type is missing")
		return
	default:
		oauthErr(http.StatusBadRequest, "unsupported_grant_type", fmt.Sprintf("grant_type %q is not supported, use client_credentials", gt))
		return
	}
	id, secret := form.Get("client_id"), form.Get("client_secret")
	if bid, bsecret, ok := r.BasicAuth(); ok && id == "" && secret == "" {
		id, secret = bid, bsecret
	}
	c, ok := s.clients[id]
	if !ok || subtle.ConstantTimeCompare([]byte(secret), []byte(c.Secret)) != 1 {
		w.Header().Set("WWW-Authenticate", `Basic realm="fitconnect-simulator"`)
		oauthErr(http.StatusUnauthorized, "invalid_client", "unknown client or wrong client secret")
		return
	}
	var raw [32]byte
	_, _ = rand.Read(raw[:])
	tok := base64.RawURLEncoding.EncodeToString(raw[:])
	s.mu.Lock()
	now := s.now()
	for t, v := range s.tokens { // drop expired tokens
		if !now.Before(v.expires) {
			delete(s.tokens, t)
		}
	}
	s.tokens[tok] = token{client: c.ID, expires: now.Add(s.ttl)}
	s.mu.Unlock()
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": tok,
		"token_type":   "Bearer",
		"expires_in":   int64(s.ttl / time.Second),
		"scope":        strings.Join(s.scopes(c), " "),
	})
}

// scopes returns the OAuth scopes the real service would grant the client.
func (s *Server) scopes(c *Client) []string {
	var out []string
	switch c.Role {
	case RoleSubscriber:
		for _, d := range c.Destinations {
			out = append(out, "subscribe:destination:"+d)
		}
	case RoleSender:
		ids := c.Destinations
		if len(ids) == 0 {
			for id := range s.dests {
				ids = append(ids, id)
			}
			sort.Strings(ids)
		}
		seen := map[string]bool{}
		for _, id := range ids {
			for _, svc := range s.dests[id].Services {
				for _, reg := range svc.Regions {
					sc := "send:region:" + reg + "+send:service:" + svc.Identifier
					if !seen[sc] {
						seen[sc] = true
						out = append(out, sc)
					}
				}
			}
		}
	}
	return out
}

// authenticate checks the bearer token and returns the client.
func (s *Server) authenticate(r *http.Request) (*Client, *apiError) {
	h := r.Header.Get("Authorization")
	scheme, tok, found := strings.Cut(h, " ")
	if h == "" {
		return nil, errorf(http.StatusUnauthorized, "missing Authorization: Bearer <access token>")
	}
	if !found || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		return nil, errorf(http.StatusUnauthorized, "the Authorization header must be \"Bearer <access token>\"")
	}
	tok = strings.TrimSpace(tok)
	s.mu.Lock()
	t, ok := s.tokens[tok]
	now := s.now()
	s.mu.Unlock()
	if !ok {
		return nil, errorf(http.StatusUnauthorized, "unknown access token")
	}
	if !now.Before(t.expires) {
		return nil, errorf(http.StatusUnauthorized, "access token expired at %s", t.expires.UTC().Format(time.RFC3339))
	}
	return s.clients[t.client], nil
}

// authRole authenticates and requires a role.
func (s *Server) authRole(r *http.Request, role string) (*Client, *apiError) {
	c, err := s.authenticate(r)
	if err != nil {
		return nil, err
	}
	if c.Role != role {
		return nil, errorf(http.StatusForbidden, "client %s has role %s; this operation needs a %s client", c.ID, c.Role, role)
	}
	return c, nil
}

func canSubscribe(c *Client, destID string) bool {
	return c.Role == RoleSubscriber && slices.Contains(c.Destinations, destID)
}

func canSend(c *Client, destID string) bool {
	return c.Role == RoleSender && (len(c.Destinations) == 0 || slices.Contains(c.Destinations, destID))
}

func pathUUID(r *http.Request, name string) (string, *apiError) {
	v := r.PathValue(name)
	if !isUUID(v) {
		return "", errorf(http.StatusBadRequest, "path parameter %s %q is not a UUID", name, v)
	}
	return v, nil
}

func paging(r *http.Request) (offset, limit int, err *apiError) {
	q := r.URL.Query()
	offset, limit = 0, 100
	if v := q.Get("offset"); v != "" || q.Has("offset") {
		n, e := strconv.Atoi(v)
		if e != nil || n < 0 {
			return 0, 0, errorf(http.StatusBadRequest, "offset %q must be an integer >= 0", v)
		}
		offset = n
	}
	if v := q.Get("limit"); v != "" || q.Has("limit") {
		n, e := strconv.Atoi(v)
		if e != nil || n < 1 || n > 500 {
			return 0, 0, errorf(http.StatusBadRequest, "limit %q must be an integer from 1 to 500", v)
		}
		limit = n
	}
	return offset, limit, nil
}

func page[T any](all []T, offset, limit int) []T {
	if offset >= len(all) {
		return []T{}
	}
	end := min(offset+limit, len(all))
	return slices.Clone(all[offset:end])
}

// receive authenticates a client of the role and reads a body of the content type (at most
// maxBody); on failure it has answered and reports false.
func (s *Server) receive(w http.ResponseWriter, r *http.Request, role, contentType string) (*Client, []byte, bool) {
	c, aerr := s.authRole(r, role)
	if aerr == nil {
		aerr = requireContentType(r, contentType)
	}
	var body []byte
	if aerr == nil {
		body, aerr = readBody(w, r, maxBody)
	}
	if aerr != nil {
		s.fail(w, r, aerr)
		return nil, nil, false
	}
	return c, body, true
}

func requireContentType(r *http.Request, want string) *apiError {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != want {
		return errorf(http.StatusUnsupportedMediaType, "Content-Type %q: this operation needs %s", r.Header.Get("Content-Type"), want)
	}
	return nil
}

// readBody reads a request body of at most limit bytes.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, *apiError) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, errorf(http.StatusRequestEntityTooLarge, "request body exceeds %d bytes", limit)
		}
		return nil, errorf(http.StatusBadRequest, "reading request body: %v", err)
	}
	return body, nil
}

// decodeStrict decodes a JSON object refusing unknown fields and trailing data.
func decodeStrict(body []byte, v any) *apiError {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errorf(http.StatusBadRequest, "request body: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return errorf(http.StatusBadRequest, "request body: trailing data after the JSON object")
	}
	return nil
}

// --- public endpoints ---------------------------------------------------------------

func (s *Server) handleJWKS(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(s.svc.jwks)
}

func (s *Server) handleInfo(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"version": map[string]int{"major": 1, "minor": 1, "patch": 3}})
}

func (s *Server) handleKey(w http.ResponseWriter, r *http.Request) {
	id, aerr := pathUUID(r, "destinationId")
	if aerr != nil {
		s.fail(w, r, aerr)
		return
	}
	kid := r.PathValue("keyId")
	d, ok := s.dests[id]
	if !ok {
		s.problem(w, r, http.StatusNotFound, fmt.Sprintf("destination %s not found", id))
		return
	}
	var js []byte
	switch kid {
	case d.encKid:
		js = d.encJSON
	case d.sigKid:
		js = d.sigJSON
	default:
		s.problem(w, r, http.StatusNotFound, fmt.Sprintf("destination %s has no key %q", id, kid))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(js)
}

func (s *Server) handleDestination(w http.ResponseWriter, r *http.Request) {
	c, aerr := s.authenticate(r)
	if aerr != nil {
		s.fail(w, r, aerr)
		return
	}
	id, aerr := pathUUID(r, "destinationId")
	if aerr != nil {
		s.fail(w, r, aerr)
		return
	}
	d, ok := s.dests[id]
	if !ok {
		s.problem(w, r, http.StatusNotFound, fmt.Sprintf("destination %s not found", id))
		return
	}
	if !canSubscribe(c, id) && !canSend(c, id) {
		s.problem(w, r, http.StatusForbidden, fmt.Sprintf("client %s is not configured for destination %s", c.ID, id))
		return
	}
	type svcJSON struct {
		Identifier        string      `json:"identifier"`
		SubmissionSchemas []SchemaRef `json:"submissionSchemas"`
		Regions           []string    `json:"regions"`
	}
	services := make([]svcJSON, 0, len(d.Services))
	for _, svc := range d.Services {
		services = append(services, svcJSON{svc.Identifier, svc.SubmissionSchemas, svc.Regions})
	}
	w.Header().Set("Cache-Control", "no-cache")
	writeJSON(w, http.StatusOK, map[string]any{
		"destinationId":    d.ID,
		"status":           "active",
		"services":         services,
		"encryptionKid":    d.encKid,
		"metadataVersions": d.MetadataVersions,
	})
}

// --- subscriber endpoints ------------------------------------------------------------

type submissionRef struct {
	DestinationID string `json:"destinationId"`
	SubmissionID  string `json:"submissionId"`
	CaseID        string `json:"caseId"`
}

func (sub *submission) ref() submissionRef {
	return submissionRef{DestinationID: sub.destID, SubmissionID: sub.id, CaseID: sub.caseID}
}

func (s *Server) handleList(w http.ResponseWriter, r *http.Request) {
	c, aerr := s.authRole(r, RoleSubscriber)
	if aerr != nil {
		s.fail(w, r, aerr)
		return
	}
	offset, limit, aerr := paging(r)
	if aerr != nil {
		s.fail(w, r, aerr)
		return
	}
	dests := c.Destinations
	if q := r.URL.Query(); q.Has("destinationId") {
		id := q.Get("destinationId")
		if !isUUID(id) {
			s.problem(w, r, http.StatusBadRequest, fmt.Sprintf("destinationId %q is not a UUID", id))
			return
		}
		if !canSubscribe(c, id) {
			s.problem(w, r, http.StatusForbidden, fmt.Sprintf("client %s is not a subscriber of destination %s", c.ID, id))
			return
		}
		dests = []string{id}
	}
	s.mu.Lock()
	var ready []*submission
	for _, sub := range s.subs {
		if sub.state == StateSubmitted && slices.Contains(dests, sub.destID) {
			ready = append(ready, sub)
		}
	}
	s.mu.Unlock()
	slices.SortFunc(ready, func(a, b *submission) int { return compareUint(a.submitSeq, b.submitSeq) })
	refs := make([]submissionRef, len(ready))
	for i, sub := range ready {
		refs[i] = sub.ref()
	}
	p := page(refs, offset, limit)
	writeJSON(w, http.StatusOK, map[string]any{
		"count":       len(p),
		"offset":      offset,
		"totalCount":  len(refs),
		"submissions": p,
	})
}

// pickup finds a submission a subscriber may fetch (state submitted).
func (s *Server) pickup(r *http.Request, c *Client) (*submission, *apiError) {
	id, aerr := pathUUID(r, "submissionId")
	if aerr != nil {
		return nil, aerr
	}
	sub, ok := s.subs[id]
	if !ok {
		if s.deleted[id] {
			return nil, errorf(http.StatusNotFound, "submission %s not found (it was deleted)", id)
		}
		return nil, errorf(http.StatusNotFound, "submission %s not found", id)
	}
	if !canSubscribe(c, sub.destID) {
		return nil, errorf(http.StatusForbidden, "client %s is not a subscriber of destination %s of submission %s", c.ID, sub.destID, id)
	}
	if sub.state != StateSubmitted {
		return nil, errorf(http.StatusNotFound, "submission %s not found: it is in state %s, not submitted", id, sub.state)
	}
	return sub, nil
}

func (s *Server) handleGet(w http.ResponseWriter, r *http.Request) {
	c, aerr := s.authRole(r, RoleSubscriber)
	if aerr != nil {
		s.fail(w, r, aerr)
		return
	}
	s.mu.Lock()
	sub, aerr := s.pickup(r, c)
	if aerr != nil {
		s.mu.Unlock()
		s.fail(w, r, aerr)
		return
	}
	out := map[string]any{
		"destinationId":     sub.destID,
		"submissionId":      sub.id,
		"caseId":            sub.caseID,
		"attachments":       slices.Clone(sub.announced),
		"serviceType":       sub.serviceType,
		"encryptedMetadata": sub.encMetadata,
	}
	if sub.encData != "" {
		out["encryptedData"] = sub.encData
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleAttachment(w http.ResponseWriter, r *http.Request) {
	c, aerr := s.authRole(r, RoleSubscriber)
	if aerr != nil {
		s.fail(w, r, aerr)
		return
	}
	s.mu.Lock()
	sub, aerr := s.pickup(r, c)
	if aerr == nil {
		var aid string
		if aid, aerr = pathUUID(r, "attachmentId"); aerr == nil {
			body, ok := sub.attachments[aid]
			if !ok {
				aerr = errorf(http.StatusNotFound, "attachment %s of submission %s not found", aid, sub.id)
			} else {
				s.mu.Unlock()
				w.Header().Set("Content-Type", "application/jose")
				w.Header().Set("Content-Length", strconv.Itoa(len(body)))
				w.WriteHeader(http.StatusOK)
				_, _ = w.Write(body)
				return
			}
		}
	}
	s.mu.Unlock()
	s.fail(w, r, aerr)
}

// caseFor finds a case and checks that the client may read its event log.
func (s *Server) caseFor(r *http.Request, c *Client) (*caseRec, *apiError) {
	id, aerr := pathUUID(r, "caseId")
	if aerr != nil {
		return nil, aerr
	}
	cs, ok := s.cases[id]
	if !ok {
		return nil, errorf(http.StatusNotFound, "case %s not found", id)
	}
	if canSubscribe(c, cs.destID) {
		return cs, nil
	}
	if c.Role == RoleSender {
		for _, sid := range cs.subs {
			if sub, ok := s.subs[sid]; ok && sub.owner == c.ID {
				return cs, nil
			}
		}
	}
	return nil, errorf(http.StatusForbidden, "client %s may not access case %s of destination %s", c.ID, id, cs.destID)
}

func (s *Server) handleEventLog(w http.ResponseWriter, r *http.Request) {
	c, aerr := s.authenticate(r)
	if aerr != nil {
		s.fail(w, r, aerr)
		return
	}
	offset, limit, aerr := paging(r)
	if aerr != nil {
		s.fail(w, r, aerr)
		return
	}
	s.mu.Lock()
	cs, aerr := s.caseFor(r, c)
	if aerr != nil {
		s.mu.Unlock()
		s.fail(w, r, aerr)
		return
	}
	total := len(cs.events)
	p := page(cs.events, offset, limit)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{
		"count":      len(p),
		"offset":     offset,
		"totalCount": total,
		"eventLog":   p,
	})
}

func (s *Server) handlePostEvent(w http.ResponseWriter, r *http.Request) {
	c, body, ok := s.receive(w, r, RoleSubscriber, "application/jose")
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cs, aerr := s.caseFor(r, c)
	if aerr == nil && !canSubscribe(c, cs.destID) {
		aerr = errorf(http.StatusForbidden, "client %s is not a subscriber of destination %s", c.ID, cs.destID)
	}
	if aerr == nil {
		aerr = s.acceptSET(cs, strings.TrimSpace(string(body)))
	}
	if aerr != nil {
		s.fail(w, r, aerr)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// --- sender endpoints ------------------------------------------------------------------

func (s *Server) handleCreate(w http.ResponseWriter, r *http.Request) {
	c, body, ok := s.receive(w, r, RoleSender, "application/json")
	if !ok {
		return
	}
	var req struct {
		DestinationID        *string      `json:"destinationId"`
		AnnouncedAttachments *[]string    `json:"announcedAttachments"`
		ServiceType          *serviceType `json:"serviceType"`
		CaseID               *string      `json:"caseId"`
		Callback             *struct {
			URL    string `json:"url"`
			Secret string `json:"secret"`
		} `json:"callback"`
	}
	aerr := decodeStrict(body, &req)
	if aerr != nil {
		s.fail(w, r, aerr)
		return
	}
	switch {
	case req.DestinationID == nil:
		aerr = errorf(http.StatusBadRequest, "destinationId is required")
	case !isUUID(*req.DestinationID):
		aerr = errorf(http.StatusBadRequest, "destinationId %q is not a UUID", *req.DestinationID)
	case req.AnnouncedAttachments == nil:
		aerr = errorf(http.StatusBadRequest, "announcedAttachments is required (use [] for none)")
	case req.ServiceType == nil:
		aerr = errorf(http.StatusBadRequest, "serviceType is required")
	case req.ServiceType.Name == "":
		aerr = errorf(http.StatusBadRequest, "serviceType.name is required")
	case !serviceRE.MatchString(req.ServiceType.Identifier):
		aerr = errorf(http.StatusBadRequest, "serviceType.identifier %q is not a service URN", req.ServiceType.Identifier)
	case req.CaseID != nil && !isUUID(*req.CaseID):
		aerr = errorf(http.StatusBadRequest, "caseId %q is not a UUID", *req.CaseID)
	}
	if aerr == nil {
		seen := map[string]bool{}
		for i, id := range *req.AnnouncedAttachments {
			if !isUUID(id) {
				aerr = errorf(http.StatusBadRequest, "announcedAttachments[%d] %q is not a UUID", i, id)
				break
			}
			if seen[id] {
				aerr = errorf(http.StatusUnprocessableEntity, "announcedAttachments[%d]: attachment %s is announced twice", i, id)
				break
			}
			seen[id] = true
		}
	}
	if aerr != nil {
		s.fail(w, r, aerr)
		return
	}
	destID := *req.DestinationID
	d, ok := s.dests[destID]
	if !ok {
		s.problem(w, r, http.StatusNotFound, fmt.Sprintf("destination %s not found", destID))
		return
	}
	if !canSend(c, destID) {
		s.problem(w, r, http.StatusForbidden, fmt.Sprintf("client %s may not send to destination %s", c.ID, destID))
		return
	}
	if !slices.ContainsFunc(d.Services, func(svc Service) bool { return svc.Identifier == req.ServiceType.Identifier }) {
		offered := make([]string, len(d.Services))
		for i, svc := range d.Services {
			offered[i] = svc.Identifier
		}
		s.problem(w, r, http.StatusUnprocessableEntity, fmt.Sprintf("serviceType.identifier %s is not a service of destination %s (offered: %s)", req.ServiceType.Identifier, destID, strings.Join(offered, ", ")))
		return
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	var cs *caseRec
	if req.CaseID != nil {
		cs, ok = s.cases[*req.CaseID]
		if !ok {
			s.problem(w, r, http.StatusNotFound, fmt.Sprintf("case %s not found", *req.CaseID))
			return
		}
		if cs.destID != destID {
			s.problem(w, r, http.StatusUnprocessableEntity, fmt.Sprintf("case %s belongs to destination %s, not %s", cs.id, cs.destID, destID))
			return
		}
	} else {
		cs = &caseRec{id: uuid.NewString(), destID: destID}
	}
	sub := &submission{
		id:          uuid.NewString(),
		caseID:      cs.id,
		destID:      destID,
		owner:       c.ID,
		serviceType: *req.ServiceType,
		announced:   slices.Clone(*req.AnnouncedAttachments),
		attachments: map[string][]byte{},
		state:       StateCreated,
		created:     s.now(),
	}
	set, _, err := s.signSETLocked(sub, EventCreate, map[string]any{})
	if err != nil {
		s.problem(w, r, http.StatusInternalServerError, "signing create-submission event: "+err.Error())
		return
	}
	s.cases[cs.id] = cs
	cs.subs = append(cs.subs, sub.id)
	cs.events = append(cs.events, set)
	s.subs[sub.id] = sub
	s.log.Info("fitconnect simulator: submission created", "submission", sub.id, "case", cs.id, "destination", destID, "client", c.ID)
	writeJSON(w, http.StatusCreated, sub.ref())
}

// ownSubmission finds a submission created by the sender c.
func (s *Server) ownSubmission(r *http.Request, c *Client) (*submission, *apiError) {
	id, aerr := pathUUID(r, "submissionId")
	if aerr != nil {
		return nil, aerr
	}
	sub, ok := s.subs[id]
	if !ok {
		return nil, errorf(http.StatusNotFound, "submission %s not found", id)
	}
	if sub.owner != c.ID {
		return nil, errorf(http.StatusForbidden, "submission %s was created by another client", id)
	}
	return sub, nil
}

func (s *Server) handleUpload(w http.ResponseWriter, r *http.Request) {
	c, aerr := s.authRole(r, RoleSender)
	if aerr != nil {
		s.fail(w, r, aerr)
		return
	}
	if aerr := requireContentType(r, "application/jose"); aerr != nil {
		s.fail(w, r, aerr)
		return
	}
	aid, aerr := pathUUID(r, "attachmentId")
	if aerr != nil {
		s.fail(w, r, aerr)
		return
	}
	check := func() (*submission, *apiError) {
		sub, aerr := s.ownSubmission(r, c)
		if aerr != nil {
			return nil, aerr
		}
		if sub.state != StateCreated {
			return nil, errorf(http.StatusConflict, "submission %s is in state %s; attachments can only be uploaded in state created", sub.id, sub.state)
		}
		if !slices.Contains(sub.announced, aid) {
			return nil, errorf(http.StatusUnprocessableEntity, "attachment %s was not announced for submission %s", aid, sub.id)
		}
		return sub, nil
	}
	s.mu.Lock()
	_, aerr = check()
	s.mu.Unlock()
	if aerr != nil {
		s.fail(w, r, aerr)
		return
	}
	body, aerr := readBody(w, r, maxAttachmentBody)
	if aerr != nil {
		s.fail(w, r, aerr)
		return
	}
	if err := checkCompactJWE(body); err != nil {
		s.problem(w, r, http.StatusBadRequest, fmt.Sprintf("attachment %s: body is not a compact JWE: %v", aid, err))
		return
	}
	s.mu.Lock()
	sub, aerr := check() // the state may have changed while the body was read
	if aerr == nil {
		sub.attachments[aid] = body
	}
	s.mu.Unlock()
	if aerr != nil {
		s.fail(w, r, aerr)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handleSubmit(w http.ResponseWriter, r *http.Request) {
	c, body, ok := s.receive(w, r, RoleSender, "application/json")
	if !ok {
		return
	}
	var req struct {
		EncryptedMetadata *string `json:"encryptedMetadata"`
		EncryptedData     *string `json:"encryptedData"`
	}
	if aerr := decodeStrict(body, &req); aerr != nil {
		s.fail(w, r, aerr)
		return
	}
	if req.EncryptedMetadata == nil {
		s.problem(w, r, http.StatusBadRequest, "encryptedMetadata is required")
		return
	}
	if err := checkCompactJWE(*req.EncryptedMetadata); err != nil {
		s.problem(w, r, http.StatusBadRequest, "encryptedMetadata is not a compact JWE: "+err.Error())
		return
	}
	if req.EncryptedData != nil {
		if err := checkCompactJWE(*req.EncryptedData); err != nil {
			s.problem(w, r, http.StatusBadRequest, "encryptedData is not a compact JWE: "+err.Error())
			return
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	sub, aerr := s.ownSubmission(r, c)
	if aerr != nil {
		s.fail(w, r, aerr)
		return
	}
	if sub.state != StateCreated {
		s.problem(w, r, http.StatusConflict, fmt.Sprintf("submission %s is in state %s; only a submission in state created can be submitted", sub.id, sub.state))
		return
	}
	var missing []string
	for _, aid := range sub.announced {
		if _, ok := sub.attachments[aid]; !ok {
			missing = append(missing, aid)
		}
	}
	if len(missing) > 0 {
		s.problem(w, r, http.StatusUnprocessableEntity, fmt.Sprintf("Gesamtantrag unvollständig: announced attachments not uploaded: %s", strings.Join(missing, ", ")))
		return
	}
	sub.encMetadata = *req.EncryptedMetadata
	if req.EncryptedData != nil {
		sub.encData = *req.EncryptedData
	}
	set, _, err := s.signSETLocked(sub, EventSubmit, map[string]any{"authenticationTags": sub.tags()})
	if err != nil {
		sub.encMetadata, sub.encData = "", ""
		s.problem(w, r, http.StatusInternalServerError, "signing submit-submission event: "+err.Error())
		return
	}
	cs := s.cases[sub.caseID]
	cs.events = append(cs.events, set)
	s.seq++
	sub.submitSeq = s.seq
	sub.submitted = s.now()
	sub.state = StateSubmitted
	s.log.Info("fitconnect simulator: submission submitted", "submission", sub.id, "case", sub.caseID, "destination", sub.destID)
	s.notifyLocked(s.dests[sub.destID], sub)
	writeJSON(w, http.StatusAccepted, sub.ref())
}

// tags returns the authentication tags of the submission's JWEs as the submit-submission
// event carries them.
func (sub *submission) tags() map[string]any {
	t := map[string]any{"metadata": jweTag(sub.encMetadata)}
	if sub.encData != "" {
		t["data"] = jweTag(sub.encData)
	}
	att := map[string]string{}
	for id, body := range sub.attachments {
		att[id] = jweTagBytes(body)
	}
	t["attachments"] = att
	return t
}

// jweTag returns the authentication tag (fifth segment) of a compact JWE.
func jweTag(jwe string) string {
	return jwe[strings.LastIndexByte(jwe, '.')+1:]
}

// jweTagBytes is jweTag for a (possibly large) attachment body; it copies only the tag.
func jweTagBytes(jwe []byte) string {
	return string(jwe[bytes.LastIndexByte(jwe, '.')+1:])
}

// checkCompactJWE checks the compact serialization syntax of a JWE: five base64url
// segments, a JSON object header with alg and enc, non-empty encrypted key, IV and tag.
func checkCompactJWE[T string | []byte](s T) error {
	parts := bytes.Split([]byte(s), []byte("."))
	if len(parts) != 5 {
		return fmt.Errorf("has %d dot-separated segments, a compact JWE has 5", len(parts))
	}
	names := [5]string{"protected header", "encrypted key", "initialization vector", "ciphertext", "authentication tag"}
	for i, p := range parts {
		if len(p) == 0 && i != 3 {
			return fmt.Errorf("segment %d (%s) is empty", i+1, names[i])
		}
		if !isBase64URL(p) {
			return fmt.Errorf("segment %d (%s) is not unpadded base64url", i+1, names[i])
		}
	}
	raw := make([]byte, base64.RawURLEncoding.DecodedLen(len(parts[0])))
	n, err := base64.RawURLEncoding.Decode(raw, parts[0])
	if err != nil {
		return fmt.Errorf("protected header: %v", err)
	}
	raw = raw[:n]
	var hdr map[string]any
	if err := json.Unmarshal(raw, &hdr); err != nil {
		return fmt.Errorf("protected header is not a JSON object: %v", err)
	}
	for _, k := range []string{"alg", "enc"} {
		if v, ok := hdr[k].(string); !ok || v == "" {
			return fmt.Errorf("protected header has no %q", k)
		}
	}
	return nil
}

func isBase64URL[T string | []byte](s T) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return len(s)%4 != 1
}
