package pipeline

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/amtsbote/amtsbote/priority"
	"github.com/amtsbote/amtsbote/replies"
	"github.com/amtsbote/amtsbote/store"
)

// During an intake burst the handlers take turns: the print channel, which may send two replies
// at once (replies.max_in_flight), sends one at a time, and every reply is sent.
func TestIntakeBurstHandlersTakeTurns(t *testing.T) {
	eachReplyBackend(t, func(t *testing.T, backend string) {
		in := priority.New(1, nil)
		in.PassOn = time.Minute
		defer in.Begin()() // a burst for the whole test
		var running, most atomic.Int64
		printer := &fakeChannel{answer: func(o *replies.Outgoing, _ int) (string, error) {
			n := running.Add(1)
			defer running.Add(-1)
			for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
			}
			time.Sleep(20 * time.Millisecond)
			return "printed", nil
		}}
		e := replyPipeline(t, backend, map[string]replies.Sender{"print": printer}, nil)
		e.stop()
		e.priority = in
		e.start(map[string]replies.Sender{"print": printer}, nil)
		var ids []string
		for _, name := range []string{"a", "b", "c", "d", "e", "f"} {
			_, id := e.reply(name, "portal-b", `{}`, replies.KindBescheid, 1, true)
			ids = append(ids, id)
		}
		for _, id := range ids {
			if d := e.settled(id, 1)["print"]; d.Status != store.ReplySent {
				t.Fatalf("%s: %+v", id, d)
			}
		}
		if most.Load() != 1 {
			t.Fatalf("%d replies sent at once during a burst, want 1", most.Load())
		}
	})
}

// Shutting down while a handler waits for its turn ends the wait: the pipeline stops without
// waiting for the burst, the message stays queued without costing an attempt, and the next
// start handles it.
func TestShutdownWhileWaitingForTheTurn(t *testing.T) {
	eachReplyBackend(t, func(t *testing.T, backend string) {
		in := priority.New(1, nil)
		in.PassOn = time.Minute
		end := in.Begin()
		defer end()
		held, err := in.Yield(context.Background()) // another handler has the turn
		if err != nil {
			t.Fatal(err)
		}
		defer held()
		printer := &fakeChannel{}
		e := replyPipeline(t, backend, map[string]replies.Sender{"print": printer}, nil)
		e.stop()
		e.priority = in
		e.start(map[string]replies.Sender{"print": printer}, nil)
		_, replyID := e.reply("waits", "portal-b", `{}`, replies.KindBescheid, 1, true)
		time.Sleep(300 * time.Millisecond)
		if ds, _ := e.st.ReplyDeliveries(context.Background(), replyID); len(ds) != 0 {
			t.Fatalf("planned during the burst while another handler had the turn: %+v", ds)
		}
		start := time.Now()
		e.stop()
		if took := time.Since(start); took >= e.cfg.Server.ShutdownTimeout {
			t.Fatalf("shutdown took %s: it waited for the turn", took)
		}
		end()
		e.priority = nil
		e.start(map[string]replies.Sender{"print": printer}, nil)
		if d := e.settled(replyID, 1)["print"]; d.Status != store.ReplySent || d.Attempts != 1 {
			t.Fatalf("after restart: %+v", d)
		}
	})
}
