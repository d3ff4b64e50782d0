package fitconnect

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwe"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
)

// FIT-Connect's algorithms: content keys wrapped with RSA-OAEP-256, content encrypted with
// A256GCM, events signed with PS512.
var (
	KeyAlgorithm     = jwa.RSA_OAEP_256()
	ContentAlgorithm = jwa.A256GCM()
	SignatureAlg     = jwa.PS512()
)

// DecryptError says why a JWE could not be decrypted; it becomes an encryption-issue problem.
type DecryptError struct {
	// UnknownKey is set when the JWE names a kid the key ring does not have.
	UnknownKey bool
	Reason     string
}

func (e *DecryptError) Error() string { return e.Reason }

type jweHeader struct {
	Alg  string          `json:"alg"`
	Enc  string          `json:"enc"`
	Kid  string          `json:"kid"`
	Zip  string          `json:"zip"`
	Crit json.RawMessage `json:"crit"`
}

// Decrypt decrypts a JWE in compact serialization with the key its kid names. It accepts only
// what FIT-Connect specifies: alg RSA-OAEP-256, enc A256GCM, a kid; compressed content (zip
// DEF, which older senders used) is inflated up to maxPlain bytes. The authentication tag is
// checked: a tampered JWE is an error, never garbage.
func Decrypt(ring *KeyRing, compact []byte, maxPlain int64) ([]byte, error) {
	compact = bytes.TrimSpace(compact)
	parts := bytes.Split(compact, []byte("."))
	if len(parts) != 5 {
		return nil, &DecryptError{Reason: fmt.Sprintf("not a JWE in compact serialization (%d parts, expected 5)", len(parts))}
	}
	rawHeader, err := base64.RawURLEncoding.DecodeString(string(parts[0]))
	if err != nil {
		return nil, &DecryptError{Reason: "the JWE header is not base64url"}
	}
	var h jweHeader
	if err := json.Unmarshal(rawHeader, &h); err != nil {
		return nil, &DecryptError{Reason: "the JWE header is not a JSON object"}
	}
	switch {
	case h.Alg != KeyAlgorithm.String():
		return nil, &DecryptError{Reason: fmt.Sprintf("alg is %q; FIT-Connect uses %s", h.Alg, KeyAlgorithm)}
	case h.Enc != ContentAlgorithm.String():
		return nil, &DecryptError{Reason: fmt.Sprintf("enc is %q; FIT-Connect uses %s", h.Enc, ContentAlgorithm)}
	case h.Kid == "":
		return nil, &DecryptError{Reason: "the JWE names no kid"}
	case h.Zip != "" && h.Zip != "DEF":
		return nil, &DecryptError{Reason: fmt.Sprintf("zip %q is not supported", h.Zip)}
	case len(h.Crit) > 0:
		return nil, &DecryptError{Reason: "the JWE has critical header parameters amtsbote does not know"}
	}
	key, ok := ring.Key(h.Kid)
	if !ok {
		return nil, &DecryptError{UnknownKey: true, Reason: fmt.Sprintf("encrypted for kid %q, which is not in the key ring (decryption_keys has %s)",
			h.Kid, strings.Join(ring.KIDs(), ", "))}
	}
	plain, err := jwe.Decrypt(compact, jwe.WithKey(KeyAlgorithm, rawPrivate(key)), jwe.WithMaxDecompressBufferSize(maxPlain))
	if err != nil {
		return nil, &DecryptError{Reason: "decryption failed (wrong key, or the content or its authentication tag was changed)"}
	}
	return plain, nil
}

// Encrypt encrypts content for a destination's public encryption key, as a sender does.
func Encrypt(pub jwk.Key, content []byte) ([]byte, error) {
	h := jwe.NewHeaders()
	if err := h.Set(jwe.KeyIDKey, KeyID(pub)); err != nil {
		return nil, err
	}
	return jwe.Encrypt(content, jwe.WithKey(KeyAlgorithm, pub), jwe.WithContentEncryption(ContentAlgorithm), jwe.WithProtectedHeaders(h))
}

