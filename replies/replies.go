// Package replies is the return channel: what a Fachverfahren answers to an application — a
// Bescheid, a request for documents (Nachforderung), a status update, an Abschluss — and how it
// reaches the applicant over the channel the application named (the portal's postbox, e-mail,
// a FIT-Connect reply, or paper through a print service).
//
// This file is the model the intake, the store, the delivery stage and the channels share. A
// channel implements Sender; channels live in their own packages (replies/email, fitconnect)
// or in this one (portal, print) and never import the pipeline.
package replies

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/amtsbote/amtsbote/store"
)

// Kinds of reply.
const (
	KindBescheid      = "bescheid"      // the decision; moves the submission to decided
	KindNachforderung = "nachforderung" // a request for missing documents; in_progress
	KindStatus        = "status"        // a status update naming the new status
	KindAbschluss     = "abschluss"     // the case is closed; closed
)

// Kinds lists the kinds of reply.
var Kinds = []string{KindBescheid, KindNachforderung, KindStatus, KindAbschluss}

// Citizen-visible statuses a reply moves a submission to (after delivered or acknowledged).
// A submission never moves backwards: in_progress < decided < closed.
const (
	StatusInProgress = store.StatusInProgress
	StatusDecided    = store.StatusDecided
	StatusClosed     = store.StatusClosed
)

// Channels a reply travels by.
const (
	ChannelPortal     = "portal"     // signed callback event + GET /v1/submissions/{id}/replies
	ChannelEmail      = "email"      // mail through SMTP, OpenPGP-encrypted when a key is given
	ChannelFitConnect = "fitconnect" // a FIT-Connect reply to the sender of the submission
	ChannelPrint      = "print"      // a package for the print / Outputmanagement service
)

// Channels lists the channels in the order a route's policy is read by default.
var Channels = []string{ChannelFitConnect, ChannelEmail, ChannelPortal, ChannelPrint}

// Document is a file of a reply (a PDF, usually the Bescheid itself).
type Document struct {
	Seq       int
	Name      string // safe file name
	MediaType string
	Size      int64
	SHA256    string // hex
	// Open reads the content; each call starts at the beginning.
	Open func() (io.ReadCloser, error)
}

// Address is the reply channel the application named: what a channel needs to reach the
// applicant. It comes from the FIT-Connect metadata's replyChannel or the HTTP submission's
// reply_channel field, and is personal data (purged with the submission).
type Address struct {
	// Email is the applicant's e-mail address; PGPPublicKey, when set, an ASCII-armoured
	// OpenPGP public key the mail is encrypted to.
	Email        string `json:"email,omitempty"`
	PGPPublicKey string `json:"pgp_public_key,omitempty"`
	// FitConnect is set when the application came through FIT-Connect and named a fitConnect
	// reply channel.
	FitConnect *FitConnectAddress `json:"fit_connect,omitempty"`
	// Postal, when set, is the address a printed letter goes to (free text lines).
	Postal []string `json:"postal,omitempty"`
}

// FitConnectAddress is what a FIT-Connect reply needs: the subscription that received the
// submission, its ids, and the sender's encryption key (a public JWK) from the replyChannel.
type FitConnectAddress struct {
	Subscription  string          `json:"subscription"`
	DestinationID string          `json:"destination_id"`
	SubmissionID  string          `json:"submission_id"`
	CaseID        string          `json:"case_id"`
	EncryptionKey json.RawMessage `json:"encryption_key,omitempty"`
	// ProcessStandards the sender accepts, if it named any.
	ProcessStandards []string `json:"process_standards,omitempty"`
}

// Outgoing is one reply on its way over one channel.
type Outgoing struct {
	ReplyID      string // unique; a channel uses it to stay idempotent across retries
	SubmissionID string
	Kind         string
	// Status is the citizen-visible status after this reply (in_progress, decided, closed).
	Status string
	// Subject and Text are what the Fachverfahren wrote (Text may be empty).
	Subject, Text string
	// Source is the destination (Fachverfahren) that sent the reply.
	Source string
	// Reference is the portal's reference of the application; Leistung, AGS and Route describe it.
	Reference, Leistung, AGS, Route string
	// Portal is the portal the application came from.
	Portal     string
	ReceivedAt time.Time // when the application was received
	RepliedAt  time.Time // when the reply was received
	Documents  []Document
	// Message is an optional XÖV message the reply carried (validated), MessageType its type.
	Message     []byte
	MessageType string
	Address     Address
	// Template is the path of the route's e-mail template ("" = the built-in one).
	Template string
	// Attempt counts from 1.
	Attempt int
}

// Sender sends replies over one channel. Send must honour ctx and be idempotent for the same
// ReplyID (a retry after a crash must not reach the applicant twice where the channel can tell).
// Errors are classified as the adapters' are: adapters.Permanent (dead letter at once, e.g.
// an invalid address or key) or anything else (retried with the reply retry policy).
type Sender interface {
	Send(ctx context.Context, o *Outgoing) (artefact string, err error)
}

// StatusFor is the status a reply of kind moves the submission to; status is the status a
// KindStatus reply names.
func StatusFor(kind, status string) (string, error) {
	switch kind {
	case KindBescheid:
		return StatusDecided, nil
	case KindAbschluss:
		return StatusClosed, nil
	case KindNachforderung:
		return StatusInProgress, nil
	case KindStatus:
		switch status {
		case StatusInProgress, StatusDecided, StatusClosed:
			return status, nil
		}
		return "", fmt.Errorf("status %q: must be one of %s, %s, %s", status, StatusInProgress, StatusDecided, StatusClosed)
	}
	return "", fmt.Errorf("kind %q: must be one of %s", kind, strings.Join(Kinds, ", "))
}

// Rank orders citizen-visible statuses: a reply never moves a submission to a lower rank.
func Rank(status string) int {
	switch status {
	case StatusInProgress:
		return 1
	case StatusDecided:
		return 2
	case StatusClosed:
		return 3
	}
	return 0
}
