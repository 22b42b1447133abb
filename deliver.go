package exposure

import (
	"errors"
	"fmt"
	"time"
)

func (q *queue) sendLoop() {
	for batch := range q.sendq {
		q.flushFailed.Add(int64(q.deliver(batch)))
		q.inflight.Done()
	}
}

// deliver sends batch, retrying what is retryable until the policy's MaxAge
// or until the queue is aborted. It returns how many failed for good.
func (q *queue) deliver(batch []Exposure) (failed int) {
	l := &q.ledger
	if q.sendCtx.Err() != nil {
		l.record(StageUndelivered, len(batch), nil, nil)
		return 0
	}
	first := time.Now()
	pending := batch
	for attempt := 1; ; attempt++ {
		err := q.safeSend(pending)
		if err == nil {
			l.record(StageDelivered, len(pending), nil, nil)
			return failed
		}
		l.recordError(err, time.Now())

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
				l.record(StageFailed, rejected, nil, firstRejected.Err)
				e := &pending[firstRejected.Index]
				// One line per batch: a 400 can refuse 2000 records at once.
				q.log.Error("exposure: exposures rejected by sink", "rejected", rejected,
					"first_experiment", e.Experiment, "first_variant", e.Variant, "first_insert_id", e.InsertID, "first_err", firstRejected.Err)
			}
			l.record(StageDelivered, len(pending)-bad, nil, nil)
		case ok:
			retry, retryAfter = pending, after
		default:
			failed += len(pending)
			l.record(StageFailed, len(pending), nil, err)
			q.log.Error("exposure: batch failed for good", "exposures", len(pending), "err", err)
			return failed
		}
		if len(retry) == 0 {
			return failed
		}
		if time.Since(first) > q.cfg.retry.MaxAge {
			failed += len(retry)
			l.record(StageFailed, len(retry), nil, err)
			q.log.Error("exposure: giving up on exposures after retrying", "exposures", len(retry), "max_age", q.cfg.retry.MaxAge, "err", err)
			return failed
		}
		wait := max(q.cfg.retry.backoff(attempt), retryAfter)
		q.log.Warn("exposure: send failed, retrying", "exposures", len(retry), "attempt", attempt, "in", wait, "err", err)
		timer := time.NewTimer(wait)
		select {
		case <-timer.C:
		case <-q.sendCtx.Done():
			timer.Stop()
			l.record(StageUndelivered, len(retry), nil, nil)
			return failed
		}
		l.record(StageRetried, len(retry), nil, err)
		pending = retry
	}
}

// safeSend calls the sink, turning a panic into a permanent error.
func (q *queue) safeSend(batch []Exposure) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("exposure: sink %s panicked: %v", q.ledger.name, r)
		}
	}()
	return q.sink.Send(q.sendCtx, batch)
}
