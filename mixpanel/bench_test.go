package mixpanel

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/exposurekit/exposure"
)

const benchBatch = 2000

func benchExposures() []exposure.Exposure {
	at := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	b := make([]exposure.Exposure, benchBatch)
	for i := range b {
		id := fmt.Sprintf("user-%08d", i)
		b[i] = exposure.Exposure{
			Assignment: exposure.Assignment{
				FlagKey: "checkout-redesign", Experiment: "Checkout Redesign", Variant: []string{"Control", "One-page checkout"}[i%2],
				Identity: exposure.Identity{DistinctID: id, DeviceID: fmt.Sprintf("d%015x", i*7919), UserID: id},
			},
			Time:     at.Add(time.Duration(i) * time.Millisecond),
			InsertID: fmt.Sprintf("%032x", uint64(i)*0x9e3779b97f4a7c15),
		}
	}
	return b
}

// BenchmarkEncodeGzip is the sink's encoding of one full request (2000
// exposures to JSON, then gzip). Run with -cpu 1 for one core.
func BenchmarkEncodeGzip(b *testing.B) {
	enc, err := newEncoder("0123456789abcdef0123456789abcdef", "v1.0.0", nil)
	if err != nil {
		b.Fatal(err)
	}
	batch := benchExposures()
	raw := make([]byte, 0, 1<<20)
	var out []byte
	b.ReportAllocs()
	for b.Loop() {
		raw = raw[:0]
		for i := range batch {
			raw, _ = enc.appendEvent(raw, &batch[i])
			raw = append(raw, ',')
		}
		out = compress(raw[:len(raw)-1])
	}
	reportPerEvent(b, len(raw), len(out))
}

// mpEvent is the same event for encoding/json, the obvious way.
type mpEvent struct {
	Event      string         `json:"event"`
	Properties map[string]any `json:"properties"`
}

// BenchmarkEncodingJSONGzip is the baseline: the same events built as maps
// and marshalled with encoding/json, then the same gzip.
func BenchmarkEncodingJSONGzip(b *testing.B) {
	batch := benchExposures()
	var raw, out []byte
	b.ReportAllocs()
	for b.Loop() {
		evs := make([]mpEvent, len(batch))
		for i := range batch {
			x := &batch[i]
			p := map[string]any{
				"time": x.Time.UnixMilli(), "distinct_id": x.Identity.DistinctID, "$insert_id": x.InsertID,
				"Experiment name": x.Experiment, "Variant name": x.Variant,
				"token": "0123456789abcdef0123456789abcdef", "mp_lib": libName, "$lib_version": "v1.0.0",
			}
			if x.Identity.DeviceID != "" {
				p["$device_id"] = x.Identity.DeviceID
			}
			if x.Identity.UserID != "" {
				p["$user_id"] = x.Identity.UserID
			}
			evs[i] = mpEvent{Event: EventName, Properties: p}
		}
		var err error
		if raw, err = json.Marshal(evs); err != nil {
			b.Fatal(err)
		}
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
		_, _ = zw.Write(raw)
		_ = zw.Close()
		out = buf.Bytes()
	}
	reportPerEvent(b, len(raw), len(out))
}

func reportPerEvent(b *testing.B, raw, compressed int) {
	perEvent := float64(b.Elapsed().Nanoseconds()) / float64(b.N*benchBatch)
	b.ReportMetric(perEvent, "ns/event")
	b.ReportMetric(1e9/perEvent, "events/s")
	b.ReportMetric(float64(raw)/benchBatch, "json-bytes/event")
	b.ReportMetric(float64(compressed)/benchBatch, "gzip-bytes/event")
}

// TestBenchEventsAreValidJSON guards the benchmark's subject: the encoder's
// output for the benchmark's events parses and matches encoding/json's.
func TestBenchEventsAreValidJSON(t *testing.T) {
	enc, err := newEncoder("tok", "v1.0.0", map[string]any{"env": "prod"})
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range benchExposures()[:50] {
		b, _ := enc.appendEvent(nil, &x)
		var got mpEvent
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("invalid JSON %s: %v", b, err)
		}
		if got.Event != EventName || got.Properties["$insert_id"] != x.InsertID || got.Properties["env"] != "prod" ||
			got.Properties["time"] != float64(x.Time.UnixMilli()) || len(got.Properties) != 11 {
			t.Fatalf("unexpected event %s", b)
		}
	}
}
