package simulator

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
)

func TestToken(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name      string
		form      url.Values
		status    int
		errorCode string
	}{
		{"ok", url.Values{"grant_type": {"client_credentials"}, "client_id": {"sub"}, "client_secret": {subSecret}, "scope": {"ignored"}}, 200, ""},
		{"wrong secret", url.Values{"grant_type": {"client_credentials"}, "client_id": {"sub"}, "client_secret": {"nope"}}, 401, "invalid_client"},
		{"unknown client", url.Values{"grant_type": {"client_credentials"}, "client_id": {"nobody"}, "client_secret": {subSecret}}, 401, "invalid_client"},
		{"wrong grant type", url.Values{"grant_type": {"password"}, "client_id": {"sub"}, "client_secret": {subSecret}}, 400, "unsupported_grant_type"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.tokenResp(tc.form)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			var body map[string]any
			r.json(t, &body)
			if tc.errorCode != "" {
				if body["error"] != tc.errorCode {
					t.Fatalf("error %v, want %s", body["error"], tc.errorCode)
				}
				return
			}
			if body["token_type"] != "Bearer" || body["access_token"] == "" || body["expires_in"] != float64(1800) {
				t.Fatalf("token response %s", r.body)
			}
		})
	}

	t.Run("bearer checks", func(t *testing.T) {
		path := "/v1/destinations/" + destA
		if r := e.raw(http.MethodGet, path, "", "", nil); r.status != 401 {
			t.Fatalf("no token: %d", r.status)
		}
		if r := e.raw(http.MethodGet, path, "made-up", "", nil); r.status != 401 || r.header.Get("Content-Type") != "application/problem+json" {
			t.Fatalf("unknown token: %d %s", r.status, r.header.Get("Content-Type"))
		}
		e.getJSON("sub", path, 200, nil)
		e.clock.Advance(31 * time.Minute)
		r := e.call("sub", http.MethodGet, path, "", nil)
		if r.status != 401 || !strings.Contains(r.detail(), "expired") {
			t.Fatalf("expired token: %d %s", r.status, r.body)
		}
	})
	if n := e.srv.Requests(OpToken); n < 5 {
		t.Fatalf("Requests(token) = %d", n)
	}
}

func TestDestinationKeysAndJWKS(t *testing.T) {
	e := newEnv(t)
	var d struct {
		DestinationID string `json:"destinationId"`
		Status        string `json:"status"`
		Services      []struct {
			Identifier        string      `json:"identifier"`
			SubmissionSchemas []SchemaRef `json:"submissionSchemas"`
			Regions           []string    `json:"regions"`
		} `json:"services"`
		EncryptionKid    string   `json:"encryptionKid"`
		MetadataVersions []string `json:"metadataVersions"`
	}
	r := e.getJSON("sub", "/v1/destinations/"+destA, 200, &d)
	if r.header.Get("Cache-Control") != "no-cache" {
		t.Errorf("Cache-Control %q", r.header.Get("Cache-Control"))
	}
	if d.DestinationID != destA || d.Status != "active" || d.EncryptionKid != "enc-key-0001" || len(d.Services) != 1 ||
		d.Services[0].Identifier != serviceURN || d.Services[0].SubmissionSchemas[0].MimeType != "application/json" ||
		d.Services[0].Regions[0] != "DE091620000000" || d.MetadataVersions[0] != "1.0.0" {
		t.Fatalf("destination %s", r.body)
	}
	e.getJSON("snd", "/v1/destinations/"+destA, 200, nil)
	e.getJSON("sub", "/v1/destinations/"+destB, 403, nil)
	e.getJSON("sub", "/v1/destinations/"+uuid.NewString(), 404, nil)
	e.getJSON("sub", "/v1/destinations/not-a-uuid", 400, nil)

	for _, kid := range []string{"enc-key-0001", "sig-key-0001"} {
		r := e.raw(http.MethodGet, "/v1/destinations/"+destA+"/keys/"+kid, "", "", nil)
		if r.status != 200 {
			t.Fatalf("key %s: %d", kid, r.status)
		}
		k, err := jwk.ParseKey(r.body)
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := k.KeyID(); got != kid {
			t.Fatalf("kid %s", got)
		}
		if priv, _ := jwk.IsPrivateKey(k); priv {
			t.Fatal("private key served")
		}
	}
	if r := e.raw(http.MethodGet, "/v1/destinations/"+destA+"/keys/unknown-kid", "", "", nil); r.status != 404 {
		t.Fatalf("unknown kid: %d", r.status)
	}

	r = e.raw(http.MethodGet, "/.well-known/jwks.json", "", "", nil)
	var jwks struct {
		Keys []map[string]any `json:"keys"`
	}
	r.json(t, &jwks)
	if len(jwks.Keys) != 1 {
		t.Fatalf("jwks %s", r.body)
	}
	k := jwks.Keys[0]
	if k["kty"] != "RSA" || k["alg"] != "PS512" || k["kid"] == "" || k["e"] != "AQAB" || len(k["n"].(string)) < 683 {
		t.Fatalf("service key %v", k)
	}
	if ops, _ := k["key_ops"].([]any); len(ops) != 1 || ops[0] != "verify" {
		t.Fatalf("key_ops %v", k["key_ops"])
	}
	if x5c, _ := k["x5c"].([]any); len(x5c) != 1 {
		t.Fatalf("x5c %v", k["x5c"])
	}
	if _, ok := k["d"]; ok {
		t.Fatal("private part in JWKS")
	}
	if e.srv.ServiceKeys().Len() != 1 {
		t.Fatal("ServiceKeys")
	}
	if r := e.raw(http.MethodDelete, "/.well-known/jwks.json", "", "", nil); r.status != 405 {
		t.Fatalf("DELETE jwks: %d", r.status)
	}
	if r := e.raw(http.MethodGet, "/v1/info", "", "", nil); r.status != 200 || !strings.Contains(string(r.body), `"major":1`) {
		t.Fatalf("info: %d %s", r.status, r.body)
	}
	if r := e.raw(http.MethodGet, "/v2/nothing", "", "", nil); r.status != 404 {
		t.Fatalf("unknown path: %d", r.status)
	}
}

