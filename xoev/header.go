package xoev

import (
	"runtime/debug"
	"time"

	"github.com/beevik/etree"
	"github.com/google/uuid"
)

// Header is what the header (Nachrichtenkopf) of an XÖV message says: which message, when, of
// which type, from whom to whom.
type Header struct {
	// MessageID is the message (process) UUID; xdomea calls it ProzessID.
	MessageID string
	// Created is the creation time.
	Created time.Time
	// MessageType is the code of the message type in the standard's list, e.g. 0401.
	MessageType string
	// MessageTypeList and MessageTypeListVersion name that code list.
	MessageTypeList        string
	MessageTypeListVersion string
	Sender                 Authority
	Recipient              Authority
	// Product and ProductVersion name the sending system, Manufacturer who is responsible for
	// it (the Basisnachricht's produkt, produktversion and produkthersteller).
	Product, ProductVersion, Manufacturer string
	// Standard and StandardVersion name the XÖV standard the message belongs to (the
	// Basisnachricht's standard and version attributes).
	Standard, StandardVersion string
	// Test, when not empty, marks a test message (the Basisnachricht's test attribute): "the
	// author's view is that it must not be processed in normal production".
	Test string
}

// Product names the sending system as the Basisnachricht G2G writes it on the message:
// produkt, produkthersteller and produktversion.
type Product struct {
	// Name is the product (software) that made the message. Default: amtsbote.
	Name string `mapstructure:"name" yaml:"name"`
	// Manufacturer is the organisation responsible for it. Default: amtsbote.
	Manufacturer string `mapstructure:"manufacturer" yaml:"manufacturer"`
	// Version identifies the build. Default: the build's version (Version).
	Version string `mapstructure:"version" yaml:"version"`
}

// DefaultProduct is the product name, and the manufacturer, amtsbote writes when none is
// configured.
const DefaultProduct = "amtsbote"

// WithDefaults fills what is not configured: amtsbote, by amtsbote, in this build's version.
func (p Product) WithDefaults() Product {
	if p.Name == "" {
		p.Name = DefaultProduct
	}
	if p.Manufacturer == "" {
		p.Manufacturer = DefaultProduct
	}
	if p.Version == "" {
		p.Version = Version
	}
	return p
}

// Version is amtsbote's version as the build knows it: the module version of a released build,
// else the VCS revision, else "dev". Set it at link time with
// -ldflags "-X github.com/amtsbote/amtsbote/xoev.Version=1.2.3".
var Version = buildVersion()

func buildVersion() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "dev"
	}
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			return "dev-" + s.Value[:12]
		}
	}
	return "dev"
}

// NewHeader starts a header with a fresh UUID and the current time in whole seconds (UTC).
// now and newID may be nil (time.Now, random UUIDs); tests fix them.
func NewHeader(messageType string, sender, recipient Authority, now func() time.Time, newID func() string) Header {
	if now == nil {
		now = time.Now
	}
	if newID == nil {
		newID = uuid.NewString
	}
	return Header{
		MessageID: newID(), Created: now().UTC().Truncate(time.Second), MessageType: messageType,
		Sender: sender, Recipient: recipient, Product: DefaultProduct, ProductVersion: Version, Manufacturer: DefaultProduct,
	}
}

// DateTime formats a time as xs:dateTime in UTC with whole seconds, as XÖV schemas expect.
func DateTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

// Date formats a time as xs:date.
func Date(t time.Time) string { return t.UTC().Format("2006-01-02") }

// Xdomea nachrichtentyp code list, fixed by the xdomea 3.0.0 schema.
const (
	XdomeaNachrichtentypList    = "urn:xoev-de:xdomea:codeliste:nachrichtentyp"
	XdomeaNachrichtentypVersion = "2.0"
)

// WriteXdomeaKopf appends the common part of an xdomea 3.0.0 Kopf (ProzessID, Nachrichtentyp,
// Erstellungszeitpunkt, Absender, Empfaenger, SendendesSystem) to kopf; the caller adds the
// elements specific to its message type after it.
func (h Header) WriteXdomeaKopf(kopf *etree.Element, prefix string) {
	p := prefix + ":"
	kopf.CreateElement(p + "ProzessID").SetText(h.MessageID)
	list, version := h.MessageTypeList, h.MessageTypeListVersion
	if list == "" {
		list, version = XdomeaNachrichtentypList, XdomeaNachrichtentypVersion
	}
	WriteCode(kopf.CreateElement(p+"Nachrichtentyp"), list, version, h.MessageType, "")
	kopf.CreateElement(p + "Erstellungszeitpunkt").SetText(DateTime(h.Created))
	h.Sender.writeXdomeaKontakt(kopf.CreateElement(p+"Absender"), p)
	h.Recipient.writeXdomeaKontakt(kopf.CreateElement(p+"Empfaenger"), p)
	if h.Product != "" {
		kopf.CreateElement(p + "SendendesSystem").CreateElement(p + "Produktname").SetText(h.Product)
	}
}

// WriteCode fills an XÖV code element (type xoev-code:Code): listURI and listVersionID
// attributes and the unqualified code and name children.
func WriteCode(el *etree.Element, listURI, listVersion, code, name string) {
	if listURI != "" {
		el.CreateAttr("listURI", listURI)
	}
	if listVersion != "" {
		el.CreateAttr("listVersionID", listVersion)
	}
	el.CreateElement("code").SetText(code)
	if name != "" {
		el.CreateElement("name").SetText(name)
	}
}

// writeXdomeaKontakt writes an authority as an xdomea Kontakt: Behoerdenkennung
// (Behoerdenschluessel + Praefix) and the name as Institution.
func (a Authority) writeXdomeaKontakt(kontakt *etree.Element, p string) {
	if a.Kennung != "" || a.Praefix != "" {
		kennung := kontakt.CreateElement(p + "Behoerdenkennung")
		if a.Kennung != "" {
			WriteCode(kennung.CreateElement(p+"Behoerdenschluessel"), a.KennungList, a.KennungListVersion, a.Kennung, "")
		}
		if a.Praefix != "" {
			WriteCode(kennung.CreateElement(p+"Praefix"), a.PraefixList, a.PraefixListVersion, a.Praefix, "")
		}
	}
	if a.Name != "" {
		kontakt.CreateElement(p + "Institution").CreateElement(p + "Name").SetText(a.Name)
	}
}
