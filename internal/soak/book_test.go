package soak

import (
	"sync"
	"time"

	"github.com/exposurekit/exposure"
)

// key is what the pipeline exposes once: a subject, an experiment, a
// variant.
type key struct{ user, experiment, variant string }

func keyOf(e *exposure.Exposure) key {
	return key{e.Identity.DistinctID, e.Experiment, e.Variant}
}

// book is an exposure.Observer that writes down, per sink, every exposure
// queued to it: its key and $insert_id. It is how the test knows what each
// sink was given, to compare with what each destination holds.
type book struct {
	mu     sync.Mutex
	queued map[string]map[key][]string // sink -> key -> insert ids, in order
	times  map[string]time.Time        // insert id -> the exposure's time
}

var _ exposure.Observer = (*book)(nil)

func newBook() *book {
	return &book{queued: map[string]map[key][]string{}, times: map[string]time.Time{}}
}

// Observe keeps StageQueued events; a map insert under a mutex, quick.
func (b *book) Observe(ev exposure.Event) {
	if ev.Stage != exposure.StageQueued {
		return
	}
	k := keyOf(&ev.Exposure) // strings: copying them retains nothing mutable
	b.mu.Lock()
	defer b.mu.Unlock()
	m := b.queued[ev.Sink]
	if m == nil {
		m = map[key][]string{}
		b.queued[ev.Sink] = m
	}
	m[k] = append(m[k], ev.Exposure.InsertID)
	b.times[ev.Exposure.InsertID] = ev.Exposure.Time
}

// timeOf returns the time of the exposure with insert id id.
func (b *book) timeOf(id string) time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.times[id]
}

// queuedTo returns a copy of what was queued to sink.
func (b *book) queuedTo(sink string) map[key][]string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make(map[key][]string, len(b.queued[sink]))
	for k, ids := range b.queued[sink] {
		out[k] = append([]string(nil), ids...)
	}
	return out
}
