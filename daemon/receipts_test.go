package daemon_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/amtsbote/amtsbote/xoev"
)

const kopf = `<xdomea:Kopf>
    <xdomea:ProzessID>%s</xdomea:ProzessID>
    <xdomea:Nachrichtentyp listURI="urn:xoev-de:xdomea:codeliste:nachrichtentyp" listVersionID="2.0"><code>%s</code></xdomea:Nachrichtentyp>
    <xdomea:Erstellungszeitpunkt>2026-11-29T10:00:00Z</xdomea:Erstellungszeitpunkt>
    <xdomea:Absender><xdomea:Institution><xdomea:Name>E-Akte</xdomea:Name></xdomea:Institution></xdomea:Absender>
    <xdomea:Empfaenger><xdomea:Institution><xdomea:Name>amtsbote</xdomea:Name></xdomea:Institution></xdomea:Empfaenger>
  </xdomea:Kopf>`

// xdomeaReceipt builds a receipt: root element, the code of its type, the ProzessID of the
// message it answers, the Kopf's extra elements for its type, and its body.
func xdomeaReceipt(root, code, processID, kopfExtra, body string) string {
	return `<?xml version="1.0" encoding="UTF-8"?>
<xdomea:` + root + ` xmlns:xdomea="urn:xoev-de:xdomea:schema:3.0.0">
  ` + strings.Replace(sprintf(kopf, processID, code), "</xdomea:Kopf>", kopfExtra+"</xdomea:Kopf>", 1) + `
  ` + body + `
</xdomea:` + root + `>`
}

func importReceipt(processID string, ok bool, reason string) string {
	obj := `<xdomea:AbgegebenesObjekt><xdomea:IDSGO>` + uuid.NewString() + `</xdomea:IDSGO><xdomea:Erfolgreich>1</xdomea:Erfolgreich></xdomea:AbgegebenesObjekt>`
	if !ok {
		obj = `<xdomea:AbgegebenesObjekt><xdomea:IDSGO>` + uuid.NewString() + `</xdomea:IDSGO><xdomea:Erfolgreich>0</xdomea:Erfolgreich><xdomea:Fehlermeldung>` + reason + `</xdomea:Fehlermeldung></xdomea:AbgegebenesObjekt>`
	}
	return xdomeaReceipt("Abgabe.ImportBestaetigen.0402", "0402", processID, "", obj)
}

// empfang is the Empfangsbestätigung of a message group: 0102, 0202, 0403 or 0629.
func empfang(root, code, processID string) string {
	return xdomeaReceipt(root, code, processID, "", "")
}

// fvImport is a FVDaten.ImportBestaetigen.0630: success with the DMS's id, or a failure code.
func fvImport(processID, dmsID, failure string) string {
	if failure == "" {
		return xdomeaReceipt("FVDaten.ImportBestaetigen.0630", "0630", processID, "<xdomea:FVSessionID/>", `<xdomea:ErfolgOderMisserfolg>
    <xdomea:Rueckmeldung><xdomea:AllgemeineRueckmeldung><code>0000000</code></xdomea:AllgemeineRueckmeldung></xdomea:Rueckmeldung>
    <xdomea:Rueckgabeparameter><xdomea:IDSGO>`+dmsID+`</xdomea:IDSGO>
      <xdomea:Parameter><xdomea:AllgemeinerRueckgabeparameter><xdomea:Name>FachverfahrenObjektID</xdomea:Name></xdomea:AllgemeinerRueckgabeparameter></xdomea:Parameter>
      <xdomea:Erfolgreich>1</xdomea:Erfolgreich></xdomea:Rueckgabeparameter>
  </xdomea:ErfolgOderMisserfolg>`)
	}
	return xdomeaReceipt("FVDaten.ImportBestaetigen.0630", "0630", processID, "<xdomea:FVSessionID/>", `<xdomea:ErfolgOderMisserfolg>
    <xdomea:Rueckmeldung><xdomea:SpezifischeFehlermeldung0605><code>`+failure+`</code><name>Die ID des Containers ist im DMS unbekannt/ungültig.</name></xdomea:SpezifischeFehlermeldung0605></xdomea:Rueckmeldung>
    <xdomea:Rueckgabeparameter>
      <xdomea:Parameter><xdomea:AllgemeinerRueckgabeparameter><xdomea:Name>FachverfahrenObjektID</xdomea:Name></xdomea:AllgemeinerRueckgabeparameter></xdomea:Parameter>
      <xdomea:Erfolgreich>0</xdomea:Erfolgreich></xdomea:Rueckgabeparameter>
  </xdomea:ErfolgOderMisserfolg>`)
}