// AuthTag is the authentication tag of a JWE in compact serialization: its last part.
func AuthTag(compact []byte) string {
	compact = bytes.TrimSpace(compact)
	i := bytes.LastIndexByte(compact, '.')
	if i < 0 {
		return ""
	}
	return string(compact[i+1:])
}

// Event URIs.
const (
	EventBase             = "https://schema.fitko.de/fit-connect/events/"
	EventSubmitSubmission = EventBase + "submit-submission"
	EventAcceptSubmission = EventBase + "accept-submission"
	EventRejectSubmission = EventBase + "reject-submission"
	EventCreateSubmission = EventBase + "create-submission"
	EventNotifySubmission = EventBase + "notify-submission"
	EventDeleteSubmission = EventBase + "delete-submission"
	// SETSchema is the payload schema the SETs amtsbote signs name.
	SETSchema = "https://schema.fitko.de/fit-connect/set-payload/1.0.1/set-payload.schema.json"
	// SETType is the typ header of a Security Event Token.
	SETType = "secevent+jwt"
)

// AuthenticationTags are the authentication tags of a submission's JWEs; the submit event
// carries the sender's, the accept event repeats them.
type AuthenticationTags struct {
	Metadata    string            `json:"metadata"`
	Data        string            `json:"data,omitempty"`
	Attachments map[string]string `json:"attachments,omitempty"`
}

// SET is a Security Event Token's payload (RFC 8417) as FIT-Connect uses it.
type SET struct {
	Schema string                     `json:"$schema,omitempty"`
	JTI    string                     `json:"jti"`
	Iss    string                     `json:"iss"`
	Iat    int64                      `json:"iat"`
	Sub    string                     `json:"sub"`
	Txn    string                     `json:"txn"`
	Events map[string]json.RawMessage `json:"events"`
}

// Event returns the SET's one event and its payload.
func (s SET) Event() (string, json.RawMessage) {
	for k, v := range s.Events {
		return k, v
	}
	return "", nil
}

// EventPayload is what accept and reject events (and the submit event) carry.
type EventPayload struct {
	AuthenticationTags *AuthenticationTags `json:"authenticationTags,omitempty"`
	Problems           []Problem           `json:"problems,omitempty"`
}

// NewDecision makes the payload of an accept (no problems) or reject event about a submission.
func NewDecision(destinationID, submissionID, caseID string, tags AuthenticationTags, problems []Problem, now time.Time) (SET, error) {
	event, payload := EventAcceptSubmission, EventPayload{AuthenticationTags: &tags}
	if len(problems) > 0 {
		event, payload = EventRejectSubmission, EventPayload{Problems: problems}
	}
	raw, err := json.Marshal(payload)
	if err != nil {
		return SET{}, err
	}
	return SET{Schema: SETSchema, JTI: uuid.NewString(), Iss: destinationID, Iat: now.Unix(),
		Sub: "submission:" + submissionID, Txn: "case:" + caseID, Events: map[string]json.RawMessage{event: raw}}, nil
}

// Sign signs a SET with a private signing key: compact JWS, typ secevent+jwt, alg PS512, kid.
func Sign(key jwk.Key, set SET) (string, error) {
	payload, err := json.Marshal(set)
	if err != nil {
		return "", err
	}
	h := jws.NewHeaders()
	for name, v := range map[string]any{jws.TypeKey: SETType, jws.KeyIDKey: KeyID(key)} {
		if err := h.Set(name, v); err != nil {
			return "", err
		}
	}
	token, err := jws.Sign(payload, jws.WithKey(SignatureAlg, rawPrivate(key), jws.WithProtectedHeaders(h)))
	if err != nil {
		return "", fmt.Errorf("sign event: %w", err)
	}
	return string(token), nil
}

var (
	uuidRE  = `[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}`
	subRE   = regexp.MustCompile(`^(submission|reply):` + uuidRE + `$`)
	txnRE   = regexp.MustCompile(`^case:` + uuidRE + `$`)
	jtiRE   = regexp.MustCompile(`^` + uuidRE + `$`)
	schemas = regexp.MustCompile(`^https://schema\.fitko\.de/fit-connect/set-payload/1\.\d+\.\d+/set-payload\.schema\.json$`)
)

