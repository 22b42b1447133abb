package audit_test

import (
	"math"
	"testing"

	"github.com/exposurekit/exposure/audit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The reference values were computed independently of the code under test,
// in Python with closed forms of the chi-square survival function:
// df=1: erfc(sqrt(x/2)); df=3: erfc(sqrt(x/2)) + sqrt(2x/pi) e^(-x/2);
// even df=2k: e^(-x/2) * sum_{j<k} (x/2)^j / j!.
func TestSampleRatioReferenceValues(t *testing.T) {
	cases := []struct {
		name     string
		observed map[string]int
		weights  map[string]float64
		chi2, p  float64
	}{
		{"1000 vs 1100 at 50/50", map[string]int{"a": 1000, "b": 1100}, map[string]float64{"a": 50, "b": 50},
			4.761904761904762, 0.02909633174125221},
		{"equal split when weights are nil", map[string]int{"a": 1000, "b": 1100}, nil,
			4.761904761904762, 0.02909633174125221},
		{"5000 vs 5100", map[string]int{"a": 5000, "b": 5100}, nil, 0.9900990099009901, 0.3197181768128704},
		{"4000 vs 4500: a clear mismatch", map[string]int{"a": 4000, "b": 4500}, nil, 29.41176470588235, 5.8521299539474276e-08},
		{"perfect split", map[string]int{"a": 10, "b": 10}, nil, 0, 1},
		{"3-way equal, df=2", map[string]int{"a": 100, "b": 200, "c": 300}, nil, 100, 1.9287498479639178e-22},
		{"3-way 50/25/25, df=2", map[string]int{"control": 480, "b": 260, "c": 260},
			map[string]float64{"control": 0.5, "b": 0.25, "c": 0.25}, 1.6, 0.44932896411722156},
		{"4-way, df=3", map[string]int{"a": 30, "b": 25, "c": 20, "d": 25}, nil, 2, 0.5724067044708798},
		{"5-way, df=4", map[string]int{"a": 130, "b": 95, "c": 100, "d": 90, "e": 85}, nil, 12.5, 0.013995792487650892},
		{"11-way, df=10", map[string]int{"a": 100, "b": 110, "c": 90, "d": 100, "e": 105, "f": 95, "g": 102, "h": 98, "i": 120, "j": 80, "k": 100},
			nil, 10.58, 0.39116131632268253},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			chi2, p, err := audit.SampleRatio(c.observed, c.weights)
			require.NoError(t, err)
			assert.InDelta(t, c.chi2, chi2, 1e-9, "chi-square")
			assert.InDelta(t, c.p, p, 1e-9, "p-value")
			if c.p > 0 {
				assert.InEpsilon(t, c.p, p, 1e-9, "p-value, relative")
			}
		})
	}
}

// The p-value against the df=2 closed form e^(-x/2) and the df=4 one
// e^(-x/2)(1+x/2) over a range of statistics, the far tail included.
func TestSampleRatioMatchesClosedForms(t *testing.T) {
	for _, n := range []int{0, 1, 5, 20, 50, 100, 200, 400} {
		three := map[string]int{"a": 1000, "b": 1000 + n, "c": 1000 - n}
		chi2, p, err := audit.SampleRatio(three, nil)
		require.NoError(t, err)
		want := 2 * float64(n*n) / 1000
		assert.InDelta(t, want, chi2, 1e-9)
		assert.InDelta(t, math.Exp(-chi2/2), p, 1e-12, "df=2 at chi2=%v", chi2)
		if p > 0 {
			assert.InEpsilon(t, math.Exp(-chi2/2), p, 1e-9, "df=2 at chi2=%v, relative", chi2)
		}

		five := map[string]int{"a": 1000, "b": 1000 + n, "c": 1000 - n, "d": 1000, "e": 1000}
		chi2, p, err = audit.SampleRatio(five, nil)
		require.NoError(t, err)
		wantP := math.Exp(-chi2/2) * (1 + chi2/2)
		assert.InDelta(t, wantP, p, 1e-12, "df=4 at chi2=%v", chi2)
		if wantP > 0 {
			assert.InEpsilon(t, wantP, p, 1e-9, "df=4 at chi2=%v, relative", chi2)
		}
	}
}