func sprintf(format string, args ...any) string { return fmt.Sprintf(format, args...) }

// processIDOf reads the ProzessID of a delivery from its artefact's file name (admin view).
func processIDOf(t *testing.T, h *harness, id, dest string) string {
	t.Helper()
	name := filepath.Base(delivery(t, h.detail(id), dest)["artefact"].(string))
	return name[:36]
}

// Receipts close the loop: an Empfangsbestätigung of the E-Akte's Geschaeftsgang acknowledges
// its delivery; receipts that match nothing, answer another message type or cannot be read are
// filed and moved aside.
func TestReceipts(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		cfg := backendConfig(t, backend)
		inbox := filepath.Join(t.TempDir(), "inbox")
		cfg.Receipts.Directory = inbox
		cfg.Receipts.Schedule = "@every 1h" // the test polls itself
		h := start(t, cfg)
		ids := make([]string, 3)
		for i := range ids {
			ids[i] = h.submit(demoSubmission(t), demoToken, nil).Body["id"].(string)
		}
		pids := map[string]string{}
		for _, id := range ids {
			h.waitStatus(id, "delivered")
			pids[id] = processIDOf(t, h, id, "eakte")
		}
		secret := filepath.Join(t.TempDir(), "secret")
		os.WriteFile(secret, []byte("TOP-SECRET"), 0o600)
		files := map[string]string{
			"a-empfang.xml":            empfang("Geschaeftsgang.EmpfangBestaetigen.0202", "0202", pids[ids[0]]),
			"b-empfang.xml":            empfang("Geschaeftsgang.EmpfangBestaetigen.0202", "0202", pids[ids[1]]),
			"d-other-group.xml":        importReceipt(pids[ids[2]], false, "Aktenzeichen unbekannt"),
			"e-unmatched.xml":          empfang("Geschaeftsgang.EmpfangBestaetigen.0202", "0202", uuid.NewString()),
			"f-garbage.xml":            "this is not XML",
			"g-xxe.xml":                `<!DOCTYPE r [<!ENTITY x SYSTEM "file://` + secret + `">]><r>&x;</r>`,
			"h-invalid-receipt.xml":    strings.Replace(empfang("Geschaeftsgang.EmpfangBestaetigen.0202", "0202", pids[ids[2]]), "<xdomea:ProzessID>", "<xdomea:ProzessId>", 1),
			"i-other-message-type.xml": strings.NewReplacer("Geschaeftsgang.EmpfangBestaetigen.0202", "Information.Information.0101", "<code>0202", "<code>0101").Replace(empfang("Geschaeftsgang.EmpfangBestaetigen.0202", "0202", pids[ids[2]])),
		}
		for name, content := range files {
			os.WriteFile(filepath.Join(inbox, name), []byte(content), 0o644)
		}
		res, err := h.d.PollReceipts(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if res.Acknowledged != 2 || res.Rejected != 0 || res.Unmatched != 2 || res.Malformed != 4 {
			t.Fatalf("poll result %+v", res)
		}
		for _, id := range ids[:2] {
			// the E-Akte acknowledged; the Fachverfahren sends no receipts: delivered as a whole
			if d := delivery(t, h.waitStatus(id, "delivered"), "eakte"); d["status"] != "acknowledged" {
				t.Fatalf("eakte delivery = %v", d)
			}
		}
		if d := delivery(t, h.detail(ids[2]), "eakte"); d["status"] != "delivered" {
			t.Fatalf("a receipt of another message group changed the delivery: %v", d)
		}
		for dir, want := range map[string]int{"processed": 2, "unmatched": 2, "malformed": 4} {
			entries, _ := os.ReadDir(filepath.Join(inbox, dir))
			if len(entries) != want {
				t.Errorf("%s/ holds %d files, want %d", dir, len(entries), want)
			}
		}
		if left, _ := os.ReadDir(inbox); len(left) != 3 {
			t.Errorf("inbox still holds files: %v", left)
		}
		filed, err := h.d.Store().Receipts(context.Background(), "")
		if err != nil || len(filed) != 8 {
			t.Fatalf("%d receipts filed, want 8 (%v)", len(filed), err)
		}
		for _, r := range filed {
			if strings.Contains(r.Detail, "TOP-SECRET") {
				t.Fatal("a receipt's detail leaks a file the attack aimed at")
			}
		}
	})
}

