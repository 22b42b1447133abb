package exposure

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"sync"
)

// writerSink writes each exposure as one JSON line shaped like the Mixpanel
// event it stands for:
//
//	{"event":"$experiment_started","properties":{"Experiment name":"Checkout Redesign","Variant name":"Variant B","distinct_id":"u-42","time":1764012345678,"$insert_id":"…","flag_key":"checkout-redesign"}}
//
// It suits demos, logs and pipelines that ship JSON lines elsewhere.
type writerSink struct {
	mu sync.Mutex
	w  io.Writer
}

// NewWriterSink returns a Sink writing JSON lines to w. Writes are
// serialized; w need not be safe for concurrent use. A nil w is an error
// wrapping [ErrInvalidConfig].
func NewWriterSink(w io.Writer) (Sink, error) {
	if w == nil {
		return nil, fmt.Errorf("%w: NewWriterSink given a nil io.Writer", ErrInvalidConfig)
	}
	return &writerSink{w: w}, nil
}

// Name identifies the sink in Stats; see [NamedSink].
func (s *writerSink) Name() string { return "writer" }

type writerLine struct {
	Event      string          `json:"event"`
	Properties writerLineProps `json:"properties"`
}

type writerLineProps struct {
	Experiment string `json:"Experiment name"`
	Variant    string `json:"Variant name"`
	DistinctID string `json:"distinct_id"`
	DeviceID   string `json:"$device_id,omitempty"`
	UserID     string `json:"$user_id,omitempty"`
	Time       int64  `json:"time"`
	InsertID   string `json:"$insert_id"`
	FlagKey    string `json:"flag_key"`
}

// Send writes the batch, one line per exposure, in one Write. A write
// error fails the batch for good: an io.Writer has no notion of "try
// again later".
func (s *writerSink) Send(_ context.Context, batch []Exposure) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	for i := range batch {
		e := &batch[i]
		err := enc.Encode(writerLine{Event: "$experiment_started", Properties: writerLineProps{
			Experiment: e.Experiment, Variant: e.Variant,
			DistinctID: e.Identity.DistinctID, DeviceID: e.Identity.DeviceID, UserID: e.Identity.UserID,
			Time: e.Time.UnixMilli(), InsertID: e.InsertID, FlagKey: e.FlagKey,
		}})
		if err == nil && len(e.Properties) > 0 {
			err = appendProperties(&buf, enc, e.Properties)
		}
		if err != nil {
			return fmt.Errorf("exposure: encoding exposure: %w", err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("exposure: writing exposures: %w", err)
	}
	return nil
}

// appendProperties adds the provider's properties to the line just
// encoded into buf, after the library's, in name order; the library's win
// on a clash.
func appendProperties(buf *bytes.Buffer, enc *json.Encoder, props map[string]any) error {
	buf.Truncate(buf.Len() - len("}}\n")) // close of properties, of the event, newline
	for _, k := range slices.Sorted(maps.Keys(props)) {
		if writerLibraryProperties[k] {
			continue
		}
		buf.WriteByte(',')
		if err := enc.Encode(k); err != nil {
			return err
		}
		buf.Truncate(buf.Len() - 1) // Encode's newline
		buf.WriteByte(':')
		if err := enc.Encode(props[k]); err != nil {
			return err
		}
		buf.Truncate(buf.Len() - 1)
	}
	buf.WriteString("}}\n")
	return nil
}

// writerLibraryProperties are the names writerLineProps encodes.
var writerLibraryProperties = map[string]bool{
	"Experiment name": true, "Variant name": true, "distinct_id": true, "$device_id": true,
	"$user_id": true, "time": true, "$insert_id": true, "flag_key": true,
}
