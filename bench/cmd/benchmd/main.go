// Command benchmd turns the output of the bench module's benchmarks into
// the tables of BENCHMARKS.md: it rewrites what lies between the markers
//
//	<!-- peers:begin -->
//	<!-- peers:end -->
//
// and leaves the rest of the file alone. When the file or the markers do
// not exist yet, it appends a section holding them. scripts/bench runs it:
//
//	go run ./cmd/benchmd -in bench.txt -md ../BENCHMARKS.md -n 1000000
//
// With several runs of a benchmark (go test -count), each figure is the
// median of the runs.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

const (
	beginMarker = "<!-- peers:begin -->"
	endMarker   = "<!-- peers:end -->"
)

func main() {
	in := flag.String("in", "-", "go test -bench output to read (- for stdin)")
	md := flag.String("md", "BENCHMARKS.md", "markdown file to update")
	n := flag.Int("n", 0, "events per pipeline and keys per deduper in the run")
	gomod := flag.String("gomod", "go.mod", "the bench module's go.mod, for the peers' versions")
	flag.Parse()
	if err := run(*in, *md, *gomod, *n); err != nil {
		fmt.Fprintln(os.Stderr, "benchmd:", err)
		os.Exit(1)
	}
}

func run(in, md, gomod string, n int) error {
	var r io.Reader = os.Stdin
	if in != "-" {
		f, err := os.Open(in)
		if err != nil {
			return err
		}
		defer f.Close()
		r = f
	}
	res, err := parse(r)
	if err != nil {
		return err
	}
	if mod, err := os.ReadFile(gomod); err == nil {
		res.versions = moduleVersions(mod)
	}
	when := time.Now()
	if f, ok := r.(*os.File); ok && f != os.Stdin {
		if st, err := f.Stat(); err == nil {
			when = st.ModTime() // when the run ended, not when it was rendered
		}
	}
	section, err := render(res, n, when.UTC())
	if err != nil {
		return err
	}
	old, err := os.ReadFile(md)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return os.WriteFile(md, splice(old, section), 0o644)
}

// results holds, per benchmark name (without the -GOMAXPROCS suffix), every
// value reported per unit, one per run.
type results struct {
	metrics map[string]map[string][]float64
	header  []string // goos, goarch, cpu lines
	// load is the 1-minute load averages scripts/bench wrote during the run
	load []float64
	// versions of the peers' modules, by module path
	versions map[string]string
}

// moduleVersions reads the required versions from a go.mod.
func moduleVersions(mod []byte) map[string]string {
	v := map[string]string{}
	for line := range strings.Lines(string(mod)) {
		f := strings.Fields(strings.TrimPrefix(strings.TrimSpace(line), "require "))
		if len(f) >= 2 && strings.Contains(f[0], ".") && strings.HasPrefix(f[1], "v") {
			v[f[0]] = f[1]
		}
	}
	return v
}

func (r *results) version(path string) string {
	if v := r.versions[path]; v != "" {
		return path + " " + v
	}
	return path
}

func (r *results) get(name, unit string) (float64, bool) {
	v := r.metrics[name][unit]
	if len(v) == 0 {
		return 0, false
	}
	return median(v), true
}

func (r *results) runs(name, unit string) int { return len(r.metrics[name][unit]) }

var procSuffix = regexp.MustCompile(`-\d+$`)

