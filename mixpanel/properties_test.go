package mixpanel_test

// Tests of the provider's event properties (Assignment.Properties) in the
// events the sink sends, through the fake of Mixpanel's API over real
// HTTP, which refuses events over Mixpanel's documented limits.

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/exposurekit/exposure"
	"github.com/exposurekit/exposure/internal/lockedbuf"
	"github.com/exposurekit/exposure/mixpanel"
	"github.com/exposurekit/exposure/mixpanel/mixpaneltest"
)

// withProperties is exp(i) with the provider's properties props.
func withProperties(i int, props map[string]any) exposure.Exposure {
	x := exp(i)
	x.Properties = props
	return x
}

// The provider's properties arrive as event properties, of their JSON
// types, after the library's.
func TestProviderPropertiesAreSent(t *testing.T) {
	srv := mixpaneltest.Start(t)
	s := fakeSink(t, srv)
	x := withProperties(0, map[string]any{
		"$experiment_id": "exp-123", "$is_qa_tester": false, "ratio": 0.5, "cohort": int64(1) << 40,
	})
	require.NoError(t, s.Send(context.Background(), []exposure.Exposure{x}))
	evs := srv.Events()
	require.Len(t, evs, 1)
	p := evs[0].Properties
	assert.Equal(t, "exp-123", p["$experiment_id"])
	assert.Equal(t, false, p["$is_qa_tester"])
	assert.Equal(t, json.Number("0.5"), p["ratio"])
	assert.Equal(t, json.Number("1099511627776"), p["cohort"], "an int64 is sent exactly")
	assert.Equal(t, "Checkout Redesign", p[mixpanel.PropExperiment])
	assert.Zero(t, s.PropertiesDropped())

	// Library properties first, the provider's after, in name order.
	raw := string(evs[0].Raw)
	assert.Less(t, strings.Index(raw, `"$lib_version"`), strings.Index(raw, `"$experiment_id"`))
	assert.Less(t, strings.Index(raw, `"$experiment_id"`), strings.Index(raw, `"cohort"`))
}

// A provider property named like one of the library's (the sink's own or
// WithProperties') is not sent: the library's value is, once.
func TestLibraryPropertiesWinAClash(t *testing.T) {
	srv := mixpaneltest.Start(t)
	s := fakeSink(t, srv, mixpanel.WithProperties(map[string]any{"env": "prod"}))
	x := withProperties(0, map[string]any{
		mixpanel.PropExperiment: "Forged", mixpanel.PropDistinctID: "someone-else", "time": 1,
		mixpanel.PropInsertID: "x", "token": "other", "env": "staging", "kept": "yes",
	})
	require.NoError(t, s.Send(context.Background(), []exposure.Exposure{x}))
	evs := srv.Events()
	require.Len(t, evs, 1)
	p := evs[0].Properties
	assert.Equal(t, "Checkout Redesign", p[mixpanel.PropExperiment])
	assert.Equal(t, "user-0", p[mixpanel.PropDistinctID])
	assert.Equal(t, x.InsertID, p[mixpanel.PropInsertID])
	assert.Equal(t, "prod", p["env"])
	assert.Equal(t, "yes", p["kept"])
	assert.Equal(t, 1, strings.Count(string(evs[0].Raw), `"env"`), "each name once: %s", evs[0].Raw)
	assert.Equal(t, 1, strings.Count(string(evs[0].Raw), `"Experiment name"`))
	assert.Zero(t, s.PropertiesDropped(), "a clash is not a drop")
}