// Every receipt a message requests is understood, and matched to the message's delivery: the
// 0201's Geschäftsgang receipt (0202), the 0101's (0102), the 0401's receipt (0403) and import
// confirmation (0402, success or refusal), the 0605's receipt (0629) and filing confirmation
// (0630, with the DMS's id of the object, or a refusal). An Empfangsbestätigung never undoes an
// import's outcome; each receipt is valid against the schema set.
func TestReceiptsForEveryMessageType(t *testing.T) {
	dmsID := uuid.NewString()
	type step struct {
		receipt             func(pid string) string
		wantStatus, wantErr string // delivery status after the step; last_error must contain wantErr
	}
	tests := []struct {
		name, mapping string
		steps         []step
		wantRemoteID  string
	}{
		{"0201 Geschaeftsgang", "gewerbeanmeldung-geschaeftsgang-0201.yaml", []step{
			{func(p string) string { return empfang("Geschaeftsgang.EmpfangBestaetigen.0202", "0202", p) }, "acknowledged", ""},
		}, ""},
		{"0101 Information", "gewerbeanmeldung-information-0101.yaml", []step{
			{func(p string) string { return empfang("Information.EmpfangBestaetigen.0102", "0102", p) }, "acknowledged", ""},
		}, ""},
		{"0401 Abgabe, import refused", "gewerbeanmeldung-abgabe-0401.yaml", []step{
			{func(p string) string { return empfang("Abgabe.EmpfangBestaetigen.0403", "0403", p) }, "acknowledged", ""},
			{func(p string) string { return importReceipt(p, false, "Aktenzeichen unbekannt") }, "rejected", "Aktenzeichen unbekannt"},
			{func(p string) string { return empfang("Abgabe.EmpfangBestaetigen.0403", "0403", p) }, "rejected", "Aktenzeichen unbekannt"},
		}, ""},
		{"0401 Abgabe, imported", "gewerbeanmeldung-abgabe-0401.yaml", []step{
			{func(p string) string { return importReceipt(p, true, "") }, "acknowledged", ""},
		}, ""},
		{"0605 SGOAblegen, filed", "gewerbeanmeldung-fvdaten-0605.yaml", []step{
			{func(p string) string { return empfang("FVDaten.EmpfangBestaetigen.0629", "0629", p) }, "acknowledged", ""},
			{func(p string) string { return fvImport(p, dmsID, "") }, "acknowledged", ""},
		}, dmsID},
		{"0605 SGOAblegen, refused", "gewerbeanmeldung-fvdaten-0605.yaml", []step{
			{func(p string) string { return fvImport(p, "", "0605001") }, "rejected", "0605001 (Die ID des Containers"},
			{func(p string) string { return empfang("FVDaten.EmpfangBestaetigen.0629", "0629", p) }, "rejected", "0605001"},
		}, ""},
	}
	schema, err := xoev.Compile("xdomea-3.0.0", "", "../fixtures/xoev/xdomea-3.0.0/schema/xdomea.xsd")
	if err != nil {
		t.Fatal(err)
	}
	defer schema.Close()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := demoCopy(t)
			inbox := filepath.Join(dir, "inbox")
			replaceIn(t, filepath.Join(dir, "routes.yaml"), "mappings/gewerbeanmeldung-geschaeftsgang-0201.yaml", "mappings/"+tt.mapping)
			replaceIn(t, filepath.Join(dir, "amtsbote.yaml"), "routes_file: routes.yaml",
				fmt.Sprintf("routes_file: routes.yaml\nreceipts: {directory: %q, schedule: \"@every 1h\"}", inbox))
			h := startFile(t, filepath.Join(dir, "amtsbote.yaml"))
			id := h.submit(demoSubmission(t), demoToken, nil).Body["id"].(string)
			h.waitStatus(id, "delivered")
			pid := processIDOf(t, h, id, "eakte")
			for i, s := range tt.steps {
				content := s.receipt(pid)
				if err := schema.Validate([]byte(content)); err != nil {
					t.Fatalf("step %d: the test's receipt is not valid xdomea: %v", i+1, err)
				}
				writeFile(t, filepath.Join(inbox, fmt.Sprintf("r%d.xml", i)), content)
				res, err := h.d.PollReceipts(context.Background())
				if err != nil || res.Acknowledged+res.Rejected != 1 {
					filed, _ := h.d.Store().Receipts(context.Background(), "")
					t.Fatalf("step %d: poll %+v %v; filed %+v", i+1, res, err, filed)
				}
				d := delivery(t, h.detail(id), "eakte")
				lastErr, _ := d["last_error"].(string)
				if d["status"] != s.wantStatus || !strings.Contains(lastErr, s.wantErr) {
					t.Fatalf("step %d: delivery %v, want %s with %q", i+1, d, s.wantStatus, s.wantErr)
				}
			}
			if d := delivery(t, h.detail(id), "eakte"); (d["remote_id"] == nil && tt.wantRemoteID != "") ||
				(tt.wantRemoteID != "" && d["remote_id"] != tt.wantRemoteID) {
				t.Fatalf("remote id %v, want %q", d["remote_id"], tt.wantRemoteID)
			}
		})
	}
}

