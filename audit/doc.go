// Package audit shows what an exposure pipeline does, live: a debug page
// and its JSON report with, per experiment and variant, how many subjects
// were assigned and exposed, duplicates, drops, unassigned marks, failed
// requests, bots' marks, crossovers, the time from evaluation to render,
// and checks that flag an experiment whose counts cannot be trusted.
//
// An [Auditor] is an [exposure.Observer]: it keeps its accounts from the
// events the Tracker reports, and reads the Tracker's own counts
// ([exposure.Tracker.Stats]) and registered experiments when it makes a
// report, so the page cannot disagree with Stats. Wiring it is one option
// and one handler, the way net/http/pprof stands beside net/http:
//
//	aud, err := audit.NewAuditor()
//	tracker, err := exposure.NewTracker(exposure.WithObserver(aud), ...)
//	mux.Handle("/debug/exposures", aud.Handler(tracker)) // behind your own authentication
//
// The page loads nothing from elsewhere and refreshes itself; ?format=json
// answers the [Report]. Distinct, device and user ids, and the insert ids
// derived from them, are masked with a key the page never shows unless
// [WithShowIDs] allows them: a shared page or JSON report does not let its
// reader recover an id, even by testing guesses.
//
// Each experiment of a report carries its checks, each flagged in words on
// the page:
//
//   - the sample-ratio check ([SRMCheck]): the split of exposures against
//     [exposure.Experiment.Weights], or, for an experiment the registry
//     does not weigh (one a provider names, a holdout), the weights given
//     to [WithWeights]; with neither it assumes an equal split, and says
//     so. The live alarm is a sequential,
//     anytime-valid test whose state the Auditor keeps between reports, so
//     a page read every 5 seconds does not false-alarm; Pearson's
//     chi-square, [SampleRatio], is reported beside it and can be used on
//     its own, on counts from anywhere, for a one-off check at a sample
//     size set in advance. With it, the spread of exposure rates between
//     variants: a render site (or a beacon token) that favours a variant;
//   - the failure check ([FailureCheck]): failed requests per assignment,
//     compared between variants, for a variant that breaks the page;
//   - the crossover check ([CrossoverCheck]): exposures of subjects who had
//     seen another variant;
//   - bots: the marks of bots' and crawlers' requests, per variant, which
//     are not exposed.
//
// Package audit links html/template. An app that wants only the
// OpenTelemetry metrics uses package metrics, which does not.
package audit
