package srm

import "errors"

// Errors of [Sequential.Update]: the counts given cannot continue the
// test. Test for them with [errors.Is].
var (
	// ErrCountsLength: the counts are not one per variant of the weights
	// the test was made with.
	ErrCountsLength = errors.New("srm: counts are not one per variant")
	// ErrCountsDecreased: a cumulative count is lower than at the previous
	// update. The test must see each variant's counts only grow, in time
	// order; counts from a new period or a reset need a new [Sequential].
	ErrCountsDecreased = errors.New("srm: cumulative count decreased")
)
