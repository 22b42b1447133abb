package exposure

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"
)

func (q *queue) sendLoop() {
	for b := range q.sendq {
		q.inflight.end(b.seq, q.deliver(b.exposures))
	}
}

// deliver sends batch, retrying what is retryable until the max retry age
// or until the queue is aborted. It returns how many failed for good.
func (q *queue) deliver(batch []Exposure) (failed int) {
	l := &q.ledger
	if q.sendCtx.Err() != nil {
		l.settle(StageUndelivered, len(batch), nil)
		return 0
	}
	first := time.Now()
	pending := batch
	for attempt := 1; ; attempt++ {
		err := q.safeSend(pending)
		if err == nil {
			l.settle(StageDelivered, len(pending), nil)
			return failed
		}
		l.recordError(err)
		if q.sendCtx.Err() != nil {
			// Aborted by Close: whatever the sink made of its context's end,
			// these were not delivered, and they did not fail.
			l.settle(StageUndelivered, len(pending), nil)
			return failed
		}

		var retry []Exposure
		var retryAfter time.Duration
		var be *BatchError
		switch ok, after := IsRetryable(err); {
		case errors.As(err, &be):
			// In batch order, so that a retry keeps the exposures' order
			// and the first rejected is the first in the batch.
			bad, rejected, firstRejected := 0, 0, -1
			for _, i := range slices.Sorted(maps.Keys(be.Failed)) {
				if i < 0 || i >= len(pending) {
					continue
				}
				bad++
				if ok, after := IsRetryable(be.Failed[i]); ok {
					retry = append(retry, pending[i])
					retryAfter = max(retryAfter, after)
					continue
				}
				rejected++
				if firstRejected < 0 {
					firstRejected = i
				}
			}
			if rejected > 0 {
				failed += rejected
				firstErr := be.Failed[firstRejected]
				l.settle(StageFailed, rejected, firstErr)
				e := &pending[firstRejected]
				// One line per batch: a 400 can refuse 2000 records at once.
				q.log.Error("exposure: exposures rejected by sink", "rejected", rejected,
					"first_experiment", e.Experiment, "first_variant", e.Variant, "first_insert_id", e.InsertID, "first_err", firstErr)
			}
			l.settle(StageDelivered, len(pending)-bad, nil)
		case ok:
			retry, retryAfter = pending, after
		default:
			failed += len(pending)
			l.settle(StageFailed, len(pending), err)
			q.log.Error("exposure: batch failed for good", "exposures", len(pending), "err", err)
			return failed
		}
		if len(retry) == 0 {
			return failed
		}
		wait := max(q.cfg.retry.backoff(attempt), retryAfter)
		// A retry that cannot happen within the retry age is not waited
		// for: a Retry-After of a day would otherwise hold a sender (and a
		// Close without deadline) for a day.
		if age := time.Since(first); age+wait > q.cfg.retry.maxAge {
			failed += len(retry)
			l.settle(StageFailed, len(retry), err)
			q.log.Error("exposure: giving up on exposures: the next retry would be past the retry age",
				"exposures", len(retry), "age", age.Round(time.Millisecond), "next_retry_in", wait, "max_age", q.cfg.retry.maxAge, "err", err)
			return failed
		}
		q.log.Warn("exposure: send failed, retrying", "exposures", len(retry), "attempt", attempt, "in", wait, "err", err)
		timer := time.NewTimer(wait)
		select {
		case <-timer.C:
		case <-q.sendCtx.Done():
			timer.Stop()
			l.settle(StageUndelivered, len(retry), nil)
			return failed
		}
		l.record(StageRetried, len(retry), nil, err)
		pending = retry
	}
}

// safeSend calls the sink. A panic is recovered and taken as a retryable
// failure of the whole batch: the sink never said which exposures it
// refused, so none is given up on before the retry age.
func (q *queue) safeSend(batch []Exposure) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = Retryable(fmt.Errorf("exposure: sink %s panicked: %v", q.ledger.name, r), 0)
		}
	}()
	return q.sink.Send(q.sendCtx, batch)
}
