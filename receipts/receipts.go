// Package receipts closes the loop with receiving systems: it polls an inbox for their answers
// — the xdomea receipts of every message type amtsbote sends: Empfangsbestätigungen
// (Information 0102, Geschäftsgang 0202, Abgabe 0403, FVDaten 0629) and Importbestätigungen
// (Abgabe 0402, FVDaten 0630 with the id the DMS gave the object) — parses each safely,
// validates it, matches it to the delivered message by ProzessID and sets the delivery (and so
// the submission) acknowledged or rejected with the reason. A receipt that matches nothing or
// cannot be read is filed and moved aside, never dropped. The same inbox takes the replies of
// Fachverfahren (zip packages and JSON manifests), which it hands to the reply intake.
package receipts

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	wmsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/beevik/etree"

	"github.com/amtsbote/amtsbote/replies"
	"github.com/amtsbote/amtsbote/store"
	"github.com/amtsbote/amtsbote/xoev"
)

// Outcomes of a receipt.
const (
	Acknowledged = store.DeliveryAcknowledged
	Rejected     = store.DeliveryRejected
	Unmatched    = "unmatched"
	Malformed    = "malformed"
)

// MaxBytes limits a receipt file.
const MaxBytes = 4 << 20

// Processor reads an inbox directory. Processed receipts move to processed/, those that match
// nothing to unmatched/ and unreadable ones to malformed/ inside it.
type Processor struct {
	Store *store.Store
	Inbox string
	// Validate checks a receipt against the configured schema set of its root namespace; nil
	// checks nothing.
	Validate func(namespace string, content []byte) error
	Logger   *slog.Logger
	Now      func() time.Time
	// Replies takes the replies the inbox holds besides receipts: *.zip packages and *.json
	// manifests (replies.Intake). nil: those files are read as receipts like any other.
	Replies ReplyIntake
}

// ReplyIntake takes one reply file of the inbox and says what became of it: accepted or
// duplicate (moved to processed/), malformed (malformed/), or unmatched, unauthorised or
// purged (unmatched/). It files what it does not take. An error leaves the file for the next
// poll.
type ReplyIntake interface {
	AcceptFile(ctx context.Context, path string) (outcome string, err error)
}

// Result counts what one poll did.
type Result struct {
	Acknowledged, Rejected, Unmatched, Malformed int
	// Replies were taken (or were there already); RepliesFiled were filed, not taken.
	Replies, RepliesFiled int
}

