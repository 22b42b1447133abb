// Package soak holds the soak test of the whole exposure pipeline under
// faults, and nothing else: it has no API.
//
// TestSoak runs real components end to end: OpenFeature's SDK with its
// in-memory provider (two experiment flags), the Tracker's middleware over
// real HTTP with many concurrent clients, redisdedupe on a redis-server the
// test starts itself, the Mixpanel sink into the mixpaneltest fake, and a
// second, slow sink. Meanwhile 30% of Mixpanel's requests fail (429 with
// and without Retry-After, 5xx, connections dropped before and after the
// events are stored), Redis is frozen (SIGSTOP) and later killed and
// restarted, and Flush is called with short deadlines. It then checks that
// every page was answered below 500, that every (user, experiment,
// variant) a page showed is stored exactly once or reported undelivered by
// Close, that Close returns by its deadline, and that no goroutine is left.
//
// It takes a few minutes; tune it with environment variables:
//
//	EXPOSURE_SOAK_USERS=1000000   users per round (default 100,000; 50,000 under -race)
//	EXPOSURE_SOAK_DURATION=30m    repeat rounds of new users until this much time has passed
//	EXPOSURE_SOAK_CLIENTS=64      concurrent HTTP clients (default 64)
//
// Run it with go test -race -count=1 -v ./internal/soak/ and quote the
// figures it logs. It skips when redis-server is not installed.
package soak
