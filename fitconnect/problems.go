package fitconnect

import "fmt"

// Problem is one reason to reject a submission, an RFC 7807 problem as the reject-submission
// event carries it. FITKO's verification page fixes type and instance for every check (they
// MUST be used exactly) and the title (SHOULD); detail is free text.
type Problem struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Detail   string `json:"detail,omitempty"`
	Instance string `json:"instance"`
}

func (p Problem) String() string {
	return fmt.Sprintf("%s (%s): %s", p.Name(), p.Instance, p.Detail)
}

// Name is the last segment of the problem's type, e.g. hash-mismatch.
func (p Problem) Name() string {
	for i := len(p.Type) - 1; i >= 0; i-- {
		if p.Type[i] == '/' || p.Type[i] == ':' {
			return p.Type[i+1:]
		}
	}
	return p.Type
}

// ProblemBase prefixes the types of FIT-Connect's problem catalogue.
const ProblemBase = "https://schema.fitko.de/fit-connect/events/problems/"

// Instances a problem refers to.
const (
	InstanceMetadata   = "metadata"
	InstanceData       = "data"
	InstanceSubmission = "submission"
	InstanceOther      = "other"
)

// InstanceAttachment is the instance of a problem with one attachment.
func InstanceAttachment(id string) string { return "attachment:" + id }

// The catalogue: the problems of FITKO's verification page ("Einreichung überprüfen",
// docs.fitko.de/fit-connect/docs/receiving/verification/), by the last segment of their type,
// with their titles.
var catalogue = map[string]string{
	"encryption-issue":             "Entschlüsselungs-Fehler",
	"invalid-event-log":            "Inkonsistentes Event Log",
	"missing-authentication-tags":  "Authentication-Tags fehlen",
	"incorrect-authentication-tag": "Authentication-Tag ungültig",
	"syntax-violation":             "Syntax-Fehler",
	"schema-violation":             "Schema-Fehler",
	"unsupported-schema":           "Schema nicht unterstützt",
	"missing-schema":               "Schema-Referenz fehlt",
	"hash-mismatch":                "Prüfsumme stimmt nicht",
	"missing-data":                 "Fachdaten fehlen",
	"missing-attachment":           "Anlage fehlt",
	"attachments-mismatch":         "Fehlerhafte Anlagen-Liste",
	"service-mismatch":             "Verwaltungsleistung stimmt nicht überein",
	"technical-error":              "Technischer Fehler",
}

// TrustLevelProblem is amtsbote's own problem type for an identification below a route's
// min_trust_level: FIT-Connect's catalogue has none for it (RFC 7807 allows other types).
const TrustLevelProblem = "urn:amtsbote:fit-connect:problem:trust-level-too-low"

// NewProblem makes a problem of the catalogue.
func NewProblem(name, instance, detail string, args ...any) Problem {
	title, ok := catalogue[name]
	if !ok {
		panic("fitconnect: no problem " + name + " in the catalogue")
	}
	return Problem{Type: ProblemBase + name, Title: title, Detail: fmt.Sprintf(detail, args...), Instance: instance}
}

// KnownProblem reports whether a problem type is in the catalogue (or amtsbote's own).
func KnownProblem(typ string) bool {
	if typ == TrustLevelProblem {
		return true
	}
	if len(typ) <= len(ProblemBase) || typ[:len(ProblemBase)] != ProblemBase {
		return false
	}
	_, ok := catalogue[typ[len(ProblemBase):]]
	return ok
}
