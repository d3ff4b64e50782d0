package daemon_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	wmsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/amtsbote/amtsbote/daemon"
	"github.com/amtsbote/amtsbote/store"
)

// After the retention period the personal data of finished submissions is deleted — form data,
// attachments, messages — while status, deliveries, history and audit trail stay; younger
// submissions and dead letters (until their own period) are not touched.
func TestRetentionPurgesOnlyWhatIsDue(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		cfg := backendConfig(t, backend)
		cfg.Retention.Payloads = 30 * 24 * time.Hour
		cfg.Retention.DeadLetters = 90 * 24 * time.Hour
		cfg.Destinations[0].Retry.MaxAttempts = 1
		cfg.Admin.TokenSHA256 = otherHash
		c := &clock{t: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}
		h := start(t, cfg, daemon.WithClock(c.Now))
		old := h.submit(demoSubmission(t), demoToken, nil).Body["id"].(string)
		h.waitStatus(old, "delivered")
		// a dead one: the E-Akte is unusable for the next submission
		os.RemoveAll(h.outDir)
		os.WriteFile(h.outDir, nil, 0o600)
		dead := h.submit(demoSubmission(t), demoToken, nil).Body["id"].(string)
		h.waitStatus(dead, "dead")
		os.Remove(h.outDir)

		c.Set(c.Now().Add(20 * 24 * time.Hour))
		young := h.submit(demoSubmission(t), demoToken, nil).Body["id"].(string)
		h.waitStatus(young, "delivered")

		c.Set(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC).Add(31 * 24 * time.Hour))
		n, err := h.d.RunRetention(context.Background())
		if err != nil || n != 1 {
			t.Fatalf("purged %d (%v), want 1", n, err)
		}
		db := h.d.Store().DB
		dataOf := func(id string) (data string, content, xml int) {
			db.QueryRow(`SELECT data FROM submissions WHERE id = $1`, id).Scan(&data)
			db.QueryRow(`SELECT coalesce(sum(length(data)), 0) FROM attachment_chunks WHERE submission_id = $1`, id).Scan(&content)
			db.QueryRow(`SELECT coalesce(sum(length(xml)), 0) FROM messages WHERE submission_id = $1`, id).Scan(&xml)
			return
		}
		if data, content, xml := dataOf(old); data != "{}" || content != 0 || xml != 0 {
			t.Fatalf("old submission not purged: data %q, %d attachment bytes, %d message bytes", data, content, xml)
		}
		for _, id := range []string{young, dead} {
			if data, content, xml := dataOf(id); data == "{}" || content == 0 || xml == 0 {
				t.Fatalf("%s was purged too early", id)
			}
		}
		st := h.do("GET", "/v1/submissions/"+old, demoToken, nil, nil)
		if st.Body["status"] != "delivered" || lastEvent(st)["type"] != "purged" || len(st.Body["deliveries"].([]any)) != 2 {
			t.Fatalf("metadata or history lost: %s", st.Raw)
		}

		c.Set(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC).Add(91 * 24 * time.Hour))
		if n, _ := h.d.RunRetention(context.Background()); n != 2 { // the dead letter and the young one
			t.Fatalf("second run purged %d, want 2", n)
		}
		req, _ := http.NewRequest("GET", "http://"+h.d.AdminAddr()+"/v1/audit?since=2026-01-01T00:00:00Z", nil)
		req.Header.Set("Authorization", "Bearer "+otherToken)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var audit struct {
			Audit []struct{ Actor, Action, Subject string }
		}
		json.NewDecoder(res.Body).Decode(&audit)
		counts := map[string]int{}
		for _, e := range audit.Audit {
			counts[e.Actor+" "+e.Action]++
		}
		if counts["portal:demo-portal submit"] != 3 || counts["system:retention purge"] != 3 {
			t.Fatalf("audit trail: %v", counts)
		}
	})
}

