package mixpanel

import "time"

// SetClock replaces the sink's clock (used for the credential-log interval
// and Retry-After dates).
func SetClock(s *Sink, now func() time.Time) { s.now = now }

// AuthLogInterval is exported for tests.
const AuthLogInterval = authLogInterval
