package redisdedupe

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"slices"
	"strconv"
	"strings"
)

// What a claim stores in Redis: one key per (subject, experiment), holding
// the latest variant's tag and, once the subject crossed over, the tags of
// the variants it was exposed to before, for the window.
//
// The key is the prefix followed by 16 raw bytes: the Tracker's dedupe key
// (32 hex characters) decoded, any other key's SHA-256 cut to 16 bytes, or
// with WithKeySecret an HMAC-SHA256 cut to 16 bytes. With the default
// prefix a key is 25 bytes, which Redis keeps in a 32-byte allocation
// (the hex form took 48).
//
// The value of a key that never crossed over is an integer, which Redis
// keeps inside its object header (16 bytes) instead of a string (48 bytes
// for the old 20-character token):
//
//	tag << 32 | nonce
//
// tag is 21 bits of a hash of the variant, the same in every process: two
// variants of one experiment share a tag with a chance of 1 in 2,097,152,
// and a move between those two is taken for a duplicate. nonce is 32
// random bits drawn per ClaimBatch call, made distinct per claim of the
// call (the claim's index, doubled, XORed in; the backfill XORs in 1): a
// value a claim finds in Redis that equals its own was written by one of
// its own sends whose answer was lost (resent by go-redis or by a retry),
// and the claim is still this call's. The value stays below 2^53, so that
// the crossover script (Lua, whose numbers are doubles) reads tags exactly.
//
// A crossover (only the crossover script writes this form) makes the value
// a short string, the integer followed by the tags of the variants exposed
// before it, oldest first:
//
//	tag << 32 | nonce "|" tag "," tag ...
//
// in decimal, at most [seenCap] tags: an embedded string, which costs a
// key about 32 bytes more than the integer with one tag listed, 48 with two
// or three (MEMORY USAGE, Redis 7.0). The current tag is in the list only when the crossover that
// wrote the value moved back to a variant exposed before (it was not sent),
// so that a retry that finds its own value still knows which it was.
const (
	tagBits   = 21
	nonceBits = 32
	keyBytes  = 16
	// seenCap bounds the variants a key remembers besides its current one:
	// an experiment has a few, and a subject flipping among more cannot
	// grow a key (the oldest are forgotten, and may be sent again).
	seenCap = 16
)

// storedKey is the key as it is stored, without the prefix: 16 raw bytes
// (see above).
func (d *Deduper) storedKey(key string) string {
	if d.keySecret != nil {
		m := hmac.New(sha256.New, d.keySecret)
		m.Write([]byte(key))
		return string(m.Sum(nil)[:keyBytes])
	}
	if len(key) == 2*keyBytes {
		var raw [keyBytes]byte
		if _, err := hex.Decode(raw[:], []byte(key)); err == nil && hex.EncodeToString(raw[:]) == key {
			return string(raw[:])
		}
	}
	sum := sha256.Sum256([]byte(key))
	return string(sum[:keyBytes])
}

// variantTag is the variant's tag, keyed by the secret when there is one,
// so that the values in Redis do not tell which variant a key holds
// either.
func (d *Deduper) variantTag(variant string) int64 {
	var sum []byte
	if d.keySecret != nil {
		m := hmac.New(sha256.New, d.keySecret)
		m.Write([]byte("variant\x00"))
		m.Write([]byte(variant))
		sum = m.Sum(nil)
	} else {
		s := sha256.Sum256([]byte(variant))
		sum = s[:]
	}
	return int64(binary.BigEndian.Uint64(sum) >> (64 - tagBits))
}

// claimValue is the value a claim of tag writes.
func claimValue(tag int64, nonce uint32) int64 { return tag<<nonceBits | int64(nonce) }

// claimNonce is the nonce of the claim at index i of a call whose nonce is
// nonce: distinct per claim, and never the backfill's (nonce ^ 1).
func claimNonce(nonce uint32, i int) uint32 { return nonce ^ uint32(i)<<1 }

// splitValue splits a value read from Redis into its current part (the
// integer) and its list of tags exposed before ("" when there is none).
func splitValue(v string) (current, seen string) {
	for i := 0; i < len(v); i++ {
		if v[i] == '|' {
			return v[:i], v[i+1:]
		}
	}
	return v, ""
}

// valueTag is the tag of the variant a value read from Redis holds, or -1
// when it is not a claim's value (never a tag: such a value is another
// variant's).
func valueTag(v string) int64 {
	current, _ := splitValue(v)
	n, err := strconv.ParseInt(current, 10, 64)
	if err != nil || n < 0 || n >= 1<<(tagBits+nonceBits) {
		return -1
	}
	return n >> nonceBits
}

// exposedTags are the tags of the variants a value read from Redis says
// were exposed within the window: its current one (unless it is not a
// claim's value) and those listed.
func exposedTags(v string) []int64 {
	var out []int64
	if t := valueTag(v); t >= 0 {
		out = append(out, t)
	}
	_, seen := splitValue(v)
	for seen != "" {
		var t string
		t, seen, _ = strings.Cut(seen, ",")
		if n, err := strconv.ParseInt(t, 10, 64); err == nil && n >= 0 && n < 1<<tagBits && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}
