// Package tally keeps the accounts that the observers beside the pipeline
// (package audit and package metrics) build from [exposure.Event]s: counts
// by [exposure.Stage] per experiment and variant, distinct subjects, and
// counts by flag key. It is the one copy of that bookkeeping, so the debug
// page and the OpenTelemetry metrics cannot count differently.
//
// Everything here sits on the request path: once an experiment's variant
// has been seen, recording an event costs a few atomic operations and no
// allocation and takes no lock. The index of experiments and variants is
// copied on write ([Index]): readers load it with one atomic load, and the
// rare writer (the first event of a new experiment or variant) copies it
// under a mutex.
//
// A provider that invents experiment or variant names must not grow memory
// without limit, so every index is bounded; events past the bounds are
// counted as untracked instead.
package tally
