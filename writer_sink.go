package exposure

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
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

// Send writes the batch, one line per exposure. A write error fails the
// batch for good: an io.Writer has no notion of "try again later".
func (s *writerSink) Send(_ context.Context, batch []Exposure) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	enc := json.NewEncoder(s.w)
	enc.SetEscapeHTML(false)
	for i := range batch {
		e := &batch[i]
		err := enc.Encode(writerLine{Event: "$experiment_started", Properties: writerLineProps{
			Experiment: e.Experiment, Variant: e.Variant,
			DistinctID: e.Identity.DistinctID, DeviceID: e.Identity.DeviceID, UserID: e.Identity.UserID,
			Time: e.Time.UnixMilli(), InsertID: e.InsertID, FlagKey: e.FlagKey,
		}})
		if err != nil {
			failures := make([]Failure, 0, len(batch)-i)
			for j := i; j < len(batch); j++ {
				failures = append(failures, Failure{Index: j, Err: fmt.Errorf("exposure: writing exposure: %w", err)})
			}
			return &BatchError{Failures: failures}
		}
	}
	return nil
}
