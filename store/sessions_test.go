package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/amtsbote/amtsbote/store"
)

// A session lives for the idle time after each request, never beyond its maximum age; the store
// keeps only the id's hash; ended sessions are not found and purged.
func TestConsoleSessions(t *testing.T) {
	eachBackend(t, func(t *testing.T, o store.Options) {
		st := open(t, o)
		ctx := context.Background()
		l := store.SessionLifetime{Idle: 30 * time.Minute, MaxAge: 2 * time.Hour}
		start := time.UnixMilli(1_800_000_000_000).UTC()
		sess, err := st.CreateSession(ctx, "anna", "operator", "fp-anna", start, l)
		if err != nil {
			t.Fatal(err)
		}
		if len(sess.ID) < 43 || len(sess.CSRF) < 43 || sess.ID == sess.CSRF || !sess.ExpiresAt.Equal(start.Add(30*time.Minute)) {
			t.Fatalf("session %+v", sess)
		}
		var stored int
		if err := st.DB.QueryRow(`SELECT count(*) FROM console_sessions WHERE id_sha256 = $1`, sess.ID).Scan(&stored); err != nil || stored != 0 {
			t.Fatalf("the id itself is stored (%d, %v)", stored, err)
		}
		other, err := st.CreateSession(ctx, "bernd", "viewer", "fp-bernd", start, l)
		if err != nil || other.ID == sess.ID {
			t.Fatalf("second session %+v %v", other, err)
		}

		got, err := st.SessionByID(ctx, sess.ID, start.Add(time.Minute))
		if err != nil || got.Name != "anna" || got.Role != "operator" || got.CSRF != sess.CSRF || !got.CreatedAt.Equal(start) {
			t.Fatalf("SessionByID: %+v %v", got, err)
		}
		// Requests every 20 minutes keep it alive, up to the maximum age.
		at := start
		for i := 1; i <= 5; i++ {
			at = start.Add(time.Duration(i) * 20 * time.Minute)
			touched, err := st.TouchSession(ctx, sess.ID, at, l)
			if err != nil {
				t.Fatalf("touch %d at %s: %v", i, at, err)
			}
			want := at.Add(30 * time.Minute)
			if max := start.Add(2 * time.Hour); want.After(max) {
				want = max
			}
			if !touched.ExpiresAt.Equal(want) || !touched.SeenAt.Equal(at) {
				t.Fatalf("touch %d: expires %s seen %s; want %s", i, touched.ExpiresAt, touched.SeenAt, want)
			}
		}
		if _, err := st.TouchSession(ctx, sess.ID, start.Add(2*time.Hour), l); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("at the maximum age: %v; want ErrNotFound", err)
		}
		// The other session was never touched: it ended after the idle time.
		for _, tt := range []struct {
			name string
			at   time.Time
			want error
		}{
			{"just before idle end", start.Add(30*time.Minute - time.Millisecond), nil},
			{"at idle end", start.Add(30 * time.Minute), store.ErrNotFound},
		} {
			if _, err := st.SessionByID(ctx, other.ID, tt.at); !errors.Is(err, tt.want) {
				t.Fatalf("%s: %v; want %v", tt.name, err, tt.want)
			}
		}
		if _, err := st.SessionByID(ctx, "no-such-session", start); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unknown id: %v", err)
		}

		third, err := st.CreateSession(ctx, "clara", "viewer", "fp-clara", start.Add(time.Hour), l)
		if err != nil {
			t.Fatal(err)
		}
		n, err := st.PurgeSessions(ctx, start.Add(time.Hour+time.Minute))
		if err != nil || n != 1 {
			t.Fatalf("purged %d, %v; want 1 (bernd's)", n, err)
		}
		if _, err := st.SessionByID(ctx, third.ID, start.Add(time.Hour+time.Minute)); err != nil {
			t.Fatalf("a live session was purged: %v", err)
		}
		if err := st.DeleteSession(ctx, third.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := st.SessionByID(ctx, third.ID, start.Add(time.Hour+time.Minute)); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("after sign-out: %v", err)
		}
		if err := st.DeleteSession(ctx, third.ID); err != nil {
			t.Fatalf("deleting twice: %v", err)
		}
	})
}
