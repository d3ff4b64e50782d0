package simulator

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
)

const (
	setType = "secevent+jwt"
	// minIAT is the minimum iat of the set-payload schema (2020-01-01).
	minIAT = 1577833200
	// maxIATSkew is how far iat may lie in the future.
	maxIATSkew = 5 * time.Minute
)

var setSchemaRE = regexp.MustCompile(`^https://schema\.fitko\.de/fit-connect/set-payload/1\.\d+\.\d+/set-payload\.schema\.json$`)

// setClaims is the payload of the SETs the simulator signs, in the usual claim order.
type setClaims struct {
	Schema string         `json:"$schema"`
	JTI    string         `json:"jti"`
	Iss    string         `json:"iss"`
	Iat    int64          `json:"iat"`
	Sub    string         `json:"sub"`
	Txn    string         `json:"txn"`
	Events map[string]any `json:"events"`
}

// signSETLocked signs a SET of the delivery service about sub. It returns the compact JWS
// and the event payload as JSON. s.mu must be held.
func (s *Server) signSETLocked(sub *submission, event string, payload any) (string, json.RawMessage, error) {
	return s.signEventLocked("submission:"+sub.id, sub.caseID, event, payload)
}

// signEventLocked signs a SET of the delivery service about subject (submission:<id> or
// reply:<id>) in a case. s.mu must be held.
func (s *Server) signEventLocked(subject, caseID, event string, payload any) (string, json.RawMessage, error) {
	raw, err := json.Marshal(payload)
	if err != nil {
		return "", nil, err
	}
	claims := setClaims{
		Schema: SETSchema,
		JTI:    uuid.NewString(),
		Iss:    s.issuer,
		Iat:    s.now().Unix(),
		Sub:    subject,
		Txn:    "case:" + caseID,
		Events: map[string]any{event: json.RawMessage(raw)},
	}
	body, err := json.Marshal(claims)
	if err != nil {
		return "", nil, err
	}
	set, err := signCompact(body, s.svc.private, s.svc.kid)
	if err != nil {
		return "", nil, err
	}
	s.jtis[claims.JTI] = true
	return set, raw, nil
}

// signCompact signs payload as a SET (typ secevent+jwt, PS512, kid).
func signCompact(payload []byte, key jwk.Key, kid string) (string, error) {
	h := jws.NewHeaders()
	if err := h.Set(jws.TypeKey, setType); err != nil {
		return "", err
	}
	if err := h.Set(jws.KeyIDKey, kid); err != nil {
		return "", err
	}
	out, err := jws.Sign(payload, jws.WithKey(jwa.PS512(), key, jws.WithProtectedHeaders(h)))
	if err != nil {
		return "", fmt.Errorf("signing SET: %w", err)
	}
	return string(out), nil
}

// headers a SET must not carry: they would let the token choose its own key or change how
// it is processed.
var forbiddenHeaders = []string{"crit", "b64", "jku", "jwk", "x5u", "x5c", "zip"}

func unprocessable(format string, args ...any) *apiError {
	return errorf(http.StatusUnprocessableEntity, format, args...)
}

