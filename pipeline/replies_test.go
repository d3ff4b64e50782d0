package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	wmsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"

	"github.com/amtsbote/amtsbote/adapters"
	"github.com/amtsbote/amtsbote/config"
	"github.com/amtsbote/amtsbote/priority"
	"github.com/amtsbote/amtsbote/replies"
	"github.com/amtsbote/amtsbote/routes"
	"github.com/amtsbote/amtsbote/snapshot"
	"github.com/amtsbote/amtsbote/store"
	"github.com/amtsbote/amtsbote/store/storetest"
)

// fakeChannel stands for a reply channel: it records what it was asked to send and answers
// what answer says.
type fakeChannel struct {
	mu     sync.Mutex
	sent   []replies.Outgoing
	docs   map[string][]byte // reply id/doc name → content read
	answer func(o *replies.Outgoing, call int) (string, error)
}

func (f *fakeChannel) Send(ctx context.Context, o *replies.Outgoing) (string, error) {
	f.mu.Lock()
	f.sent = append(f.sent, *o)
	call := len(f.sent)
	f.mu.Unlock()
	for _, d := range o.Documents {
		rc, err := d.Open()
		if err != nil {
			return "", err
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return "", err
		}
		f.mu.Lock()
		if f.docs == nil {
			f.docs = map[string][]byte{}
		}
		f.docs[o.ReplyID+"/"+d.Name] = b
		f.mu.Unlock()
	}
	if f.answer == nil {
		return "sent " + o.ReplyID, nil
	}
	return f.answer(o, call)
}

func (f *fakeChannel) calls() []replies.Outgoing {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]replies.Outgoing(nil), f.sent...)
}

type replyEnv struct {
	t    *testing.T
	st   *store.Store
	p    *Pipeline
	cfg  *config.Config
	stop func()
	// priority, if set, is the intake the pipeline yields to.
	priority *priority.Intake
}

