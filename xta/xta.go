// Package xta speaks XTA 2 (XTA-WS 2.1.1, KoSIT), the web service through which software hands
// messages to a state's OSCI message broker and fetches what arrived for it: SOAP 1.2
// document/literal over HTTPS with client certificates, WS-Addressing, payloads as MTOM
// attachments. Client is the caller's side (sending, transport reports, mailboxes); testserver
// is a strict XTA-WS server for tests and for trying amtsbote out.
//
// The WSDL and XSDs in schema/ are those of XTA-WS 2.1.1 (see schema/README.md).
package xta

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Namespaces of XTA-WS 2.1.1.
const (
	NSSoap     = "http://www.w3.org/2003/05/soap-envelope"
	NSWSA      = "http://www.w3.org/2005/08/addressing"
	NSXTA      = "http://xoev.de/transport/xta/211"
	NSOSCIMeta = "http://www.osci.eu/ws/2014/10/transport"
	NSOSCI     = "http://www.osci.eu/ws/2008/05/transport"
	NSXOP      = "http://www.w3.org/2004/08/xop/include"
	// Anonymous is WS-Addressing's address for "answer on this connection".
	Anonymous = "http://www.w3.org/2005/08/addressing/anonymous"
)

// Actions: the WS-Addressing Action (and SOAP action) of each operation, as the WSDL's
// wsam:Action and soapAction give them. Answers and faults carry the same action.
const (
	ActionCheckAccountActive = "http://www.xta.de/XTA/CheckAccountActive"
	ActionLookupService      = "http://www.xta.de/XTA/IsServiceAvailable"
	ActionCreateMessageID    = "http://www.xta.de/XTA/CreateMessageID"
	ActionGetTransportReport = "http://www.xta.de/XTA/GetTransportReport"
	ActionSendMessage        = "http://www.xta.de/XTA/SendMessage"
	msgBoxActions            = "http://www.osci.eu/ws/2008/05/transport/urn/messageTypes/"
	ActionStatusList         = msgBoxActions + "MsgBoxStatusListRequest"
	ActionGetMessage         = msgBoxActions + "MsgBoxFetchRequest"
	ActionClose              = msgBoxActions + "MsgBoxCloseRequest"
)

// Port is one of the service's three ports; each has its own endpoint.
type Port string

const (
	ManagementPort Port = "management"
	SendPort       Port = "send"
	MsgBoxPort     Port = "msgbox"
)

// PortOf tells which port serves an action ("" for an action XTA-WS does not define here).
func PortOf(action string) Port {
	switch action {
	case ActionCheckAccountActive, ActionLookupService, ActionCreateMessageID, ActionGetTransportReport:
		return ManagementPort
	case ActionSendMessage:
		return SendPort
	case ActionStatusList, ActionGetMessage, ActionClose:
		return MsgBoxPort
	}
	return ""
}

// Party is an author or reader: an oscimeta:Identifier. ID is the identifier (in the DVDV
// usually prefix:key, e.g. "gad:010100100000"); Type is required (e.g. "xoev"); Name and
// Category are optional.
type Party struct {
	ID       string `mapstructure:"identifier" yaml:"identifier"`
	Type     string `mapstructure:"type" yaml:"type"`
	Name     string `mapstructure:"name" yaml:"name"`
	Category string `mapstructure:"category" yaml:"category"`
}

// DefaultPartyType is the identifier type amtsbote writes when none is configured.
const DefaultPartyType = "xoev"

// WithDefaults returns p with DefaultPartyType where it names no type.
func (p Party) WithDefaults() Party {
	if p.Type == "" {
		p.Type = DefaultPartyType
	}
	return p
}

// Check tells what is wrong with a party named what (e.g. "options.author").
func (p Party) Check(what string) error {
	switch {
	case strings.TrimSpace(p.ID) == "":
		return fmt.Errorf("%s.identifier is empty: name the XTA identity, e.g. gad:010100100000", what)
	case strings.ContainsAny(p.ID, "\r\n\t"):
		return fmt.Errorf("%s.identifier %q must not contain line breaks or tabs", what, p.ID)
	}
	return nil
}

func (p Party) String() string { return p.ID }

// Code is a XÖV code (listURI, listVersionID, code), as BusinessScenario and MessageType use.
type Code struct {
	ListURI, ListVersion, Code, Name string
}

// MessageMetaData is what oscimeta:MessageMetaData says about a message: who, to whom, which
// service, which message.
type MessageMetaData struct {
	MessageID string
	// ProcessRef is the sender's process identifier (MsgIdentification/ProcessRef/Requester):
	// amtsbote writes the ProzessID there.
	ProcessRef string
	Author     Party
	Reader     Party
	Service    string
	// BusinessScenario is Defined (a code) or, if its code is empty, Undefined.
	BusinessScenario Code
	Undefined        string
	// MessageType is the message's type (e.g. code Geschaeftsgang.Geschaeftsgang.0201 from the
	// list urn:de:payloadSchema:elementName); PayloadSchema its schema's namespace.
	MessageType   Code
	PayloadSchema string
	Origin        time.Time
	Size          int64
	Test          bool
}

// Transport report statuses (MessageStatus/Status).
const (
	StatusOpen   = 0
	StatusGreen  = 1
	StatusYellow = 2
	StatusRed    = 3
)

// Report is a transport report: the message's status and what the broker says about it.
type Report struct {
	MessageID string
	Status    int
	Time      time.Time
	Server    string
	// Errors, Warnings and Infos are the records of the report ("code: reason").
	Errors, Warnings, Infos []string
}