// acceptSET verifies a SET posted by a subscriber to case cs and, when everything holds,
// appends it to the event log and decides the submission. s.mu must be held.
func (s *Server) acceptSET(cs *caseRec, token string) *apiError {
	d := s.dests[cs.destID]
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return errorf(http.StatusBadRequest, "body is not a compact JWS: it has %d dot-separated segments, not 3", len(parts))
	}
	for i, p := range parts {
		if p == "" || !isBase64URL(p) {
			return errorf(http.StatusBadRequest, "body is not a compact JWS: segment %d is empty or not unpadded base64url", i+1)
		}
	}
	rawHdr, _ := base64.RawURLEncoding.DecodeString(parts[0])
	var hdr map[string]json.RawMessage
	if err := json.Unmarshal(rawHdr, &hdr); err != nil || hdr == nil {
		return errorf(http.StatusBadRequest, "the JWS protected header is not a JSON object")
	}
	str := func(name string) (string, bool) {
		var v string
		raw, ok := hdr[name]
		if !ok || json.Unmarshal(raw, &v) != nil {
			return "", false
		}
		return v, true
	}

	// Header.
	if typ, ok := str("typ"); !ok || typ != setType {
		return unprocessable("SET header: typ is %s, must be %q", describe(hdr["typ"]), setType)
	}
	if alg, ok := str("alg"); !ok || alg != "PS512" {
		return unprocessable("SET header: alg is %s, must be \"PS512\"", describe(hdr["alg"]))
	}
	if kid, ok := str("kid"); !ok || kid != d.sigKid {
		return unprocessable("SET header: kid is %s, must be %q, the kid of the signing key registered for destination %s", describe(hdr["kid"]), d.sigKid, d.ID)
	}
	for _, h := range forbiddenHeaders {
		if _, ok := hdr[h]; ok {
			return unprocessable("SET header: %q is not allowed in a FIT-Connect SET", h)
		}
	}

	// Signature.
	payloadBytes, err := jws.Verify([]byte(token), jws.WithKey(jwa.PS512(), d.SigningKey))
	if err != nil {
		return unprocessable("SET signature does not verify with the signing key %q of destination %s (PS512): %v", d.sigKid, d.ID, err)
	}

	// Claims.
	dec := json.NewDecoder(bytes.NewReader(payloadBytes))
	dec.UseNumber()
	var claims map[string]json.RawMessage
	if err := dec.Decode(&claims); err != nil || claims == nil {
		return unprocessable("SET payload is not a JSON object")
	}
	allowed := []string{"$schema", "jti", "iss", "iat", "sub", "txn", "events"}
	var unknown []string
	for k := range claims {
		if !slices.Contains(allowed, k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return unprocessable("SET payload: unknown claim(s) %s; allowed are %s", strings.Join(unknown, ", "), strings.Join(allowed, ", "))
	}
	for _, k := range allowed[1:] {
		if _, ok := claims[k]; !ok {
			return unprocessable("SET payload: claim %s is missing", k)
		}
	}
	claim := func(name string) (string, *apiError) {
		var v string
		if err := json.Unmarshal(claims[name], &v); err != nil {
			return "", unprocessable("SET payload: claim %s must be a string, is %s", name, claims[name])
		}
		return v, nil
	}
	if raw, ok := claims["$schema"]; ok {
		var v string
		if json.Unmarshal(raw, &v) != nil || !setSchemaRE.MatchString(v) {
			return unprocessable("SET payload: $schema %s does not match %s", raw, setSchemaRE)
		}
	}
	jti, aerr := claim("jti")
	if aerr != nil {
		return aerr
	}
	if len(jti) != 36 || !isUUID(jti) {
		return unprocessable("SET payload: jti %q is not a UUID", jti)
	}
	iss, aerr := claim("iss")
	if aerr != nil {
		return aerr
	}
	if iss != d.ID {
		return unprocessable("SET payload: iss %q must be the destination id %s", iss, d.ID)
	}
	var iatNum json.Number
	if raw := claims["iat"]; len(raw) == 0 || raw[0] == '"' || json.Unmarshal(raw, &iatNum) != nil {
		return unprocessable("SET payload: iat must be an integer (seconds since 1970), is %s", claims["iat"])
	}
	iat, err := strconv.ParseInt(iatNum.String(), 10, 64)
	if err != nil {
		return unprocessable("SET payload: iat must be an integer (seconds since 1970), is %s", iatNum)
	}
	if iat < minIAT {
		return unprocessable("SET payload: iat %d is before the minimum %d (2020-01-01)", iat, minIAT)
	}
	if now := s.now(); time.Unix(iat, 0).After(now.Add(maxIATSkew)) {
		return unprocessable("SET payload: iat %d lies %v in the future (allowed: %v)", iat, time.Unix(iat, 0).Sub(now).Round(time.Second), maxIATSkew)
	}
	txn, aerr := claim("txn")
	if aerr != nil {
		return aerr
	}
	if txn != "case:"+cs.id {
		return unprocessable("SET payload: txn %q must be \"case:%s\", the case the SET is posted to", txn, cs.id)
	}
	subject, aerr := claim("sub")
	if aerr != nil {
		return aerr
	}
	subID, found := strings.CutPrefix(subject, "submission:")
	if !found || len(subID) != 36 || !isUUID(subID) {
		return unprocessable("SET payload: sub %q must be \"submission:<submissionId>\"", subject)
	}
	if s.deleted[subID] && slices.Contains(cs.subs, subID) {
		return errorf(http.StatusNotFound, "submission %s was deleted", subID)
	}
	sub, ok := s.subs[subID]
	if !ok || sub.caseID != cs.id {
		return unprocessable("SET payload: sub %q names no submission of case %s", subject, cs.id)
	}
	var events map[string]json.RawMessage
	if err := json.Unmarshal(claims["events"], &events); err != nil || events == nil {
		return unprocessable("SET payload: events must be an object with exactly one event")
	}
	if len(events) != 1 {
		names := make([]string, 0, len(events))
		for k := range events {
			names = append(names, k)
		}
		sort.Strings(names)
		return unprocessable("SET payload: events must hold exactly one event, holds %d (%s)", len(events), strings.Join(names, ", "))
	}
	var event string
	var payload json.RawMessage
	for k, v := range events {
		event, payload = k, v
	}
	if s.jtis[jti] {
		return unprocessable("SET payload: jti %s was already used (replay)", jti)
	}
	switch event {
	case EventAccept:
		aerr = checkAcceptPayload(payload, sub)
	case EventReject:
		aerr = checkRejectPayload(payload)
	default:
		aerr = unprocessable("SET payload: event %q cannot be posted by a subscriber here; expected %s or %s", event, EventAccept, EventReject)
	}
	if aerr != nil {
		return aerr
	}
	if sub.state != StateSubmitted {
		return errorf(http.StatusConflict, "invalid state transition: submission %s is in state %s, %s needs state submitted", sub.id, sub.state, strings.TrimPrefix(event, EventPrefix))
	}

	s.jtis[jti] = true
	cs.events = append(cs.events, token)
	if event == EventAccept {
		sub.state = StateAccepted
	} else {
		sub.state = StateRejected
	}
	var compact bytes.Buffer
	if json.Compact(&compact, payload) == nil {
		payload = compact.Bytes()
	}
	sub.decisionEvent = event
	sub.decisionPayload = payload
	s.log.Info("fitconnect simulator: submission "+sub.state, "submission", sub.id, "case", cs.id)
	return nil
}

