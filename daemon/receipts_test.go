package daemon_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/uuid"
)

const kopf = `<xdomea:Kopf>
    <xdomea:ProzessID>%s</xdomea:ProzessID>
    <xdomea:Nachrichtentyp listURI="urn:xoev-de:xdomea:codeliste:nachrichtentyp" listVersionID="2.0"><code>%s</code></xdomea:Nachrichtentyp>
    <xdomea:Erstellungszeitpunkt>2026-11-29T10:00:00Z</xdomea:Erstellungszeitpunkt>
    <xdomea:Absender><xdomea:Institution><xdomea:Name>E-Akte</xdomea:Name></xdomea:Institution></xdomea:Absender>
    <xdomea:Empfaenger><xdomea:Institution><xdomea:Name>amtsbote</xdomea:Name></xdomea:Institution></xdomea:Empfaenger>
  </xdomea:Kopf>`

func importReceipt(processID string, ok bool, reason string) string {
	obj := `<xdomea:AbgegebenesObjekt><xdomea:IDSGO>` + uuid.NewString() + `</xdomea:IDSGO><xdomea:Erfolgreich>true</xdomea:Erfolgreich></xdomea:AbgegebenesObjekt>`
	if !ok {
		obj = `<xdomea:AbgegebenesObjekt><xdomea:IDSGO>` + uuid.NewString() + `</xdomea:IDSGO><xdomea:Erfolgreich>false</xdomea:Erfolgreich><xdomea:Fehlermeldung>` + reason + `</xdomea:Fehlermeldung></xdomea:AbgegebenesObjekt>`
	}
	return `<?xml version="1.0" encoding="UTF-8"?>
<xdomea:Abgabe.ImportBestaetigen.0402 xmlns:xdomea="urn:xoev-de:xdomea:schema:3.0.0">
  ` + sprintf(kopf, processID, "0402") + `
  ` + obj + `
</xdomea:Abgabe.ImportBestaetigen.0402>`
}

func receiptConfirmation(processID string) string {
	return `<?xml version="1.0" encoding="UTF-8"?>
<xdomea:Abgabe.EmpfangBestaetigen.0403 xmlns:xdomea="urn:xoev-de:xdomea:schema:3.0.0">
  ` + sprintf(kopf, processID, "0403") + `
</xdomea:Abgabe.EmpfangBestaetigen.0403>`
}

func sprintf(format string, args ...any) string { return fmt.Sprintf(format, args...) }

// processIDOf reads the ProzessID of a delivery from its artefact's file name (admin view).
func processIDOf(t *testing.T, h *harness, id, dest string) string {
	t.Helper()
	name := filepath.Base(delivery(t, h.detail(id), dest)["artefact"].(string))
	return name[:36]
}

// Receipts close the loop: 0402 success and 0403 acknowledge, 0402 failure rejects with the
// reason; receipts that match nothing or cannot be read are filed and moved aside.
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
		pids := map[string][2]string{}
		for _, id := range ids {
			h.waitStatus(id, "delivered")
			pids[id] = [2]string{processIDOf(t, h, id, "eakte"), processIDOf(t, h, id, "gewerbe-fachverfahren")}
		}
		secret := filepath.Join(t.TempDir(), "secret")
		os.WriteFile(secret, []byte("TOP-SECRET"), 0o600)
		files := map[string]string{
			"a-import-ok.xml":          importReceipt(pids[ids[0]][0], true, ""),
			"b-import-ok-fv.xml":       importReceipt(pids[ids[0]][1], true, ""),
			"c-empfang.xml":            receiptConfirmation(pids[ids[1]][0]),
			"d-import-failed.xml":      importReceipt(pids[ids[2]][0], false, "Aktenzeichen unbekannt"),
			"e-unmatched.xml":          importReceipt(uuid.NewString(), true, ""),
			"f-garbage.xml":            "this is not XML",
			"g-xxe.xml":                `<!DOCTYPE r [<!ENTITY x SYSTEM "file://` + secret + `">]><r>&x;</r>`,
			"h-invalid-receipt.xml":    strings.Replace(importReceipt(pids[ids[1]][1], true, ""), "<xdomea:Erfolgreich>true", "<xdomea:Erfolgreich>vielleicht", 1),
			"i-other-message-type.xml": strings.NewReplacer("Abgabe.EmpfangBestaetigen.0403", "Abgabe.Abgabe.0401").Replace(receiptConfirmation(pids[ids[1]][1])),
		}
		for name, content := range files {
			os.WriteFile(filepath.Join(inbox, name), []byte(content), 0o644)
		}
		res, err := h.d.PollReceipts(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if res.Acknowledged != 3 || res.Rejected != 1 || res.Unmatched != 1 || res.Malformed != 4 {
			t.Fatalf("poll result %+v", res)
		}
		if st := h.waitStatus(ids[0], "acknowledged"); delivery(t, st, "eakte")["status"] != "acknowledged" {
			t.Fatal(st.Raw)
		}
		st := h.waitStatus(ids[2], "rejected")
		if d := delivery(t, h.detail(ids[2]), "eakte"); d["status"] != "rejected" || !strings.Contains(d["last_error"].(string), "Aktenzeichen unbekannt") {
			t.Fatalf("rejected delivery = %v", d)
		}
		if d := delivery(t, st, "eakte"); d["last_error"] != "the receiving system refused the message" {
			t.Fatalf("the portal sees the receiver's reason: %v", d)
		}
		// ids[1]: E-Akte acknowledged by 0403, Fachverfahren only delivered: not yet acknowledged as a whole
		st = h.waitStatus(ids[1], "delivered")
		if delivery(t, st, "eakte")["status"] != "acknowledged" {
			t.Fatal(st.Raw)
		}
		for dir, want := range map[string]int{"processed": 4, "unmatched": 1, "malformed": 4} {
			entries, _ := os.ReadDir(filepath.Join(inbox, dir))
			if len(entries) != want {
				t.Errorf("%s/ holds %d files, want %d", dir, len(entries), want)
			}
		}
		if left, _ := os.ReadDir(inbox); len(left) != 3 {
			t.Errorf("inbox still holds files: %v", left)
		}
		filed, err := h.d.Store().Receipts(context.Background(), "")
		if err != nil || len(filed) != 9 {
			t.Fatalf("%d receipts filed, want 9 (%v)", len(filed), err)
		}
		for _, r := range filed {
			if strings.Contains(r.Detail, "TOP-SECRET") {
				t.Fatal("a receipt's detail leaks a file the attack aimed at")
			}
		}
	})
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
