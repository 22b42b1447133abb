package exposure_test

import (
	"strings"
	"testing"
	"time"

	"github.com/exposurekit/exposure"
	"github.com/exposurekit/exposure/exposuretest"
	"github.com/open-feature/go-sdk/openfeature"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNewTrackerRejectsMisconfiguration(t *testing.T) {
	sink := exposure.WithSink(exposuretest.NewRecorder())
	exp := func(flag, name string) exposure.Experiment { return exposure.Experiment{FlagKey: flag, Name: name} }
	tests := []struct {
		name    string
		opts    []exposure.Option
		mention string
	}{
		{"no sink", nil, "no sink"},
		{"nil sink", []exposure.Option{exposure.WithSink(nil)}, "nil Sink"},
		{"names differ only in case and dashes", []exposure.Option{sink, exposure.WithExperiments(exp("a", "Checkout Test"), exp("b", "checkout-test"))}, `"checkout-test"`},
		{"names differ only in underscores", []exposure.Option{sink, exposure.WithExperiments(exp("a", "new_home"), exp("b", "NewHome"))}, `"NewHome"`},
		{"empty name", []exposure.Option{sink, exposure.WithExperiments(exp("flag-x", " "))}, `"flag-x"`},
		{"long name", []exposure.Option{sink, exposure.WithExperiments(exp("a", strings.Repeat("n", 256)))}, "256 bytes"},
		{"empty flag key", []exposure.Option{sink, exposure.WithExperiments(exp("", "Pricing"))}, `"Pricing"`},
		{"flag twice", []exposure.Option{sink, exposure.WithExperiments(exp("a", "One"), exp("a", "Two"))}, `"a"`},
		{"empty variant name", []exposure.Option{sink, exposure.WithExperiments(exposure.Experiment{FlagKey: "a", Name: "One", Variants: map[string]string{"x": ""}})}, `"x"`},
		{"bad weight", []exposure.Option{sink, exposure.WithExperiments(exposure.Experiment{FlagKey: "a", Name: "One", Weights: map[string]float64{"x": -1}})}, `"x"`},
		{"window", []exposure.Option{sink, exposure.WithDedupeWindow(0)}, "dedupe window"},
		{"nil deduper", []exposure.Option{sink, exposure.WithDeduper(nil)}, "nil Deduper"},
		{"nil logger", []exposure.Option{sink, exposure.WithLogger(nil)}, "nil logger"},
		{"nil identity", []exposure.Option{sink, exposure.WithIdentity(nil)}, "nil function"},
		{"nil option", []exposure.Option{sink, nil}, "option 1 is nil"},
		{"nil observer", []exposure.Option{sink, exposure.WithObserver(nil)}, "nil Observer"},
		{"nil sink option", []exposure.Option{exposure.WithSink(exposuretest.NewRecorder(), nil)}, "WithSink: option 0 is nil"},
		{"queue size", []exposure.Option{exposure.WithSink(exposuretest.NewRecorder(), exposure.WithQueueSize(0))}, "queue size"},
		{"batch size", []exposure.Option{exposure.WithSink(exposuretest.NewRecorder(), exposure.WithBatchSize(-1))}, "batch size"},
		{"queue bytes", []exposure.Option{exposure.WithSink(exposuretest.NewRecorder(), exposure.WithQueueBytes(10))}, "queue bytes"},
		{"senders", []exposure.Option{exposure.WithSink(exposuretest.NewRecorder(), exposure.WithSenders(0))}, "senders"},
		{"flush interval", []exposure.Option{exposure.WithSink(exposuretest.NewRecorder(), exposure.WithFlushInterval(0))}, "flush interval"},
		{"backoff max below min", []exposure.Option{exposure.WithSink(exposuretest.NewRecorder(), exposure.WithBackoff(time.Second, time.Millisecond))}, "backoff max (1ms) is below min (1s)"},
		{"backoff min zero", []exposure.Option{exposure.WithSink(exposuretest.NewRecorder(), exposure.WithBackoff(0, time.Second))}, "backoff min must be positive"},
		{"max retry age", []exposure.Option{exposure.WithSink(exposuretest.NewRecorder(), exposure.WithMaxRetryAge(-time.Second))}, "max retry age must be positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr, err := exposure.NewTracker(tt.opts...)
			require.Error(t, err)
			assert.Nil(t, tr)
			assert.ErrorIs(t, err, exposure.ErrInvalidConfig)
			assert.Contains(t, err.Error(), tt.mention)
		})
	}
}

func TestDefaultIdentity(t *testing.T) {
	tests := []struct {
		name string
		ec   openfeature.EvaluationContext
		want exposure.Identity
		err  error
	}{
		{"user id wins", openfeature.NewEvaluationContext("tk", map[string]any{"$user_id": "u1", "$device_id": "d1"}),
			exposure.Identity{DistinctID: "u1", UserID: "u1", DeviceID: "d1"}, nil},
		{"device only", openfeature.NewEvaluationContext("tk", map[string]any{"$device_id": "d1"}),
			exposure.Identity{DistinctID: "$device:d1", DeviceID: "d1"}, nil},
		{"targeting key", openfeature.NewEvaluationContext("tk", nil), exposure.Identity{DistinctID: "tk"}, nil},
		{"non-string attributes are ignored", openfeature.NewEvaluationContext("tk", map[string]any{"$user_id": 42}), exposure.Identity{DistinctID: "tk"}, nil},
		{"no subject", openfeature.NewTargetlessEvaluationContext(map[string]any{"plan": "pro"}), exposure.Identity{}, exposure.ErrNoSubject},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := exposure.DefaultIdentity(tt.ec)
			if tt.err != nil {
				assert.ErrorIs(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

// Every misconfiguration is reported at once, not only the first.
func TestNewTrackerReportsEveryError(t *testing.T) {
	_, err := exposure.NewTracker(exposure.WithDedupeWindow(-1), nil,
		exposure.WithSink(exposuretest.NewRecorder(), exposure.WithQueueSize(0), exposure.WithSenders(99)))
	require.ErrorIs(t, err, exposure.ErrInvalidConfig)
	for _, want := range []string{"dedupe window", "option 1 is nil", "queue size", "senders"} {
		assert.Contains(t, err.Error(), want)
	}
}

func TestNewWriterSinkRefusesNil(t *testing.T) {
	s, err := exposure.NewWriterSink(nil)
	assert.Nil(t, s)
	assert.ErrorIs(t, err, exposure.ErrInvalidConfig)
}
