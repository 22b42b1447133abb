package exposure

import "fmt"

// checkBounds refuses an assignment with a field over maxNameBytes,
// Mixpanel's limit on a property value and on distinct_id. An id of any
// length would otherwise be copied into the queues, the dedupe keys and the
// browser's tokens: a cookie of a megabyte, queued while a sink is slow,
// costs a megabyte per exposure. Such
// an id or name is malformed for Mixpanel anyway; refusing it (rather than
// shortening it) keeps two long ids that share a prefix from becoming one
// subject.
func (a *Assignment) checkBounds() error {
	for _, f := range [...]struct{ name, v string }{
		{"flag key", a.FlagKey}, {"experiment", a.Experiment}, {"variant", a.Variant},
		{"provider variant", a.ProviderVariant}, {"distinct id", a.Identity.DistinctID},
		{"user id", a.Identity.UserID}, {"device id", a.Identity.DeviceID},
		{"targeting key", a.Context.TargetingKey()}, {"reason", a.Reason},
	} {
		if len(f.v) > maxNameBytes {
			return fmt.Errorf("exposure: the %s is %d bytes, over %d", f.name, len(f.v), maxNameBytes)
		}
	}
	return nil
}

// truncate shortens s for a log line.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
