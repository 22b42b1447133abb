// Package exposure counts a user in an experiment only when the variant is
// on their screen.
//
// Feature-flag SDKs assign a user to a variant when a flag is evaluated, but
// the user is only exposed when the variant is drawn. This package is the
// pipeline that turns one into the other:
//
//   - [Tracker.Hook], an OpenFeature hook, records each experiment evaluation
//     as a pending [Assignment] in the request's [Scope]. It sends nothing.
//   - [MarkRendered] (or the "exposed" template function of [TemplateFuncs])
//     marks the variant as drawn.
//   - When the Scope is committed ([Tracker.Middleware] does it when the
//     handler returns), each marked assignment is claimed in a [Deduper]:
//     the first of a (subject, experiment, variant) within the dedupe window
//     becomes an [Exposure], queued to every [Sink]; a subject seen on
//     another variant of the experiment within the window is a crossover,
//     sent and counted.
//   - Each sink's queue delivers asynchronously, in batches, with retries.
//     The request path never waits for a sink and never fails because of
//     this package.
//
// A typical web app wires it like this:
//
//	tracker, err := exposure.NewTracker(
//		exposure.WithExperiments(exposure.Experiment{FlagKey: "checkout-redesign", Name: "Checkout Redesign"}),
//		exposure.WithSink(sink),
//	)
//	openfeature.AddHooks(tracker.Hook())
//	http.ListenAndServe(addr, tracker.Middleware(mux))
//	// in a handler: client.StringValue(r.Context(), "checkout-redesign", "control", evalCtx)
//	// in the template: {{ exposed .Ctx "checkout-redesign" }}
//	defer tracker.Close(ctx)
//
// Everything the pipeline does is counted once, by stage, in [Tracker.Stats],
// and reported to the [Observer]s given to [WithObserver]. The packages
// beside this one build on those two doors only: audit (the debug page,
// per-variant accounting and the sample-ratio check), metrics
// (OpenTelemetry) and beacon (exposure confirmed by the browser, through
// [Scope.HandOff] and [Tracker.Confirm]). ARCHITECTURE.md in the repository
// shows the whole design.
package exposure
