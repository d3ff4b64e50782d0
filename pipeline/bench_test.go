package pipeline

import (
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/amtsbote/amtsbote/config"
	"github.com/amtsbote/amtsbote/formdata"
	"github.com/amtsbote/amtsbote/mapping"
	"github.com/amtsbote/amtsbote/snapshot"
	"github.com/amtsbote/amtsbote/store"
)

// demoTargets loads the demo configuration and the mapping input of the demo submission.
func demoTargets(b *testing.B) (*snapshot.Snapshot, mapping.Input) {
	b.Helper()
	cfg, err := config.Load("../fixtures/demo/amtsbote.yaml")
	if err != nil {
		b.Fatal(err)
	}
	snap, err := snapshot.FromConfig(cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(snap.Close)
	raw, _ := os.ReadFile("../fixtures/demo/submission.json")
	var req struct {
		Leistung, AGS, Reference string
		Data                     json.RawMessage
	}
	json.Unmarshal(raw, &req)
	sub := store.Submission{ID: "0b7e2f5c-5f0e-4a51-9d0e-8f3a8f0c2b11", Portal: "demo-portal", Reference: req.Reference,
		Leistung: req.Leistung, AGS: req.AGS, Data: req.Data, ReceivedAt: time.Now()}
	atts := []store.Attachment{{Filename: "a.pdf", PackageName: "0b7e2f5c-5f0e-4a51-9d0e-8f3a8f0c2b11_a.pdf", MediaType: "application/pdf", Size: 1000, SHA256: "ab"}}
	in, err := mappingInput(sub, atts, snap)
	if err != nil {
		panic(err)
	}
	return snap, in
}

// The process stage's CPU work for the demo route: map and validate both targets (the xdomea
// E-Akte message and the FVDaten message).
func BenchmarkMapAndValidateDemo(b *testing.B) {
	snap, in := demoTargets(b)
	route, _ := snap.Routes.Route("gewerbeanmeldung")
	p := &Pipeline{Deps: Deps{Now: time.Now}}
	b.ReportAllocs()
	for b.Loop() {
		for _, t := range route.Targets {
			if _, failure, err := p.mapTarget(in, t, snap); err != nil || failure != nil {
				b.Fatal(err, failure)
			}
		}
	}
}

// Mapping alone, per target.
func BenchmarkMapDemo(b *testing.B) {
	snap, in := demoTargets(b)
	route, _ := snap.Routes.Route("gewerbeanmeldung")
	for _, t := range route.Targets {
		b.Run(t.Destination, func(b *testing.B) {
			in := in
			in.Recipient, in.Now = t.Recipient, time.Now
			b.ReportAllocs()
			for b.Loop() {
				if _, err := t.Mapper.Map(in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// The check at intake for the demo route: the route's JSON Schema alone, and with
// check_at_intake the dry run of both targets (mapping and validation; the readable
// application described, not rendered). Rendering it, as processing does, for comparison.
func BenchmarkCheck(b *testing.B) {
	snap, _ := demoTargets(b)
	route, _ := snap.Routes.Route("gewerbeanmeldung")
	schema, err := formdata.LoadSchema("../fixtures/demo/schemas/gewerbeanmeldung.schema.json")
	if err != nil {
		b.Fatal(err)
	}
	raw, _ := os.ReadFile("../fixtures/demo/submission.json")
	var req struct{ Data json.RawMessage }
	json.Unmarshal(raw, &req)
	sub := store.Submission{ID: "0b7e2f5c-5f0e-4a51-9d0e-8f3a8f0c2b11", Portal: "demo-portal", Leistung: "99050012104000",
		AGS: "09162000", Data: req.Data, ReceivedAt: time.Now()}
	atts := []store.Attachment{{Filename: "a.pdf", PackageName: "0b7e2f5c-5f0e-4a51-9d0e-8f3a8f0c2b11_a.pdf", MediaType: "application/pdf", Size: 1000, SHA256: "ab"}}
	for _, c := range []struct {
		name  string
		check bool
	}{{"json_schema", false}, {"check_at_intake", true}} {
		b.Run(c.name, func(b *testing.B) {
			r := *route
			r.Schema, r.CheckAtIntake = schema, c.check
			b.ReportAllocs()
			for b.Loop() {
				if problems, err := Check(sub, atts, &r, snap, time.Now); err != nil || len(problems) > 0 {
					b.Fatal(err, problems)
				}
			}
		})
	}
	b.Run("render_application", func(b *testing.B) {
		for b.Loop() {
			if _, err := applicationFiles(sub, atts, route, time.UTC, 1); err != nil {
				b.Fatal(err)
			}
		}
	})
}
