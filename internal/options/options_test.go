package options_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/exposurekit/exposure"
	"github.com/exposurekit/exposure/internal/options"
)

type config struct{ n int }

type option func(*config) error

func TestApplyReportsEveryError(t *testing.T) {
	bad := errors.New("bad value")
	var c config
	errs := options.Apply(&c, "pkg.New", []option{
		func(c *config) error { c.n++; return nil },
		nil,
		func(*config) error { return bad },
		func(c *config) error { c.n++; return nil },
	})
	assert.Equal(t, 2, c.n, "every valid option is applied")
	if assert.Len(t, errs, 2) {
		assert.ErrorIs(t, errs[0], exposure.ErrInvalidConfig)
		assert.EqualError(t, errs[0], exposure.ErrInvalidConfig.Error()+": pkg.New: option 1 is nil")
		assert.Same(t, bad, errs[1])
	}
	assert.Empty(t, options.Apply[config, option](&c, "pkg.New", nil))
}
