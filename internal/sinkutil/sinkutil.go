// Package sinkutil helps write sinks (see exposure.Sink) that deliver one
// exposure at a time, such as through a vendor SDK call per exposure. The
// providers' sinks use it; it is internal so that the root package's
// surface stays the pipeline's.
package sinkutil

import (
	"context"

	"github.com/exposurekit/exposure"
)

// SendEach implements exposure.Sink's Send for a sink that delivers one
// exposure at a time. It calls send for each exposure of batch in order
// and reports the failures in an [*exposure.BatchError]; once ctx has
// ended, the exposures not reached are reported retryable, so that
// delivery sends them again rather than give them up.
func SendEach(ctx context.Context, batch []exposure.Exposure, send func(context.Context, *exposure.Exposure) error) error {
	var failed map[int]error
	fail := func(i int, err error) {
		if failed == nil {
			failed = make(map[int]error)
		}
		failed[i] = err
	}
	for i := range batch {
		if err := ctx.Err(); err != nil {
			for j := i; j < len(batch); j++ {
				fail(j, exposure.Retryable(err, 0))
			}
			break
		}
		if err := send(ctx, &batch[i]); err != nil {
			fail(i, err)
		}
	}
	if failed != nil {
		return &exposure.BatchError{Failed: failed}
	}
	return nil
}
