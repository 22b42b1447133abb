package audit_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/exposurekit/exposure"
	"github.com/exposurekit/exposure/audit"
)

// events are one event of each stage about the same variant, as the
// Tracker reports them.
func events() []exposure.Event {
	a := exposure.Assignment{
		FlagKey: "f", Experiment: "Checkout Redesign", Variant: "Variant B",
		Identity: exposure.Identity{DistinctID: "user-123456"}, EvaluatedAt: time.Now(),
	}
	x := exposure.Exposure{Assignment: a, Time: a.EvaluatedAt.Add(3 * time.Millisecond), InsertID: "0123456789abcdef0123456789abcdef"}
	var evs []exposure.Event
	for _, s := range []exposure.Stage{
		exposure.StageEvaluated, exposure.StageAssigned, exposure.StageMarked, exposure.StageHandedOff,
		exposure.StageDuplicate, exposure.StageDiscarded, exposure.StageReverted, exposure.StageDedupeError,
		exposure.StageFailedRender, exposure.StageFailedRequest, exposure.StageBot, exposure.StageCrossover,
	} {
		evs = append(evs, exposure.Event{Stage: s, Count: 1, Exposure: exposure.Exposure{Assignment: a}})
	}
	for _, s := range []exposure.Stage{exposure.StageQueued, exposure.StageDropped} {
		evs = append(evs, exposure.Event{Stage: s, Count: 1, Sink: "recorder", Exposure: x})
	}
	evs = append(evs,
		exposure.Event{Stage: exposure.StageDelivered, Count: 20, Sink: "recorder"},
		exposure.Event{Stage: exposure.StageUnassignedMark, Count: 1, Exposure: exposure.Exposure{Assignment: exposure.Assignment{FlagKey: "f"}}},
		exposure.Event{Stage: exposure.StageSkipped, Count: 1, Exposure: exposure.Exposure{Assignment: exposure.Assignment{FlagKey: "f"}}, Err: exposure.ErrNoScope},
	)
	return evs
}

func committed() exposure.Event {
	a := exposure.Assignment{
		FlagKey: "f", Experiment: "Checkout Redesign", Variant: "Variant B",
		Identity: exposure.Identity{DistinctID: "user-123456"}, EvaluatedAt: time.Now(),
	}
	return exposure.Event{Stage: exposure.StageCommitted, Count: 1, Exposure: exposure.Exposure{
		Assignment: a, Time: a.EvaluatedAt.Add(3 * time.Millisecond), InsertID: "0123456789abcdef0123456789abcdef"}}
}

// Once an experiment's variant and a flag were seen, observing costs no
// allocation: the request path pays atomic adds only. A committed exposure
// kept among the recent ones is copied once (the Event's data must not be
// retained); without a recent buffer it allocates nothing either.
func TestObserveDoesNotAllocate(t *testing.T) {
	for _, c := range []struct {
		name      string
		recent    int
		committed float64 // allocations of one committed exposure
	}{{"no recent buffer", 0, 0}, {"recent buffer", audit.DefaultRecent, 1}} {
		t.Run(c.name, func(t *testing.T) {
			aud, err := audit.NewAuditor(audit.WithRecent(c.recent))
			require.NoError(t, err)
			evs := events()
			for _, ev := range evs { // the first sight of a variant or a flag allocates its accounts
				aud.Observe(ev)
			}
			aud.Observe(committed())
			for _, ev := range evs {
				allocs := testing.AllocsPerRun(100, func() { aud.Observe(ev) })
				assert.Zero(t, allocs, "%v", ev.Stage)
			}
			ev := committed()
			assert.Equal(t, c.committed, testing.AllocsPerRun(100, func() { aud.Observe(ev) }), "committed")
		})
	}
}

// The request-path costs of the Auditor, by stage.
func BenchmarkObserve(b *testing.B) {
	aud, err := audit.NewAuditor()
	require.NoError(b, err)
	evs := append(events(), committed())
	for _, ev := range evs {
		aud.Observe(ev)
	}
	for _, ev := range evs {
		b.Run(ev.Stage.String(), func(b *testing.B) {
			for b.Loop() {
				aud.Observe(ev)
			}
		})
	}
}

// The cost of a report of one experiment with two variants, the sequential
// test's update included: what each read of the page or the JSON pays.
func BenchmarkReport(b *testing.B) {
	aud, err := audit.NewAuditor(audit.WithRecent(0))
	require.NoError(b, err)
	for _, ev := range events() {
		aud.Observe(ev)
	}
	other := committed()
	other.Exposure.Variant = "Variant A"
	aud.Observe(other)
	for b.Loop() {
		aud.Observe(committed()) // the counts grow between reports
		_ = aud.Report(nil)
	}
}
