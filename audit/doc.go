// Package audit shows what an exposure pipeline does, live: a debug page
// and its JSON report with, per experiment and variant, how many subjects
// were assigned and exposed, duplicates, drops, unassigned marks, the time
// from evaluation to render, and a sample-ratio check that flags a split
// that cannot be trusted.
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
// The sample-ratio check is [SampleRatio], Pearson's chi-square test of
// the exposed subjects of each variant against [exposure.Experiment.Weights].
// It can be used on its own, on counts from anywhere.
//
// Package audit links html/template. An app that wants only the
// OpenTelemetry metrics uses package metrics, which does not.
package audit
