package audit

import (
	"cmp"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"
)

// idMask replaces ids, and everything derived from them without a key, by
// an HMAC-SHA256 under a key of 32 random bytes drawn when the Auditor is
// made. The key never leaves the Auditor: a mask is the same for one value
// within the process, so the rows of one subject can still be matched, and
// nothing on the page lets a reader test a guessed id against it.
//
// Unkeyed hashes of an id are as good as the id: the exposure's $insert_id
// is SHA-256 of (distinct id, experiment, variant, time), every input but
// the id printed on the same row, so a list of candidate ids is checked
// against it in milliseconds. The mask therefore covers the insert id too.
type idMask struct {
	show bool // ids are shown as they are
	key  []byte
}

// maskedHexBytes is how many bytes of the HMAC a mask shows, in hex: 64
// bits, so that masks of distinct values do not collide in practice.
const maskedHexBytes = 8

func newIDMask(show bool) idMask {
	key := make([]byte, 32)
	_, _ = rand.Read(key) // crypto/rand.Read never fails (it crashes the program instead)
	return idMask{show: show, key: key}
}

// apply returns id masked as "masked:1a2b3c4d5e6f7a8b", unless ids are
// shown. A "$device:" prefix (Mixpanel's anonymous distinct id) is kept,
// so masked rows still tell devices from users.
func (m idMask) apply(id string) string {
	if id == "" || m.show {
		return id
	}
	prefix := ""
	if rest, ok := strings.CutPrefix(id, "$device:"); ok {
		prefix, id = "$device:", rest
	}
	mac := hmac.New(sha256.New, m.key)
	mac.Write([]byte(id))
	sum := mac.Sum(nil)
	return prefix + "masked:" + hex.EncodeToString(sum[:maskedHexBytes])
}

// minHexRun is the shortest run of hex digits text masks: an insert id
// (and the deduper's key) is 32.
const minHexRun = 32

// minTextID is the shortest id text replaces in free text; shorter ones
// would garble the message more than they reveal.
const minTextID = 4

// text masks free text that did not come from the Auditor, such as a
// sink's last error, unless ids are shown: every run of at least 32 hex
// digits (an insert id that Mixpanel named in a refusal, with the mask of
// the recent row it belongs to) and every occurrence of one of ids (of at
// least 4 bytes) is replaced by its mask. It is a safety net: the Auditor
// cannot recognise an id it has never seen.
func (m idMask) text(s string, ids []string) string {
	if m.show || s == "" {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		j := i
		for j < len(s) && isHex(s[j]) {
			j++
		}
		switch {
		case j-i >= minHexRun:
			b.WriteString(m.apply(s[i:j]))
		case j > i:
			b.WriteString(s[i:j])
		default:
			b.WriteByte(s[i])
			j = i + 1
		}
		i = j
	}
	s = b.String()

	var known []string
	for _, id := range ids {
		if len(id) >= minTextID && strings.Contains(s, id) {
			known = append(known, id)
		}
	}
	if len(known) == 0 {
		return s
	}
	// Longest first, so that an id is not replaced inside a longer one.
	slices.SortFunc(known, func(x, y string) int {
		return cmp.Or(cmp.Compare(len(y), len(x)), strings.Compare(x, y))
	})
	known = slices.Compact(known)
	pairs := make([]string, 0, 2*len(known))
	for _, id := range known {
		pairs = append(pairs, id, m.apply(id))
	}
	return strings.NewReplacer(pairs...).Replace(s)
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}
