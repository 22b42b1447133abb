package audit

import (
	"strings"
	"sync"
	"time"

	"github.com/exposurekit/exposure"
)

// sinkFailures is when each sink last failed, as the Auditor saw it: the
// time of the sink's latest StageFailed or StageRetried event that carried
// an error. Stats has the error's text; the events say when.
type sinkFailures struct {
	mu   sync.Mutex
	last map[string]*time.Time // by sink name
}

// observe records ev's time if it is a failure of a sink. It allocates
// only on the first failure of a sink, for its entry.
func (f *sinkFailures) observe(ev *exposure.Event) {
	if ev.Err == nil || ev.Sink == "" || (ev.Stage != exposure.StageFailed && ev.Stage != exposure.StageRetried) {
		return
	}
	now := time.Now()
	f.mu.Lock()
	defer f.mu.Unlock()
	at := f.last[ev.Sink]
	if at == nil {
		if f.last == nil {
			f.last = make(map[string]*time.Time)
		}
		at = new(time.Time)
		// A copy: the Event's data is not retained.
		f.last[strings.Clone(ev.Sink)] = at
	}
	*at = now
}

// at returns when the sink named name last failed, or nil if it never did.
func (f *sinkFailures) at(name string) *time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	at := f.last[name]
	if at == nil {
		return nil
	}
	t := *at
	return &t
}