// StatusName names a transport report status.
func StatusName(s int) string {
	switch s {
	case StatusOpen:
		return "open"
	case StatusGreen:
		return "green"
	case StatusYellow:
		return "yellow"
	case StatusRed:
		return "red"
	}
	return fmt.Sprintf("unknown (%d)", s)
}

// Fault codes of XTA-WS (code list urn:de:xta:webservice:codeliste:fehlernummer 1.0).
const (
	CodeUnspecified       = "9000"
	CodeCertExpired       = "9010"
	CodeAccountLocked     = "9011"
	CodeAccountUnknown    = "9012"
	CodeServiceNotBooked  = "9013"
	CodeCertNotAuthor     = "9014"
	CodeNoParameters      = "9020"
	CodeInvalidURI        = "9021"
	CodeInvalidParameters = "9022"
	CodeTooLarge          = "9023"
	CodeMessageIDUsed     = "9024"
	CodeInternal          = "9030"
	CodeDirectory         = "9031"
	CodeDelivery          = "9032"
	CodeSchemaViolation   = "9050"
	CodeEncoding          = "9051"
	CodeServiceProfile    = "9052"
	CodeVirus             = "9060"
	CodeUnknownMessageID  = "9070"
	CodeAsyncOnly         = "9080"
	CodeSyncOnly          = "9081"
	FaultCodeList         = "urn:de:xta:webservice:codeliste:fehlernummer"
)

// codeNames are the code list's names (German, as the list has them).
var codeNames = map[string]string{
	CodeUnspecified: "Unspezifizierter Fehler", CodeCertExpired: "Authentisierung/Zertifikat ist abgelaufen",
	CodeAccountLocked: "Account ist gesperrt", CodeAccountUnknown: "Account nicht vorhanden",
	CodeServiceNotBooked: "Dienst ist nicht gebucht", CodeCertNotAuthor: "Authentisierung/Zertifikat passt nicht zur Absenderkennung",
	CodeNoParameters: "Keine Parameter vorhanden", CodeInvalidURI: "Keine gültige URI",
	CodeInvalidParameters: "Ungültige Parameterkombination", CodeTooLarge: "Die Nachricht überschreitet die Größenbeschränkung",
	CodeMessageIDUsed: "MessageID ist bereits vergeben", CodeInternal: "Interner Fehler beim XTA-Server bzw. XTA-Dienstleister",
	CodeDirectory: "Fehler beim externen Verzeichnisdienst", CodeDelivery: "Fehler bei der Zustellung",
	CodeSchemaViolation: "Fachnachricht ist nicht schemakonform", CodeEncoding: "Fachnachricht trägt ein falsches Encoding",
	CodeServiceProfile: "Nachricht verletzt das entsprechende Service Profil", CodeVirus: "Es wurde schadhafter Code ermittelt",
	CodeUnknownMessageID: "MessageID für den Account nicht bekannt", CodeAsyncOnly: "Der Dienst wird nur asynchron angeboten",
	CodeSyncOnly: "Der Dienst wird nur synchron angeboten",
}

// CodeName is the code list's name of a fault code ("" if unknown).
func CodeName(code string) string { return codeNames[code] }

// faultElements are the exception each code belongs to (the code list says which).
func faultElement(code string) string {
	switch {
	case code >= "9010" && code <= "9014":
		return "PermissionDeniedException"
	case code >= "9020" && code <= "9024":
		return "ParameterIsNotValidException"
	case code >= "9050" && code <= "9052":
		return "MessageSchemaViolationException"
	case code == CodeVirus:
		return "MessageVirusDetectionException"
	case code == CodeUnknownMessageID:
		return "InvalidMessageIDException"
	case code == CodeAsyncOnly || code == CodeSyncOnly:
		return "SyncAsyncException"
	}
	return "XTAWSTechnicalProblemException"
}

// Fault is a SOAP fault the server answered: the XTA exception, its error code and the reason.
type Fault struct {
	// Exception is the detail's element, e.g. PermissionDeniedException ("" if the fault had no
	// XTA detail).
	Exception string
	Code      string // e.g. 9012
	Reason    string
	// SoapCode is the fault's Code/Value, e.g. env:Sender.
	SoapCode string
	Action   string
}

func (f *Fault) Error() string {
	var b strings.Builder
	b.WriteString("the XTA server answered with a fault")
	if f.Exception != "" {
		b.WriteString(" " + f.Exception)
	}
	if f.Code != "" {
		b.WriteString(" (" + f.Code)
		if n := CodeName(f.Code); n != "" {
			b.WriteString(" " + n)
		}
		b.WriteString(")")
	}
	if f.Reason != "" {
		b.WriteString(": " + f.Reason)
	}
	return b.String()
}

// Transient tells whether retrying may succeed: technical problems of the server (9030–9032)
// and unspecified ones (9000, or a fault without an XTA code from a server's Receiver). Every
// other code names something a retry does not change: the account, the parameters, the message.
func (f *Fault) Transient() bool {
	switch f.Code {
	case CodeInternal, CodeDirectory, CodeDelivery, CodeUnspecified:
		return true
	case "":
		return !strings.HasSuffix(f.SoapCode, "Sender")
	}
	return false
}

// FaultCode returns the XTA error code of err's fault ("" if err is no fault).
func FaultCode(err error) string {
	var f *Fault
	if errors.As(err, &f) {
		return f.Code
	}
	return ""
}

// NewFault makes the fault for a code with a reason.
func NewFault(code, reason string) *Fault {
	return &Fault{Exception: faultElement(code), Code: code, Reason: reason}
}
