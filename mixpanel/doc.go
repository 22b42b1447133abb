// Package mixpanel sends exposures to Mixpanel's ingestion API as
// $experiment_started events, the event Mixpanel's Experiments report reads.
//
// Wire it into a Tracker as a sink:
//
//	sink, err := mixpanel.NewSink(os.Getenv("MIXPANEL_TOKEN"),
//		mixpanel.WithRegion(mixpanel.EU), // or US (default), IN; WithEndpoint overrides it
//	)
//	if err != nil {
//		return err // names the misconfigured option, never a secret
//	}
//	tracker, err := exposure.NewTracker(exposure.WithSink(sink), ...)
//	defer tracker.Close(ctx) // drains the queue, retrying until ctx ends
//
// Each exposure becomes one event:
//
//	{"event":"$experiment_started","properties":{
//	  "time":1732480000000,            // Exposure.Time in ms, fixed at commit
//	  "distinct_id":"user-42",
//	  "$insert_id":"9f86d081884c7d65", // Exposure.InsertID, fixed at commit
//	  "Experiment name":"Checkout Redesign",
//	  "Variant name":"treatment",
//	  "$device_id":"...", "$user_id":"...", // only when known
//	  "token":"<project token>",
//	  "mp_lib":"exposure-go", "$lib_version":"v1.2.3",
//	  ...WithProperties,
//	  ...Assignment.Properties}}       // the provider's, such as "$experiment_id"
//
// mp_lib and $lib_version are the properties Mixpanel's own SDKs use to
// name the library that sent an event. Strings are cut to 255 bytes on a
// UTF-8 boundary and an event carries fewer than 255 properties, as
// Mixpanel's limits require.
//
// Strings are sent as valid UTF-8: each byte that is not UTF-8 becomes
// U+FFFD, which is 3 bytes. A string value (an id, a name, a property's
// value) is measured after that replacement, as Mixpanel reads it, so
// 100 invalid bytes are 300 and are cut to 255 (85 replacement
// characters), never sent over the limit. A property name is not
// repaired: a provider's property whose name is not valid UTF-8 is left
// out (below), and [WithProperties] refuses one.
//
// The event properties a provider attached to the assignment
// (exposure.Assignment.Properties, such as Mixpanel's own
// "$experiment_id") come after the library's, in name order. The
// library's always win: a provider property named like one of them is
// not sent, and the provider's are the ones left out when an event would
// reach 255 properties, as are those named "", over 255 bytes or by
// bytes that are not UTF-8, and those whose value JSON cannot carry;
// [Sink.PropertiesDropped] counts them, and the first time is logged.
// Each related assignment of an evaluation (a holdout, say) is an
// exposure of its own, so an event of its own, with its own properties.
//
// By default the sink posts gzip-compressed JSON arrays to
// /import?strict=1, authenticated with the project token as the basic-auth
// user, or with a service account ([WithServiceAccount]). [WithTrack]
// posts to /track instead.
//
// # Retries
//
// One Send is one delivery attempt; the Tracker's delivery queues, batches
// and retries. Send splits a batch into requests of at most 2000 events and
// 2 MiB of uncompressed JSON, halves a request Mixpanel answers with 413,
// reports the events a 400 refused one by one (never retried), marks 429,
// 5xx, timeouts and connection errors retryable with exposure.Retryable
// (honouring Retry-After) and treats 401 and 403 as configuration errors,
// logged at most once a minute. Retries resend identical events (same
// time, same $insert_id), which Mixpanel deduplicates.
//
// The sink has no retry schedule of its own: it is set where every sink's
// is, with exposure.WithBackoff and exposure.WithMaxRetryAge given to
// exposure.WithSink. The pipeline's default, backoff from 2 s doubling to
// 60 s with jitter for at most an hour, is the schedule Mixpanel
// recommends for its ingestion API, so most apps need not set one:
//
//	exposure.WithSink(sink) // 2s..60s, for 1h
//	exposure.WithSink(sink, exposure.WithBackoff(5*time.Second, 5*time.Minute),
//		exposure.WithMaxRetryAge(6*time.Hour))
//
// # Secrets in errors and logs
//
// Errors, the Tracker's SinkStats.LastError (shown on the audit page) and
// log lines carry text from the network: Mixpanel's error message, the
// field and message of a refused event. A proxy or Mixpanel may echo the
// credentials back in it, so the sink removes the project token, the
// service account's user and secret and the basic-auth header value (as
// they are, URL-escaped and JSON-escaped) before it keeps at most 200
// bytes of such text. Configuration errors never contain a secret.
//
// Package mixpaneltest is a fake of the ingestion API for tests.
package mixpanel
