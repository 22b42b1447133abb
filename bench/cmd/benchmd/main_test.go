package main

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const sample = `goos: linux
cpu: Test CPU
BenchmarkPipelines/exposure-2   1  6000 ns/op  1000 B/event  6 allocs/event  4 cpu-us/event  300000 events/s  28 peak-heap-MiB  27 wire-B/event
BenchmarkPipelines/exposure-2   1  6000 ns/op  1200 B/event  6 allocs/event  4 cpu-us/event  100000 events/s  28 peak-heap-MiB  27 wire-B/event
BenchmarkPipelines/exposure-2   1  6000 ns/op  1100 B/event  6 allocs/event  4 cpu-us/event  200000 events/s  28 peak-heap-MiB  27 wire-B/event
BenchmarkPipelines/posthog-2    1  6000 ns/op  3000 B/event  25 allocs/event  11 cpu-us/event  110000 events/s  9 peak-heap-MiB  339 wire-B/event
BenchmarkPipelines/segment-2    1  6000 ns/op  2000 B/event  18 allocs/event  11 cpu-us/event  125000 events/s  8 peak-heap-MiB  245 wire-B/event
BenchmarkDedupeMemory/exposure-2  1  9 ns/op  38 B/key  997175 keys
BenchmarkDedupeMemory/lru-struct-2  1  9 ns/op  168 B/key  1000000 keys
BenchmarkHook-2  100  15 exposure-allocs/op  3300 exposure-ns/op  14 none-allocs/op  3000 none-ns/op  15 noop-allocs/op  3030 noop-ns/op
PASS
`

func TestRenderRatiosAndGoals(t *testing.T) {
	res, err := parse(strings.NewReader(sample))
	require.NoError(t, err)
	out, err := render(res, 1000, time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC))
	require.NoError(t, err)
	// exposure's medians: 200,000 events/s and 1,100 B/event, against
	// segment, the fastest peer.
	assert.Contains(t, out, "fastest peer in this run, **segment**")
	assert.Contains(t, out, "| 200,000 | 1.60× |")
	assert.Contains(t, out, "| Throughput | ≥ 2× the fastest peer's events/s | 1.60× segment | **missed** |")
	assert.Contains(t, out, "| Allocation | ≤ ½ the fastest peer's bytes per event | 0.55× segment | **missed** |")
	assert.Contains(t, out, "| Dedupe memory | ≤ ½ the LRU's bytes per key | 0.23× LRU | met |")
	assert.Contains(t, out, "| Hook overhead | ≤ 15% over an evaluation with no hook | +10.0% | met |")
	assert.Contains(t, out, "median of 3 interleaved run(s)")
}

func TestSplice(t *testing.T) {
	doc := []byte("# Benchmarks\n\ncore text\n\n" + beginMarker + "\nold table\n" + endMarker + "\n\nafter\n")
	got := string(splice(doc, "new table\n"))
	assert.Equal(t, "# Benchmarks\n\ncore text\n\n"+beginMarker+"\nnew table\n"+endMarker+"\n\nafter\n", got)

	fresh := string(splice([]byte("# Benchmarks\ncore\n"), "t\n"))
	assert.Equal(t, "# Benchmarks\ncore\n\n## Against the peers\n\n"+beginMarker+"\nt\n"+endMarker+"\n", fresh)
	// Splicing again replaces, never duplicates.
	again := string(splice([]byte(fresh), "u\n"))
	assert.Equal(t, 1, strings.Count(again, beginMarker))
	assert.Contains(t, again, beginMarker+"\nu\n"+endMarker)
}

func TestParseRejectsEmptyInput(t *testing.T) {
	_, err := parse(strings.NewReader("PASS\nok x 1s\n"))
	require.Error(t, err)
}