// decodeSET returns header and payload of a compact JWS without verifying it.
func decodeSET(t *testing.T, set string) (hdr, claims map[string]any) {
	t.Helper()
	parts := strings.Split(set, ".")
	if len(parts) != 3 {
		t.Fatalf("SET %q", set)
	}
	for i, dst := range []*map[string]any{&hdr, &claims} {
		raw, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(raw, dst); err != nil {
			t.Fatal(err)
		}
	}
	return hdr, claims
}

func TestHappyPath(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Issuer = "https://zustelldienst.test/" })
	s := e.send(destA, 2, true)
	if got := e.srv.State(s.ref.SubmissionID); got != StateSubmitted {
		t.Fatalf("state %q", got)
	}

	// List.
	var list struct {
		Count       int             `json:"count"`
		Offset      int             `json:"offset"`
		TotalCount  int             `json:"totalCount"`
		Submissions []submissionRef `json:"submissions"`
	}
	e.getJSON("sub", "/v1/submissions?destinationId="+destA, 200, &list)
	if list.Count != 1 || list.TotalCount != 1 || list.Submissions[0] != s.ref {
		t.Fatalf("list %+v", list)
	}
	e.getJSON("sub", "/v1/submissions", 200, &list)
	if list.Count != 1 {
		t.Fatalf("list without destinationId %+v", list)
	}
	e.getJSON("subB", "/v1/submissions", 200, &list)
	if list.Count != 0 || list.Submissions == nil {
		t.Fatalf("subB list %+v", list)
	}

	// Get.
	var got struct {
		submissionRef
		Attachments       []string          `json:"attachments"`
		ServiceType       map[string]string `json:"serviceType"`
		EncryptedMetadata string            `json:"encryptedMetadata"`
		EncryptedData     string            `json:"encryptedData"`
	}
	e.getJSON("sub", "/v1/submissions/"+s.ref.SubmissionID, 200, &got)
	if got.submissionRef != s.ref || len(got.Attachments) != 2 || got.ServiceType["identifier"] != serviceURN ||
		got.ServiceType["name"] != "Bauantrag" || got.EncryptedMetadata != s.metadata || got.EncryptedData != s.data {
		t.Fatalf("submission %+v", got)
	}

	// Attachments.
	for _, id := range got.Attachments {
		r := e.call("sub", http.MethodGet, "/v1/submissions/"+s.ref.SubmissionID+"/attachments/"+id, "", nil)
		if r.status != 200 || r.header.Get("Content-Type") != "application/jose" || string(r.body) != s.attachments[id] {
			t.Fatalf("attachment %s: %d %s", id, r.status, r.header.Get("Content-Type"))
		}
	}
	if r := e.call("sub", http.MethodGet, "/v1/submissions/"+s.ref.SubmissionID+"/attachments/"+uuid.NewString(), "", nil); r.status != 404 {
		t.Fatalf("unknown attachment: %d", r.status)
	}

	// Event log: create + submit, the submit SET verifies with the JWKS and carries the tags.
	var log struct {
		Count      int      `json:"count"`
		Offset     int      `json:"offset"`
		TotalCount int      `json:"totalCount"`
		EventLog   []string `json:"eventLog"`
	}
	e.getJSON("sub", "/v1/cases/"+s.ref.CaseID+"/events", 200, &log)
	if log.Count != 2 || log.TotalCount != 2 || len(log.EventLog) != 2 {
		t.Fatalf("event log %+v", log)
	}
	jwksResp := e.raw(http.MethodGet, "/.well-known/jwks.json", "", "", nil)
	set, err := jwk.Parse(jwksResp.body)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{EventCreate, EventSubmit} {
		if _, err := jws.Verify([]byte(log.EventLog[i]), jws.WithKeySet(set, jws.WithRequireKid(true))); err != nil {
			t.Fatalf("event %d does not verify with the JWKS: %v", i, err)
		}
		hdr, claims := decodeSET(t, log.EventLog[i])
		svcKid, _ := e.srv.svc.public.KeyID()
		if hdr["typ"] != "secevent+jwt" || hdr["alg"] != "PS512" || hdr["kid"] != svcKid {
			t.Fatalf("event %d header %v", i, hdr)
		}
		if claims["$schema"] != SETSchema || claims["iss"] != "https://zustelldienst.test/" ||
			claims["sub"] != "submission:"+s.ref.SubmissionID || claims["txn"] != "case:"+s.ref.CaseID {
			t.Fatalf("event %d claims %v", i, claims)
		}
		if _, err := uuid.Parse(claims["jti"].(string)); err != nil {
			t.Fatalf("jti %v", claims["jti"])
		}
		events := claims["events"].(map[string]any)
		payload, ok := events[want].(map[string]any)
		if len(events) != 1 || !ok {
			t.Fatalf("event %d events %v, want %s", i, events, want)
		}
		if want == EventCreate && len(payload) != 0 {
			t.Fatalf("create payload %v", payload)
		}
		if want == EventSubmit {
			tags, _ := json.Marshal(payload["authenticationTags"])
			wantTags, _ := json.Marshal(s.tags())
			if string(tags) != string(wantTags) {
				t.Fatalf("authenticationTags\n got %s\nwant %s", tags, wantTags)
			}
		}
	}

	// Accept, then a second accept is a conflict.
	r := e.postSET("sub", s.ref.CaseID, e.signSET(e.acceptClaims(s), setSpec{}))
	if r.status != http.StatusNoContent {
		t.Fatalf("accept: %d %s", r.status, r.body)
	}
	if st := e.srv.State(s.ref.SubmissionID); st != StateAccepted {
		t.Fatalf("state %q", st)
	}
	ev, payload, ok := e.srv.Decision(s.ref.SubmissionID)
	if !ok || ev != EventAccept || !strings.Contains(string(payload), tagOf(s.metadata)) {
		t.Fatalf("decision %s %s %v", ev, payload, ok)
	}
	r = e.postSET("sub", s.ref.CaseID, e.signSET(e.acceptClaims(s), setSpec{}))
	if r.status != http.StatusConflict {
		t.Fatalf("second accept: %d %s", r.status, r.body)
	}
	if n := e.srv.EventCount(s.ref.CaseID); n != 3 {
		t.Fatalf("EventCount %d", n)
	}
	e.getJSON("sub", "/v1/submissions/"+s.ref.SubmissionID, 404, nil)
	e.getJSON("sub", "/v1/submissions", 200, &list)
	if list.Count != 0 {
		t.Fatalf("accepted submission still listed")
	}
	e.getJSON("snd", "/v1/cases/"+s.ref.CaseID+"/events?offset=2&limit=5", 200, &log)
	if log.Count != 1 || log.Offset != 2 || log.TotalCount != 3 {
		t.Fatalf("sender event log page %+v", log)
	}
	for op, n := range map[string]int{OpCreate: 1, OpUpload: 2, OpSubmit: 1, OpGet: 2, OpAttachment: 3, OpEvent: 2, OpJWKS: 1} {
		if got := e.srv.Requests(op); got != n {
			t.Errorf("Requests(%s) = %d, want %d", op, got, n)
		}
	}
}

