package audit

import (
	"encoding/hex"
	"hash/maphash"
	"strings"
)

// idMask replaces ids by a keyed hash, stable within the process, so the
// report can be shared without the ids and the rows of one subject can
// still be matched.
type idMask struct {
	show bool // ids are shown as they are
	seed maphash.Seed
}

func newIDMask(show bool) idMask { return idMask{show: show, seed: maphash.MakeSeed()} }

// apply returns id masked as "masked:1a2b3c4d", unless ids are shown. A
// "$device:" prefix (Mixpanel's anonymous distinct id) is kept, so masked
// rows still tell devices from users.
func (m idMask) apply(id string) string {
	if id == "" || m.show {
		return id
	}
	prefix := ""
	if rest, ok := strings.CutPrefix(id, "$device:"); ok {
		prefix, id = "$device:", rest
	}
	h := maphash.String(m.seed, id)
	var b [4]byte
	for i := range b {
		b[i] = byte(h >> (8 * i))
	}
	return prefix + "masked:" + hex.EncodeToString(b[:])
}