func TestSampleRatioWeightsAreShares(t *testing.T) {
	// 90/10 expressed three ways is one split.
	obs := map[string]int{"on": 880, "off": 120}
	var ps []float64
	for _, w := range []map[string]float64{{"on": 90, "off": 10}, {"on": 0.9, "off": 0.1}, {"on": 9, "off": 1}} {
		_, p, err := audit.SampleRatio(obs, w)
		require.NoError(t, err)
		ps = append(ps, p)
	}
	assert.InDelta(t, ps[0], ps[1], 1e-12)
	assert.InDelta(t, ps[0], ps[2], 1e-12)
	// chi2 = 20^2/900 + 20^2/100
	chi2, _, err := audit.SampleRatio(obs, map[string]float64{"on": 9, "off": 1})
	require.NoError(t, err)
	assert.InDelta(t, 400.0/900+400.0/100, chi2, 1e-9)
}

func TestSampleRatioVariantOnlyInWeightsCountsAsZero(t *testing.T) {
	chi2, p, err := audit.SampleRatio(map[string]int{"a": 20}, map[string]float64{"a": 1, "b": 1})
	require.NoError(t, err)
	assert.InDelta(t, 20.0, chi2, 1e-12) // (20-10)^2/10 * 2
	assert.InDelta(t, math.Erfc(math.Sqrt(10)), p, 1e-12)
}

// Each input that cannot be tested says why with a sentinel error, so that
// a caller decides on errors.Is, never on the text.
func TestSampleRatioErrors(t *testing.T) {
	cases := []struct {
		name     string
		observed map[string]int
		weights  map[string]float64
		reason   error
		mention  string
	}{
		{"one variant", map[string]int{"a": 10}, nil, audit.ErrTooFewVariants, "at least 2"},
		{"no variant", nil, nil, audit.ErrTooFewVariants, "at least 2"},
		{"negative count", map[string]int{"a": 10, "b": -1}, nil, audit.ErrNegativeCount, `"b"`},
		{"zero total", map[string]int{"a": 0, "b": 0}, nil, audit.ErrNoObservations, "no observations"},
		{"weights miss a variant", map[string]int{"a": 10, "b": 10, "c": 3}, map[string]float64{"a": 1, "b": 1}, audit.ErrMissingWeight, `"c" has no weight`},
		{"zero weight", map[string]int{"a": 10, "b": 10}, map[string]float64{"a": 1, "b": 0}, audit.ErrInvalidWeight, `"b"`},
		{"negative weight", map[string]int{"a": 10, "b": 10}, map[string]float64{"a": 1, "b": -2}, audit.ErrInvalidWeight, `"b"`},
		{"NaN weight", map[string]int{"a": 10, "b": 10}, map[string]float64{"a": math.NaN(), "b": 1}, audit.ErrInvalidWeight, `"a"`},
		{"infinite weight", map[string]int{"a": 10, "b": 10}, map[string]float64{"a": math.Inf(1), "b": 1}, audit.ErrInvalidWeight, `"a"`},
	}
	reasons := []error{audit.ErrTooFewVariants, audit.ErrNoObservations, audit.ErrNegativeCount, audit.ErrInvalidWeight, audit.ErrMissingWeight}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := audit.SampleRatio(c.observed, c.weights)
			require.Error(t, err)
			assert.ErrorIs(t, err, audit.ErrSampleRatio)
			assert.ErrorIs(t, err, c.reason)
			for _, other := range reasons {
				if other != c.reason {
					assert.NotErrorIs(t, err, other)
				}
			}
			assert.Contains(t, err.Error(), c.mention)
		})
	}
}
