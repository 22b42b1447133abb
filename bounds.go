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
	if len(a.Properties) > maxProperties {
		return fmt.Errorf("exposure: %d properties, over Mixpanel's %d", len(a.Properties), maxProperties)
	}
	for k, v := range a.Properties {
		if len(k) > maxNameBytes {
			return fmt.Errorf("exposure: a property name is %d bytes, over %d", len(k), maxNameBytes)
		}
		if s, ok := v.(string); ok && len(s) > maxNameBytes {
			return fmt.Errorf("exposure: property %q is %d bytes, over %d", truncate(k, 64), len(s), maxNameBytes)
		}
	}
	if len(a.Related) > maxRelated {
		return fmt.Errorf("exposure: %d related assignments, over %d", len(a.Related), maxRelated)
	}
	for i := range a.Related {
		if len(a.Related[i].Related) > 0 {
			return fmt.Errorf("exposure: related assignment %d has related assignments of its own", i)
		}
		if err := a.Related[i].checkBounds(); err != nil {
			return fmt.Errorf("related assignment %d: %w", i, err)
		}
	}
	return nil
}

// maxProperties is Mixpanel's limit on an event's properties; an
// assignment with more cannot be sent whole. maxRelated bounds the
// experiments one evaluation assigns: a holdout and its experiment are
// two; a provider naming hundreds is broken.
const (
	maxProperties = 255
	maxRelated    = 16
)

// truncate shortens s for a log line.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