// Receipts are validated against a schema set that stays alive while it is used: reloads
// swapping the configuration meanwhile (each retires the schema sets of the one before) never
// free a set in the middle of a validation (which crashed the daemon).
func TestReceiptsValidateWhileReloading(t *testing.T) {
	dir := demoCopy(t)
	inbox := filepath.Join(dir, "inbox")
	replaceIn(t, filepath.Join(dir, "amtsbote.yaml"), "routes_file: routes.yaml",
		"routes_file: routes.yaml\nreceipts: {directory: "+inbox+", schedule: \"@every 1h\"}")
	h := startFile(t, filepath.Join(dir, "amtsbote.yaml"))
	const files = 40
	done := make(chan struct{})
	reloads := make(chan error, 1)
	go func() {
		defer close(done)
		for i := 0; i < 15; i++ {
			if err := h.d.Reload(); err != nil {
				reloads <- err
				return
			}
		}
	}()
	polls := 0
	for running := true; running; polls++ {
		select {
		case <-done:
			running = false
		default:
		}
		for i := 0; i < files; i++ {
			writeFile(t, filepath.Join(inbox, fmt.Sprintf("r%03d.xml", i)), importReceipt(uuid.NewString(), true, ""))
		}
		res, err := h.d.PollReceipts(context.Background())
		if err != nil || res.Unmatched != files {
			t.Fatalf("poll %d: %+v %v, want %d unmatched (valid, matching no message)", polls, res, err, files)
		}
	}
	select {
	case err := <-reloads:
		t.Fatal(err)
	default:
	}
	t.Logf("%d polls of %d receipts during 15 reloads", polls, files)
}
