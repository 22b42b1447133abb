package beacon

import (
	"hash/maphash"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"sync"
	"time"
)

// RemoteIP is the client key [WithRateLimit] uses by default: the address
// the request came from (Request.RemoteAddr without its port), and for an
// IPv6 address its /64 network, since one subscriber usually holds a whole
// /64. Behind a reverse proxy it is the proxy's address.
func RemoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	addr = addr.Unmap().WithZone("")
	if addr.Is6() {
		return netip.PrefixFrom(addr, 64).Masked().String()
	}
	return addr.String()
}

// rateLimit is the setting of [WithRateLimit].
type rateLimit struct {
	perSecond float64
	burst     int
	key       func(*http.Request) string
}

const (
	// limiterShards spread the clients over locks.
	limiterShards = 64
	// limiterShardCap bounds the clients a shard remembers: 65,536 in all,
	// about 40 bytes each.
	limiterShardCap = 1024
	// limiterEvict is the share of a full shard forgotten at once when none
	// of its clients is idle enough to be forgotten for free.
	limiterEvict = limiterShardCap / 8
	// maxRetryAfter bounds the wait a refusal announces.
	maxRetryAfter = 24 * time.Hour
)

// A limiter is a token bucket per client, with bounded memory: each client
// key is hashed (so a long key costs nothing), and the buckets live in
// shards of at most limiterShardCap entries. A bucket that has refilled
// is the same as no bucket, so a full shard first forgets those; if that
// frees too little, it forgets the buckets used longest ago.
type limiter struct {
	perSecond float64
	burst     float64
	key       func(*http.Request) string
	seed      maphash.Seed
	shards    [limiterShards]limiterShard
}

type limiterShard struct {
	mu      sync.Mutex
	buckets map[uint64]bucket
}

// A bucket holds the tokens a client had at last (Unix nanoseconds).
type bucket struct {
	tokens float64
	last   int64
}

func newLimiter(rl *rateLimit) *limiter {
	l := &limiter{perSecond: rl.perSecond, burst: float64(rl.burst), key: rl.key, seed: maphash.MakeSeed()}
	for i := range l.shards {
		l.shards[i].buckets = make(map[uint64]bucket)
	}
	return l
}

// allow takes a token from the bucket of r's client at now. When the
// bucket is empty it reports false and how long until it holds a token.
func (l *limiter) allow(r *http.Request, now time.Time) (bool, time.Duration) {
	h := maphash.String(l.seed, l.key(r))
	s := &l.shards[h%limiterShards]
	t := now.UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.buckets[h]
	if ok {
		elapsed := float64(max(t-b.last, 0)) / 1e9 // a clock stepping back adds nothing
		b.tokens = min(l.burst, b.tokens+l.perSecond*elapsed)
	} else {
		if len(s.buckets) >= limiterShardCap {
			l.forget(s, t)
		}
		b.tokens = l.burst
	}
	b.last = t
	if b.tokens < 1 {
		s.buckets[h] = b
		wait := (1 - b.tokens) / l.perSecond * float64(time.Second)
		return false, time.Duration(min(wait, float64(maxRetryAfter)))
	}
	b.tokens--
	s.buckets[h] = b
	return true, 0
}

// forget makes room in a full shard s at t (Unix nanoseconds).
func (l *limiter) forget(s *limiterShard, t int64) {
	refill := l.burst / l.perSecond * 1e9 // nanoseconds for an empty bucket to fill
	for h, b := range s.buckets {
		if float64(t-b.last) >= refill {
			delete(s.buckets, h)
		}
	}
	if len(s.buckets) < limiterShardCap-limiterEvict {
		return
	}
	lasts := make([]int64, 0, len(s.buckets))
	for _, b := range s.buckets {
		lasts = append(lasts, b.last)
	}
	slices.Sort(lasts)
	cutoff := lasts[limiterEvict-1]
	for h, b := range s.buckets {
		if b.last <= cutoff {
			delete(s.buckets, h)
		}
	}
}

// clients returns how many clients the limiter remembers.
func (l *limiter) clients() int {
	n := 0
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		n += len(s.buckets)
		s.mu.Unlock()
	}
	return n
}