// Poll processes every file waiting in the inbox.
func (p *Processor) Poll(ctx context.Context) (Result, error) {
	var res Result
	entries, err := os.ReadDir(p.Inbox)
	if err != nil {
		return res, fmt.Errorf("read inbox %s: %w", p.Inbox, err)
	}
	var names []string
	for _, e := range entries {
		if e.Type().IsRegular() && !strings.HasPrefix(e.Name(), ".") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	for _, name := range names {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		if p.Replies != nil && isReply(name) {
			taken, err := p.processReply(ctx, name)
			if err != nil {
				return res, err // the file stays in the inbox for the next poll
			}
			if taken {
				res.Replies++
			} else {
				res.RepliesFiled++
			}
			continue
		}
		outcome, err := p.process(ctx, name)
		if err != nil {
			return res, err // the file stays in the inbox for the next poll
		}
		switch outcome {
		case Acknowledged:
			res.Acknowledged++
		case Rejected:
			res.Rejected++
		case Unmatched:
			res.Unmatched++
		default:
			res.Malformed++
		}
	}
	return res, nil
}

// isReply tells whether an inbox file is a reply (a zip package or a JSON manifest) rather
// than a receipt (XML).
func isReply(name string) bool {
	return replies.IsPackageName(name)
}

// processReply hands a reply file to the reply intake and moves it where its outcome says; it
// reports whether the reply was taken.
func (p *Processor) processReply(ctx context.Context, name string) (bool, error) {
	path := filepath.Join(p.Inbox, name)
	outcome, err := p.Replies.AcceptFile(ctx, path)
	if err != nil {
		return false, err
	}
	target, taken := "unmatched", false
	switch outcome {
	case replies.OutcomeAccepted, replies.OutcomeDuplicate:
		target, taken = "processed", true
	case Malformed:
		target = "malformed"
	}
	if err := moveTo(path, filepath.Join(p.Inbox, target)); err != nil {
		return false, err
	}
	if taken {
		p.Logger.Info("reply taken from the inbox", "file", name, "outcome", outcome)
	}
	return taken, nil
}

// receipt is what a receipt says.
type receipt struct {
	kind, messageID, outcome, detail string
	// remoteID is the id the receiving system gave the object (0630's IDSGO).
	remoteID string
	// confirmsReceipt is set for an Empfangsbestätigung: it says the message arrived, nothing
	// about its import, and never overrides an import's outcome.
	confirmsReceipt bool
}

func (p *Processor) process(ctx context.Context, name string) (string, error) {
	path := filepath.Join(p.Inbox, name)
	content, err := readLimited(path)
	if err != nil {
		return "", err
	}
	now := p.Now()
	r, problem := p.read(content)
	rec := store.Receipt{File: name, ReceivedAt: now, Kind: r.kind, MessageID: r.messageID, Content: content}
	var target string
	switch {
	case problem != "":
		rec.Outcome, rec.Detail, target = Malformed, problem, "malformed"
	default:
		m, err := p.Store.MessageByID(ctx, r.messageID)
		switch {
		case errors.Is(err, store.ErrNotFound):
			rec.Outcome, rec.Detail, target = Unmatched, "no delivered message has ProzessID "+r.messageID, "unmatched"
		case err != nil:
			return "", err
		case family(r.kind) != family(m.MessageType):
			rec.Outcome, rec.Detail, target = Unmatched, fmt.Sprintf("%s does not answer a %s (ProzessID %s)", r.kind, m.MessageType, r.messageID), "unmatched"
		default:
			rec.SubmissionID, rec.Destination, rec.Outcome, rec.Detail, target = m.SubmissionID, m.Destination, r.outcome, r.detail, "processed"
		}
	}
	err = p.Store.InTx(ctx, func(tx wmsql.Tx) error {
		if err := store.InsertReceipt(ctx, tx, rec); err != nil {
			return err
		}
		if rec.SubmissionID == "" {
			return nil
		}
		return apply(ctx, p.Store, tx, rec, r, now)
	})
	if err != nil {
		return "", err
	}
	if err := moveTo(path, filepath.Join(p.Inbox, target)); err != nil {
		return "", err
	}
	log := p.Logger.With("receipt", name, "outcome", rec.Outcome)
	if rec.SubmissionID != "" {
		log = log.With("submission_id", rec.SubmissionID, "destination", rec.Destination)
		if sub, err := p.Store.Submission(ctx, rec.SubmissionID); err == nil {
			log = log.With("route", sub.Route)
		}
	}
	if rec.Outcome == Unmatched || rec.Outcome == Malformed {
		log.Warn("receipt set aside", "reason", rec.Detail, "moved_to", target)
	} else {
		log.Info("receipt applied")
	}
	return rec.Outcome, nil
}

// apply sets the delivery's outcome and records it in the submission's history. It writes only
// the outcome (store.SetReceiptOutcome), nothing read before the transaction: a delivery
// attempt finishing meanwhile cannot be overwritten, nor overwrite the receipt. An
// Empfangsbestätigung that comes after an import's outcome leaves that outcome.
func apply(ctx context.Context, st *store.Store, tx wmsql.Tx, rec store.Receipt, r receipt, now time.Time) error {
	if r.confirmsReceipt {
		if err := store.ConfirmReceived(ctx, tx, rec.SubmissionID, rec.Destination, now); err != nil {
			return err
		}
	} else if err := store.SetReceiptOutcome(ctx, tx, rec.SubmissionID, rec.Destination, rec.Outcome, rec.Detail, r.remoteID, now); err != nil {
		return err
	}
	if err := store.AddEvent(ctx, tx, rec.SubmissionID, store.Event{At: now, Type: rec.Outcome, Destination: rec.Destination,
		Detail: rec.Kind + ": " + rec.Detail}); err != nil {
		return err
	}
	return st.RefreshStatus(ctx, tx, rec.SubmissionID, now)
}

// family is the message group of an xdomea message or receipt type: Abgabe, Information,
// Geschaeftsgang, FVDaten.
func family(messageType string) string {
	f, _, _ := strings.Cut(messageType, ".")
	return f
}

func readLimited(path string) ([]byte, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if info.Size() > MaxBytes {
		return []byte(fmt.Sprintf("(file of %d bytes, over the limit of %d, not read)", info.Size(), MaxBytes)), nil
	}
	return os.ReadFile(path)
}

// read parses and checks a receipt; problem says why it cannot be used.
func (p *Processor) read(content []byte) (receipt, string) {
	r := receipt{kind: "unknown"}
	doc, err := xoev.Parse(content, MaxBytes)
	if err != nil {
		return r, err.Error()
	}
	doc.Free()
	ns, _ := xoev.RootNamespace(content)
	if p.Validate != nil {
		if err := p.Validate(ns, content); err != nil {
			return r, err.Error()
		}
	}
	// The document passed the safe parser (no DOCTYPE, no entities), so etree may read it.
	tree := etree.NewDocument()
	if err := tree.ReadFromBytes(content); err != nil {
		return r, "not well-formed XML: " + err.Error()
	}
	root := tree.Root()
	r.kind = root.Tag
	r.messageID = strings.TrimSpace(text(root.FindElement("./Kopf/ProzessID")))
	if r.messageID == "" {
		return r, "the receipt has no Kopf/ProzessID"
	}
	switch {
	case strings.HasPrefix(r.kind, "Abgabe.ImportBestaetigen."):
		r.outcome, r.detail = importOutcome(root)
	case strings.HasPrefix(r.kind, "FVDaten.ImportBestaetigen."):
		r.outcome, r.detail, r.remoteID = fvImportOutcome(root)
	case receiptOf[r.kind]:
		r.outcome, r.detail, r.confirmsReceipt = Acknowledged, "receipt confirmed (Empfang bestätigt)", true
	default:
		return r, fmt.Sprintf("%s is not a receipt amtsbote understands (%s)", r.kind, understood)
	}
	return r, ""
}

// receiptOf are the Empfangsbestätigungen: the message arrived.
var receiptOf = map[string]bool{
	"Information.EmpfangBestaetigen.0102":    true,
	"Geschaeftsgang.EmpfangBestaetigen.0202": true,
	"Abgabe.EmpfangBestaetigen.0403":         true,
	"FVDaten.EmpfangBestaetigen.0629":        true,
}

const understood = "xdomea 0102, 0202, 0402, 0403, 0629, 0630"

// fvImportOutcome reads a 0630: acknowledged when the DMS reports success for the message and
// every object, with the DMS's id of the object; else rejected with the codes and texts it gave.
func fvImportOutcome(root *etree.Element) (outcome, detail, remoteID string) {
	var failed []string
	eom := root.FindElement("./ErfolgOderMisserfolg")
	if eom == nil {
		return Rejected, "the receipt has no ErfolgOderMisserfolg", ""
	}
	for _, rm := range eom.FindElements("./Rueckmeldung") {
		if reason := rueckmeldung(rm); reason != "" {
			failed = append(failed, reason)
		}
	}
	params := eom.FindElements("./Rueckgabeparameter")
	for _, p := range params {
		ok := strings.TrimSpace(text(p.FindElement("./Erfolgreich")))
		if ok == "1" || ok == "true" {
			if id := strings.TrimSpace(text(p.FindElement("./IDSGO"))); id != "" && remoteID == "" {
				remoteID = id
			}
			continue
		}
		var reasons []string
		for _, rm := range p.FindElements("./Rueckmeldung") {
			if reason := rueckmeldung(rm); reason != "" {
				reasons = append(reasons, reason)
			}
		}
		if len(reasons) == 0 {
			reasons = append(reasons, "no reason given")
		}
		failed = append(failed, "object not filed: "+strings.Join(reasons, "; "))
	}
	if len(failed) > 0 {
		return Rejected, strings.Join(failed, " | "), remoteID
	}
	detail = fmt.Sprintf("import confirmed for %d object(s)", len(params))
	if remoteID != "" {
		detail += "; id in the DMS " + remoteID
	}
	return Acknowledged, detail, remoteID
}

// rueckmeldung describes one Rueckmeldung of a 0630 as a failure, or "" for success
// (AllgemeineRueckmeldung 0000000).
func rueckmeldung(rm *etree.Element) string {
	for _, c := range rm.ChildElements() {
		code := strings.TrimSpace(text(c.FindElement("./code")))
		switch {
		case c.Tag == "AllgemeineRueckmeldung" && code == "0000000":
			return ""
		case c.Tag == "SonstigeFehlermeldung":
			return strings.TrimSpace(c.Text())
		case code != "":
			if name := strings.TrimSpace(text(c.FindElement("./name"))); name != "" {
				return fmt.Sprintf("%s %s (%s)", c.Tag, code, name)
			}
			return fmt.Sprintf("%s %s", c.Tag, code)
		}
	}
	return ""
}

// importOutcome reads a 0402: acknowledged when every handed-over object was imported, else
// rejected with the receiver's error messages.
func importOutcome(root *etree.Element) (string, string) {
	var failed []string
	objects := root.FindElements("./AbgegebenesObjekt")
	for _, o := range objects {
		if ok := strings.TrimSpace(text(o.FindElement("./Erfolgreich"))); ok == "true" || ok == "1" {
			continue
		}
		reason := []string{}
		for _, f := range o.FindElements("./Fehlermeldung") {
			reason = append(reason, strings.TrimSpace(f.Text()))
		}
		for _, c := range o.FindElements("./FehlermeldungCode/code") {
			reason = append(reason, "code "+strings.TrimSpace(c.Text()))
		}
		if len(reason) == 0 {
			reason = append(reason, "no reason given")
		}
		failed = append(failed, fmt.Sprintf("object %s not imported: %s", strings.TrimSpace(text(o.FindElement("./IDSGO"))), strings.Join(reason, "; ")))
	}
	if len(failed) > 0 {
		return Rejected, strings.Join(failed, " | ")
	}
	return Acknowledged, fmt.Sprintf("import confirmed for %d object(s)", len(objects))
}

func text(e *etree.Element) string {
	if e == nil {
		return ""
	}
	return e.Text()
}

// moveTo moves a processed file into dir, never overwriting an earlier one of the same name.
func moveTo(path, dir string) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	target := filepath.Join(dir, filepath.Base(path))
	for i := 2; ; i++ {
		if _, err := os.Lstat(target); os.IsNotExist(err) {
			break
		}
		target = filepath.Join(dir, fmt.Sprintf("%s.%d", filepath.Base(path), i))
	}
	return os.Rename(path, target)
}
