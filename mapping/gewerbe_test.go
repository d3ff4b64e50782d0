package mapping_test

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/amtsbote/amtsbote/mapping"
	"github.com/amtsbote/amtsbote/xoev"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func demoInput(t *testing.T) mapping.Input {
	t.Helper()
	raw, err := os.ReadFile("../fixtures/demo/submission.json")
	if err != nil {
		t.Fatal(err)
	}
	var sub struct {
		Leistung, AGS, Reference string
		Data                     json.RawMessage
	}
	json.Unmarshal(raw, &sub)
	n := 0
	return mapping.Input{
		SubmissionID: "sub-1", Portal: "demo-portal", Reference: sub.Reference, Leistung: sub.Leistung, AGS: sub.AGS,
		ReceivedAt: time.Date(2026, 11, 29, 9, 30, 0, 0, time.UTC), Data: sub.Data,
		Attachments: []mapping.Attachment{
			{Filename: "Personalausweis.pdf", PackageName: "21623888-2db1-4734-9dc5-3d77af892494_Personalausweis.pdf", MediaType: "application/pdf", Size: 193},
			{Filename: "scan", PackageName: "56e02e15-36d1-4ebc-89b3-73f69873d837_scan", MediaType: "image/jpeg", Size: 67},
			{Filename: "daten.bin", PackageName: "76e02e15-36d1-4ebc-89b3-73f69873d837_daten.bin", MediaType: "application/octet-stream", Size: 5},
		},
		Sender:    xoev.Authority{Kennung: "09162000", Praefix: "009", Name: "Demo-Stadt"},
		Recipient: xoev.Authority{Kennung: "09162000", Praefix: "009", Name: "Gewerbeamt"},
		Now:       func() time.Time { return time.Date(2026, 11, 29, 9, 31, 0, 0, time.UTC) },
		NewID:     func() string { n++; return fmt.Sprintf("00000000-0000-4000-8000-%012d", n) },
	}
}

func gewerbe(t *testing.T) mapping.Mapper {
	t.Helper()
	m, err := mapping.Lookup("gewerbeanmeldung-xdomea-0401")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// The demo submission maps to the golden message, which is valid xdomea 3.0.0.
func TestGewerbeanmeldungGolden(t *testing.T) {
	msg, err := gewerbe(t).Map(demoInput(t))
	if err != nil {
		t.Fatal(err)
	}
	if msg.ID != "00000000-0000-4000-8000-000000000001" || msg.Type != "Abgabe.Abgabe.0401" {
		t.Fatalf("message %s of type %s", msg.ID, msg.Type)
	}
	golden := "testdata/gewerbeanmeldung-0401.xml"
	if *update {
		os.WriteFile(golden, msg.XML, 0o644)
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if string(want) != string(msg.XML) {
		t.Fatalf("output differs from %s (run go test ./mapping -update to accept):\n%s", golden, msg.XML)
	}
	schema, err := xoev.Compile("xdomea-3.0.0", "", "../fixtures/xoev/xdomea-3.0.0/schema/xdomea.xsd")
	if err != nil {
		t.Fatal(err)
	}
	defer schema.Close()
	if err := schema.Validate(msg.XML); err != nil {
		t.Fatal(err)
	}
}

func withData(t *testing.T, change func(d map[string]any)) mapping.Input {
	in := demoInput(t)
	var d map[string]any
	json.Unmarshal(in.Data, &d)
	change(d)
	in.Data, _ = json.Marshal(d)
	return in
}

func inhaber(d map[string]any) map[string]any { return d["inhaber"].(map[string]any) }
func betrieb(d map[string]any) map[string]any { return d["betrieb"].(map[string]any) }

func TestGewerbeanmeldungFieldErrors(t *testing.T) {
	tests := []struct {
		name   string
		change func(d map[string]any)
		want   []string
	}{
		{"missing name", func(d map[string]any) { delete(betrieb(d), "name") }, []string{"data.betrieb.name: is required but missing"}},
		{"blank surname", func(d map[string]any) { inhaber(d)["nachname"] = "  " }, []string{"data.inhaber.nachname: must not be empty"}},
		{"bad start date", func(d map[string]any) { betrieb(d)["beginn"] = "31.02.2027" }, []string{"data.betrieb.beginn: is not a date", "31.02.2027"}},
		{"object for text", func(d map[string]any) { inhaber(d)["vorname"] = map[string]any{"x": 1} }, []string{"data.inhaber.vorname: must be a text"}},
		{"all at once", func(d map[string]any) { delete(d, "betrieb"); delete(d, "inhaber") },
			[]string{"data.betrieb.name", "data.betrieb.taetigkeit", "data.betrieb.beginn", "data.inhaber.vorname", "data.inhaber.nachname"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := gewerbe(t).Map(withData(t, tt.change))
			if err == nil || !mapping.IsMappingError(err) {
				t.Fatalf("want a mapping error, got %v", err)
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error lacks %q: %v", want, err)
				}
			}
		})
	}
}

func TestGewerbeanmeldungDatesAndOptionalFields(t *testing.T) {
	msg, err := gewerbe(t).Map(withData(t, func(d map[string]any) {
		betrieb(d)["beginn"] = "15.01.2027"
		delete(inhaber(d), "geburtsdatum")
		delete(inhaber(d), "anschrift")
		delete(inhaber(d), "anrede")
	}))
	if err != nil {
		t.Fatal(err)
	}
	xml := string(msg.XML)
	if !strings.Contains(xml, "Beginn: 2027-01-15") {
		t.Error("German date not converted to ISO")
	}
	for _, absent := range []string{"<xdomea:Geburt>", "<xdomea:Anrede>", "Lindwurmstraße"} {
		if strings.Contains(xml, absent) {
			t.Errorf("optional %s emitted though missing", absent)
		}
	}
}

func TestUnknownMapping(t *testing.T) {
	_, err := mapping.Lookup("nope")
	if err == nil || !strings.Contains(err.Error(), "gewerbeanmeldung-xdomea-0401") {
		t.Fatalf("want an error listing the known mappings, got %v", err)
	}
}
