// Package metrics reports an exposure pipeline as OpenTelemetry metrics.
//
// A [Recorder] is an [exposure.Observer]: it counts the events the Tracker
// reports, by stage, per experiment and variant, per sink and per flag,
// and a callback reads those counts when the MeterProvider collects. The
// request path pays an atomic add per event and never allocates once an
// experiment's variant has been seen. Wiring it is one option:
//
//	rec, err := metrics.NewRecorder(otel.GetMeterProvider())
//	tracker, err := exposure.NewTracker(exposure.WithObserver(rec), ...)
//
// The instruments, all observable, of the instrumentation scope
// [MeterName] (counters are monotonic sums; the attributes are
// [AttrExperiment], [AttrVariant], [AttrSink], [AttrFlag] and [AttrReason]):
//
//	name                           kind     what                                                  attributes
//	exposure.evaluations           counter  flag evaluations seen by the hook
//	exposure.skipped               counter  experiment evaluations that were not assignments      reason
//	exposure.assignments           counter  assignments recorded in a scope                       experiment, variant
//	exposure.assignments.reverted  counter  assignments undone because a later hook failed        experiment, variant
//	exposure.subjects.assigned     gauge    distinct subjects assigned (estimated past 384)       experiment, variant
//	exposure.subjects.exposed      gauge    distinct subjects exposed (estimated past 384)        experiment, variant
//	exposure.marks                 counter  marks (MarkRendered) that found their assignment      experiment, variant
//	exposure.marks.unassigned      counter  marks and handoffs of a flag not assigned: bugs       flag
//	exposure.handoffs              counter  assignments handed off for another party to confirm  experiment, variant
//	exposure.discarded             counter  marked assignments of failed requests                 experiment, variant
//	exposure.committed             counter  new exposures handed to the sinks' queues             experiment, variant
//	exposure.duplicates            counter  exposures suppressed by the deduper                   experiment, variant
//	exposure.dedupe.errors         counter  claims the deduper failed (the exposure was sent)     experiment, variant
//	exposure.queued                counter  exposures accepted into the sink's queue              sink
//	exposure.dropped               counter  exposures a full or closed queue refused              sink
//	exposure.delivered             counter  exposures the sink accepted                           sink
//	exposure.retried               counter  exposures sent again after a retryable failure        sink
//	exposure.failed                counter  exposures that failed for good                        sink
//	exposure.undelivered           counter  exposures still pending when Close gave up            sink
//	exposure.pending               gauge    exposures queued and not yet settled                  sink
//	exposure.untracked             counter  events of experiments or variants past the bounds
//
// exposure.pending is queued minus delivered, failed and undelivered: what
// a sink holds, waiting in its queue or being sent. A value that only
// grows is a sink that cannot keep up.
//
// The reason of exposure.skipped is "unscoped" (an evaluation outside any
// Scope: the request's context was not passed, a wiring bug), "no_subject"
// or "other" (errors, disabled flags, subjects outside the sample).
//
// At most 128 experiments of 16 variants each and 256 flags are reported,
// so that a provider inventing names cannot explode the cardinality; the
// events past them are counted by exposure.untracked.
//
// The Recorder unregisters its callback when the Tracker closes (on
// StageClosed): give each Tracker its own Recorder, and distinguish two
// Trackers of one process with [WithAttributes].
//
// Package metrics does not link html/template; the debug page is package
// audit.
package metrics
