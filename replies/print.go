package replies

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/amtsbote/amtsbote/adapters"
)

// CoverSheetSchema names the format of the cover sheet a printed reply carries.
const CoverSheetSchema = "amtsbote.reply-print.v1"

// CoverSheet is the message of a print package: what the print service needs to make and post
// the letter. Its documents are the package's files, under the names listed here.
type CoverSheet struct {
	Schema       string `json:"schema"`
	ReplyID      string `json:"reply_id"`
	SubmissionID string `json:"submission_id"`
	// Reference is the portal's reference of the application.
	Reference string `json:"reference"`
	Kind      string `json:"kind"`
	Status    string `json:"status"`
	Subject   string `json:"subject"`
	// Text is what the Fachverfahren wrote besides its documents (the letter's body when there
	// are none).
	Text string `json:"text,omitempty"`
	// Date is when the Fachverfahren handed the reply in.
	Date     time.Time `json:"date"`
	Leistung string    `json:"leistung"`
	AGS      string    `json:"ags"`
	// Source is the destination (Fachverfahren) that replied.
	Source string `json:"source"`
	// PostalAddress are the lines of the applicant's postal address, when the application gave
	// one; without it the print service addresses the letter from its own records.
	PostalAddress []string        `json:"postal_address,omitempty"`
	Documents     []CoverDocument `json:"documents"`
}

// CoverDocument is one file of a printed reply.
type CoverDocument struct {
	File      string `json:"file"`
	MediaType string `json:"media_type"`
	Size      int64  `json:"size"`
	SHA256    string `json:"sha256"`
}

// PrintSender sends replies on paper: as a package — the reply's documents as files, a cover
// sheet (JSON) as the message — to the print service's destination, through its adapter (any
// type: filedrop, sftp, webdav …). The package's message id is the reply id, so the adapter
// recognises a redelivery after a crash as the same package.
type PrintSender struct {
	// Destination is the id of the print service's destination (replies.print_destination).
	Destination string
	Adapter     adapters.Adapter
}

// Send hands the print package to the destination's adapter.
func (s *PrintSender) Send(ctx context.Context, o *Outgoing) (string, error) {
	if s.Adapter == nil {
		return "", adapters.Permanent(fmt.Errorf("print: destination %s has no adapter", s.Destination))
	}
	pkg, err := PrintPackage(o)
	if err != nil {
		return "", err
	}
	return s.Adapter.Deliver(ctx, pkg)
}

// PrintPackage is the package a printed reply travels as. It is the same for every attempt of
// the same reply: its cover sheet holds nothing that changes between attempts.
func PrintPackage(o *Outgoing) (*adapters.Package, error) {
	if o.ReplyID == "" {
		return nil, adapters.Permanent(errors.New("print: the reply has no id"))
	}
	cover := CoverSheet{Schema: CoverSheetSchema, ReplyID: o.ReplyID, SubmissionID: o.SubmissionID, Reference: o.Reference,
		Kind: o.Kind, Status: o.Status, Subject: o.Subject, Text: o.Text, Date: o.RepliedAt.UTC(), Leistung: o.Leistung,
		AGS: o.AGS, Source: o.Source, PostalAddress: o.Address.Postal, Documents: []CoverDocument{}}
	pkg := &adapters.Package{SubmissionID: o.SubmissionID, Route: o.Route, MessageID: o.ReplyID, MessageType: "reply_" + o.Kind,
		CreatedAt: o.RepliedAt, Leistung: o.Leistung, AGS: o.AGS, MediaType: "application/json"}
	names := map[string]bool{}
	for _, d := range o.Documents {
		name := adapters.SafeName(d.Name)
		if names[name] {
			name = adapters.SafeName(strconv.Itoa(d.Seq) + "_" + d.Name)
		}
		names[name] = true
		cover.Documents = append(cover.Documents, CoverDocument{File: name, MediaType: d.MediaType, Size: d.Size, SHA256: d.SHA256})
		pkg.Files = append(pkg.Files, adapters.File{Name: name, MediaType: d.MediaType, Size: d.Size, Open: d.Open})
	}
	raw, err := json.MarshalIndent(cover, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("print: cover sheet: %w", err)
	}
	pkg.XML = append(raw, '\n')
	return pkg, nil
}
