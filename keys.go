package exposure

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"time"
)

// dedupeKey identifies (subject, experiment) for a Deduper: 32 hex
// characters of a SHA-256, the same in every process so that a shared
// deduper works. The variant is not part of it: it is what the key holds.
func dedupeKey(a *Assignment) string {
	var buf [256]byte
	b := append(buf[:0], a.Identity.DistinctID...)
	b = append(b, 0)
	b = append(b, a.Experiment...)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

// insertID is deterministic for (subject, experiment, variant, time in
// ms), so every retry of an exposure carries the same $insert_id.
func insertID(a *Assignment, at time.Time) string {
	var buf [256]byte
	b := binary.BigEndian.AppendUint64(appendAssignmentKey(buf[:0], a), uint64(at.UnixMilli()))
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

func appendAssignmentKey(b []byte, a *Assignment) []byte {
	b = append(b, a.Identity.DistinctID...)
	b = append(b, 0)
	b = append(b, a.Experiment...)
	b = append(b, 0)
	return append(b, a.Variant...)
}
