package exposure

import (
	"sync"
	"sync/atomic"
	"time"
)

// clockResolution is how stale a coarse reading may be, about.
const clockResolution = time.Millisecond

// coarseClock tells the time to within about a millisecond for the cost
// of an atomic load. On virtual machines a time.Now can cost 150 ns, as much
// as the rest of a deduplicated mark; exposure times are kept in
// milliseconds and dedupe windows last days, so a reading refreshed every
// millisecond is exact enough.
//
// It ticks only while it is read: a tick that finds no reading since the
// last one stops the ticking, and the next reading starts it again. An idle
// process has no timer running.
type coarseClock struct {
	nanos atomic.Int64 // latest reading, unix nanoseconds; 0 when stopped
	used  atomic.Bool  // read since the last tick
	mu    sync.Mutex   // serializes starting
}

var clock coarseClock

// Now returns the current time, at most about clockResolution old.
func (c *coarseClock) Now() time.Time {
	if n := c.nanos.Load(); n != 0 {
		if !c.used.Load() {
			c.used.Store(true)
		}
		return time.Unix(0, n)
	}
	return c.start()
}

func (c *coarseClock) start() time.Time {
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.nanos.Load() == 0 {
		c.nanos.Store(now.UnixNano())
		c.used.Store(true)
		time.AfterFunc(clockResolution, c.tick)
	}
	return now
}

func (c *coarseClock) tick() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.used.Swap(false) {
		c.nanos.Store(0) // nobody read the clock: stop until the next reading
		return
	}
	c.nanos.Store(time.Now().UnixNano())
	time.AfterFunc(clockResolution, c.tick)
}
