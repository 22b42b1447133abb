package exposure

// batcher accumulates exposures into batches bounded by count and bytes.
type batcher struct {
	q     *queue
	batch []Exposure
	bytes int
}

func (b *batcher) add(e *Exposure) {
	size := e.encodedSize()
	if len(b.batch) > 0 && b.bytes+size > b.q.cfg.batchBytes {
		b.send()
	}
	b.batch = append(b.batch, *e)
	b.bytes += size
	if len(b.batch) >= b.q.cfg.batchSize {
		b.send()
	}
}

// drain moves everything queued now into batches, sending each full one,
// until the queue is empty (exposures queued meanwhile included). With
// partial, it sends the last, partial batch too; without (a wake-up because
// a batch filled), the remainder waits for more exposures or the interval.
func (b *batcher) drain(partial bool) {
	for {
		taken := b.q.take()
		for _, e := range taken {
			b.add(e)
		}
		b.q.giveBack(taken)
		if len(taken) == 0 {
			break
		}
	}
	if partial {
		b.send()
	}
}

// send hands the batch to a sender, blocking while all are busy: the
// queue, not the batcher, is where exposures wait.
func (b *batcher) send() {
	if len(b.batch) == 0 {
		return
	}
	b.q.sendq <- sendBatch{seq: b.q.inflight.begin(), exposures: b.batch}
	b.batch, b.bytes = make([]Exposure, 0, cap(b.batch)), 0
}

// encodedSize estimates the size of an exposure once encoded as a
// Mixpanel event: its strings and the event's fixed part (names, time,
// token, library), about 300 bytes. The evaluation context is not sent.
func (e *Exposure) encodedSize() int {
	return 300 + len(e.FlagKey) + len(e.Experiment) + len(e.Variant) + len(e.ProviderVariant) +
		len(e.Identity.DistinctID) + len(e.Identity.DeviceID) + len(e.Identity.UserID) +
		len(e.Reason) + len(e.InsertID) + propertiesSize(e.Properties)
}

// propertiesSize estimates the encoded size of event properties.
func propertiesSize(props map[string]any) int {
	n := 0
	for k, v := range props {
		n += len(k) + 8
		if s, ok := v.(string); ok {
			n += len(s)
		} else {
			n += 24
		}
	}
	return n
}

// memorySize estimates the memory an exposure holds while queued: what
// it encodes to, its targeting key, and the attributes of its evaluation
// context, which a request can fill (a cookie).
func (e *Exposure) memorySize() int {
	n := e.encodedSize() + len(e.Context.TargetingKey())
	for k, v := range attributesOf(&e.Context) {
		n += len(k) + attributeSize(v)
	}
	return n
}

// attributeSize estimates an evaluation-context attribute's size.
func attributeSize(v any) int {
	switch v := v.(type) {
	case string:
		return 16 + len(v)
	case []byte:
		return 24 + len(v)
	case []any:
		n := 24
		for _, x := range v {
			n += attributeSize(x)
		}
		return n
	case map[string]any:
		n := 48
		for k, x := range v {
			n += len(k) + attributeSize(x)
		}
		return n
	default:
		return 16
	}
}
