package mapping

import (
	"fmt"
	"path"
	"strings"

	"github.com/beevik/etree"
	"github.com/google/uuid"

	"github.com/amtsbote/amtsbote/xoev"
)

func init() {
	Register("gewerbeanmeldung-xdomea-0401", gewerbeAbgabe{})
}

// XdomeaNamespace is the target namespace of xdomea 3.0.0.
const XdomeaNamespace = "urn:xoev-de:xdomea:schema:3.0.0"

// gewerbeAbgabe maps a trade registration (Gewerbeanmeldung) into an xdomea 3.0.0
// Abgabe.Abgabe.0401: one Vorgang for the application, with the owner and the business as
// contacts and one Dokument per attachment.
type gewerbeAbgabe struct{}

const abgabeType = "Abgabe.Abgabe.0401"

func (gewerbeAbgabe) Map(in Input) (*Message, error) {
	newID := in.NewID
	if newID == nil {
		newID = uuid.NewString
	}
	f := newForm(in.Data)
	betrieb := struct{ name, taetigkeit, beginn, rechtsform, beschaeftigte string }{
		f.str("betrieb.name", true), f.str("betrieb.taetigkeit", true), f.date("betrieb.beginn", true),
		f.str("betrieb.rechtsform", false), f.str("betrieb.beschaeftigte", false),
	}
	inhaber := struct{ anrede, vorname, nachname, geburtsdatum string }{
		f.str("inhaber.anrede", false), f.str("inhaber.vorname", true), f.str("inhaber.nachname", true),
		f.date("inhaber.geburtsdatum", false),
	}
	inhaberAnschrift := address(f, "inhaber.anschrift")
	betriebAnschrift := address(f, "betrieb.anschrift")
	if len(f.problems) > 0 {
		return nil, &Error{Mapping: "gewerbeanmeldung-xdomea-0401", Fields: f.problems}
	}

	header := xoev.NewHeader("0401", in.Sender, in.Recipient, in.Now, newID)
	m := &Message{ID: header.MessageID, Type: abgabeType, CreatedAt: header.Created}
	doc := etree.NewDocument()
	doc.CreateProcInst("xml", `version="1.0" encoding="UTF-8"`)
	root := doc.CreateElement("xdomea:" + abgabeType)
	root.CreateAttr("xmlns:xdomea", XdomeaNamespace)

	kopf := root.CreateElement("xdomea:Kopf")
	header.WriteXdomeaKopf(kopf, "xdomea")
	text(kopf, "xdomea:Importbestaetigung", "1") // fixed by the schema: an import receipt (0402) is always asked for
	text(kopf, "xdomea:Empfangsbestaetigung", "1")

	vorgang := root.CreateElement("xdomea:Schriftgutobjekt").CreateElement("xdomea:Vorgang")
	text(vorgang.CreateElement("xdomea:Identifikation"), "xdomea:ID", newID())
	meta := vorgang.CreateElement("xdomea:AllgemeineMetadaten")
	text(meta, "xdomea:Betreff", "Gewerbeanmeldung: "+betrieb.name)
	text(meta, "xdomea:Kennzeichen", in.Reference)
	text(meta, "xdomea:Bemerkung", remark(in, betrieb.taetigkeit, betrieb.beginn, betrieb.rechtsform, betrieb.beschaeftigte))
	text(vorgang, "xdomea:Typ", "Gewerbeanmeldung")
	received := xoev.Date(in.ReceivedAt)
	text(vorgang.CreateElement("xdomea:Laufzeit"), "xdomea:Beginn", received)
	for i, a := range in.Attachments {
		dok := vorgang.CreateElement("xdomea:Dokument")
		id := dok.CreateElement("xdomea:Identifikation")
		text(id, "xdomea:ID", newID())
		text(id, "xdomea:NummerImUebergeordnetenContainer", fmt.Sprint(i+1))
		text(dok.CreateElement("xdomea:AllgemeineMetadaten"), "xdomea:Betreff", a.Filename)
		text(dok, "xdomea:Posteingangsdatum", received)
		version := dok.CreateElement("xdomea:Version")
		text(version, "xdomea:Nummer", "1")
		format := version.CreateElement("xdomea:Format")
		fileFormat(format, a)
		text(format, "xdomea:Version", "unbekannt")
		primary := format.CreateElement("xdomea:Primaerdokument")
		text(primary, "xdomea:Dateiname", a.PackageName)
		text(primary, "xdomea:DateinameOriginal", a.Filename)
		text(primary, "xdomea:DatumUhrzeit", xoev.DateTime(in.ReceivedAt))
	}
	person := vorgang.CreateElement("xdomea:Kontakt")
	name := person.CreateElement("xdomea:Name")
	text(name, "xdomea:Anrede", inhaber.anrede)
	text(name.CreateElement("xdomea:Familienname"), "xdomea:Name", inhaber.nachname)
	text(name.CreateElement("xdomea:Vorname"), "xdomea:Name", inhaber.vorname)
	inhaberAnschrift.write(person)
	if inhaber.geburtsdatum != "" {
		text(person.CreateElement("xdomea:Geburt"), "xdomea:Datum", inhaber.geburtsdatum)
	}
	business := vorgang.CreateElement("xdomea:Kontakt")
	text(business.CreateElement("xdomea:Institution"), "xdomea:Name", betrieb.name)
	text(business, "xdomea:Taetigkeit", betrieb.taetigkeit)
	betriebAnschrift.write(business)

	doc.Indent(2)
	xml, err := doc.WriteToBytes()
	if err != nil {
		return nil, fmt.Errorf("write %s: %w", abgabeType, err)
	}
	m.XML = xml
	return m, nil
}

