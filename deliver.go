package exposure

import (
	"errors"
	"fmt"
	"time"
)

func (q *queue) sendLoop() {
	for b := range q.sendq {
		q.inflight.end(b.seq, q.deliver(b.exposures))
	}
}

// deliver sends batch, retrying what is retryable until the policy's MaxAge
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
		l.recordError(err, time.Now())
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
			bad, rejected := 0, 0
			var firstRejected *Failure
			for i, f := range be.Failures {
				if f.Index < 0 || f.Index >= len(pending) {
					continue
				}
				bad++
				if ok, after := IsRetryable(f.Err); ok {
					retry = append(retry, pending[f.Index])
					retryAfter = max(retryAfter, after)
					continue
				}
				rejected++
				if firstRejected == nil {
					firstRejected = &be.Failures[i]
				}
			}
			if rejected > 0 {
				failed += rejected
				l.settle(StageFailed, rejected, firstRejected.Err)
				e := &pending[firstRejected.Index]
				// One line per batch: a 400 can refuse 2000 records at once.
				q.log.Error("exposure: exposures rejected by sink", "rejected", rejected,
					"first_experiment", e.Experiment, "first_variant", e.Variant, "first_insert_id", e.InsertID, "first_err", firstRejected.Err)
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
		if age := time.Since(first); age+wait > q.cfg.retry.MaxAge {
			failed += len(retry)
			l.settle(StageFailed, len(retry), err)
			q.log.Error("exposure: giving up on exposures: the next retry would be past the retry age",
				"exposures", len(retry), "age", age.Round(time.Millisecond), "next_retry_in", wait, "max_age", q.cfg.retry.MaxAge, "err", err)
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