func describe(raw json.RawMessage) string {
	if raw == nil {
		return "missing"
	}
	return string(raw)
}

// strictObject decodes an object and reports its keys that are not in allowed.
func strictObject(raw json.RawMessage, what string, allowed ...string) (map[string]json.RawMessage, *apiError) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return nil, unprocessable("%s must be a JSON object, is %s", what, raw)
	}
	var extra []string
	for k := range m {
		if !slices.Contains(allowed, k) {
			extra = append(extra, k)
		}
	}
	if len(extra) > 0 {
		sort.Strings(extra)
		return nil, unprocessable("%s: unknown field(s) %s; allowed are %s", what, strings.Join(extra, ", "), strings.Join(allowed, ", "))
	}
	return m, nil
}

// jweSet is what an accept's authentication tags are checked against: the JWEs of a submission
// or a reply.
type jweSet struct {
	kind        string // submission or reply
	encMetadata string
	encData     string
	attachments map[string][]byte
}

func (sub *submission) jwes() jweSet {
	return jweSet{kind: "submission", encMetadata: sub.encMetadata, encData: sub.encData, attachments: sub.attachments}
}

func checkAcceptPayload(raw json.RawMessage, sub *submission) *apiError {
	return checkTags(raw, "accept-submission payload", sub.jwes())
}