// parse reads the standard benchmark format: a name, an iteration count,
// then value-unit pairs.
func parse(r io.Reader) (*results, error) {
	res := &results{metrics: map[string]map[string][]float64{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "cpu:") || strings.HasPrefix(line, "goos:") || strings.HasPrefix(line, "goarch:") {
			if !slices.Contains(res.header, strings.TrimSpace(line)) {
				res.header = append(res.header, strings.TrimSpace(line))
			}
			continue
		}
		if rest, ok := strings.CutPrefix(line, "loadavg:"); ok { // written by scripts/bench
			if f := strings.Fields(rest); len(f) > 0 {
				if v, err := strconv.ParseFloat(f[0], 64); err == nil {
					res.load = append(res.load, v)
				}
			}
			continue
		}
		if !strings.HasPrefix(line, "Benchmark") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 4 || len(f)%2 != 0 {
			continue
		}
		if _, err := strconv.Atoi(f[1]); err != nil {
			continue
		}
		name := procSuffix.ReplaceAllString(f[0], "")
		m := res.metrics[name]
		if m == nil {
			m = map[string][]float64{}
			res.metrics[name] = m
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return nil, fmt.Errorf("bad value %q in %q", f[i], line)
			}
			m[f[i+1]] = append(m[f[i+1]], v)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(res.metrics) == 0 {
		return nil, errors.New("no benchmark results in the input")
	}
	return res, nil
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// The pipelines, in table order; ours first.
var (
	ours      = "exposure"
	oursFull  = "exposure+openfeature"
	peers     = []string{"posthog", "segment", "launchdarkly"}
	pipeNames = append([]string{ours, oursFull}, peers...)
	pipeLabel = map[string]string{
		ours:           "**exposure** (hook → Scope → MarkRendered → Commit → Mixpanel sink)",
		oursFull:       "**exposure**, plus a full OpenFeature evaluation per event",
		"posthog":      "posthog-go `Enqueue(Capture)`",
		"segment":      "analytics-go/v3 `Enqueue(Track)`",
		"launchdarkly": "go-sdk-events/v3 `RecordCustomEvent`",
	}
)

func render(r *results, n int, now time.Time) (string, error) {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	pipe := func(name, unit string) (float64, bool) { return r.get("BenchmarkPipelines/"+name, unit) }

	// The fastest peer by events/s is the baseline of the throughput and
	// bytes goals.
	fastest, fastestRate := "", 0.0
	for _, peer := range peers {
		if v, ok := pipe(peer, "events/s"); ok && v > fastestRate {
			fastest, fastestRate = peer, v
		}
	}

	p("_Generated by `scripts/bench` on %s", now.Format("2006-01-02 15:04 MST"))
	if n > 0 {
		p(", N = %s", thousands(n))
	}
	if runs := r.runs("BenchmarkPipelines/"+ours, "events/s"); runs > 0 {
		p(", pipelines: median of %d interleaved run(s)", runs)
	}
	if len(r.header) > 0 {
		p("; %s", strings.Join(r.header, ", "))
	}
	if len(r.load) > 0 {
		p("; load average %.1f to %.1f on %d cores", slices.Min(r.load), slices.Max(r.load), runtime.NumCPU())
	}
	p("._\n\n")

	p("%s", method(r))

	var goals []goal
	if fastest != "" {
		p("### Delivery pipelines: N events each into a loopback server\n\n")
		p("Ratios are against the fastest peer in this run, **%s**.\n\n", fastest)
		p("| pipeline | events/s | × fastest peer | CPU µs/event | allocs/event | B/event | × fastest peer | peak heap MiB | wire B/event |\n")
		p("|---|--:|--:|--:|--:|--:|--:|--:|--:|\n")
		fastestBytes, _ := pipe(fastest, "B/event")
		for _, name := range pipeNames {
			rate, ok := pipe(name, "events/s")
			if !ok {
				continue
			}
			cpu, _ := pipe(name, "cpu-us/event")
			allocs, _ := pipe(name, "allocs/event")
			bytesEv, _ := pipe(name, "B/event")
			peak, _ := pipe(name, "peak-heap-MiB")
			wire, _ := pipe(name, "wire-B/event")
			p("| %s | %s | %.2f× | %.2f | %.1f | %s | %.2f× | %.1f | %.0f |\n", pipeLabel[name], thousands(int(rate)), rate/fastestRate,
				cpu, allocs, thousands(int(bytesEv)), bytesEv/fastestBytes, peak, wire)
		}
		p("\n")
		if rate, ok := pipe(ours, "events/s"); ok {
			goals = append(goals, goal{name: "Throughput", target: "≥ 2× the fastest peer's events/s", ratio: rate / fastestRate, measured: fmt.Sprintf("%.2f× %s", rate/fastestRate, fastest), met: rate/fastestRate >= 2})
		}
		if bytesEv, ok := pipe(ours, "B/event"); ok {
			measured := fmt.Sprintf("%.2f× %s", bytesEv/fastestBytes, fastest)
			// The fastest peer changes with the machine's load: say how we
			// stand against the leanest peer too.
			leanest, leanestBytes := "", 0.0
			for _, peer := range peers {
				if v, ok := pipe(peer, "B/event"); ok && (leanest == "" || v < leanestBytes) {
					leanest, leanestBytes = peer, v
				}
			}
			if leanest != fastest {
				measured += fmt.Sprintf(" (%.2f× %s, the leanest peer)", bytesEv/leanestBytes, leanest)
			}
			goals = append(goals, goal{name: "Allocation", target: "≤ ½ the fastest peer's bytes per event", ratio: bytesEv / fastestBytes, measured: measured, met: bytesEv/fastestBytes <= 0.5})
		}
		cpu, ok1 := pipe(ours, "cpu-us/event")
		fcpu, ok2 := pipe(fastest, "cpu-us/event")
		if ok1 && ok2 && fcpu > 0 {
			goals = append(goals, goal{name: "CPU per event", target: "no target: the steadier view of throughput", ratio: cpu / fcpu, measured: fmt.Sprintf("%.2f× %s (%.1f× fewer µs)", cpu/fcpu, fastest, fcpu/cpu), met: true})
			goals[len(goals)-1].info = true
		}
	}

	if ourKey, ok := r.get("BenchmarkDedupeMemory/exposure", "B/key"); ok {
		p("### Dedupe memory per key\n\n")
		lruKey, lruOK := r.get("BenchmarkDedupeMemory/lru-struct", "B/key")
		p("| deduper | keys held | B/key | × LRU |\n|---|--:|--:|--:|\n")
		for _, row := range []struct{ name, label string }{
			{"exposure", "**exposure** `NewMemoryDeduper` (hash + expiry)"},
			{"lru-struct", "golang-lru/v2 `Cache[string, struct{}]` (baseline)"},
			{"lru-expiry", "golang-lru/v2 `Cache[string, int64]` (with an expiry)"},
		} {
			v, ok := r.get("BenchmarkDedupeMemory/"+row.name, "B/key")
			if !ok {
				continue
			}
			keys, _ := r.get("BenchmarkDedupeMemory/"+row.name, "keys")
			ratio := "–"
			if lruOK {
				ratio = fmt.Sprintf("%.2f×", v/lruKey)
			}
			p("| %s | %s | %.1f | %s |\n", row.label, thousands(int(keys)), v, ratio)
		}
		p("\n")
		if lruOK {
			goals = append(goals, goal{name: "Dedupe memory", target: "≤ ½ the LRU's bytes per key", ratio: ourKey / lruKey, measured: fmt.Sprintf("%.2f× LRU", ourKey/lruKey), met: ourKey/lruKey <= 0.5})
		}
	}

	if none, ok := r.get("BenchmarkHook", "none-ns/op"); ok {
		p("### Hook overhead: one OpenFeature evaluation\n\n")
		p("| hooks | ns/op (median of rounds) | allocs/op | overhead vs no hook |\n|---|--:|--:|--:|\n")
		for _, h := range []string{"none", "noop", "exposure"} {
			v, _ := r.get("BenchmarkHook", h+"-ns/op")
			a, _ := r.get("BenchmarkHook", h+"-allocs/op")
			p("| %s | %.0f | %.0f | %+.1f%% |\n", map[string]string{"none": "none", "noop": "no-op hook", "exposure": "**exposure** hook"}[h], v, a, 100*(v/none-1))
		}
		p("\n")
		if v, ok := r.get("BenchmarkHook", "exposure-ns/op"); ok {
			goals = append(goals, goal{name: "Hook overhead", target: "≤ 15% over an evaluation with no hook", ratio: v/none - 1, measured: fmt.Sprintf("%+.1f%%", 100*(v/none-1)), met: v/none-1 <= 0.15})
		}
	}

	if len(goals) > 0 {
		p("### Goals\n\n| goal | target | measured | |\n|---|---|--:|---|\n")
		for _, g := range goals {
			verdict := "met"
			if g.info {
				verdict = "–"
			} else if !g.met {
				verdict = "**missed**"
			}
			p("| %s | %s | %s | %s |\n", g.name, g.target, g.measured, verdict)
		}
		p("\n")
	}
	if len(goals) == 0 {
		return "", errors.New("no known benchmark in the input")
	}
	p("%s", misses(r, goals, fastest))
	return b.String(), nil
}

// method says exactly what each figure measures.
func method(r *results) string {
	return `The module ` + "`bench/`" + ` (its own go.mod, so the peers never enter the library's) runs every
pipeline in the same process, one after the other, each delivering the same N events: event *i* is
an exposure of subject ` + "`user-<i>`" + ` to "Checkout Redesign", variant A for even *i* and B for odd *i*.
They go to a loopback HTTP server (` + "`httptest`" + `) that runs in a **child process**, so that its
CPU and memory stay out of the figures: it decompresses gzip bodies, counts the events in each
batch (the array elements; for LaunchDarkly the ` + "`custom`" + ` ones) and answers 200 (202 for
LaunchDarkly). A run counts only if the server counted exactly N events and saw no malformed body.

What each column measures, from the first event handed to the pipeline until the server has counted
the last one and the pipeline has stopped (its Close, which drains it):

- **events/s**: N divided by that time. Wall clock, so it moves with the machine's other load.
- **CPU µs/event**: user + system CPU time of the measuring process (getrusage) over the run, per
  event: the work the pipeline costs the application, steadier than events/s on a shared machine.
- **allocs/event, B/event**: ` + "`runtime.MemStats`" + ` deltas (Mallocs, TotalAlloc) over the run, per event:
  everything the application's process allocated to build, queue, encode, compress and send the events.
- **peak heap**: the highest ` + "`/memory/classes/heap/objects:bytes`" + ` sampled every millisecond, above its
  value at the start. exposure's includes its dedupe state, which grows with the number of distinct
  subjects (see the dedupe table); the peers keep none.
- **wire B/event**: request bodies as sent (compressed when the pipeline compresses).

The pipelines, with their defaults except the endpoint:

- **exposure**: per event, what one request does: ` + "`Tracker.Scope`" + `, the Tracker's OpenFeature hook
  (` + "`After`" + ` and ` + "`Finally`" + `, called with the details the SDK passes them), ` + "`MarkRendered`" + `, ` + "`Scope.Commit`" + `
  (a claim in the default in-memory deduper, the deterministic insert id, the queue). Delivery: the
  Tracker's queue, batches of 2,000 (its default and Mixpanel's maximum per request) to the ` + "`mixpanel`" + `
  sink, gzip JSON to ` + "`/import`" + `, at most two requests at a time (the default ` + "`WithSenders(2)`" + `).
- **exposure + OpenFeature**: the same, with a full evaluation through the OpenFeature client and its
  in-memory provider in place of the direct hook call: work the peers' rows do not include (they
  evaluate no flag), shown so that nothing is hidden.
- **PostHog** (` + r.version("github.com/posthog/posthog-go") + `): ` + "`Enqueue(Capture)`" + ` of ` + "`$feature_flag_called`" + ` with
  ` + "`$feature_flag`" + ` and ` + "`$feature_flag_response`" + `. BatchSize 250 (the default; the documentation gives no
  maximum, only a 500 KB request limit), Interval 5 s, up to 1,000 concurrent requests, no compression.
- **Segment** (` + r.version("github.com/segmentio/analytics-go/v3") + `): ` + "`Enqueue(Track)`" + ` of "Experiment Viewed" with
  ` + "`experiment_name`" + ` and ` + "`variation_name`" + `. BatchSize 250 (the default; no documented maximum, a 500 KB
  request limit), Interval 5 s, up to 1,000 concurrent requests, no compression.
- **LaunchDarkly** (` + r.version("github.com/launchdarkly/go-sdk-events/v3") + `): ` + "`RecordCustomEvent`" + ` through the default
  event processor, configured as LaunchDarkly's server-side SDK configures it by default (capacity
  10,000 events, flush every 5 s, 1,000 context keys, no gzip). Every subject is new, so each custom
  event also brings an index event, which LaunchDarkly sends and pays for (only custom events are
  counted as delivered).

How events are fed: as fast as each pipeline takes them without losing any. PostHog's and Segment's
` + "`Enqueue`" + ` block when their channel is full. exposure and LaunchDarkly never block the caller and drop
when their buffer is full, so the harness keeps at most a window of events handed over but not yet
counted by the server: 50,000 for exposure, PostHog and Segment (half exposure's default queue of
100,000), 5,000 for LaunchDarkly (half its capacity, as each event adds an index event to its buffer).
LaunchDarkly sends only on its 5 s timer or on Flush, so the harness calls Flush every 2,500 events
and whenever it waits; with its defaults alone it would deliver at most 10,000 events per 5 s and drop
the rest. The window and the flushes only keep events from being dropped; the window is far above
every pipeline's batch, so none waits on it for a batch to fill, and nothing slows a peer down.

**Dedupe memory**: N distinct keys of 32 hexadecimal characters (the form the Tracker claims with),
built anew for each claim as a caller would, so a cache that keeps its keys pays for them; the live heap
after a GC, per key held. Our ` + "`NewMemoryDeduper(N)`" + ` keeps a 64-bit hash and an expiry per key, and
evicts a little before N when a shard fills. The baseline is ` + "`golang-lru/v2`" + ` (` + r.version("github.com/hashicorp/golang-lru/v2") + `)
with N entries and the smallest value, ` + "`struct{}`" + `, which keeps no expiry and so flatters it.

**Hook overhead**: one ` + "`StringValue`" + ` evaluation through the real OpenFeature client and in-memory
provider, in a fresh Scope each time (opened in all three cases), with no hook, a no-op hook and
exposure's hook. The three run interleaved in rounds of 2,000 evaluations, in a rotating order, so that
the machine's other load slows them alike; each figure is the median of its rounds.

`
}

// misses explains each missed goal with the figures of this run.
func misses(r *results, goals []goal, fastest string) string {
	var b strings.Builder
	pipe := func(name, unit string) float64 { v, _ := r.get("BenchmarkPipelines/"+name, unit); return v }
	for _, g := range goals {
		if g.met {
			continue
		}
		if b.Len() == 0 {
			b.WriteString("### Where a goal is missed, and why\n\n")
		}
		switch g.name {
		case "Throughput":
			fmt.Fprintf(&b, "- **Throughput** (%s). In CPU, exposure costs %.2f× what %s costs per event (%.2f against %.2f µs), "+
				"although it does more per event than any peer: a Scope per request, a dedupe claim, a SHA-256 insert id, "+
				"and gzip of every batch (%.0f B/event on the wire against %.0f). The wall clock does not follow: exposure "+
				"has at most two batches in flight per sink (its default, WithSenders), each encoded, compressed, posted "+
				"and answered before its sender takes the next, while the peers post many batches at once; and on two "+
				"cores%s each run gets whatever share of them the scheduler gives it: events/s moved by up to %.1f× between "+
				"rounds of the same pipeline. The goal is missed as measured; the CPU ratio is the figure that says what the "+
				"pipeline costs the application.\n",
				g.measured, pipe(ours, "cpu-us/event")/pipe(fastest, "cpu-us/event"), fastest, pipe(ours, "cpu-us/event"), pipe(fastest, "cpu-us/event"),
				pipe(ours, "wire-B/event"), pipe(fastest, "wire-B/event"), loadNote(r), spread(r))
		case "Allocation":
			fmt.Fprintf(&b, "- **Allocation** (%s, %.0f against %.0f B/event; %.1f against %.1f allocations). exposure makes "+
				"fewer, larger allocations: per event a Scope (room for two experiments inline), the queued Exposure, "+
				"its insert id, the request context; and the mixpanel sink creates a gzip writer per request. "+
				"A profile (`go test -bench 'Pipelines/exposure$' -memprofile`) shows where.\n",
				g.measured, pipe(ours, "B/event"), pipe(fastest, "B/event"), pipe(ours, "allocs/event"), pipe(fastest, "allocs/event"))
		case "Dedupe memory":
			fmt.Fprintf(&b, "- **Dedupe memory** (%s).\n", g.measured)
		case "Hook overhead":
			fmt.Fprintf(&b, "- **Hook overhead** (%s). The hook records the assignment in the Scope under its lock and "+
				"reads the clock; on this machine the rounds' spread is of the same order, so rerun before reading much into it.\n", g.measured)
		}
	}
	if b.Len() > 0 {
		b.WriteString("\n")
	}
	b.WriteString(notes(r))
	return b.String()
}

// loadNote describes the machine's load during the run, when it was busy.
func loadNote(r *results) string {
	if len(r.load) == 0 || slices.Max(r.load) <= 2 {
		return ","
	}
	return fmt.Sprintf(" shared with other work (load average %.1f to %.1f during the run),", slices.Min(r.load), slices.Max(r.load))
}

// spread is the largest ratio between the fastest and the slowest round of
// one pipeline.
func spread(r *results) float64 {
	worst := 1.0
	for _, name := range pipeNames {
		if v := r.metrics["BenchmarkPipelines/"+name]["events/s"]; len(v) > 1 && slices.Min(v) > 0 {
			worst = max(worst, slices.Max(v)/slices.Min(v))
		}
	}
	return worst
}

// notes reads the figures that no goal covers.
func notes(r *results) string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	pipe := func(name, unit string) float64 { v, _ := r.get("BenchmarkPipelines/"+name, unit); return v }
	if _, ok := r.get("BenchmarkPipelines/"+ours, "B/event"); ok {
		leanest, lb := "", 0.0
		for _, peer := range peers {
			if v, ok := r.get("BenchmarkPipelines/"+peer, "B/event"); ok && (leanest == "" || v < lb) {
				leanest, lb = peer, v
			}
		}
		p("### Reading the results\n\n")
		if leanest != "" {
			p("- **Bytes against the leanest peer.** exposure allocates %.2f× what %s allocates per event (%.0f against %.0f B) "+
				"in %.1f against %.1f allocations. Per event it allocates a Scope (with room for two experiments inline), the "+
				"queued Exposure with its insert id, the request's context value, and its share of a gzip writer that the "+
				"mixpanel sink creates per request.\n", pipe(ours, "B/event")/lb, leanest, pipe(ours, "B/event"), lb,
				pipe(ours, "allocs/event"), pipe(leanest, "allocs/event"))
		}
		maxPeer := 0.0
		for _, peer := range peers {
			maxPeer = max(maxPeer, pipe(peer, "peak-heap-MiB"))
		}
		dk, _ := r.get("BenchmarkDedupeMemory/exposure", "B/key")
		p("- **Peak heap.** exposure's peak (%.0f MiB, the peers' up to %.0f MiB) holds what the peers do not keep: the "+
			"dedupe state of every distinct subject (%.0f B/key, so about %.0f MiB for 1,000,000), and up to the window of "+
			"queued exposures, each with its evaluation context. With GOGC=100 the heap peaks near twice the live set.\n",
			pipe(ours, "peak-heap-MiB"), maxPeer, dk, dk*1e6/(1<<20))
		p("- **The OpenFeature evaluation** that the second row adds costs %.2f CPU µs, %.1f allocations and %.0f B per "+
			"event on top of exposure's pipeline (%.2f µs, %.1f allocations, %.0f B): the price of the flag evaluation "+
			"itself, which an application pays with or without exposure.\n",
			pipe(oursFull, "cpu-us/event")-pipe(ours, "cpu-us/event"), pipe(oursFull, "allocs/event")-pipe(ours, "allocs/event"),
			pipe(oursFull, "B/event")-pipe(ours, "B/event"), pipe(ours, "cpu-us/event"), pipe(ours, "allocs/event"), pipe(ours, "B/event"))
	}
	none, ok1 := r.get("BenchmarkHook", "none-ns/op")
	noop, ok2 := r.get("BenchmarkHook", "noop-ns/op")
	ours, ok3 := r.get("BenchmarkHook", "exposure-ns/op")
	switch {
	case !ok1 || !ok2 || !ok3:
	case noop < none || ours < none:
		p("- **Hook overhead** is below this run's noise: an evaluation with a hook measured faster than one without "+
			"(no-op hook %+.1f%%, exposure's hook %+.1f%%). Rerun `go test -bench '^BenchmarkHook$' -benchtime 10s` in "+
			"a quiet moment for a finer figure.\n", 100*(noop/none-1), 100*(ours/none-1))
	default:
		p("- **Hook overhead**: a no-op hook adds %+.1f%% (OpenFeature's own cost of running hooks), exposure's hook "+
			"%+.1f%% over the no-op one.\n", 100*(noop/none-1), 100*(ours/noop-1))
	}
	if b.Len() > 0 {
		b.WriteString("\n")
	}
	return b.String()
}

type goal struct {
	name, target string
	ratio        float64
	measured     string
	met          bool
	info         bool // context, not a goal
}

// thousands formats n with thin separators: 1,234,567.
func thousands(n int) string {
	s := strconv.Itoa(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}

// splice puts section between the markers of doc, or appends a section
// with the markers when doc has none.
func splice(doc []byte, section string) []byte {
	begin := bytes.Index(doc, []byte(beginMarker))
	end := bytes.Index(doc, []byte(endMarker))
	if begin >= 0 && end > begin {
		var out bytes.Buffer
		out.Write(doc[:begin+len(beginMarker)])
		out.WriteString("\n")
		out.WriteString(section)
		out.Write(doc[end:])
		return out.Bytes()
	}
	var out bytes.Buffer
	out.Write(doc)
	if len(doc) > 0 && !bytes.HasSuffix(doc, []byte("\n\n")) {
		if !bytes.HasSuffix(doc, []byte("\n")) {
			out.WriteString("\n")
		}
		out.WriteString("\n")
	}
	out.WriteString("## Against the peers\n\n" + beginMarker + "\n" + section + endMarker + "\n")
	return out.Bytes()
}