func remark(in Input, taetigkeit, beginn, rechtsform, beschaeftigte string) string {
	parts := []string{"Tätigkeit: " + taetigkeit, "Beginn: " + beginn}
	if rechtsform != "" {
		parts = append(parts, "Rechtsform: "+rechtsform)
	}
	if beschaeftigte != "" {
		parts = append(parts, "Beschäftigte: "+beschaeftigte)
	}
	parts = append(parts, "Leistung: "+in.Leistung, "AGS: "+in.AGS, "Portal: "+in.Portal)
	return strings.Join(parts, "; ")
}

// text adds a child with text; an empty value adds nothing, so optional elements stay out.
func text(parent *etree.Element, tag, value string) {
	if value == "" {
		return
	}
	parent.CreateElement(tag).SetText(value)
}

type postal struct{ strasse, hausnummer, plz, ort string }

func address(f *form, at string) postal {
	return postal{f.str(at+".strasse", false), f.str(at+".hausnummer", false), f.str(at+".plz", false), f.str(at+".ort", false)}
}

func (p postal) write(kontakt *etree.Element) {
	if p == (postal{}) {
		return
	}
	a := kontakt.CreateElement("xdomea:Anschrift")
	text(a, "xdomea:Strasse", p.strasse)
	text(a, "xdomea:Hausnummer", p.hausnummer)
	text(a, "xdomea:Postleitzahl", p.plz)
	text(a, "xdomea:Ort", p.ort)
}

// dateiformat maps file extensions to the xdomea Dateiformat code list 1.0.
var dateiformat = map[string]string{
	"bmp": "001", "csv": "002", "doc": "003", "eml": "006", "htm": "007", "html": "008", "jpeg": "010",
	"jpg": "011", "msg": "012", "odp": "013", "ods": "014", "odt": "015", "pdf": "018", "png": "019",
	"ppt": "020", "rtf": "022", "tif": "023", "tiff": "024", "xls": "028", "xml": "030", "docx": "035",
	"xlsx": "036", "pptx": "037", "txt": "045",
}

var mediaTypeExt = map[string]string{
	"application/pdf": "pdf", "image/png": "png", "image/jpeg": "jpg", "image/tiff": "tif",
	"application/xml": "xml", "text/xml": "xml", "text/plain": "txt", "text/csv": "csv",
}

func fileFormat(format *etree.Element, a Attachment) {
	ext := strings.ToLower(strings.TrimPrefix(path.Ext(a.Filename), "."))
	c, ok := dateiformat[ext]
	if !ok {
		ext = mediaTypeExt[a.MediaType]
		c, ok = dateiformat[ext]
	}
	if !ok {
		xoev.WriteCode(format.CreateElement("xdomea:Name"), "urn:xoev-de:xdomea:codeliste:dateiformat", "1.0", "100", "")
		text(format, "xdomea:SonstigerName", a.MediaType)
		return
	}
	xoev.WriteCode(format.CreateElement("xdomea:Name"), "urn:xoev-de:xdomea:codeliste:dateiformat", "1.0", c, "")
}