func checkTags(raw json.RawMessage, what string, sub jweSet) *apiError {
	m, aerr := strictObject(raw, what, "authenticationTags")
	if aerr != nil {
		return aerr
	}
	tagsRaw, ok := m["authenticationTags"]
	if !ok {
		return unprocessable("%s: authenticationTags is missing", what)
	}
	tags, aerr := strictObject(tagsRaw, what+": authenticationTags", "metadata", "data", "attachments")
	if aerr != nil {
		return aerr
	}
	tagString := func(name string, raw json.RawMessage) (string, *apiError) {
		var v string
		if err := json.Unmarshal(raw, &v); err != nil {
			return "", unprocessable("%s: authenticationTags.%s must be a string, is %s", what, name, raw)
		}
		return v, nil
	}
	// metadata
	metaRaw, ok := tags["metadata"]
	if !ok {
		return unprocessable("%s: authenticationTags.metadata is missing", what)
	}
	meta, aerr := tagString("metadata", metaRaw)
	if aerr != nil {
		return aerr
	}
	if meta != jweTag(sub.encMetadata) {
		return unprocessable("%s: authenticationTags.metadata %q does not match the authentication tag of the %s's encryptedMetadata", what, meta, sub.kind)
	}
	// data
	dataRaw, hasData := tags["data"]
	switch {
	case sub.encData == "" && hasData:
		return unprocessable("%s: authenticationTags.data is given, but the %s has no encryptedData", what, sub.kind)
	case sub.encData != "" && !hasData:
		return unprocessable("%s: authenticationTags.data is missing, the %s has encryptedData", what, sub.kind)
	case hasData:
		data, aerr := tagString("data", dataRaw)
		if aerr != nil {
			return aerr
		}
		if data != jweTag(sub.encData) {
			return unprocessable("%s: authenticationTags.data %q does not match the authentication tag of the %s's encryptedData", what, data, sub.kind)
		}
	}
	// attachments
	attRaw, hasAtt := tags["attachments"]
	if !hasAtt {
		if len(sub.attachments) > 0 {
			return unprocessable("%s: authenticationTags.attachments is missing, the %s has %d attachment(s)", what, sub.kind, len(sub.attachments))
		}
		return nil
	}
	var att map[string]json.RawMessage
	if err := json.Unmarshal(attRaw, &att); err != nil || att == nil {
		return unprocessable("%s: authenticationTags.attachments must be an object {attachmentId: tag}, is %s", what, attRaw)
	}
	ids := make([]string, 0, len(sub.attachments))
	for id := range sub.attachments {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		raw, ok := att[id]
		if !ok {
			return unprocessable("%s: authenticationTags.attachments has no tag for attachment %s", what, id)
		}
		tag, aerr := tagString("attachments."+id, raw)
		if aerr != nil {
			return aerr
		}
		if tag != jweTagBytes(sub.attachments[id]) {
			return unprocessable("%s: authenticationTags.attachments.%s %q does not match the authentication tag of that attachment", what, id, tag)
		}
	}
	var extra []string
	for id := range att {
		if _, ok := sub.attachments[id]; !ok {
			extra = append(extra, id)
		}
	}
	if len(extra) > 0 {
		sort.Strings(extra)
		return unprocessable("%s: authenticationTags.attachments names attachment(s) %s the %s does not have", what, strings.Join(extra, ", "), sub.kind)
	}
	return nil
}

func checkRejectPayload(raw json.RawMessage) *apiError {
	return checkProblems(raw, "reject-submission payload")
}

func checkProblems(raw json.RawMessage, what string) *apiError {
	m, aerr := strictObject(raw, what, "problems")
	if aerr != nil {
		return aerr
	}
	pRaw, ok := m["problems"]
	if !ok {
		return unprocessable("%s: problems is missing", what)
	}
	var problems []json.RawMessage
	if err := json.Unmarshal(pRaw, &problems); err != nil {
		return unprocessable("%s: problems must be an array, is %s", what, pRaw)
	}
	if len(problems) == 0 {
		return unprocessable("%s: problems must hold at least one problem", what)
	}
	for i, praw := range problems {
		where := fmt.Sprintf("%s: problems[%d]", what, i)
		p, aerr := strictObject(praw, where, "type", "title", "detail", "instance")
		if aerr != nil {
			return aerr
		}
		vals := map[string]string{}
		for _, f := range []string{"type", "title", "instance", "detail"} {
			raw, ok := p[f]
			if !ok {
				if f == "detail" {
					continue
				}
				return unprocessable("%s: %s is missing", where, f)
			}
			var v string
			if err := json.Unmarshal(raw, &v); err != nil {
				return unprocessable("%s: %s must be a string, is %s", where, f, raw)
			}
			if v == "" && f != "detail" {
				return unprocessable("%s: %s is empty", where, f)
			}
			vals[f] = v
		}
		if !isAbsURI(vals["type"]) {
			return unprocessable("%s: type %q is not an absolute URI", where, vals["type"])
		}
	}
	return nil
}
