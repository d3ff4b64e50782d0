package store

import (
	"context"

	"testing"
	"time"

	wmsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
)

// A client that goes away while its statements run in a shared SQLite transaction does not
// spoil the others in it: its statements do not see its cancellation (an interrupted statement
// would roll back the whole transaction), so everyone in the group commits.
func TestGroupSurvivesAClientThatGoesAway(t *testing.T) {
	s, err := Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	insert := func(ctx context.Context, tx wmsql.Tx, id string) error {
		return InsertSubmission(ctx, tx, Submission{ID: id, Portal: "p", Reference: id, Leistung: "l", AGS: "a", Route: "r",
			Status: StatusReceived, Data: []byte(`{}`), RequestHash: "h", ReceivedAt: time.Now()}, nil)
	}
	// Hold the committer in a first group, so that the next two callers are gathered together.
	hold, held := make(chan struct{}), make(chan struct{})
	first := make(chan error, 1)
	go func() {
		first <- s.InGroupTx(context.Background(), func(ctx context.Context, tx wmsql.Tx) error {
			close(held)
			<-hold
			return insert(ctx, tx, "first")
		})
	}()
	<-held
	stays := make(chan error, 1)
	go func() {
		stays <- s.InGroupTx(context.Background(), func(ctx context.Context, tx wmsql.Tx) error { return insert(ctx, tx, "stays") })
	}()
	for len(s.group.requests) < 1 {
		time.Sleep(time.Millisecond)
	}
	leaving, leave := context.WithCancel(context.Background())
	goes := make(chan error, 1)
	go func() {
		goes <- s.InGroupTx(leaving, func(ctx context.Context, tx wmsql.Tx) error {
			if err := insert(ctx, tx, "goes"); err != nil {
				return err
			}
			// The client disconnects while a long statement of its runs.
			go func() { time.Sleep(20 * time.Millisecond); leave() }()
			_, err := tx.ExecContext(ctx, `INSERT INTO audit (at, actor, action)
				SELECT count(*), 'test', 'slow' FROM (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000000) SELECT x FROM c)`)
			return err
		})
	}()
	for len(s.group.requests) < 2 {
		time.Sleep(time.Millisecond)
	}
	close(hold)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if err := <-stays; err != nil {
		t.Fatalf("the caller sharing the transaction: %v", err)
	}
	<-goes // it may succeed (it was not cancelled in time) or not; it must spoil nothing
	for _, id := range []string{"first", "stays"} {
		if _, err := s.Submission(context.Background(), id); err != nil {
			t.Errorf("%s: %v", id, err)
		}
	}
}
