// Package srm tests a running experiment for a sample-ratio mismatch
// while its counts grow, without raising more false alarms the more often
// it is read.
//
// # Why a sequential test
//
// A sample-ratio mismatch (SRM) is a split of exposed subjects unlike the
// planned one: something between assignment and logging favours a variant,
// and the experiment's results cannot be trusted. The classic check is
// Pearson's chi-square test at p < 0.001 (audit.SampleRatio). Its 0.001 is
// a promise about one look at a sample size fixed in advance. A live page
// that recomputes it every few seconds as exposures arrive looks hundreds of
// times, and each look is another chance for chance to cross the line: in
// this package's tests, a true 50/50 split read after every 100 exposures
// up to 20,000 is flagged in 2.35% of experiments (47 of 2,000), not 0.1%.
//
// A [Sequential] test gives a p-value that is valid at every look at once
// (anytime-valid): for a split that truly is the planned one, the
// probability that its p-value ever drops below α, however often and
// however long it is read, is at most α (3 of the same 2,000 experiments,
// 0.15%, within sampling error of 0.1%). The price is some power: read
// every 100 exposures, it flags a true 52/48 split after a median of
// 10,450 exposures and a 55/45 one after 1,700, where the repeatedly read
// chi-square, invalid as it is, fires after 5,600 and 1,000.
//
// The guarantee is about counts of independent assignments. Counts that
// are themselves estimates (a HyperLogLog of distinct subjects, 1.6%
// standard error) carry an error that does not shrink with the sample, and
// any SRM test fed them flags a sound split sooner or later: feed exact
// counts.
//
// # Which test when
//
// Use [Sequential] for a live alarm that is read again and again as data
// arrives (the audit page's flag, a monitor, an automatic stop). Use the
// fixed-sample chi-square for a one-off check at a sample size chosen
// before looking, such as the final analysis of a finished experiment:
// there it is the more powerful of the two and its p-value is exact.
//
// # The construction
//
// The test is Lindon and Malek's, "Anytime-Valid Inference for Multinomial
// Count Data" (NeurIPS 2022), the one behind Optimizely's SRM check. Under
// the null hypothesis each exposure lands in variant i with the planned
// probability θ0_i. The alternative is a Dirichlet(α) mixture over all
// splits, and the Bayes factor of the counts x (n = Σ x_i) is the ratio of
// their Dirichlet-multinomial and multinomial probabilities, in closed form:
//
//	BF_n = Γ(Σα) / Γ(Σα + n) · Π_i Γ(α_i + x_i) / Γ(α_i) / Π_i θ0_i^x_i
//
// (the multinomial coefficient cancels). Under the null, BF_n is a
// nonnegative martingale of mean 1, so by Ville's inequality the chance
// that it ever reaches 1/α is at most α, and
//
//	p_n = min(1, 1 / max_{t ≤ n} BF_t)
//
// is an anytime-valid p-value, non-increasing by construction. Since BF
// depends only on the cumulative counts, the guarantee holds whichever
// moments the counts are read at: skipping updates only skips looks.
package srm
