package redisdedupe

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"strconv"
)

// What a claim stores in Redis: one key per (subject, experiment), holding
// the latest variant's tag, for the window.
//
// The key is the prefix followed by 16 raw bytes: the Tracker's dedupe key
// (32 hex characters) decoded, any other key's SHA-256 cut to 16 bytes, or
// with WithKeySecret an HMAC-SHA256 cut to 16 bytes. With the default
// prefix a key is 25 bytes, which Redis keeps in a 32-byte allocation
// (the hex form took 48).
//
// The value is an integer, which Redis keeps inside its object header (16
// bytes) instead of a string (48 bytes for the old 20-character token):
//
//	tag << 32 | nonce
//
// tag is 21 bits of a hash of the variant, the same in every process: two
// variants of one experiment share a tag with a chance of 1 in 2,097,152,
// and a move between those two is taken for a duplicate. nonce is 32
// random bits drawn per ClaimBatch call: a value this call finds in Redis
// that equals its own was written by one of its own sends whose answer was
// lost (resent by go-redis or by a retry), and the claim is still this
// call's. The value stays below 2^53, so that the crossover script (Lua,
// whose numbers are doubles) compares tags exactly.
const (
	tagBits   = 21
	nonceBits = 32
	keyBytes  = 16
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

// valueTag is the tag of a value read from Redis, or -1 when it is not a
// claim's value (never a tag: such a value is another variant's).
func valueTag(v string) int64 {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 || n >= 1<<(tagBits+nonceBits) {
		return -1
	}
	return n >> nonceBits
}
