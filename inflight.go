package exposure

import "sync"

// sendBatch is a batch handed to a sender, numbered in the order the
// worker handed batches over.
type sendBatch struct {
	seq       uint64
	exposures []Exposure
}

// inflight tracks the batches handed to the senders and not settled yet,
// so that a Flush waits for the batches handed over before it, and only
// those, without the worker waiting.
type inflight struct {
	mu      sync.Mutex
	next    uint64              // the number of the next batch
	open    map[uint64]struct{} // handed over, not settled
	waiters []*flushWaiter
}

// flushWaiter is one Flush: it is answered, with the count of exposures
// that failed for good meanwhile, once every batch below mark is settled.
type flushWaiter struct {
	mark   uint64 // batches numbered below are waited for; set once the worker drained
	marked bool
	failed int
	done   chan int // capacity 1
}

// begin numbers a batch about to be handed to a sender.
func (f *inflight) begin() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.open == nil {
		f.open = make(map[uint64]struct{})
	}
	seq := f.next
	f.next++
	f.open[seq] = struct{}{}
	return seq
}

// end settles batch seq, of which failed exposures failed for good, and
// answers the flushes that waited only for batches settled now.
func (f *inflight) end(seq uint64, failed int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.open, seq)
	for _, w := range f.waiters {
		w.failed += failed // failed during the flush
	}
	f.answer()
}

// watch registers a flush before the worker drains the queue for it, so
// that failures of batches that end meanwhile are counted.
func (f *inflight) watch(w *flushWaiter) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.waiters = append(f.waiters, w)
}

// wait marks w, once the worker drained the queue for it: it waits for
// every batch handed over so far.
func (f *inflight) wait(w *flushWaiter) {
	f.mu.Lock()
	defer f.mu.Unlock()
	w.mark, w.marked = f.next, true
	f.answer()
}

// answer answers, under mu, the waiters with no open batch below their mark.
func (f *inflight) answer() {
	oldest := f.next
	for seq := range f.open { // a handful at most: one per sender, and one the worker holds
		oldest = min(oldest, seq)
	}
	kept := f.waiters[:0]
	for _, w := range f.waiters {
		if w.marked && w.mark <= oldest {
			w.done <- w.failed
			continue
		}
		kept = append(kept, w)
	}
	clear(f.waiters[len(kept):])
	f.waiters = kept
}
