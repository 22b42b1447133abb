package gamma

import (
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// P(X >= x) against textbook critical values and mpmath at 50 digits. The
// critical values are the quantiles rounded to float64, so the survival
// there is the round p-value to about 1e-16.
func TestChiSquareSurvivalReferenceValues(t *testing.T) {
	cases := []struct {
		x    float64
		df   int
		want float64
	}{
		{3.841458820694124, 1, 0.05},
		{6.6348966010212145, 1, 0.01},
		{13.815510557964274, 2, 0.001},
		{7.814727903251178, 3, 0.05},
		{11.070497693516351, 5, 0.05},
		{18.307038053275146, 10, 0.05},
		{31.410432844230918, 20, 0.05},
		{0.5, 1, 0.47950012218695346232},
		{1, 2, 0.6065306597126334236},
		{20, 30, 0.91654152706533717509},
		{100, 100, 0.48119168452795671811},
		{100, 1, 1.5239706048321052132e-23},
		{200, 4, 3.7572767357810443226e-42},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("x=%v df=%d", tc.x, tc.df), func(t *testing.T) {
			got, err := ChiSquareSurvival(tc.x, tc.df)
			require.NoError(t, err)
			assert.InEpsilon(t, tc.want, got, tolerance)
		})
	}
}

// The closed forms for small df: df=1 erfc(sqrt(x/2)); df=2 e^(-x/2);
// df=3 erfc(sqrt(x/2)) + sqrt(2x/pi) e^(-x/2); df=4 e^(-x/2) (1 + x/2).
func TestChiSquareSurvivalMatchesClosedForms(t *testing.T) {
	closed := map[int]func(x float64) float64{
		1: func(x float64) float64 { return math.Erfc(math.Sqrt(x / 2)) },
		2: func(x float64) float64 { return math.Exp(-x / 2) },
		3: func(x float64) float64 {
			return math.Erfc(math.Sqrt(x/2)) + math.Sqrt(2*x/math.Pi)*math.Exp(-x/2)
		},
		4: func(x float64) float64 { return math.Exp(-x/2) * (1 + x/2) },
	}
	for df, want := range closed {
		for _, x := range []float64{1e-6, 0.1, 1, 2, 3, 4, 5, 8, 20, 60, 200, 1000} {
			got, err := ChiSquareSurvival(x, df)
			require.NoError(t, err)
			assert.InEpsilon(t, want(x), got, tolerance, "df=%d x=%v", df, x)
		}
	}
}

func TestChiSquareSurvivalAtTheEnds(t *testing.T) {
	for _, df := range []int{1, 2, 7, 1000} {
		p, err := ChiSquareSurvival(0, df)
		require.NoError(t, err)
		assert.Equal(t, 1.0, p, "a statistic of 0 is as even as a split gets")

		p, err = ChiSquareSurvival(math.Inf(1), df)
		require.NoError(t, err)
		assert.Zero(t, p)
	}
}

func TestChiSquareSurvivalRejectsArgumentsOutsideItsDomain(t *testing.T) {
	cases := []struct {
		name string
		x    float64
		df   int
	}{
		{"no degrees of freedom", 1, 0},
		{"negative degrees of freedom", 1, -3},
		{"negative statistic", -0.5, 1},
		{"statistic -Inf", math.Inf(-1), 1},
		{"statistic NaN", math.NaN(), 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ChiSquareSurvival(tc.x, tc.df)
			require.ErrorIs(t, err, ErrDomain)
			assert.Zero(t, got)
		})
	}
}

func ExampleChiSquareSurvival() {
	// 1000 subjects in one variant and 1100 in the other, of a 50/50
	// split: chi-square = 2 * 50^2 / 1050 with 1 degree of freedom.
	p, err := ChiSquareSurvival(2*50*50/1050.0, 1)
	if err != nil {
		panic(err)
	}
	fmt.Printf("p = %.4f\n", p)
	// Output: p = 0.0291
}

func TestChiSquareSurvivalDoesNotAllocate(t *testing.T) {
	allocs := testing.AllocsPerRun(100, func() {
		_, _ = ChiSquareSurvival(4.76, 1)
		_, _ = ChiSquareSurvival(30, 3)
	})
	assert.Zero(t, allocs)
}

func BenchmarkChiSquareSurvival(b *testing.B) {
	for _, tc := range []struct {
		name string
		x    float64
		df   int
	}{
		{"series", 1.5, 3},
		{"fraction", 29.4, 1},
		{"df=100", 100, 100},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, _ = ChiSquareSurvival(tc.x, tc.df)
			}
		})
	}
}