// An event keeps within Mixpanel's limit of fewer than 255 properties
// (which the fake enforces): the library's are all sent, and the
// provider's past the limit are left out, in name order, counted and
// logged once.
func TestProviderPropertiesOverTheLimitAreDropped(t *testing.T) {
	tests := []struct {
		name  string
		extra int // WithProperties
		user  bool
	}{
		{"no extra properties", 0, true},
		{"no user id", 0, false},
		{"with extra properties", 100, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := mixpaneltest.Start(t)
			logs := &lockedbuf.Buffer{}
			opts := []mixpanel.Option{mixpanel.WithLogger(slog.New(slog.NewTextHandler(logs, nil)))}
			if tc.extra > 0 {
				opts = append(opts, mixpanel.WithProperties(manyPropsFrom(900, tc.extra)))
			}
			s := fakeSink(t, srv, opts...)
			batch := []exposure.Exposure{withProperties(0, manyProps(300)), withProperties(1, manyProps(300))}
			if !tc.user {
				batch[0].Identity.UserID = ""
				batch[1].Identity.UserID = ""
			}
			require.NoError(t, s.Send(context.Background(), batch), "the fake accepts every event")
			evs := srv.Events()
			require.Len(t, evs, 2)
			library := 8 + tc.extra // time, distinct_id, $insert_id, experiment, variant, token, mp_lib, $lib_version
			if tc.user {
				library++
			}
			for _, ev := range evs {
				assert.Len(t, ev.Properties, mixpanel.MaxProperties, "as many as Mixpanel takes")
				for k := range manyPropsFrom(900, tc.extra) {
					assert.Contains(t, ev.Properties, k, "the library's are never dropped")
				}
				kept := mixpanel.MaxProperties - library
				assert.Contains(t, ev.Properties, fmt.Sprintf("p%03d", kept-1), "the first in name order are kept")
				assert.NotContains(t, ev.Properties, fmt.Sprintf("p%03d", kept))
			}
			assert.Equal(t, uint64(2*(300-(mixpanel.MaxProperties-library))), s.PropertiesDropped())
			assert.Equal(t, 1, strings.Count(logs.String(), "provider properties left out"), "logged once: %s", logs.String())

			require.NoError(t, s.Send(context.Background(), []exposure.Exposure{withProperties(2, manyProps(300))}))
			assert.Equal(t, 1, strings.Count(logs.String(), "provider properties left out"), "still once")
		})
	}
}

// Properties with no valid name or value are left out and counted; the
// event is sent.
func TestInvalidProviderPropertiesAreDropped(t *testing.T) {
	srv := mixpaneltest.Start(t)
	s := fakeSink(t, srv)
	x := withProperties(0, map[string]any{
		"": "no name", strings.Repeat("n", 256): 1, "nan": math.NaN(), "inf": math.Inf(1),
		"slice": []string{"a"}, "ok": "yes", "long value": strings.Repeat("v", 300),
	})
	require.NoError(t, s.Send(context.Background(), []exposure.Exposure{x}))
	evs := srv.Events()
	require.Len(t, evs, 1)
	p := evs[0].Properties
	assert.Equal(t, "yes", p["ok"])
	assert.Len(t, p["long value"], mixpanel.MaxStringBytes, "a long value is cut, as the library's are")
	for _, k := range []string{"", "nan", "inf", "slice", strings.Repeat("n", 256)} {
		assert.NotContains(t, p, k)
	}
	assert.Equal(t, uint64(5), s.PropertiesDropped())
}

// rawProperties decodes the properties of ev as the fake received them,
// before the fake truncates long strings as Mixpanel does: what the sink
// sent.
func rawProperties(t *testing.T, ev mixpaneltest.Event) map[string]any {
	t.Helper()
	var wire struct {
		Properties map[string]any `json:"properties"`
	}
	dec := json.NewDecoder(strings.NewReader(string(ev.Raw)))
	dec.UseNumber()
	require.NoError(t, dec.Decode(&wire))
	return wire.Properties
}

// rawKeys lists the property names of ev in the order received,
// duplicates included (a map would merge them).
func rawKeys(t *testing.T, ev mixpaneltest.Event) []string {
	t.Helper()
	var wire struct {
		Properties json.RawMessage `json:"properties"`
	}
	require.NoError(t, json.Unmarshal(ev.Raw, &wire))
	dec := json.NewDecoder(strings.NewReader(string(wire.Properties)))
	tok, err := dec.Token()
	require.NoError(t, err)
	require.Equal(t, json.Delim('{'), tok)
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		require.NoError(t, err)
		keys = append(keys, tok.(string))
		var v json.RawMessage
		require.NoError(t, dec.Decode(&v))
	}
	return keys
}

