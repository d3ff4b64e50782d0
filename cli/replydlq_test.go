package cli

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	wmsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"

	"github.com/amtsbote/amtsbote/config"
	"github.com/amtsbote/amtsbote/daemon"
	"github.com/amtsbote/amtsbote/pipeline"
	"github.com/amtsbote/amtsbote/store"
)

// The replies commands list the dead replies of a stopped daemon's store and replay one; the
// next start plans it again.
func TestRepliesCommands(t *testing.T) {
	_, cfgFile := deadLetterDemo(t)
	id := runDaemonUntil(t, cfgFile, "dead", "")
	cfg, err := config.Load(cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	// A reply, stored as the reply intake stores it, that no channel reaches: the demo portal
	// has no postbox, the demo no print service.
	ctx := context.Background()
	st, err := store.OpenWith(ctx, daemon.StoreOptions(cfg))
	if err != nil {
		t.Fatal(err)
	}
	err = st.InTx(ctx, func(tx wmsql.Tx) error {
		if err := store.InsertReply(ctx, tx, store.Reply{ID: "reply-cli", SubmissionID: id, Source: "gewerbe-fachverfahren", Via: "http",
			Kind: "bescheid", Status: store.StatusDecided, ReceivedAt: time.Now()}, nil); err != nil {
			return err
		}
		return pipeline.Publish(tx, store.TopicReplies, pipeline.NewWork(ctx, "reply-cli", time.Time{}))
	})
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	runDaemonUntilReplyDead(t, cfg, "reply-cli", 1)

	code, out, errOut := runCLI("replies", "dead", "--config", cfgFile)
	if code != 0 || !strings.Contains(out, "reply-cli  none       "+id) || !strings.Contains(out, "no channel reaches the applicant") ||
		!strings.Contains(out, "1 dead replies") {
		t.Fatalf("dead: exit %d\n%s%s", code, out, errOut)
	}
	code, out, _ = runCLI("replies", "dead", "--config", cfgFile, "--channel", "print", "--format", "json")
	if code != 0 || strings.TrimSpace(out) != `{"dead_replies":[]}` {
		t.Fatalf("dead --channel print: exit %d\n%s", code, out)
	}
	if code, _, errOut := runCLI("replies", "replay", "reply-cli", "--config", cfgFile); code != 2 || !strings.Contains(errOut, "accepts 2 arg") {
		t.Fatalf("replay without a channel: exit %d %s", code, errOut)
	}
	if code, _, errOut := runCLI("replies", "replay", "reply-cli", "print", "--config", cfgFile); code != 2 || !strings.Contains(errOut, "no dead delivery on channel print") {
		t.Fatalf("replay on a channel it never took: exit %d %s", code, errOut)
	}
	code, out, _ = runCLI("replies", "replay", "reply-cli", "none", "--config", cfgFile, "--as", "ops-bernd")
	if code != 0 || !strings.Contains(out, "replayed reply reply-cli by none") {
		t.Fatalf("replay: exit %d\n%s", code, out)
	}
	// Planned again at the next start: still no channel, dead once more, after the replay.
	events := runDaemonUntilReplyDead(t, cfg, "reply-cli", 2)
	if !strings.Contains(strings.Join(events, "\n"), "reply_replayed: reply reply-cli (bescheid) by none: replayed by ops-bernd") {
		t.Fatalf("history: %v", events)
	}
}

// runDaemonUntilReplyDead starts the daemon until the reply's delivery on channel none is dead
// for the given time (planned), and returns the submission's history.
func runDaemonUntilReplyDead(t *testing.T, cfg *config.Config, replyID string, planned int) []string {
	t.Helper()
	d, err := daemon.Start(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Shutdown(context.Background())
	ctx := context.Background()
	deadline := time.Now().Add(15 * time.Second)
	for {
		ds, err := d.Store().ReplyDeliveries(ctx, replyID)
		if err != nil {
			t.Fatal(err)
		}
		r, err := d.Store().Reply(ctx, replyID)
		if err != nil {
			t.Fatal(err)
		}
		evs, _ := d.Store().Events(ctx, r.SubmissionID)
		var out []string
		deads := 0
		for _, e := range evs {
			out = append(out, e.Type+": "+e.Detail)
			if e.Type == "reply_dead" {
				deads++
			}
		}
		if len(ds) == 1 && ds[0].Channel == store.ChannelNone && ds[0].Status == store.ReplyDead && deads == planned {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("reply %s: %+v", replyID, ds)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
