package beacon

// Tests of the endpoint's defences that need the package's insides: a
// short body deadline, so that slow clients are tested in a second, and
// the rate limiter's clock and memory.

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/exposurekit/exposure"
	"github.com/exposurekit/exposure/internal/lockedbuf"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// slowClients is how many connections trickle their bodies at once.
const slowClients = 8

// Connections that send a body one byte at a time are answered 408 and
// closed once the body deadline passes, all of them, and counted; a
// connection that sent its body in time stays usable for the next request.
func TestSlowBodiesAreCutOff(t *testing.T) {
	var logs lockedbuf.Buffer
	c, _, _ := newIssuer(t, &logs)
	const deadline = 300 * time.Millisecond
	c.bodyTimeout = deadline
	srv := httptest.NewServer(c)
	t.Cleanup(srv.Close)

	start := time.Now()
	var wg sync.WaitGroup
	for i := range slowClients {
		wg.Go(func() {
			status, closed := trickle(t, srv.Listener.Addr().String(), 100*time.Millisecond)
			assert.Equal(t, "HTTP/1.1 408 Request Timeout", status, "client %d", i)
			assert.True(t, closed, "client %d: the server closed the connection", i)
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	assert.Less(t, elapsed, deadline+2*time.Second, "every slow client was cut off near the deadline")
	st := c.Stats()
	assert.Equal(t, uint64(slowClients), st.TimedOut)
	assert.Equal(t, uint64(slowClients), st.Rejected)

	// A client that sends its body at once, waits longer than the deadline
	// and sends another, on the same connection, is served both times.
	a := exposure.Assignment{FlagKey: "f", Experiment: "e", Variant: "v", Identity: exposure.Identity{DistinctID: "u"}}
	tok := attrToken.FindStringSubmatch(string(c.issue(&a)))[1]
	client := srv.Client()
	var reused []bool
	for range 2 {
		trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) { reused = append(reused, info.Reused) }}
		req, err := http.NewRequestWithContext(httptrace.WithClientTrace(t.Context(), trace), http.MethodPost, srv.URL, strings.NewReader(tok))
		require.NoError(t, err)
		resp, err := client.Do(req)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		assert.Equal(t, http.StatusNoContent, resp.StatusCode)
		time.Sleep(deadline + 100*time.Millisecond)
	}
	assert.Equal(t, []bool{false, true}, reused, "the keep-alive connection survived the body deadline")
	assert.Equal(t, uint64(2), c.Stats().Accepted)
}

// trickle opens a connection to addr, announces a 100-byte body and sends
// it a byte every interval. It returns the status line the server answers
// and whether the server then closed the connection; it gives up after
// 3 seconds.
func trickle(t *testing.T, addr string, interval time.Duration) (status string, closed bool) {
	conn, err := net.Dial("tcp", addr)
	if !assert.NoError(t, err) {
		return "", false
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(3 * time.Second))
	_, err = fmt.Fprintf(conn, "POST /exposure/beacon HTTP/1.1\r\nHost: %s\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\n", addr)
	if !assert.NoError(t, err) {
		return "", false
	}
	ctx, stop := context.WithCancel(t.Context())
	defer stop()
	go func() {
		for {
			if _, err := conn.Write([]byte("A")); err != nil {
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(interval):
			}
		}
	}()
	r := bufio.NewReader(conn)
	line, err := r.ReadString('\n')
	if err != nil {
		return "", false
	}
	_, err = io.Copy(io.Discard, r) // the rest of the answer, then EOF
	// A reset is a close too: the server closed with the trickle unread.
	return strings.TrimSpace(line), !isTimeout(err)
}

// The limiter refills at its rate, up to its burst, and announces the wait
// for the next token.
func TestLimiterRefills(t *testing.T) {
	l := newLimiter(&rateLimit{perSecond: 2, burst: 3, key: RemoteIP})
	r := httptest.NewRequest(http.MethodPost, "/", nil)
	t0 := time.Unix(1_000_000, 0)
	for i := range 3 {
		ok, _ := l.allow(r, t0)
		require.True(t, ok, "burst token %d", i)
	}
	ok, wait := l.allow(r, t0)
	assert.False(t, ok)
	assert.Equal(t, 500*time.Millisecond, wait)
	ok, _ = l.allow(r, t0.Add(499*time.Millisecond))
	assert.False(t, ok, "not yet a whole token")
	ok, _ = l.allow(r, t0.Add(time.Second))
	assert.True(t, ok, "refilled")
	// Idle for an hour: a full burst, no more.
	later := t0.Add(time.Hour)
	for range 3 {
		ok, _ = l.allow(r, later)
		assert.True(t, ok)
	}
	ok, _ = l.allow(r, later)
	assert.False(t, ok)
	// A clock that steps back adds no tokens.
	ok, _ = l.allow(r, t0)
	assert.False(t, ok)
}

// However many clients arrive, the limiter remembers at most
// limiterShards*limiterShardCap, and a client that keeps being limited is
// not forgotten while clients seen once pass by.
func TestLimiterMemoryIsBounded(t *testing.T) {
	l := newLimiter(&rateLimit{perSecond: 1, burst: 1, key: func(r *http.Request) string { return r.Header.Get("X-Client") }})
	minted := httptest.NewRequest(http.MethodPost, "/", nil)
	req := func(client string) *http.Request {
		minted.Header.Set("X-Client", client)
		return minted
	}
	victim := httptest.NewRequest(http.MethodPost, "/", nil)
	victim.Header.Set("X-Client", "persistent")
	t0 := time.Unix(1_000_000, 0)
	ok, _ := l.allow(victim, t0)
	require.True(t, ok)
	const total = limiterShards * limiterShardCap * 3 / 2
	for i := range total {
		now := t0.Add(time.Duration(i) * time.Microsecond) // all within the refill time of a second
		ok, _ := l.allow(req(strconv.Itoa(i)), now)
		require.True(t, ok, "a new client has its burst")
		if i%1000 == 0 {
			ok, _ = l.allow(victim, now)
			require.False(t, ok, "the persistent client is still limited after %d others", i)
		}
	}
	assert.LessOrEqual(t, l.clients(), limiterShards*limiterShardCap)
	assert.Greater(t, l.clients(), limiterShards*limiterShardCap/2, "the limiter still remembers recent clients")
}

// A Tracker that registers no experiment relies on the provider's
// metadata: the Confirmer accepts every flag.
func TestWithoutRegistryEveryFlagIsConfirmed(t *testing.T) {
	var logs lockedbuf.Buffer
	c, tr, rec := newIssuer(t, &logs)
	require.Empty(t, tr.Experiments())
	a := exposure.Assignment{FlagKey: "metadata-named", Experiment: "From Metadata", Variant: "v",
		Identity: exposure.Identity{DistinctID: "u"}}
	tok := attrToken.FindStringSubmatch(string(c.issue(&a)))[1]
	w := httptest.NewRecorder()
	c.ServeHTTP(w, httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/", strings.NewReader(tok)))
	assert.Equal(t, http.StatusNoContent, w.Code)
	require.NoError(t, tr.Flush(t.Context()))
	assert.Equal(t, 1, rec.Len())
}