func TestReject(t *testing.T) {
	e := newEnv(t)
	s := e.send(destA, 0, false)
	claims := e.acceptClaims(s)
	claims["events"] = map[string]any{EventReject: map[string]any{"problems": []map[string]string{{
		"type": "https://schema.fitko.de/fit-connect/events/problems/hash-mismatch", "title": "Prüfsumme stimmt nicht", "detail": "x", "instance": "data",
	}}}}
	if r := e.postSET("sub", s.ref.CaseID, e.signSET(claims, setSpec{})); r.status != 204 {
		t.Fatalf("reject: %d %s", r.status, r.body)
	}
	if ev, _, _ := e.srv.Decision(s.ref.SubmissionID); ev != EventReject || e.srv.State(s.ref.SubmissionID) != StateRejected {
		t.Fatalf("decision %s state %s", ev, e.srv.State(s.ref.SubmissionID))
	}
	// Accept without data and attachments: tags are metadata plus an empty (or absent) map.
	s2 := e.send(destA, 0, false)
	c2 := e.acceptClaims(s2)
	c2["events"] = map[string]any{EventAccept: map[string]any{"authenticationTags": map[string]any{"metadata": tagOf(s2.metadata)}}}
	if r := e.postSET("sub", s2.ref.CaseID, e.signSET(c2, setSpec{})); r.status != 204 {
		t.Fatalf("accept without attachments map: %d %s", r.status, r.body)
	}
}

