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
// [AttrExperiment], [AttrVariant], [AttrSink], [AttrFlag], [AttrReason] and
// [AttrStage]):
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
//	exposure.discarded             counter  marked assignments of failed requests or discarded    experiment, variant
//	                                        scopes
//	exposure.requests.failed       counter  assignments in failed requests (status >= 500, panic) experiment, variant, stage
//	exposure.bots                  counter  marks of bots' and crawlers' requests (not exposed)   experiment, variant
//	exposure.committed             counter  new exposures handed to the sinks' queues             experiment, variant
//	exposure.duplicates            counter  exposures suppressed by the deduper                   experiment, variant
//	exposure.crossovers            counter  exposures of subjects who had seen another variant    experiment, variant
//	exposure.crossover.share       gauge    crossovers / committed exposures (a float, unit 1)    experiment
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
// The stage of exposure.requests.failed is "failed_render" for an
// assignment marked before its request failed (still exposed by default:
// intent to treat) and "failed_request" for one that was not. Its sum by
// variant over exposure.assignments is the variant's failure rate: a
// variant whose rate stands out breaks the page. Alert on it with a test
// that needs a minimum count, as package audit does (a chi-square test
// across variants at p < 0.001, from 100 assignments per variant and 10
// failures).
//
// exposure.crossovers counts, by the variant crossed into, the exposures
// of subjects who had been exposed to another variant of the experiment
// within the dedupe window; they are sent, and counted as committed too.
// exposure.crossover.share divides them by the experiment's committed
// exposures, which count each subject once per variant within the window
// (a crossed subject twice); it is reported from the first exposure. Above
// 1%, with 10 crossovers or more, the experiment's arms are mixed enough
// to look into (package audit flags it). exposure.bots counts the marks
// the bot filter kept from being exposed: its share of exposure.marks
// should be the same in every variant.
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
