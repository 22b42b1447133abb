package exposure

import (
	"sync/atomic"
	"time"
)

// rateLimitedLog lets one message through per interval, so that a bug hit
// by every request logs once a minute, not once a request.
type rateLimitedLog struct{ last atomic.Int64 }

func (r *rateLimitedLog) allow(every time.Duration) bool {
	now := time.Now().UnixNano()
	last := r.last.Load()
	return now-last >= int64(every) && r.last.CompareAndSwap(last, now)
}