func TestPostEvent422(t *testing.T) {
	e := newEnv(t)
	s := e.send(destA, 2, true)
	other := e.send(destA, 0, false) // another case of the same destination
	var attIDs []string
	for id := range s.attachments {
		attIDs = append(attIDs, id)
	}
	withEvent := func(event string, payload any) setSpec {
		return setSpec{claims: map[string]any{"events": map[string]any{event: payload}}}
	}
	tags := func(change func(map[string]any)) map[string]any {
		tg := s.tags()
		change(tg)
		return map[string]any{"authenticationTags": tg}
	}
	problem := map[string]any{"type": "https://schema.fitko.de/fit-connect/events/problems/schema-violation", "title": "Schema", "instance": "metadata"}
	reject := func(change func(map[string]any)) map[string]any {
		p := map[string]any{}
		for k, v := range problem {
			p[k] = v
		}
		change(p)
		return map[string]any{"problems": []any{p}}
	}
	badSig, err := jwk.Import(otherPriv)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name   string
		spec   setSpec
		status int
		detail string
	}{
		{"wrong typ", setSpec{header: map[string]any{"typ": "JWT"}}, 422, "typ"},
		{"missing typ", setSpec{header: map[string]any{"typ": nil}}, 422, "typ is missing"},
		{"wrong alg", setSpec{alg: jwa.PS256()}, 422, "alg"},
		{"wrong kid", setSpec{header: map[string]any{"kid": "enc-key-0001"}}, 422, "kid"},
		{"bad signature", setSpec{key: badSig}, 422, "signature"},
		{"jku header", setSpec{header: map[string]any{"jku": "https://evil.example/keys"}}, 422, `"jku"`},
		{"unknown sub", setSpec{claims: map[string]any{"sub": "submission:" + uuid.NewString()}}, 422, "names no submission of case"},
		{"sub of other case", setSpec{claims: map[string]any{"sub": "submission:" + other.ref.SubmissionID}}, 422, "names no submission of case"},
		{"malformed sub", setSpec{claims: map[string]any{"sub": s.ref.SubmissionID}}, 422, "submission:<submissionId>"},
		{"wrong txn", setSpec{claims: map[string]any{"txn": "case:" + other.ref.CaseID}}, 422, "txn"},
		{"wrong iss", setSpec{claims: map[string]any{"iss": destB}}, 422, "iss"},
		{"jti not a uuid", setSpec{claims: map[string]any{"jti": "1234"}}, 422, "jti"},
		{"jti missing", setSpec{claims: map[string]any{"jti": nil}}, 422, "claim jti is missing"},
		{"iat string", setSpec{claims: map[string]any{"iat": "1700000000"}}, 422, "iat must be an integer"},
		{"iat fraction", setSpec{claims: map[string]any{"iat": 1700000000.5}}, 422, "iat must be an integer"},
		{"iat future", setSpec{claims: map[string]any{"iat": e.clock.Now().Add(10 * time.Minute).Unix()}}, 422, "future"},
		{"iat too old", setSpec{claims: map[string]any{"iat": 1577833199}}, 422, "minimum"},
		{"bad $schema", setSpec{claims: map[string]any{"$schema": "https://schema.fitko.de/fit-connect/set-payload/2.0.0/set-payload.schema.json"}}, 422, "$schema"},
		{"extra claim", setSpec{claims: map[string]any{"exp": 2000000000}}, 422, "unknown claim(s) exp"},
		{"two events", setSpec{claims: map[string]any{"events": map[string]any{EventAccept: tags(func(map[string]any) {}), EventReject: reject(func(map[string]any) {})}}}, 422, "exactly one event"},
		{"no event", setSpec{claims: map[string]any{"events": map[string]any{}}}, 422, "exactly one event"},
		{"unknown event", withEvent(EventPrefix+"forward-submission", map[string]any{}), 422, "cannot be posted"},
		{"wrong metadata tag", withEvent(EventAccept, tags(func(m map[string]any) { m["metadata"] = tagOf(s.data) })), 422, "authenticationTags.metadata"},
		{"wrong data tag", withEvent(EventAccept, tags(func(m map[string]any) { m["data"] = "AAAAAAAAAAAAAAAAAAAAAA" })), 422, "authenticationTags.data"},
		{"missing data tag", withEvent(EventAccept, tags(func(m map[string]any) { delete(m, "data") })), 422, "authenticationTags.data is missing"},
		{"wrong attachment tag", withEvent(EventAccept, tags(func(m map[string]any) {
			m["attachments"].(map[string]string)[attIDs[0]] = tagOf(s.metadata)
		})), 422, "authenticationTags.attachments." + attIDs[0]},
		{"missing attachment tag", withEvent(EventAccept, tags(func(m map[string]any) {
			delete(m["attachments"].(map[string]string), attIDs[1])
		})), 422, "no tag for attachment " + attIDs[1]},
		{"extra attachment tag", withEvent(EventAccept, tags(func(m map[string]any) {
			m["attachments"].(map[string]string)[uuid.NewString()] = "x"
		})), 422, "does not have"},
		{"missing attachments map", withEvent(EventAccept, tags(func(m map[string]any) { delete(m, "attachments") })), 422, "attachments is missing"},
		{"extra tag field", withEvent(EventAccept, tags(func(m map[string]any) { m["signature"] = "x" })), 422, "unknown field(s) signature"},
		{"accept without tags", withEvent(EventAccept, map[string]any{}), 422, "authenticationTags is missing"},
		{"reject empty problems", withEvent(EventReject, map[string]any{"problems": []any{}}), 422, "at least one problem"},
		{"reject no problems", withEvent(EventReject, map[string]any{}), 422, "problems is missing"},
		{"reject problem without instance", withEvent(EventReject, reject(func(p map[string]any) { delete(p, "instance") })), 422, "instance is missing"},
		{"reject problem extra field", withEvent(EventReject, reject(func(p map[string]any) { p["status"] = 400 })), 422, "unknown field(s) status"},
		{"reject relative type", withEvent(EventReject, reject(func(p map[string]any) { p["type"] = "hash-mismatch" })), 422, "absolute URI"},
		{"reject title not a string", withEvent(EventReject, reject(func(p map[string]any) { p["title"] = 1 })), 422, "title must be a string"},
		{"payload not JSON", setSpec{payload: []byte("hello")}, 422, "not a JSON object"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.postSET("sub", s.ref.CaseID, e.signSET(e.acceptClaims(s), tc.spec))
			if r.status != tc.status || !strings.Contains(r.detail(), tc.detail) {
				t.Fatalf("status %d detail %q; want %d containing %q", r.status, r.detail(), tc.status, tc.detail)
			}
			if r.header.Get("Content-Type") != "application/problem+json" {
				t.Fatalf("Content-Type %q", r.header.Get("Content-Type"))
			}
		})
	}

	t.Run("not a JWS", func(t *testing.T) {
		for _, body := range []string{"", "abc", "a.b", "a.b.c.d", "e30.e30.!!"} {
			if r := e.postSET("sub", s.ref.CaseID, body); r.status != 400 {
				t.Errorf("%q: %d %s", body, r.status, r.body)
			}
		}
		r := e.call("sub", http.MethodPost, "/v1/cases/"+s.ref.CaseID+"/events", "application/json", []byte(e.signSET(e.acceptClaims(s), setSpec{})))
		if r.status != 415 {
			t.Errorf("application/json: %d", r.status)
		}
	})
	t.Run("unknown case", func(t *testing.T) {
		if r := e.postSET("sub", uuid.NewString(), e.signSET(e.acceptClaims(s), setSpec{})); r.status != 404 {
			t.Fatalf("%d %s", r.status, r.body)
		}
	})
	if st := e.srv.State(s.ref.SubmissionID); st != StateSubmitted {
		t.Fatalf("state after refused SETs: %s", st)
	}
	if n := e.srv.EventCount(s.ref.CaseID); n != 2 {
		t.Fatalf("refused SETs were logged: %d events", n)
	}

	t.Run("replayed jti", func(t *testing.T) {
		claims := e.acceptClaims(s)
		set := e.signSET(claims, setSpec{})
		if r := e.postSET("sub", s.ref.CaseID, set); r.status != 204 {
			t.Fatalf("accept: %d %s", r.status, r.body)
		}
		// The same token again, and the same jti for another submission.
		if r := e.postSET("sub", s.ref.CaseID, set); r.status != 422 || !strings.Contains(r.detail(), "replay") {
			t.Fatalf("same SET again: %d %s", r.status, r.body)
		}
		oc := e.acceptClaims(other)
		oc["jti"] = claims["jti"]
		if r := e.postSET("sub", other.ref.CaseID, e.signSET(oc, setSpec{})); r.status != 422 || !strings.Contains(r.detail(), "replay") {
			t.Fatalf("jti reused for another submission: %d %s", r.status, r.body)
		}
		// A service jti is taken too.
		_, svcClaims := decodeSET(t, e.srv.Events(other.ref.CaseID)[0])
		oc["jti"] = svcClaims["jti"]
		if r := e.postSET("sub", other.ref.CaseID, e.signSET(oc, setSpec{})); r.status != 422 || !strings.Contains(r.detail(), "replay") {
			t.Fatalf("service jti reused: %d %s", r.status, r.body)
		}
	})
}

