package soak

import (
	"bytes"
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/exposurekit/exposure/redisdedupe"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// replyDropper is a TCP proxy to Redis that, once armed, drops the next
// reply Redis sends and closes that connection: Redis ran the commands,
// the client never hears it.
type replyDropper struct {
	l     net.Listener
	to    string
	armed atomic.Bool
	wg    sync.WaitGroup
}

func (p *replyDropper) serve() {
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.to)
		if err != nil {
			c.Close()
			continue
		}
		var dropNext atomic.Bool
		p.wg.Add(2)
		go func() {
			defer p.wg.Done()
			defer s.Close()
			buf := make([]byte, 64<<10)
			for {
				n, err := c.Read(buf)
				if n > 0 && bytes.Contains(bytes.ToLower(buf[:n]), []byte("\r\nset\r\n")) && p.armed.CompareAndSwap(true, false) {
					dropNext.Store(true)
				}
				if n > 0 {
					if _, werr := s.Write(buf[:n]); werr != nil {
						return
					}
				}
				if err != nil {
					return
				}
			}
		}()
		go func() {
			defer p.wg.Done()
			buf := make([]byte, 64<<10)
			for {
				n, err := s.Read(buf)
				if n > 0 && dropNext.Load() {
					println("dropped reply:", string(buf[:n]))
					c.Close()
					s.Close()
					return
				}
				if n > 0 {
					if _, werr := c.Write(buf[:n]); werr != nil {
						return
					}
				}
				if err != nil {
					c.Close()
					return
				}
			}
		}()
	}
}

// A claim whose reply is lost on a dropped connection is still ours.
// go-redis re-sends the pipeline (its MaxRetries, 3 by default, retries
// EOF) and the SET NX finds the key its own first send set: before every
// attempt read its keys back, the claim answered "not first" for a key
// nobody else ever claimed, and the exposure was lost (found by the soak).
func TestAClaimWhoseReplyWasLostIsOurs(t *testing.T) {
	rs := startRedis(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &replyDropper{l: l, to: rs.Addr()}
	go p.serve()
	defer func() { l.Close(); p.wg.Wait() }()

	rdb := redis.NewClient(&redis.Options{Addr: l.Addr().String(), ContextTimeoutEnabled: true})
	defer rdb.Close()
	d, err := redisdedupe.NewDeduper(rdb)
	require.NoError(t, err)
	first, _, _ := d.ClaimBatch(context.Background(), []string{"warm-up"}, variantsFor([]string{"warm-up"}), time.Hour) // connected
	require.Equal(t, []bool{true}, first)

	p.armed.Store(true)
	first, _, _ = d.ClaimBatch(context.Background(), []string{"k1", "k2"}, variantsFor([]string{"k1", "k2"}), time.Hour)
	t.Logf("stats %+v armed %v", d.Stats(), p.armed.Load())
	direct := redis.NewClient(&redis.Options{Addr: rs.Addr()})
	defer direct.Close()
	t.Log(direct.Keys(context.Background(), "*").Val())
	assert.Equal(t, []bool{true, true}, first, "two keys never claimed before: both are new")
}

// One instance, Redis down: the fallback grants three claims, the backfill
// keeps one (limit 1: the default is 10,000, reached in about a second of
// a busy outage). Redis back: Redis would grant the two claims whose
// backfill was dropped again, to the same instance that already sent them;
// the fallback, which granted them, now answers them as duplicates (they
// were exposed twice before; found by the soak).
func TestADroppedBackfillDoesNotExposeAgain(t *testing.T) {
	rs := startRedis(t)
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr(), ContextTimeoutEnabled: true, MaxRetries: -1})
	defer rdb.Close()
	d, err := redisdedupe.NewDeduper(rdb, redisdedupe.WithBackfillLimit(1), redisdedupe.WithCooldown(0))
	require.NoError(t, err)
	first, _, _ := d.ClaimBatch(context.Background(), []string{"warm-up"}, variantsFor([]string{"warm-up"}), time.Hour)
	require.Equal(t, []bool{true}, first)

	require.NoError(t, rs.Kill())
	keys := []string{"k1", "k2", "k3"}
	first, _, _ = d.ClaimBatch(context.Background(), keys, variantsFor(keys), time.Hour)
	require.Equal(t, []bool{true, true, true}, first, "the fallback grants them: exposures sent")
	require.NoError(t, rs.Start())

	first, _, _ = d.ClaimBatch(context.Background(), keys, variantsFor(keys), time.Hour)
	t.Logf("stats %+v", d.Stats())
	assert.Equal(t, []bool{false, false, false}, first, "this instance sent them already")
}

// variantsFor claims every key for one variant: these tests are about
// claims, not crossovers.
func variantsFor(keys []string) []string {
	v := make([]string, len(keys))
	for i := range v {
		v[i] = "v"
	}
	return v
}
