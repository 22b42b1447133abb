// Package options applies functional options the way every constructor of
// this module does: each option returns an error, a nil option is an
// error, and the constructor reports every error at once.
package options

import (
	"errors"
	"fmt"
)

// ErrInvalidConfig is exposure.ErrInvalidConfig, defined here so that the
// root package too applies its options with Apply (it cannot import a
// package that imports it).
var ErrInvalidConfig = errors.New("exposure: invalid configuration")

// Apply applies opts to c in order and returns the errors they returned,
// with one wrapping [ErrInvalidConfig] for each nil option, which
// names the constructor (who, such as "audit.NewAuditor") and the
// option's position. The caller adds its own errors and joins them with
// [errors.Join].
func Apply[C any, O ~func(*C) error](c *C, who string, opts []O) []error {
	var errs []error
	for i, o := range opts {
		if o == nil {
			errs = append(errs, fmt.Errorf("%w: %s: option %d is nil", ErrInvalidConfig, who, i))
			continue
		}
		if err := o(c); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}