// SETHeader reads a SET's protected header without verifying it: its kid says which key to
// verify with.
func SETHeader(token string) (typ, alg, kid string, err error) {
	msg, err := jws.Parse([]byte(token), jws.WithCompact())
	if err != nil {
		return "", "", "", fmt.Errorf("not a JWS in compact serialization: %v", err)
	}
	sigs := msg.Signatures()
	if len(sigs) != 1 {
		return "", "", "", errors.New("a SET has exactly one signature")
	}
	h := sigs[0].ProtectedHeaders()
	typ, _ = h.Type()
	a, _ := h.Algorithm()
	kid, _ = h.KeyID()
	return typ, a.String(), kid, nil
}

// Verify checks a SET's signature with the key and its form: typ secevent+jwt, alg PS512, the
// kid of the key, the claims FIT-Connect requires (jti a UUID, iss, iat, sub submission:… or
// reply:…, txn case:…, exactly one event; $schema, if present, a set-payload 1.x schema).
// Strict refuses claims besides these, as the delivery service does for the events it is sent;
// events read from its log are read leniently.
func Verify(token string, key jwk.Key, strict bool) (SET, error) {
	typ, alg, kid, err := SETHeader(token)
	if err != nil {
		return SET{}, err
	}
	switch {
	case typ != SETType:
		return SET{}, fmt.Errorf("typ is %q, expected %s", typ, SETType)
	case alg != SignatureAlg.String():
		return SET{}, fmt.Errorf("alg is %q, expected %s", alg, SignatureAlg)
	case kid == "" || kid != KeyID(key):
		return SET{}, fmt.Errorf("kid %q is not the key's (%s)", kid, KeyID(key))
	}
	payload, err := jws.Verify([]byte(token), jws.WithKey(SignatureAlg, key))
	if err != nil {
		return SET{}, errors.New("the signature does not verify with the signing key")
	}
	return ParseSETPayload(payload, strict)
}

// ParseSETPayload parses and checks a SET's claims; strict refuses unknown claims.
func ParseSETPayload(payload []byte, strict bool) (SET, error) {
	var set SET
	dec := json.NewDecoder(bytes.NewReader(payload))
	if strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(&set); err != nil {
		return SET{}, fmt.Errorf("the claims are not a SET: %v", err)
	}
	switch {
	case set.Schema != "" && !schemas.MatchString(set.Schema):
		return SET{}, fmt.Errorf("$schema %q is not a set-payload 1.x schema", set.Schema)
	case !jtiRE.MatchString(set.JTI):
		return SET{}, fmt.Errorf("jti %q is not a UUID", set.JTI)
	case set.Iss == "":
		return SET{}, errors.New("iss is missing")
	case set.Iat < 1577833200:
		return SET{}, fmt.Errorf("iat %d is missing or before 2020", set.Iat)
	case !subRE.MatchString(set.Sub):
		return SET{}, fmt.Errorf("sub %q is not submission:<uuid>", set.Sub)
	case !txnRE.MatchString(set.Txn):
		return SET{}, fmt.Errorf("txn %q is not case:<uuid>", set.Txn)
	case len(set.Events) != 1:
		return SET{}, fmt.Errorf("events has %d entries; a SET carries exactly one", len(set.Events))
	}
	return set, nil
}

// Payload decodes an event's payload; strict refuses unknown fields.
func Payload(raw json.RawMessage, strict bool) (EventPayload, error) {
	var p EventPayload
	dec := json.NewDecoder(bytes.NewReader(raw))
	if strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(&p); err != nil {
		return EventPayload{}, fmt.Errorf("event payload: %v", err)
	}
	return p, nil
}

func decodeSegment(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}

// headerKID is the kid of a JWE's protected header, or "".
func headerKID(compact []byte) string {
	i := bytes.IndexByte(compact, '.')
	if i < 0 {
		return ""
	}
	raw, err := decodeSegment(string(bytes.TrimSpace(compact[:i])))
	if err != nil {
		return ""
	}
	var h jweHeader
	if json.Unmarshal(raw, &h) != nil {
		return ""
	}
	return h.Kid
}
