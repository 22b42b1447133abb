// Package bench compares exposure's delivery pipeline with the event
// pipelines of the vendors' own Go SDKs (PostHog, Segment, LaunchDarkly),
// side by side in one run. It is a module of its own so that the peers'
// dependencies never enter the library's go.mod.
//
// Everything lives in the package's tests: `go test` runs quick correctness
// checks (every pipeline delivers every event to a loopback server);
// `go test -run '^$' -bench .` runs the measurements, with 1,000,000 events
// per pipeline unless EXPOSURE_BENCH_N (or -args -n) says otherwise.
// scripts/bench at the repository root runs them and rewrites the tables in
// BENCHMARKS.md with cmd/benchmd.
package bench
