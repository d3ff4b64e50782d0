package fitconnect

import (
	"bytes"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/amtsbote/amtsbote/replies"
)

// Reply event URIs: the delivery service records each step of a reply (a "Rückkanal" answer of
// the authority to the sender of a submission) in the case's event log.
const (
	EventCreateReply = EventBase + "create-reply"
	EventSubmitReply = EventBase + "submit-reply"
	EventAcceptReply = EventBase + "accept-reply"
	EventRejectReply = EventBase + "reject-reply"
)

// ReplyDataSchema is the schemaUri of the data of the replies amtsbote sends: a JSON object
// (ReplyData); its JSON Schema is fixtures/fitconnect/reply-data.schema.json.
const ReplyDataSchema = "urn:amtsbote:fit-connect:reply-data:1.0.0"

// ReplyData is the data (Fachdaten) of a reply amtsbote sends: what the Fachverfahren answered.
type ReplyData struct {
	// Kind is bescheid, nachforderung, status or abschluss.
	Kind string `json:"kind"`
	// Status is the application's status after the reply: in_progress, decided or closed.
	Status  string `json:"status"`
	Subject string `json:"subject"`
	Text    string `json:"text,omitempty"`
	// Reference is the application's reference (the sender's reference, else the case id).
	Reference string `json:"reference,omitempty"`
	// RepliedAt is when the authority answered (RFC 3339).
	RepliedAt string `json:"repliedAt,omitempty"`
	// Message is the XÖV message the Fachverfahren answered with, if any.
	Message *ReplyMessage `json:"message,omitempty"`
}

// ReplyMessage is an XÖV message carried in a reply, byte for byte (base64 in JSON).
type ReplyMessage struct {
	Type      string `json:"type,omitempty"`
	MediaType string `json:"mediaType"`
	Content   []byte `json:"content"`
}

// replyAttachmentNS is the UUIDv5 namespace of the attachment ids of replies.
var replyAttachmentNS = uuid.NewSHA1(uuid.NameSpaceURL, []byte("urn:amtsbote:fit-connect:reply-attachment"))

// ReplyAttachmentID is the attachment id of a reply's document: derived from the amtsbote reply
// id and the document's position, so that every try of one reply announces the same ids.
func ReplyAttachmentID(replyID string, seq int) string {
	return uuid.NewSHA1(replyAttachmentNS, []byte(replyID+"/"+strconv.Itoa(seq))).String()
}

// CheckReplyKey parses and checks the sender's public encryption key from
// replyChannel.fitConnect.encryptionPublicKey, the key a reply is encrypted for: one JWK, RSA of
// at least 4096 bits with exponent 65537, only the public part, a kid, key_ops containing
// wrapKey, and, if set, alg RSA-OAEP-256 and use enc. The error says which rule it breaks.
func CheckReplyKey(raw json.RawMessage) (jwk.Key, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, errors.New("the reply channel has no encryptionPublicKey")
	}
	key, err := parseJWK(raw)
	if err != nil {
		return nil, err
	}
	if key.KeyType() != jwa.RSA() {
		return nil, fmt.Errorf("kty is %s; FIT-Connect encrypts for RSA keys", key.KeyType())
	}
	private, err := jwk.IsPrivateKey(key)
	if err != nil {
		return nil, err
	}
	if private {
		return nil, errors.New("it holds a private key (d, p, q…); the sender must publish only the public part")
	}
	var pub rsa.PublicKey
	if err := jwk.Export(key, &pub); err != nil || pub.N == nil {
		return nil, fmt.Errorf("not a usable RSA public key: %v", err)
	}
	if bits := pub.N.BitLen(); bits < MinRSABits {
		return nil, fmt.Errorf("the RSA key has %d bits; FIT-Connect requires at least %d", bits, MinRSABits)
	}
	if pub.E != 65537 {
		return nil, fmt.Errorf("the RSA exponent is %d; FIT-Connect requires 65537 (AQAB)", pub.E)
	}
	if kid, ok := key.KeyID(); !ok || strings.TrimSpace(kid) == "" {
		return nil, errors.New("kid is missing; a FIT-Connect JWE names the kid of the key it is encrypted for")
	}
	ops, ok := key.KeyOps()
	if !ok || !slices.Contains(ops, jwk.KeyOpWrapKey) {
		return nil, fmt.Errorf("key_ops must contain %q, has %v", jwk.KeyOpWrapKey, []jwk.KeyOperation(ops))
	}
	if alg, ok := key.Algorithm(); ok && alg.String() != KeyAlgorithm.String() {
		return nil, fmt.Errorf("alg is %s; replies are encrypted with %s", alg, KeyAlgorithm)
	}
	if use, ok := key.KeyUsage(); ok && use != "enc" {
		return nil, fmt.Errorf("use is %q; an encryption key has use enc", use)
	}
	return key, nil
}