// After a purge no personal data is left: not in any column (form data, attachment content,
// names and hashes, messages, receipts, delivery errors, event details quoting values), and on
// SQLite not in the bytes of the database file or its write-ahead log either (secure_delete
// zeroes what is freed, the log is truncated after the purge).
func TestRetentionLeavesNoPersonalData(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		cfg := backendConfig(t, backend)
		inbox := filepath.Join(t.TempDir(), "inbox")
		cfg.Receipts.Directory, cfg.Receipts.Schedule = inbox, "@every 1h"
		c := &clock{t: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}
		h := start(t, cfg, daemon.WithClock(c.Now))
		marker := func(what string) string { return "MKR" + what + strings.ReplaceAll(uuid.NewString(), "-", "") }
		name, file, fname, reason, date := marker("NAME"), marker("CONTENT"), marker("FILE"), marker("REASON"), marker("DATE")
		content := bytes.Repeat([]byte(file+" "), 300_000) // several chunks
		sub := demoSubmission(t)
		sub["data"].(map[string]any)["betrieb"].(map[string]any)["name"] = name
		sub["attachments"] = []any{map[string]any{"filename": fname + ".pdf", "media_type": "application/pdf",
			"content_base64": base64.StdEncoding.EncodeToString(content)}}
		delivered := h.submit(sub, demoToken, nil).Body["id"].(string)
		h.waitStatus(delivered, "delivered")
		receipt := strings.Replace(empfang("Geschaeftsgang.EmpfangBestaetigen.0202", "0202", processIDOf(t, h, delivered, "eakte")),
			"</xdomea:Empfaenger>", "</xdomea:Empfaenger><xdomea:Hinweis>"+reason+"</xdomea:Hinweis>", 1)
		writeFile(t, filepath.Join(inbox, "received.xml"), receipt)
		if res, err := h.d.PollReceipts(context.Background()); err != nil || res.Acknowledged != 1 {
			t.Fatalf("poll: %+v %v", res, err)
		}
		bad := demoSubmission(t)
		bad["data"].(map[string]any)["inhaber"].(map[string]any)["geburtsdatum"] = date
		failed := h.submit(bad, demoToken, nil).Body["id"].(string)
		h.waitStatus(failed, "failed")
		// What FIT-Connect adds: the channel's metadata of a submission (reply channel, payment),
		// and the problems of a submission that was rejected (they may quote its data).
		meta, problem := marker("META"), marker("PROBLEM")
		ctx := context.Background()
		if _, err := h.d.Store().DB.Exec(`UPDATE submissions SET meta = $1 WHERE id = $2`,
			`{"fitconnect":{"reply_channel":{"eMail":{"address":"`+meta+`@example.org"}}}}`, delivered); err != nil {
			t.Fatal(err)
		}
		err := h.d.Store().InTx(ctx, func(tx wmsql.Tx) error {
			e := store.InboxEntry{SubmissionID: uuid.NewString(), Subscription: "s", DestinationID: "d", SeenAt: c.Now()}
			if _, err := store.NoteInbox(ctx, tx, e); err != nil {
				return err
			}
			e.State, e.Decision, e.Problems, e.UpdatedAt = store.InboxDecided, store.DecisionReject, `[{"detail":"`+problem+`"}]`, c.Now()
			_, err := store.UpdateInbox(ctx, tx, e, store.InboxNew)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		markers := []string{name, file, fname, reason, date, meta, problem}
		if found := scanColumns(t, h.d.Store().DB); !containsAny(found, markers) {
			t.Fatal("the markers are not in the store before the purge; the test checks nothing")
		}

		c.Set(c.Now().Add(cfg.Retention.Payloads + time.Hour))
		if n, err := h.d.RunRetention(context.Background()); err != nil || n != 3 {
			t.Fatalf("purged %d (%v), want 2 submissions and 1 FIT-Connect decision", n, err)
		}
		if found := scanColumns(t, h.d.Store().DB); containsAny(found, markers) {
			t.Errorf("personal data left in the store's columns: %s", whichOf(found, markers))
		}
		if backend == "sqlite" {
			for _, path := range []string{h.d.Store().Path, h.d.Store().Path + "-wal"} {
				raw, err := os.ReadFile(path)
				if err != nil && !os.IsNotExist(err) {
					t.Fatal(err)
				}
				if containsAny(string(raw), markers) {
					t.Errorf("personal data left in the bytes of %s: %s", filepath.Base(path), whichOf(string(raw), markers))
				}
			}
		}
		st := h.detail(delivered)
		if st.Body["status"] != "delivered" || st.Body["purged_at"] == nil || lastEvent(st)["type"] != "purged" {
			t.Fatalf("metadata or history lost: %s", st.Raw)
		}
	})
}

// scanColumns returns every value of every table of the store, as text.
func scanColumns(t *testing.T, db *sql.DB) string {
	t.Helper()
	var all strings.Builder
	for _, table := range []string{"submissions", "attachments", "attachment_chunks", "messages", "events", "deliveries", "receipts", "audit", "fitconnect_inbox"} {
		rows, err := db.Query(`SELECT * FROM ` + table)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			for _, v := range vals {
				if b, ok := v.([]byte); ok {
					all.Write(b)
				} else {
					fmt.Fprint(&all, v)
				}
				all.WriteByte('\n')
			}
		}
		rows.Close()
	}
	return all.String()
}

func containsAny(s string, markers []string) bool { return whichOf(s, markers) != "" }

func whichOf(s string, markers []string) string {
	var found []string
	for _, m := range markers {
		if strings.Contains(s, m) {
			found = append(found, m[:len("MKR")+4])
		}
	}
	return strings.Join(found, ", ")
}
