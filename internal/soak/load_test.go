package soak

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// planVisits returns the page views of n new users named prefix-0 ...
// prefix-(n-1) in random order: every user visits once, and about one in
// three comes back one to three more times (a refresh), at a random later
// or earlier point of the run, possibly at the same moment as its other
// visit on another client.
func planVisits(rng *rand.Rand, prefix string, n int) []string {
	visits := make([]string, 0, n+n/2)
	for i := range n {
		u := fmt.Sprintf("%s-%d", prefix, i)
		visits = append(visits, u)
		if rng.IntN(3) == 0 {
			for range 1 + rng.IntN(3) {
				visits = append(visits, u)
			}
		}
	}
	rng.Shuffle(len(visits), func(i, j int) { visits[i], visits[j] = visits[j], visits[i] })
	return visits
}

// visitors are the concurrent HTTP clients. They write down what every page
// showed, and every answer that was not a 200.
type visitors struct {
	base  string
	httpc *http.Client

	mu        sync.Mutex
	shown     map[key]int // renders of each (user, experiment, variant)
	latencies []timedVisit
	failures  []string // the first few failed requests, described

	requests, failed atomic.Int64
}

func newVisitors(base string, clients int) *visitors {
	return &visitors{
		base:  base,
		httpc: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}, Timeout: time.Minute},
		shown: map[key]int{},
	}
}

// run sends every visit with clients goroutines and returns when all were
// answered. done counts the visits answered so far.
func (v *visitors) run(visits []string, clients int, done *atomic.Int64) {
	ch := make(chan string, clients)
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			var lat []timedVisit
			for u := range ch {
				start := time.Now()
				v.visit(u)
				lat = append(lat, timedVisit{start, time.Since(start)})
				done.Add(1)
			}
			v.mu.Lock()
			v.latencies = append(v.latencies, lat...)
			v.mu.Unlock()
		})
	}
	for _, u := range visits {
		ch <- u
	}
	close(ch)
	wg.Wait()
}

// expNames maps a flag to its experiment's name.
var expNames = func() map[string]string {
	m := map[string]string{}
	for _, e := range experiments {
		m[e.FlagKey] = e.Name
	}
	return m
}()

func (v *visitors) visit(user string) {
	v.requests.Add(1)
	resp, err := v.httpc.Get(v.base + "/page?user=" + url.QueryEscape(user))
	if err != nil {
		v.fail(fmt.Sprintf("GET /page?user=%s: %v", user, err))
		return
	}
	defer resp.Body.Close()
	var seen []key
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		flag, variant, ok := strings.Cut(sc.Text(), "=")
		if !ok || expNames[flag] == "" {
			continue
		}
		seen = append(seen, key{user, expNames[flag], variant})
	}
	if resp.StatusCode != http.StatusOK || sc.Err() != nil || len(seen) != len(experiments) {
		v.fail(fmt.Sprintf("GET /page?user=%s: %d, read %v, %d experiments shown", user, resp.StatusCode, sc.Err(), len(seen)))
		return
	}
	v.mu.Lock()
	for _, k := range seen {
		v.shown[k]++
	}
	v.mu.Unlock()
}

func (v *visitors) fail(what string) {
	v.failed.Add(1)
	v.mu.Lock()
	if len(v.failures) < 10 {
		v.failures = append(v.failures, what)
	}
	v.mu.Unlock()
}

// shownWith returns the keys shown to users whose name starts with prefix.
func (v *visitors) shownWith(prefix string) map[key]int {
	v.mu.Lock()
	defer v.mu.Unlock()
	out := map[key]int{}
	for k, n := range v.shown {
		if strings.HasPrefix(k.user, prefix) {
			out[k] = n
		}
	}
	return out
}

// timedVisit is when a visit began and how long its answer took.
type timedVisit struct {
	at   time.Time
	took time.Duration
}

// latencySplit is the page latency in two sets of visits: those that began
// while Redis was down (frozen or dead), and the others.
type latencySplit struct{ outage, normal latencyStats }

type latencyStats struct {
	n             int
	p50, p99, max time.Duration
}

func (l latencyStats) String() string {
	return fmt.Sprintf("%d views: p50 %v, p99 %v, max %v", l.n,
		l.p50.Round(time.Microsecond), l.p99.Round(time.Microsecond), l.max.Round(time.Microsecond))
}

func statsOf(d []time.Duration) latencyStats {
	if len(d) == 0 {
		return latencyStats{}
	}
	slices.Sort(d)
	return latencyStats{n: len(d), p50: d[len(d)/2], p99: d[len(d)*99/100], max: d[len(d)-1]}
}

// latency splits the page latencies by whether the visit began inside one
// of windows.
func (v *visitors) latency(windows []window) latencySplit {
	v.mu.Lock()
	all := slices.Clone(v.latencies)
	v.mu.Unlock()
	var in, out []time.Duration
	for _, tv := range all {
		inside := false
		for _, w := range windows {
			if !tv.at.Before(w.from) && tv.at.Before(w.to) {
				inside = true
				break
			}
		}
		if inside {
			in = append(in, tv.took)
		} else {
			out = append(out, tv.took)
		}
	}
	return latencySplit{outage: statsOf(in), normal: statsOf(out)}
}
