package mixpanel

import (
	"compress/gzip"
	"fmt"
	"math"
	"slices"
	"strconv"
	"sync"
	"unicode/utf8"

	"github.com/exposurekit/exposure"
)

// Mixpanel's documented limits.
const (
	// MaxEventsPerRequest is the most events Mixpanel accepts in one
	// /import or /track request.
	MaxEventsPerRequest = 2000
	// MaxRequestBytes is the largest uncompressed request body the sink
	// sends (2 MiB; gzip does not raise Mixpanel's limit).
	MaxRequestBytes = 2 << 20
	// MaxStringBytes is the longest string property value Mixpanel keeps,
	// and the longest property name it documents. The sink cuts longer
	// values on a UTF-8 boundary, measuring them as Mixpanel reads them:
	// each byte that is not UTF-8 is sent as U+FFFD, which is 3 bytes.
	MaxStringBytes = 255
	// MaxProperties is the most properties an event may carry: Mixpanel's
	// documentation asks for "fewer than 255".
	MaxProperties = 254
)

// EventName is the event the sink sends for each exposure, the name
// Mixpanel's Experiments report reads.
const EventName = "$experiment_started"

// Property names of the events the sink sends. Besides these, every event
// carries the properties of [WithProperties].
const (
	PropExperiment  = "Experiment name"
	PropVariant     = "Variant name"
	PropDistinctID  = "distinct_id"
	PropDeviceID    = "$device_id" // only when the identity has a device id
	PropUserID      = "$user_id"   // only when the identity has a user id
	PropTime        = "time"       // milliseconds since the epoch
	PropInsertID    = "$insert_id"
	PropToken       = "token"
	PropLib         = "mp_lib"       // "exposure-go", as Mixpanel's own SDKs name themselves in mp_lib
	PropLibVersion  = "$lib_version" // the exposure module version
	builtinProps    = 10
	maxExtraProps   = MaxProperties - builtinProps
	eventHead       = `{"event":"` + EventName + `","properties":{"time":`
	libName         = "exposure-go"
	estimatedEvSize = 320
)

// reservedProps may not be overridden by WithProperties: they carry the
// exposure, its identity and the fields Mixpanel deduplicates on.
var reservedProps = map[string]bool{
	PropExperiment: true, PropVariant: true, PropDistinctID: true, PropDeviceID: true,
	PropUserID: true, PropTime: true, PropInsertID: true, PropToken: true,
	PropLib: true, PropLibVersion: true,
}

// encoder turns exposures into Mixpanel's JSON. tail is the constant part
// of every event after its exposure's own properties: the token, the
// library and the extra properties. The provider's properties of the
// assignment follow it, then "}}".
type encoder struct {
	tail []byte
	// extra are the names of the properties of WithProperties, which win
	// over the provider's.
	extra map[string]bool
}

func newEncoder(token, version string, extra map[string]any) (*encoder, error) {
	if len(extra) > maxExtraProps {
		return nil, fmt.Errorf("WithProperties: %d properties are too many; Mixpanel accepts fewer than 255 properties per event and the sink uses %d, so at most %d", len(extra), builtinProps, maxExtraProps)
	}
	b := make([]byte, 0, 128)
	b = append(b, `,"token":`...)
	b = appendString(b, token)
	b = append(b, `,"mp_lib":"`+libName+`","$lib_version":`...)
	b = appendString(b, version)
	// Deterministic order keeps the bytes of every request reproducible.
	keys := make([]string, 0, len(extra))
	for k := range extra {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		switch {
		case k == "":
			return nil, fmt.Errorf("WithProperties: a property has an empty name")
		case len(k) > MaxStringBytes:
			return nil, fmt.Errorf("WithProperties: the name %.40q... is %d bytes, over Mixpanel's %d", k, len(k), MaxStringBytes)
		case !utf8.ValidString(k):
			return nil, fmt.Errorf("WithProperties: the name %.40q is not valid UTF-8", k)
		case reservedProps[k]:
			return nil, fmt.Errorf("WithProperties may not set %q: the sink sets it", k)
		}
		b = append(b, ',')
		b = appendString(b, k)
		b = append(b, ':')
		var err error
		if b, err = appendScalar(b, extra[k]); err != nil {
			return nil, fmt.Errorf("WithProperties[%q]: %w", k, err)
		}
	}
	e := &encoder{tail: b}
	if len(keys) > 0 {
		e.extra = make(map[string]bool, len(keys))
		for _, k := range keys {
			e.extra[k] = true
		}
	}
	return e, nil
}

// appendEvent appends one exposure as a Mixpanel event: the library's
// properties, then the provider's (Assignment.Properties). dropped counts
// the provider's properties left out: over Mixpanel's limit of properties
// per event, named "" or over 255 bytes or by bytes that are not UTF-8,
// or of a value JSON cannot carry.
// A provider property named like one of the library's is not sent (the
// library's wins) and not counted.
func (e *encoder) appendEvent(b []byte, x *exposure.Exposure) (_ []byte, dropped int) {
	b = append(b, eventHead...)
	b = strconv.AppendInt(b, x.Time.UnixMilli(), 10)
	b = append(b, `,"distinct_id":`...)
	b = appendString(b, cut(x.Identity.DistinctID))
	b = append(b, `,"$insert_id":`...)
	b = appendString(b, cut(x.InsertID))
	b = append(b, `,"Experiment name":`...)
	b = appendString(b, cut(x.Experiment))
	b = append(b, `,"Variant name":`...)
	b = appendString(b, cut(x.Variant))
	if x.Identity.DeviceID != "" {
		b = append(b, `,"$device_id":`...)
		b = appendString(b, cut(x.Identity.DeviceID))
	}
	if x.Identity.UserID != "" {
		b = append(b, `,"$user_id":`...)
		b = appendString(b, cut(x.Identity.UserID))
	}
	b = append(b, e.tail...)
	if len(x.Properties) > 0 {
		b, dropped = e.appendProviderProperties(b, x)
	}
	return append(b, "}}"...), dropped
}