func TestForbidden(t *testing.T) {
	e := newEnv(t)
	s := e.send(destA, 1, false)
	var attID string
	for id := range s.attachments {
		attID = id
	}
	tests := []struct {
		name, client, method, path, ct string
		body                           []byte
	}{
		{"destination of another subscriber", "subB", "GET", "/v1/destinations/" + destA, "", nil},
		{"list other destination", "subB", "GET", "/v1/submissions?destinationId=" + destA, "", nil},
		{"get other destination's submission", "subB", "GET", "/v1/submissions/" + s.ref.SubmissionID, "", nil},
		{"attachment of other destination", "subB", "GET", "/v1/submissions/" + s.ref.SubmissionID + "/attachments/" + attID, "", nil},
		{"event log of other destination", "subB", "GET", "/v1/cases/" + s.ref.CaseID + "/events", "", nil},
		{"post event to other destination", "subB", "POST", "/v1/cases/" + s.ref.CaseID + "/events", "application/jose", []byte(e.signSET(e.acceptClaims(s), setSpec{}))},
		{"sender lists", "snd", "GET", "/v1/submissions", "", nil},
		{"sender posts event", "snd", "POST", "/v1/cases/" + s.ref.CaseID + "/events", "application/jose", []byte(e.signSET(e.acceptClaims(s), setSpec{}))},
		{"subscriber creates", "sub", "POST", "/v1/submissions", "application/json", mustJSON(t, map[string]any{"destinationId": destA, "announcedAttachments": []string{}, "serviceType": map[string]string{"name": "x", "identifier": serviceURN}})},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.call(tc.client, tc.method, tc.path, tc.ct, tc.body)
			if r.status != 403 {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
		})
	}
	if e.srv.State(s.ref.SubmissionID) != StateSubmitted {
		t.Fatal("state changed")
	}

	// A sender limited to destB may not send to destA.
	e2 := newEnv(t, func(c *Config) {
		c.Clients = append(c.Clients, Client{ID: "sndB", Secret: "x", Role: RoleSender, Destinations: []string{destB}})
	})
	r := e2.tokenResp(url.Values{"grant_type": {"client_credentials"}, "client_id": {"sndB"}, "client_secret": {"x"}})
	var tr struct {
		AccessToken string `json:"access_token"`
		Scope       string `json:"scope"`
	}
	r.json(t, &tr)
	if !strings.Contains(tr.Scope, "send:region:DE091620000000+send:service:"+serviceURN) {
		t.Errorf("scope %q", tr.Scope)
	}
	body := mustJSON(t, map[string]any{"destinationId": destA, "announcedAttachments": []string{}, "serviceType": map[string]string{"name": "x", "identifier": serviceURN}})
	if r := e2.raw("POST", "/v1/submissions", tr.AccessToken, "application/json", body); r.status != 403 {
		t.Fatalf("sndB to destA: %d %s", r.status, r.body)
	}
}