// ReplyAddress turns a stored FIT-Connect submission's Meta (a JSON object whose key fitconnect
// holds subscription, destination_id, submission_id, case_id and reply_channel, as the intake
// stores them) into the reply channel it names: FitConnect when the replyChannel has fitConnect
// (its encryptionPublicKey is kept as sent and checked when a reply is sent), Email and
// PGPPublicKey when it has eMail. Other channels (deMail, fink, elster…) give nothing; so does a
// Meta without fitconnect or without a reply channel. An error says where the Meta is malformed.
func ReplyAddress(meta []byte) (replies.Address, error) {
	var addr replies.Address
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(meta, &doc); err != nil {
		return addr, fmt.Errorf("meta: not a JSON object: %v", err)
	}
	if doc == nil {
		return addr, errors.New("meta: not a JSON object")
	}
	raw, ok := doc["fitconnect"]
	if !ok || isNull(raw) {
		return addr, nil
	}
	var fc map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fc); err != nil || fc == nil {
		return addr, errors.New("meta: fitconnect is not an object")
	}
	rc, ok := fc["reply_channel"]
	if !ok || isNull(rc) {
		return addr, nil
	}
	var channel map[string]json.RawMessage
	if err := json.Unmarshal(rc, &channel); err != nil || channel == nil {
		return addr, errors.New("meta: fitconnect.reply_channel is not an object")
	}
	if raw, ok := channel["eMail"]; ok && !isNull(raw) {
		if !isObject(raw) {
			return addr, errors.New("meta: fitconnect.reply_channel.eMail is not an object")
		}
		var m struct {
			Address      *string `json:"address"`
			PGPPublicKey *string `json:"pgpPublicKey"`
		}
		if err := json.Unmarshal(raw, &m); err != nil {
			return addr, fmt.Errorf("meta: fitconnect.reply_channel.eMail: %v", typeError(err))
		}
		if m.Address == nil || strings.TrimSpace(*m.Address) == "" {
			return addr, errors.New("meta: fitconnect.reply_channel.eMail: address is missing")
		}
		addr.Email = strings.TrimSpace(*m.Address)
		if m.PGPPublicKey != nil {
			addr.PGPPublicKey = *m.PGPPublicKey
		}
	}
	if raw, ok := channel["fitConnect"]; ok && !isNull(raw) {
		if !isObject(raw) {
			return addr, errors.New("meta: fitconnect.reply_channel.fitConnect is not an object")
		}
		var m struct {
			ProcessStandards    json.RawMessage `json:"processStandards"`
			EncryptionPublicKey json.RawMessage `json:"encryptionPublicKey"`
		}
		if err := json.Unmarshal(raw, &m); err != nil {
			return addr, fmt.Errorf("meta: fitconnect.reply_channel.fitConnect: %v", typeError(err))
		}
		a := &replies.FitConnectAddress{}
		for _, f := range []struct {
			name string
			dst  *string
		}{{"subscription", &a.Subscription}, {"destination_id", &a.DestinationID}, {"submission_id", &a.SubmissionID}, {"case_id", &a.CaseID}} {
			v, ok := fc[f.name]
			if ok {
				_ = json.Unmarshal(v, f.dst)
			}
			if strings.TrimSpace(*f.dst) == "" {
				return addr, fmt.Errorf("meta: fitconnect.%s is missing or not a string; a FIT-Connect reply needs it", f.name)
			}
		}
		if len(m.ProcessStandards) > 0 && !isNull(m.ProcessStandards) {
			var list []json.RawMessage
			if err := json.Unmarshal(m.ProcessStandards, &list); err != nil {
				return addr, errors.New("meta: fitconnect.reply_channel.fitConnect.processStandards is not an array")
			}
			for i, item := range list {
				var s string
				if err := json.Unmarshal(item, &s); err != nil {
					return addr, fmt.Errorf("meta: fitconnect.reply_channel.fitConnect.processStandards[%d] is not a string", i)
				}
				a.ProcessStandards = append(a.ProcessStandards, s)
			}
		}
		if k := bytes.TrimSpace(m.EncryptionPublicKey); len(k) > 0 && !isNull(k) {
			if !isObject(k) {
				return addr, errors.New("meta: fitconnect.reply_channel.fitConnect.encryptionPublicKey is not an object (a JWK)")
			}
			a.EncryptionKey = slices.Clone(k)
		}
		addr.FitConnect = a
	}
	return addr, nil
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

func isObject(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) > 0 && raw[0] == '{'
}

// typeError shortens a json type error to the field and the expected type.
func typeError(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field != "" {
			return fmt.Sprintf("%s must be a %s", te.Field, te.Type)
		}
		return fmt.Sprintf("must be a %s, is a %s", te.Type, te.Value)
	}
	return err.Error()
}