// appendProviderProperties appends the provider's properties of x, in
// name order, as many as Mixpanel's limit leaves after the library's.
func (e *encoder) appendProviderProperties(b []byte, x *exposure.Exposure) (_ []byte, dropped int) {
	room := MaxProperties - (builtinProps - 2) - len(e.extra)
	if x.Identity.DeviceID != "" {
		room--
	}
	if x.Identity.UserID != "" {
		room--
	}
	var buf [16]string
	keys := buf[:0]
	for k := range x.Properties {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if reservedProps[k] || e.extra[k] {
			continue
		}
		// A name that is not UTF-8 is dropped, not repaired: each invalid
		// byte would be sent as U+FFFD (3 bytes), so a name within 255
		// bytes here could reach Mixpanel over its limit, which refuses the
		// whole event, and two names could become the same key.
		if room == 0 || k == "" || len(k) > MaxStringBytes || !utf8.ValidString(k) {
			dropped++
			continue
		}
		start := len(b)
		b = append(b, ',')
		b = appendString(b, k)
		b = append(b, ':')
		var err error
		if b, err = appendScalar(b, x.Properties[k]); err != nil {
			b = b[:start]
			dropped++
			continue
		}
		room--
	}
	return b, dropped
}

func appendScalar(b []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case string:
		return appendString(b, cut(v)), nil
	case bool:
		return strconv.AppendBool(b, v), nil
	case int:
		return strconv.AppendInt(b, int64(v), 10), nil
	case int8:
		return strconv.AppendInt(b, int64(v), 10), nil
	case int16:
		return strconv.AppendInt(b, int64(v), 10), nil
	case int32:
		return strconv.AppendInt(b, int64(v), 10), nil
	case int64:
		return strconv.AppendInt(b, v, 10), nil
	case uint:
		return strconv.AppendUint(b, uint64(v), 10), nil
	case uint8:
		return strconv.AppendUint(b, uint64(v), 10), nil
	case uint16:
		return strconv.AppendUint(b, uint64(v), 10), nil
	case uint32:
		return strconv.AppendUint(b, uint64(v), 10), nil
	case uint64:
		return strconv.AppendUint(b, v, 10), nil
	case float32:
		return appendFloat(b, float64(v), 32)
	case float64:
		return appendFloat(b, v, 64)
	default:
		return b, fmt.Errorf("unsupported value type %T (use a string, bool, number or nil)", v)
	}
}

func appendFloat(b []byte, f float64, bits int) ([]byte, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return b, fmt.Errorf("%v is not representable in JSON", f)
	}
	return strconv.AppendFloat(b, f, 'g', -1, bits), nil
}

// cut shortens s so that the string Mixpanel reads, s as appendString
// writes it (each byte that is not UTF-8 replaced by U+FFFD, 3 bytes), is
// at most MaxStringBytes bytes, without splitting a UTF-8 sequence.
func cut(s string) string {
	if len(s) <= MaxStringBytes/replacementBytes {
		return s // even if every byte is replaced
	}
	if len(s) <= MaxStringBytes {
		if utf8.ValidString(s) {
			return s
		}
		return cutReplaced(s)
	}
	n := MaxStringBytes
	// Back up over continuation bytes to the start of the rune at n, so
	// that the rune straddling the limit is dropped whole.
	for n > MaxStringBytes-utf8.UTFMax && !utf8.RuneStart(s[n]) {
		n--
	}
	// s[:n] is the answer when it is valid and what starts at n does not
	// fit: at n = 255 anything, before it only a valid rune running past
	// the limit (a byte that is not UTF-8 has size 1). Otherwise (stray
	// continuation bytes, invalid bytes) bytes are replaced: measure.
	if _, size := utf8.DecodeRuneInString(s[n:]); size > MaxStringBytes-n && utf8.ValidString(s[:n]) {
		return s[:n]
	}
	return cutReplaced(s)
}

// replacementBytes is the length of U+FFFD in UTF-8, what appendString
// writes for each byte that is not UTF-8.
const replacementBytes = len("\uFFFD")

// cutReplaced is cut for a string that may hold bytes that are not UTF-8:
// it counts each such byte as the 3 bytes of U+FFFD.
func cutReplaced(s string) string {
	n := 0 // bytes of s as Mixpanel reads it
	for i := 0; i < len(s); {
		w, size := 1, 1
		if s[i] >= utf8.RuneSelf {
			var r rune
			r, size = utf8.DecodeRuneInString(s[i:])
			w = size
			if r == utf8.RuneError && size == 1 {
				w = replacementBytes
			}
		}
		if n+w > MaxStringBytes {
			return s[:i]
		}
		n += w
		i += size
	}
	return s
}

const hexDigits = "0123456789abcdef"

// safe[c] is true for ASCII bytes that JSON strings carry unescaped.
var safe = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// appendString appends s as a JSON string (RFC 8259, not Go syntax):
// quotes, backslashes and control characters escaped, invalid UTF-8
// replaced by U+FFFD, U+2028 and U+2029 escaped for JavaScript consumers.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if safe[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// Pools for the hot path: the raw JSON of a batch (up to 2 MiB per
// request) and gzip writers (whose state is large to allocate).
var (
	rawPool  = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}
	gzipPool = sync.Pool{New: func() any {
		w, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed)
		return w
	}}
)