// replyPipeline runs the pipeline on a store of the backend with the given channels, one portal
// ("portal-a", with a postbox) and one route ("r", with policy).
func replyPipeline(t *testing.T, backend string, senders map[string]replies.Sender, policy *routes.ReplyPolicy) *replyEnv {
	t.Helper()
	o := store.Options{Driver: backend, DataDir: t.TempDir()}
	if backend == store.Postgres {
		o.DSN = storetest.Postgres(t)
	}
	st, err := store.OpenWith(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	e := &replyEnv{t: t, st: st}
	e.start(senders, policy)
	t.Cleanup(func() {
		e.stop()
		st.Close()
	})
	return e
}

// start runs a pipeline on the environment's store.
func (e *replyEnv) start(senders map[string]replies.Sender, policy *routes.ReplyPolicy) {
	t := e.t
	t.Helper()
	fast := config.Retry{MaxAttempts: 3, InitialInterval: 10 * time.Millisecond, MaxInterval: 20 * time.Millisecond, Multiplier: 2, MaxAge: time.Hour}
	cfg := &config.Config{
		Server:   config.Server{ShutdownTimeout: 5 * time.Second},
		Pipeline: config.Pipeline{PollInterval: 10 * time.Millisecond, HandlerAttempts: 3, ProcessWorkers: 1, CallbackRetry: fast},
		Replies:  config.Replies{Retry: fast, MaxInFlight: 2},
		Portals:  []config.Portal{{ID: "portal-a", Postbox: true}, {ID: "portal-b"}},
	}
	snap := &snapshot.Snapshot{Config: cfg, Routes: &routes.Table{Routes: []routes.Route{{ID: "r", Replies: policy}}}}
	p, err := New(Deps{Store: e.st, Config: cfg, Current: snap.Acquire, Adapters: map[string]adapters.Adapter{},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Priority: e.priority,
		Replies: ReplyDeps{Senders: senders, AddressOf: func(sub store.Submission) (replies.Address, error) {
			var a replies.Address
			if len(sub.Meta) == 0 || string(sub.Meta) == "{}" {
				return a, nil
			}
			err := json.Unmarshal(sub.Meta, &a)
			return a, err
		}}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Run(context.Background()) }()
	<-p.Running()
	e.p, e.cfg = p, cfg
	var once sync.Once
	e.stop = func() {
		once.Do(func() {
			p.Close()
			<-done
		})
	}
}

// restart stops the pipeline and starts one with other channels, as a daemon restarted with
// another configuration.
func (e *replyEnv) restart(senders map[string]replies.Sender) {
	e.t.Helper()
	e.stop()
	e.start(senders, nil)
}

// reply stores a submission of portal with meta (the applicant's address as JSON) and a reply
// of kind with one PDF, and queues it for planning unless queue is false. It returns the
// submission's and the reply's ids.
func (e *replyEnv) reply(name, portal, meta, kind string, docs int, queue bool) (string, string) {
	e.t.Helper()
	ctx := context.Background()
	now := time.Now().Truncate(time.Millisecond)
	subID, replyID := "sub-"+name, "reply-"+name
	err := e.st.InTx(ctx, func(tx wmsql.Tx) error {
		if err := store.InsertSubmission(ctx, tx, store.Submission{ID: subID, Portal: portal, Reference: "REF-" + name,
			Leistung: "99050012104000", AGS: "09162000", Route: "r", Status: store.StatusDecided, Data: []byte(`{}`),
			RequestHash: "h", ReceivedAt: now, Channel: store.ChannelPortal, Meta: []byte(meta)}, nil); err != nil {
			return err
		}
		var ds []store.ReplyDocument
		for i := 0; i < docs; i++ {
			ds = append(ds, store.ReplyDocument{Seq: i, Name: fmt.Sprintf("bescheid-%d.pdf", i), MediaType: "application/pdf",
				Content: bytes.NewReader(pdfBytes(name, i))})
		}
		st, _ := replies.StatusFor(kind, store.StatusInProgress)
		if err := store.InsertReply(ctx, tx, store.Reply{ID: replyID, SubmissionID: subID, Source: "fv", Via: "http",
			Kind: kind, Status: st, Subject: "Ihr Antrag " + name, Text: "Text " + name, ReceivedAt: now}, ds); err != nil {
			return err
		}
		if !queue {
			return nil
		}
		return Publish(tx, store.TopicReplies, NewWork(ctx, replyID, time.Time{}))
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return subID, replyID
}

func (e *replyEnv) queuePlan(replyID string) {
	e.t.Helper()
	ctx := context.Background()
	if err := e.st.InTx(ctx, func(tx wmsql.Tx) error {
		return Publish(tx, store.TopicReplies, NewWork(ctx, replyID, time.Time{}))
	}); err != nil {
		e.t.Fatal(err)
	}
}

func pdfBytes(name string, i int) []byte {
	return []byte(fmt.Sprintf("%%PDF-1.7\n%% Bescheid %s %d\n%s%%%%EOF\n", name, i, strings.Repeat("x", 3000)))
}

// settled waits until every delivery of the reply is sent or dead, and there are want of them.
func (e *replyEnv) settled(replyID string, want int) map[string]store.ReplyDelivery {
	e.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		ds, err := e.st.ReplyDeliveries(context.Background(), replyID)
		if err != nil {
			e.t.Fatal(err)
		}
		done := len(ds) == want
		out := map[string]store.ReplyDelivery{}
		for _, d := range ds {
			out[d.Channel] = d
			done = done && d.Status != store.ReplyPending
		}
		if done {
			return out
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("reply %s: deliveries %+v, want %d settled", replyID, ds, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (e *replyEnv) events(subID string, typ string) []store.Event {
	e.t.Helper()
	all, err := e.st.Events(context.Background(), subID)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []store.Event
	for _, ev := range all {
		if ev.Type == typ {
			out = append(out, ev)
		}
	}
	return out
}

func eachReplyBackend(t *testing.T, test func(t *testing.T, backend string)) {
	for _, b := range storetest.Backends(t) {
		t.Run(b, func(t *testing.T) { test(t, b) })
	}
}

// Planning picks the channels once: a second queue message for the same reply (a duplicate, or
// the message again after a crash) finds the deliveries and does nothing; each channel sends
// the reply once, with its documents as stored.
func TestReplyPlanIsIdempotent(t *testing.T) {
	eachReplyBackend(t, func(t *testing.T, backend string) {
		email, portal := &fakeChannel{}, &fakeChannel{}
		e := replyPipeline(t, backend, map[string]replies.Sender{"email": email, "portal": portal}, nil)
		subID, replyID := e.reply("a", "portal-a", `{"email": "erika@example.org"}`, replies.KindBescheid, 2, true)
		e.queuePlan(replyID)
		got := e.settled(replyID, 2)
		if got["email"].Status != store.ReplySent || got["portal"].Status != store.ReplySent || got["email"].Artefact != "sent "+replyID {
			t.Fatalf("deliveries: %+v", got)
		}
		e.queuePlan(replyID) // once more, after it was sent
		time.Sleep(200 * time.Millisecond)
		if n := len(e.events(subID, "reply_planned")); n != 1 {
			t.Fatalf("%d reply_planned events, want 1", n)
		}
		if ev := e.events(subID, "reply_planned"); !strings.Contains(ev[0].Detail, "email, portal") {
			t.Fatalf("planned: %q", ev[0].Detail)
		}
		calls := email.calls()
		if len(calls) != 1 || len(portal.calls()) != 1 {
			t.Fatalf("email sent %d times, portal %d; want once each", len(calls), len(portal.calls()))
		}
		o := calls[0]
		if o.Address.Email != "erika@example.org" || o.Kind != replies.KindBescheid || o.Status != store.StatusDecided ||
			o.Reference != "REF-a" || o.Portal != "portal-a" || o.Attempt != 1 || len(o.Documents) != 2 || o.Subject != "Ihr Antrag a" {
			t.Fatalf("outgoing: %+v", o)
		}
		for i := 0; i < 2; i++ {
			if b := email.docs[replyID+fmt.Sprintf("/bescheid-%d.pdf", i)]; !bytes.Equal(b, pdfBytes("a", i)) {
				t.Fatalf("document %d read back as %q", i, b)
			}
		}
		if n := len(e.events(subID, "reply_sent")); n != 2 {
			t.Fatalf("%d reply_sent events, want 2", n)
		}
	})
}

// A channel's answer decides the delivery: success is sent; a permanent error is dead at once;
// transient errors are retried with backoff until they succeed or the attempts run out.
func TestReplySendOutcomes(t *testing.T) {
	transient := errors.New("smtp: 451 try again later")
	tests := []struct {
		name       string
		answer     func(o *replies.Outgoing, call int) (string, error)
		status     string
		attempts   int
		failed     int // reply_failed events
		lastError  string
		deadDetail string
	}{
		{"success", nil, store.ReplySent, 1, 0, "", ""},
		{"permanent", func(*replies.Outgoing, int) (string, error) {
			return "", adapters.Permanent(errors.New("550 mailbox unknown"))
		}, store.ReplyDead, 1, 0, "550 mailbox unknown", "permanent failure after 1 attempt(s)"},
		{"transient, then sent", func(o *replies.Outgoing, call int) (string, error) {
			if o.Attempt != call {
				return "", adapters.Permanent(fmt.Errorf("attempt %d on call %d", o.Attempt, call))
			}
			if call < 3 {
				return "", transient
			}
			return "queued as 4711", nil
		}, store.ReplySent, 3, 2, "", ""},
		{"transient until the attempts run out", func(*replies.Outgoing, int) (string, error) {
			return "", transient
		}, store.ReplyDead, 3, 2, transient.Error(), "gave up after 3 attempt(s)"},
	}
	eachReplyBackend(t, func(t *testing.T, backend string) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				email := &fakeChannel{answer: tt.answer}
				no := false
				e := replyPipeline(t, backend, map[string]replies.Sender{"email": email},
					&routes.ReplyPolicy{Channels: []string{"email"}, AlsoPortal: &no})
				subID, replyID := e.reply("x", "portal-a", `{"email": "erika@example.org"}`, replies.KindNachforderung, 1, true)
				d := e.settled(replyID, 1)["email"]
				if d.Status != tt.status || d.Attempts != tt.attempts || d.LastError != tt.lastError {
					t.Fatalf("delivery %+v, want %s after %d attempts, error %q", d, tt.status, tt.attempts, tt.lastError)
				}
				if n := len(e.events(subID, "reply_failed")); n != tt.failed {
					t.Fatalf("%d reply_failed events, want %d", n, tt.failed)
				}
				if tt.deadDetail != "" {
					ev := e.events(subID, "reply_dead")
					if len(ev) != 1 || !strings.Contains(ev[0].Detail, tt.deadDetail) {
						t.Fatalf("reply_dead events %+v, want one with %q", ev, tt.deadDetail)
					}
				}
				if n := len(email.calls()); n != tt.attempts {
					t.Fatalf("channel called %d times, want %d", n, tt.attempts)
				}
			})
		}
	})
}

// A reply no channel reaches is dead on channel none, where operators see why; once a channel
// is there, replaying it plans it again. A dead reply on a channel is replayed with fresh
// attempts, recorded in the history and the audit trail.
func TestReplyDeadAndReplay(t *testing.T) {
	eachReplyBackend(t, func(t *testing.T, backend string) {
		ctx := context.Background()
		var fail sync.Mutex
		failing := true
		email := &fakeChannel{answer: func(o *replies.Outgoing, _ int) (string, error) {
			fail.Lock()
			defer fail.Unlock()
			if failing {
				return "", adapters.Permanent(errors.New("550 mailbox unknown"))
			}
			return "sent again", nil
		}}
		e := replyPipeline(t, backend, map[string]replies.Sender{"email": email}, nil)

		// No address, no postbox, no print: none.
		subNone, replyNone := e.reply("none", "portal-b", `{}`, replies.KindBescheid, 1, true)
		d := e.settled(replyNone, 1)[store.ChannelNone]
		if d.Status != store.ReplyDead || d.LastError != "no channel reaches the applicant" {
			t.Fatalf("unreachable reply: %+v", d)
		}
		dead, err := e.st.DeadReplies(ctx, "")
		if err != nil || len(dead) != 1 || dead[0].ReplyID != replyNone || dead[0].SubmissionID != subNone || dead[0].Kind != replies.KindBescheid {
			t.Fatalf("dead replies: %+v %v", dead, err)
		}
		// A print channel appears (replies.print_destination, and a restart).
		printer := &fakeChannel{}
		e.restart(map[string]replies.Sender{"email": email, "print": printer})
		revived, err := ReplayReplies(ctx, e.st, []ReplyKey{{ReplyID: replyNone, Channel: store.ChannelNone}}, "cli:ops", time.Now())
		if err != nil || len(revived) != 1 {
			t.Fatalf("replay none: %v %v", revived, err)
		}
		got := e.settled(replyNone, 1)
		if got["print"].Status != store.ReplySent || len(printer.calls()) != 1 {
			t.Fatalf("after replanning: %+v", got)
		}

		// Dead on e-mail, replayed once the address works.
		subID, replyID := e.reply("mail", "portal-b", `{"email": "erika@example.org"}`, replies.KindBescheid, 0, true)
		if d := e.settled(replyID, 1)["email"]; d.Status != store.ReplyDead {
			t.Fatalf("email delivery: %+v", d)
		}
		if revived, err := ReplayReplies(ctx, e.st, []ReplyKey{{ReplyID: replyID, Channel: "print"}}, "cli:ops", time.Now()); err != nil || len(revived) != 0 {
			t.Fatalf("replay of a channel the reply never took: %v %v", revived, err)
		}
		fail.Lock()
		failing = false
		fail.Unlock()
		revived, err = ReplayReplies(ctx, e.st, []ReplyKey{{ReplyID: replyID, Channel: "email"}}, "admin-api:bernd", time.Now())
		if err != nil || len(revived) != 1 {
			t.Fatalf("replay: %v %v", revived, err)
		}
		d = e.settled(replyID, 1)["email"]
		if d.Status != store.ReplySent || d.Attempts != 1 || d.Artefact != "sent again" {
			t.Fatalf("after replay: %+v", d)
		}
		if ev := e.events(subID, "reply_replayed"); len(ev) != 1 || !strings.Contains(ev[0].Detail, "admin-api:bernd") {
			t.Fatalf("replay events: %+v", ev)
		}
		trail, err := e.st.AuditTrail(ctx, time.Now().Add(-time.Hour), 100)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, a := range trail {
			found = found || (a.Action == "replay_reply" && a.Actor == "admin-api:bernd" && a.Subject == replyID+"/email")
		}
		if !found {
			t.Fatalf("no audit entry for the replay: %+v", trail)
		}
		if revived, _ := ReplayReplies(ctx, e.st, []ReplyKey{{ReplyID: replyID, Channel: "email"}}, "x", time.Now()); len(revived) != 0 {
			t.Fatalf("a sent reply was replayed: %v", revived)
		}
	})
}

// Retention purged the submission's data before its reply was sent: the reply is dead on its
// channel (or, not yet planned, on none), and no channel is asked to send it.
func TestReplyPurgedIsDead(t *testing.T) {
	eachReplyBackend(t, func(t *testing.T, backend string) {
		ctx := context.Background()
		printer := &fakeChannel{}
		e := replyPipeline(t, backend, map[string]replies.Sender{"print": printer}, nil)
		purge := func(subID string) {
			t.Helper()
			if err := e.st.InTx(ctx, func(tx wmsql.Tx) error {
				ok, err := store.Purge(ctx, tx, subID, time.Now(), store.PurgeDue{Statuses: []string{store.StatusDecided}, Before: time.Now().Add(time.Hour)})
				if err == nil && !ok {
					err = errors.New("not purged")
				}
				return err
			}); err != nil {
				t.Fatal(err)
			}
		}
		// Planned and queued for print, then purged before the print handler took it.
		_, planned := e.reply("planned", "portal-b", `{}`, replies.KindBescheid, 1, false)
		subPlanned := "sub-planned"
		purge(subPlanned)
		if err := e.st.InTx(ctx, func(tx wmsql.Tx) error {
			if err := store.InsertReplyDelivery(ctx, tx, planned, "print", time.Now()); err != nil {
				return err
			}
			return Publish(tx, store.ReplyTopic("print"), NewWork(ctx, planned, time.Time{}))
		}); err != nil {
			t.Fatal(err)
		}
		d := e.settled(planned, 1)["print"]
		if d.Status != store.ReplyDead || d.LastError != "data purged before the reply was sent" {
			t.Fatalf("purged, queued: %+v", d)
		}
		// Purged before planning.
		subEarly, early := e.reply("early", "portal-b", `{}`, replies.KindBescheid, 1, false)
		purge(subEarly)
		e.queuePlan(early)
		d = e.settled(early, 1)[store.ChannelNone]
		if d.Status != store.ReplyDead || d.LastError != "data purged before the reply was sent" {
			t.Fatalf("purged, then planned: %+v", d)
		}
		if n := len(printer.calls()); n != 0 {
			t.Fatalf("print asked %d times for purged replies", n)
		}
		if revived, _ := ReplayReplies(ctx, e.st, []ReplyKey{{ReplyID: planned, Channel: "print"}}, "x", time.Now()); len(revived) != 0 {
			t.Fatalf("a purged reply was replayed: %v", revived)
		}
	})
}

// A channel that keeps panicking is a poison message: given up after handler_attempts, the
// reply's delivery dead, the queue free for the next reply.
func TestReplyPoisonMessage(t *testing.T) {
	eachReplyBackend(t, func(t *testing.T, backend string) {
		printer := &fakeChannel{answer: func(o *replies.Outgoing, _ int) (string, error) {
			if o.ReplyID == "reply-poison" {
				panic("broken channel")
			}
			return "printed", nil
		}}
		e := replyPipeline(t, backend, map[string]replies.Sender{"print": printer}, nil)
		_, poison := e.reply("poison", "portal-b", `{}`, replies.KindBescheid, 1, true)
		_, fine := e.reply("fine", "portal-b", `{}`, replies.KindBescheid, 1, true)
		if d := e.settled(poison, 1)["print"]; d.Status != store.ReplyDead || !strings.Contains(d.LastError, "broken channel") {
			t.Fatalf("poison: %+v", d)
		}
		if d := e.settled(fine, 1)["print"]; d.Status != store.ReplySent {
			t.Fatalf("the next reply: %+v", d)
		}
	})
}

// blockingChannel sends nothing until its context ends, as a channel whose server hangs.
type blockingChannel struct{ started chan string }

func (b *blockingChannel) Send(ctx context.Context, o *replies.Outgoing) (string, error) {
	b.started <- o.ReplyID
	<-ctx.Done()
	return "", ctx.Err()
}

// Shutting down while a channel sends costs no attempt: the message stays queued, and the next
// start sends the reply.
func TestReplyShutdownKeepsTheMessage(t *testing.T) {
	eachReplyBackend(t, func(t *testing.T, backend string) {
		hang := &blockingChannel{started: make(chan string, 1)}
		e := replyPipeline(t, backend, map[string]replies.Sender{"print": hang}, nil)
		_, replyID := e.reply("hang", "portal-b", `{}`, replies.KindBescheid, 1, true)
		select {
		case <-hang.started:
		case <-time.After(15 * time.Second):
			t.Fatal("the print channel was not asked")
		}
		e.stop()
		ds, err := e.st.ReplyDeliveries(context.Background(), replyID)
		if err != nil || len(ds) != 1 || ds[0].Status != store.ReplyPending || ds[0].Attempts != 0 {
			t.Fatalf("after shutdown: %+v %v", ds, err)
		}
		printer := &fakeChannel{}
		e.start(map[string]replies.Sender{"print": printer}, nil)
		if d := e.settled(replyID, 1)["print"]; d.Status != store.ReplySent || d.Attempts != 1 || len(printer.calls()) != 1 {
			t.Fatalf("after restart: %+v, %d calls", d, len(printer.calls()))
		}
	})
}

// Every queue is listed once: the metrics collector reports each by name and refuses repeats.
func TestTopicsAreDistinct(t *testing.T) {
	cfg := &config.Config{Destinations: []config.Destination{{ID: "a"}, {ID: "b"}}}
	seen := map[string]bool{}
	for _, topic := range Topics(cfg) {
		if seen[topic] {
			t.Fatalf("queue %s listed twice in %v", topic, Topics(cfg))
		}
		seen[topic] = true
	}
}