// Strings are measured as Mixpanel reads them, after each byte that is not
// UTF-8 became U+FFFD (3 bytes): a provider property whose name is not
// UTF-8 is left out and counted, never sent as a name that could exceed
// Mixpanel's limit (which would refuse the whole event) or equal another;
// a string value, or an id, with invalid bytes is cut to 255 bytes as
// read, never sent longer.
func TestStringsAreMeasuredAsMixpanelReadsThem(t *testing.T) {
	const fffd = "\ufffd"
	tests := []struct {
		name    string
		props   map[string]any
		mutate  func(*exposure.Exposure)
		want    map[string]any // properties Mixpanel reads, by name
		absent  []string       // names not sent
		dropped uint64
	}{
		{
			name:    "name of invalid bytes, within 255 bytes raw, 300 as read",
			props:   map[string]any{strings.Repeat("\xff", 100): "v", "ok": "yes"},
			want:    map[string]any{"ok": "yes"},
			absent:  []string{strings.Repeat(fffd, 100)},
			dropped: 1,
		},
		{
			name:    "name with one invalid byte",
			props:   map[string]any{"caf\xe9": 1, "café": 2},
			want:    map[string]any{"café": json.Number("2")},
			absent:  []string{"caf" + fffd},
			dropped: 1,
		},
		{
			name:    "two invalid names that would become one key",
			props:   map[string]any{"\xff": "a", "\xfe": "b", "ok": "yes"},
			want:    map[string]any{"ok": "yes"},
			absent:  []string{fffd},
			dropped: 2,
		},
		{
			name: "names exactly at the limit",
			props: map[string]any{
				strings.Repeat("n", mixpanel.MaxStringBytes):   "ascii",
				strings.Repeat("日", mixpanel.MaxStringBytes/3): "three-byte runes",
				strings.Repeat("n", mixpanel.MaxStringBytes+1): "one byte over",
			},
			want: map[string]any{
				strings.Repeat("n", mixpanel.MaxStringBytes):   "ascii",
				strings.Repeat("日", mixpanel.MaxStringBytes/3): "three-byte runes",
			},
			absent:  []string{strings.Repeat("n", mixpanel.MaxStringBytes+1)},
			dropped: 1,
		},
		{
			name:  "valid multi-byte names",
			props: map[string]any{"Größe": "L", "日本": "語", "🎉": true, "line\u2028sep": "x"},
			want:  map[string]any{"Größe": "L", "日本": "語", "🎉": true, "line\u2028sep": "x"},
		},
		{
			name: "values with invalid bytes are cut as read",
			props: map[string]any{
				"all invalid": strings.Repeat("\xff", 100),
				"mixed":       strings.Repeat("a\xff", 100),
				"at limit":    strings.Repeat("\xff", mixpanel.MaxStringBytes/3),
				"one invalid": "x\xffy",
			},
			want: map[string]any{
				"all invalid": strings.Repeat(fffd, 85),
				"mixed":       strings.Repeat("a"+fffd, 63) + "a",
				"at limit":    strings.Repeat(fffd, 85),
				"one invalid": "x" + fffd + "y",
			},
		},
		{
			name:  "valid multi-byte values at and over the limit",
			props: map[string]any{"at": strings.Repeat("日", 85), "over": strings.Repeat("日", 86), "straddling": "a" + strings.Repeat("日", 85)},
			want:  map[string]any{"at": strings.Repeat("日", 85), "over": strings.Repeat("日", 85), "straddling": "a" + strings.Repeat("日", 84)},
		},
		{
			name: "ids with invalid bytes",
			mutate: func(x *exposure.Exposure) {
				x.Identity.DistinctID = strings.Repeat("\xff", 100)
				x.Identity.UserID = strings.Repeat("\xfe", 100)
				x.Experiment = "Checkout " + strings.Repeat("\x80", 200)
			},
			want: map[string]any{
				mixpanel.PropDistinctID: strings.Repeat(fffd, 85),
				mixpanel.PropUserID:     strings.Repeat(fffd, 85),
				mixpanel.PropExperiment: "Checkout " + strings.Repeat(fffd, 82),
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := mixpaneltest.Start(t)
			logs := &lockedbuf.Buffer{}
			s := fakeSink(t, srv, mixpanel.WithLogger(slog.New(slog.NewTextHandler(logs, nil))))
			x := withProperties(0, tc.props)
			if tc.mutate != nil {
				tc.mutate(&x)
			}
			require.NoError(t, s.Send(context.Background(), []exposure.Exposure{x}), "the fake accepts the event")
			evs := srv.Events()
			require.Len(t, evs, 1, "the exposure is delivered")
			p := rawProperties(t, evs[0])
			for k, v := range tc.want {
				assert.Equal(t, v, p[k], "property %.20q", k)
			}
			for k, v := range p {
				assert.LessOrEqual(t, len(k), mixpanel.MaxStringBytes, "name %.20q as read", k)
				if str, ok := v.(string); ok {
					assert.LessOrEqual(t, len(str), mixpanel.MaxStringBytes, "value of %.20q as read", k)
				}
			}
			for _, k := range tc.absent {
				assert.NotContains(t, p, k)
			}
			assert.Len(t, rawKeys(t, evs[0]), len(p), "no name sent twice: %s", evs[0].Raw)
			assert.Equal(t, tc.dropped, s.PropertiesDropped())
			logged := 0
			if tc.dropped > 0 {
				logged = 1
			}
			assert.Equal(t, logged, strings.Count(logs.String(), "provider properties left out"), "logged once: %s", logs.String())
		})
	}
}
