package replies_test

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/amtsbote/amtsbote/replies"
)

var lim = replies.Limits{MaxDocumentBytes: 1 << 10, MaxDocuments: 3}

// A manifest is read strictly: exactly one reference, a known kind (and a status only for kind
// status), plain file names once each, PDF documents, content in base64 only in JSON bodies;
// every problem names its field.
func TestParseManifest(t *testing.T) {
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	tests := []struct {
		name   string
		raw    string
		inline bool
		reason replies.Reason // "" = accepted
		field  string         // a field a problem names
	}{
		{"bescheid by submission id", `{"submission_id": "s1", "kind": "bescheid", "subject": "Bescheid", "documents": [{"filename": "b.pdf", "media_type": "application/pdf"}]}`, false, "", ""},
		{"status by ProzessID", `{"prozess_id": "p1", "kind": "status", "status": "in_progress", "id": "X-1"}`, false, "", ""},
		{"abschluss by case with a message", `{"case_id": "c1", "kind": "abschluss", "message": {"filename": "m.xml"}}`, false, "", ""},
		{"inline documents", `{"submission_id": "s1", "kind": "bescheid", "documents": [{"filename": "b.pdf", "content_base64": "` + b64("%PDF-1.7") + `"}]}`, true, "", ""},
		{"no reference", `{"kind": "bescheid"}`, false, replies.ReasonInvalid, "submission_id"},
		{"two references", `{"submission_id": "s1", "case_id": "c1", "kind": "bescheid"}`, false, replies.ReasonInvalid, "submission_id"},
		{"unknown kind", `{"submission_id": "s1", "kind": "widerspruch"}`, false, replies.ReasonInvalid, "kind"},
		{"status of kind status missing", `{"submission_id": "s1", "kind": "status"}`, false, replies.ReasonInvalid, "status"},
		{"status backwards word", `{"submission_id": "s1", "kind": "status", "status": "delivered"}`, false, replies.ReasonInvalid, "status"},
		{"status for a bescheid", `{"submission_id": "s1", "kind": "bescheid", "status": "closed"}`, false, replies.ReasonInvalid, "status"},
		{"unknown field", `{"submission_id": "s1", "kind": "bescheid", "betreff": "x"}`, false, replies.ReasonBadRequest, "betreff"},
		{"unknown field of a document", `{"submission_id": "s1", "kind": "bescheid", "documents": [{"filename": "b.pdf", "path": "x"}]}`, false, replies.ReasonBadRequest, "documents[0].path"},
		{"duplicate member", `{"submission_id": "s1", "submission_id": "s2", "kind": "bescheid"}`, false, replies.ReasonBadRequest, "submission_id"},
		{"malformed JSON", `{"submission_id": "s1",`, false, replies.ReasonBadRequest, ""},
		{"empty", ` `, false, replies.ReasonBadRequest, ""},
		{"path traversal", `{"submission_id": "s1", "kind": "bescheid", "documents": [{"filename": "../../etc/passwd"}]}`, false, replies.ReasonInvalid, "documents[0].filename"},
		{"hidden file", `{"submission_id": "s1", "kind": "bescheid", "documents": [{"filename": ".b.pdf"}]}`, false, replies.ReasonInvalid, "documents[0].filename"},
		{"file named twice", `{"submission_id": "s1", "kind": "bescheid", "documents": [{"filename": "b.pdf"}, {"filename": "B.PDF"}]}`, false, replies.ReasonInvalid, "documents[1].filename"},
		{"message named like a document", `{"submission_id": "s1", "kind": "bescheid", "documents": [{"filename": "b.xml"}], "message": {"filename": "b.xml"}}`, false, replies.ReasonInvalid, "message.filename"},
		{"a Word document declared", `{"submission_id": "s1", "kind": "bescheid", "documents": [{"filename": "b.docx", "media_type": "application/msword"}]}`, false, replies.ReasonInvalid, "documents[0].media_type"},
		{"too many documents", `{"submission_id": "s1", "kind": "bescheid", "documents": [{"filename": "1.pdf"}, {"filename": "2.pdf"}, {"filename": "3.pdf"}, {"filename": "4.pdf"}]}`, false, replies.ReasonInvalid, "documents"},
		{"content in a package", `{"submission_id": "s1", "kind": "bescheid", "documents": [{"filename": "b.pdf", "content_base64": "` + b64("%PDF") + `"}]}`, false, replies.ReasonInvalid, "documents[0].content_base64"},
		{"no content in a JSON body", `{"submission_id": "s1", "kind": "bescheid", "documents": [{"filename": "b.pdf"}]}`, true, replies.ReasonInvalid, "documents[0].content_base64"},
		{"bad base64", `{"submission_id": "s1", "kind": "bescheid", "documents": [{"filename": "b.pdf", "content_base64": "!!"}]}`, true, replies.ReasonBadRequest, "documents[0].content_base64"},
		{"document over the limit", `{"submission_id": "s1", "kind": "bescheid", "documents": [{"filename": "b.pdf", "content_base64": "` + b64(strings.Repeat("x", 1025)) + `"}]}`, true, replies.ReasonTooLarge, "documents[0].content_base64"},
		{"subject of two lines", `{"submission_id": "s1", "kind": "bescheid", "subject": "a\nb"}`, false, replies.ReasonInvalid, "subject"},
		{"subject too long", `{"submission_id": "s1", "kind": "bescheid", "subject": "` + strings.Repeat("a", 501) + `"}`, false, replies.ReasonInvalid, "subject"},
		{"id with a control character", `{"submission_id": "s1", "kind": "bescheid", "id": "a\u0000b"}`, false, replies.ReasonInvalid, "id"},
		{"source not an id", `{"submission_id": "s1", "kind": "bescheid", "source": "Fach Verfahren"}`, false, replies.ReasonInvalid, "source"},
		{"documents not an array", `{"submission_id": "s1", "kind": "bescheid", "documents": {}}`, false, replies.ReasonBadRequest, "documents"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, r := replies.ParseManifest([]byte(tt.raw), tt.inline, lim)
			if tt.reason == "" {
				if r != nil {
					t.Fatalf("refused: %v", r)
				}
				if m.Kind == "" {
					t.Fatalf("accepted without a kind: %+v", m)
				}
				return
			}
			if r == nil {
				t.Fatalf("accepted %+v, want %s", m, tt.reason)
			}
			if r.Reason != tt.reason {
				t.Fatalf("reason %s, want %s: %v", r.Reason, tt.reason, r)
			}
			if tt.field != "" {
				found := false
				for _, p := range r.Problems {
					found = found || p.Field == tt.field
				}
				if !found {
					t.Fatalf("no problem names %s: %+v", tt.field, r.Problems)
				}
			}
		})
	}
}

// A refusal is filed with the outcome its reason stands for.
func TestRefusalOutcome(t *testing.T) {
	for reason, want := range map[replies.Reason]string{
		replies.ReasonInvalid: "malformed", replies.ReasonTooLarge: "malformed", replies.ReasonBadRequest: "malformed",
		replies.ReasonConflict: "malformed", replies.ReasonUnmatched: "unmatched", replies.ReasonUnauthorised: "unauthorised",
		replies.ReasonPurged: "purged",
	} {
		if got := (&replies.Refusal{Reason: reason}).Outcome(); got != want {
			t.Errorf("%s filed as %s, want %s", reason, got, want)
		}
	}
}