func TestSenderRules(t *testing.T) {
	e := newEnv(t)
	create := func(body map[string]any) response {
		return e.call("snd", "POST", "/v1/submissions", "application/json", mustJSON(t, body))
	}
	att := uuid.NewString()
	ok := map[string]any{"destinationId": destA, "announcedAttachments": []string{att}, "serviceType": map[string]string{"name": "Bauantrag", "identifier": serviceURN}}
	with := func(k string, v any) map[string]any {
		m := map[string]any{}
		for kk, vv := range ok {
			m[kk] = vv
		}
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	createTests := []struct {
		name   string
		body   map[string]any
		status int
	}{
		{"unknown destination", with("destinationId", uuid.NewString()), 404},
		{"service not offered", with("serviceType", map[string]string{"name": "x", "identifier": "urn:de:fim:leika:leistung:11111111111111"}), 422},
		{"no destination", with("destinationId", nil), 400},
		{"no announcedAttachments", with("announcedAttachments", nil), 400},
		{"attachment not a uuid", with("announcedAttachments", []string{"x"}), 400},
		{"attachment twice", with("announcedAttachments", []string{att, att}), 422},
		{"unknown field", with("foo", 1), 400},
		{"unknown case", with("caseId", uuid.NewString()), 404},
	}
	for _, tc := range createTests {
		t.Run(tc.name, func(t *testing.T) {
			if r := create(tc.body); r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
		})
	}
	if r := e.call("snd", "POST", "/v1/submissions", "text/plain", mustJSON(t, ok)); r.status != 415 {
		t.Fatalf("text/plain create: %d", r.status)
	}

	r := create(ok)
	if r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	var ref submissionRef
	r.json(t, &ref)
	if e.srv.State(ref.SubmissionID) != StateCreated || e.srv.EventCount(ref.CaseID) != 1 {
		t.Fatalf("after create: state %s events %d", e.srv.State(ref.SubmissionID), e.srv.EventCount(ref.CaseID))
	}
	base := "/v1/submissions/" + ref.SubmissionID
	jweBody := encrypt(t, "x")
	submitBody := mustJSON(t, map[string]string{"encryptedMetadata": encrypt(t, "{}")})

	steps := []struct {
		name, method, path, ct string
		body                   []byte
		status                 int
	}{
		{"upload not announced", "PUT", base + "/attachments/" + uuid.NewString(), "application/jose", []byte(jweBody), 422},
		{"upload wrong content type", "PUT", base + "/attachments/" + att, "application/octet-stream", []byte(jweBody), 415},
		{"upload not a JWE", "PUT", base + "/attachments/" + att, "application/jose", []byte("a.b.c"), 400},
		{"upload JWE with bad header", "PUT", base + "/attachments/" + att, "application/jose", []byte("e30.AAAA.AAAA.AAAA.AAAA"), 400},
		{"submit before upload", "PUT", base, "application/json", submitBody, 422},
		{"upload", "PUT", base + "/attachments/" + att, "application/jose", []byte(jweBody), 204},
		{"submit without metadata", "PUT", base, "application/json", []byte(`{}`), 400},
		{"submit bad metadata", "PUT", base, "application/json", []byte(`{"encryptedMetadata":"x.y"}`), 400},
		{"submit unknown submission", "PUT", "/v1/submissions/" + uuid.NewString(), "application/json", submitBody, 404},
		{"submit", "PUT", base, "application/json", submitBody, 202},
		{"submit again", "PUT", base, "application/json", submitBody, 409},
		{"upload after submit", "PUT", base + "/attachments/" + att, "application/jose", []byte(jweBody), 409},
	}
	for _, st := range steps {
		r := e.call("snd", st.method, st.path, st.ct, st.body)
		if r.status != st.status {
			t.Fatalf("%s: status %d, want %d: %s", st.name, r.status, st.status, r.body)
		}
	}
	// A reply in the same case.
	r = create(with("caseId", ref.CaseID))
	var ref2 submissionRef
	r.json(t, &ref2)
	if r.status != 201 || ref2.CaseID != ref.CaseID || e.srv.EventCount(ref.CaseID) != 3 {
		t.Fatalf("create in case: %d %s, %d events", r.status, r.body, e.srv.EventCount(ref.CaseID))
	}
}

func TestListPaging(t *testing.T) {
	e := newEnv(t)
	var ids []string
	for range 3 {
		ids = append(ids, e.send(destA, 0, false).ref.SubmissionID)
	}
	e.send(destB, 0, false)
	for _, q := range []string{"limit=0", "limit=501", "offset=-1", "limit=x", "destinationId=nope"} {
		e.getJSON("sub", "/v1/submissions?"+q, 400, nil)
	}
	var list struct {
		Count       int             `json:"count"`
		Offset      int             `json:"offset"`
		TotalCount  int             `json:"totalCount"`
		Submissions []submissionRef `json:"submissions"`
	}
	e.getJSON("sub", "/v1/submissions?limit=2", 200, &list)
	if list.Count != 2 || list.TotalCount != 3 || list.Submissions[0].SubmissionID != ids[0] || list.Submissions[1].SubmissionID != ids[1] {
		t.Fatalf("page 1 %+v", list)
	}
	e.getJSON("sub", "/v1/submissions?limit=2&offset=2", 200, &list)
	if list.Count != 1 || list.Offset != 2 || list.Submissions[0].SubmissionID != ids[2] {
		t.Fatalf("page 2 %+v", list)
	}
	e.getJSON("sub", "/v1/submissions?offset=10", 200, &list)
	if list.Count != 0 || list.TotalCount != 3 {
		t.Fatalf("page 3 %+v", list)
	}
}

func TestFaults(t *testing.T) {
	e := newEnv(t)
	s := e.send(destA, 0, false)

	t.Run("Fail", func(t *testing.T) {
		e.srv.Fail(OpList, 503, 2)
		for i, want := range []int{503, 503, 200} {
			r := e.call("sub", "GET", "/v1/submissions", "", nil)
			if r.status != want {
				t.Fatalf("request %d: %d, want %d", i, r.status, want)
			}
			if want == 503 && r.header.Get("Content-Type") != "application/problem+json" {
				t.Fatalf("fault Content-Type %q", r.header.Get("Content-Type"))
			}
		}
		if n := e.srv.Requests(OpList); n != 3 {
			t.Fatalf("Requests(list) = %d", n)
		}
		e.srv.Fail(OpToken, 500, -1)
		for range 3 {
			if r := e.tokenResp(url.Values{"grant_type": {"client_credentials"}, "client_id": {"sub"}, "client_secret": {subSecret}}); r.status != 500 {
				t.Fatalf("token under Fail(-1): %d", r.status)
			}
		}
		e.srv.Fail(OpToken, 0, 0)
		if r := e.tokenResp(url.Values{"grant_type": {"client_credentials"}, "client_id": {"sub"}, "client_secret": {subSecret}}); r.status != 200 {
			t.Fatalf("token after clearing: %d", r.status)
		}
	})

	t.Run("Stall", func(t *testing.T) {
		e.srv.Stall(OpGet, 20*time.Second, 1)
		req, _ := http.NewRequest("GET", e.ts.URL+"/v1/submissions/"+s.ref.SubmissionID, nil)
		req.Header.Set("Authorization", "Bearer "+e.token("sub"))
		client := &http.Client{Timeout: 100 * time.Millisecond}
		start := time.Now()
		if _, err := client.Do(req); err == nil {
			t.Fatal("stalled request did not time out")
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("took %v", d)
		}
		// The next one is not stalled; the stalled handler has returned (else ts.Close would hang).
		e.getJSON("sub", "/v1/submissions/"+s.ref.SubmissionID, 200, nil)
		e.srv.Stall(OpGet, 50*time.Millisecond, -1)
		start = time.Now()
		e.getJSON("sub", "/v1/submissions/"+s.ref.SubmissionID, 200, nil)
		if time.Since(start) < 50*time.Millisecond {
			t.Fatal("not stalled")
		}
		e.srv.Stall(OpGet, 0, 0)
	})

	t.Run("Delete", func(t *testing.T) {
		e.srv.Delete(s.ref.SubmissionID)
		e.getJSON("sub", "/v1/submissions/"+s.ref.SubmissionID, 404, nil)
		var list struct {
			Count int `json:"count"`
		}
		e.getJSON("sub", "/v1/submissions", 200, &list)
		if list.Count != 0 || e.srv.State(s.ref.SubmissionID) != "" {
			t.Fatalf("deleted submission still there: %d, state %q", list.Count, e.srv.State(s.ref.SubmissionID))
		}
		if r := e.postSET("sub", s.ref.CaseID, e.signSET(e.acceptClaims(s), setSpec{})); r.status != 404 {
			t.Fatalf("accept deleted: %d %s", r.status, r.body)
		}
	})
}

func TestAutoReject(t *testing.T) {
	e := newEnv(t)
	old := e.send(destA, 1, true)
	e.clock.Advance(15 * 24 * time.Hour)
	clear(e.tok) // the tokens expired
	fresh := e.send(destA, 0, false)
	if n := e.srv.AutoReject(14 * 24 * time.Hour); n != 1 {
		t.Fatalf("AutoReject = %d", n)
	}
	if e.srv.State(old.ref.SubmissionID) != StateRejected || e.srv.State(fresh.ref.SubmissionID) != StateSubmitted {
		t.Fatal("wrong states")
	}
	events := e.srv.Events(old.ref.CaseID)
	last := events[len(events)-1]
	if _, err := jws.Verify([]byte(last), jws.WithKeySet(e.srv.ServiceKeys())); err != nil {
		t.Fatalf("auto-reject SET: %v", err)
	}
	_, claims := decodeSET(t, last)
	rej, ok := claims["events"].(map[string]any)[EventReject].(map[string]any)
	if !ok || claims["iss"] != DefaultIssuer {
		t.Fatalf("claims %v", claims)
	}
	p := rej["problems"].([]any)[0].(map[string]any)
	if p["title"] != "Zustellfrist abgelaufen" || p["instance"] != "submission" || p["type"] != ProblemTechnicalError {
		t.Fatalf("problem %v", p)
	}
	if ev, _, _ := e.srv.Decision(old.ref.SubmissionID); ev != EventReject {
		t.Fatalf("decision %s", ev)
	}
	// The subscriber's late accept conflicts.
	if r := e.postSET("sub", old.ref.CaseID, e.signSET(e.acceptClaims(old), setSpec{})); r.status != 409 {
		t.Fatalf("late accept: %d %s", r.status, r.body)
	}
}

func TestBodyLimits(t *testing.T) {
	e := newEnv(t)
	s := e.send(destA, 0, false)
	big := make([]byte, maxBody+1)
	for i := range big {
		big[i] = 'A'
	}
	if r := e.postSET("sub", s.ref.CaseID, string(big)); r.status != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized SET: %d %s", r.status, r.body)
	}
	// Attachments may be larger than other bodies.
	att := uuid.NewString()
	r := e.call("snd", "POST", "/v1/submissions", "application/json", mustJSON(t, map[string]any{
		"destinationId": destA, "announcedAttachments": []string{att}, "serviceType": map[string]string{"name": "x", "identifier": serviceURN},
	}))
	var ref submissionRef
	r.json(t, &ref)
	jwe := encrypt(t, "x")
	i := strings.Index(jwe, ".")
	j := strings.Index(jwe[i+1:], ".") + i + 1
	k := strings.Index(jwe[j+1:], ".") + j + 1
	huge := jwe[:k+1] + strings.Repeat("A", maxBody+4) + jwe[strings.LastIndex(jwe, "."):] // 10 MB ciphertext
	if r := e.call("snd", "PUT", "/v1/submissions/"+ref.SubmissionID+"/attachments/"+att, "application/jose", []byte(huge)); r.status != 204 {
		t.Fatalf("large attachment: %d %s", r.status, r.body)
	}
}
