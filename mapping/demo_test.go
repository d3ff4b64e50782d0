package mapping_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/amtsbote/amtsbote/mapping"
	"github.com/amtsbote/amtsbote/xoev"
)

const (
	demoMappings = "../fixtures/demo/mappings/"
	xdomeaRoot   = "../fixtures/xoev/xdomea-3.0.0/schema/xdomea.xsd"
	codeListsDir = "../fixtures/xoev/xdomea-3.0.0/schema/code_lists"
	demoCodeDir  = "../fixtures/demo/code_lists"
)

// demoMappingFiles are the demo's xdomea mappings: one per message type it ships.
var demoMappingFiles = []string{"gewerbeanmeldung-geschaeftsgang-0201.yaml", "gewerbeanmeldung-information-0101.yaml",
	"gewerbeanmeldung-abgabe-0401.yaml", "gewerbeanmeldung-fvdaten-0605.yaml"}

var (
	setOnce sync.Once
	set     *xoev.SchemaSet
	setErr  error
)

func xdomea(t testing.TB) *xoev.SchemaSet {
	t.Helper()
	setOnce.Do(func() {
		set, setErr = xoev.LoadSchemaSet(xoev.SchemaSetConfig{ID: "xdomea-3.0.0", Root: xdomeaRoot, CodeLists: []string{codeListsDir, demoCodeDir}})
	})
	if setErr != nil {
		t.Fatal(setErr)
	}
	return set
}

func load(t testing.TB, file string) *mapping.Mapping {
	t.Helper()
	m, err := mapping.Load(file, xdomea(t).CodeLists)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// fixedInput is a submission with a fixed clock and counting UUIDs.
func fixedInput(t testing.TB, data string, attachments ...mapping.Attachment) mapping.Input {
	n := 0
	return mapping.Input{
		SubmissionID: "sub-1", Portal: "demo-portal", Reference: "DEMO-1", Leistung: "99050012104000", AGS: "09162000",
		ReceivedAt: time.Date(2026, 11, 29, 9, 30, 0, 0, time.UTC), Data: json.RawMessage(data), Attachments: attachments,
		Sender:    xoev.Authority{Kennung: "09162000", Praefix: "009", Name: "Demo-Stadt"},
		Recipient: xoev.Authority{Kennung: "09162000", Praefix: "009", Name: "Gewerbeamt"},
		Now:       func() time.Time { return time.Date(2026, 11, 29, 9, 31, 0, 0, time.UTC) },
		NewID:     func() string { n++; return fmt.Sprintf("00000000-0000-4000-8000-%012d", n) },
	}
}

func demoData(t testing.TB) string {
	raw, err := os.ReadFile("../fixtures/demo/submission.json")
	if err != nil {
		t.Fatal(err)
	}
	var sub struct{ Data json.RawMessage }
	json.Unmarshal(raw, &sub)
	return string(sub.Data)
}

var pdf = mapping.Attachment{Filename: "Personalausweis.pdf", PackageName: "21623888-2db1-4734-9dc5-3d77af892494_Personalausweis.pdf", MediaType: "application/pdf", Size: 193, SHA256: "ab"}

func TestDemoMappingsProduceValidMessages(t *testing.T) {
	for _, f := range demoMappingFiles {
		t.Run(f, func(t *testing.T) {
			msg, err := load(t, demoMappings+f).Map(fixedInput(t, demoData(t), pdf))
			if err != nil {
				t.Fatal(err)
			}
			if err := xdomea(t).Validate(msg.XML); err != nil { // with the code-list check
				t.Fatalf("%v\n%s", err, msg.XML)
			}
			t.Logf("%s", msg.XML)
		})
	}
}

func validationProblems(t *testing.T, err error) []xoev.Problem {
	t.Helper()
	var ve *xoev.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("want a validation error, got %v", err)
	}
	return ve.Problems
}
