package exposure

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// blockedDeduper answers no claim until it is released: Redis frozen.
type blockedDeduper struct {
	Deduper
	release chan struct{}
}

func (d blockedDeduper) Claim(ctx context.Context, key, variant string, window time.Duration) (bool, bool, error) {
	<-d.release
	return d.Deduper.Claim(ctx, key, variant, window)
}

type countingSink struct{ got chan Exposure }

func (s countingSink) Send(_ context.Context, batch []Exposure) error {
	for _, e := range batch {
		s.got <- e
	}
	return nil
}

// When the claim stage is full, assignments are claimed in process and
// sent, not dropped; a later claim of the same exposure through the
// Deduper is a duplicate within the instance.
func TestAFullClaimStageClaimsInProcess(t *testing.T) {
	mem, err := NewMemoryDeduper(1000)
	require.NoError(t, err)
	d := blockedDeduper{Deduper: mem, release: make(chan struct{})}
	sink := countingSink{got: make(chan Exposure, 100)}
	tr, err := NewTracker(WithDeduper(d), WithSink(sink, WithFlushInterval(time.Millisecond)))
	require.NoError(t, err)
	tr.claims.capacity = 2
	as := make([]Assignment, 5)
	for i := range as {
		as[i] = Assignment{FlagKey: "f", Experiment: "E", Variant: "v", Identity: Identity{DistinctID: fmt.Sprint("u", i)}}
	}
	tr.commit(as[0:1])
	require.Eventually(t, func() bool { // the claimer took u0 and waits on the Deduper
		tr.claims.mu.Lock()
		defer tr.claims.mu.Unlock()
		return len(tr.claims.pending) == 0
	}, 5*time.Second, time.Millisecond)
	for i := 1; i < len(as); i++ {
		tr.commit(as[i : i+1])
	}
	// The first waits in the blocked claim, the next two in the stage; the
	// last two found no room and were sent at once.
	got := map[string]bool{}
	for range 2 {
		select {
		case e := <-sink.got:
			got[e.Identity.DistinctID] = true
		case <-time.After(5 * time.Second):
			t.Fatal("overflowed assignments were not sent")
		}
	}
	assert.Equal(t, map[string]bool{"u3": true, "u4": true}, got)
	assert.Equal(t, uint64(2), tr.Stats().Counts[StageDedupeError])
	assert.Zero(t, tr.Stats().Counts[StageDropped])

	// u4 renders again once the stage has room: the Deduper would grant it,
	// the overflow's claim says it was sent.
	close(d.release)
	tr.commit(as[4:5])
	require.NoError(t, tr.Flush(t.Context()))
	for range 3 { // u0, u1, u2 through the Deduper
		e := <-sink.got
		got[e.Identity.DistinctID] = true
	}
	assert.Len(t, got, 5)
	select {
	case e := <-sink.got:
		t.Fatalf("%s sent twice", e.Identity.DistinctID)
	default:
	}
	assert.Equal(t, uint64(1), tr.Stats().Counts[StageDuplicate])
	require.NoError(t, tr.Close(t.Context()))
}

type wrappedDeduper struct{ Deduper }

// The overflow claimed x's a, then x's b (a crossover): both sent. The
// Deduper, which saw neither, grants a: the overflow knows a was sent and
// refuses it. (It used to ask only whether its entry held a, which held b.)
func TestOverflowSendsAFlipBackOnce(t *testing.T) {
	mem, err := NewMemoryDeduper(1000)
	require.NoError(t, err)
	sink := countingSink{got: make(chan Exposure, 100)}
	tr, err := NewTracker(WithDeduper(wrappedDeduper{mem}), WithSink(sink, WithFlushInterval(time.Millisecond)))
	require.NoError(t, err)
	defer func() { _ = tr.Close(context.Background()) }()
	x := func(v string) []Assignment {
		return []Assignment{{FlagKey: "f", Experiment: "E", Variant: v, Identity: Identity{DistinctID: "x"}}}
	}
	tr.claims.mu.Lock()
	tr.claims.capacity = 0 // the stage is full: claimed in process
	tr.claims.mu.Unlock()
	tr.commit(x("a"))
	tr.commit(x("b"))
	tr.claims.mu.Lock()
	tr.claims.capacity = 100
	tr.claims.mu.Unlock()
	tr.commit(x("a")) // through the Deduper, which never saw x
	require.NoError(t, tr.Flush(t.Context()))
	got := map[string]int{}
	for {
		select {
		case e := <-sink.got:
			got[e.Variant]++
			continue
		case <-time.After(200 * time.Millisecond):
		}
		break
	}
	assert.Equal(t, 1, got["a"], "within this instance a is one exposure")
}
