// Package hll counts distinct 64-bit hashes in a fixed 8 KiB, without a
// lock.
//
// A [Counter] answers "how many different subjects did we see?" for a
// request path that cannot afford a mutex or an allocation. Small counts
// are the common case and the ones people read closely ("3 subjects
// exposed, not 4"), so a Counter is exact while it has seen at most
// [ExactLimit] distinct hashes. Past that it switches to a HyperLogLog
// sketch, whose answer is approximate (1.6% standard error) but whose
// memory does not grow with the count.
//
// The two halves live in their own files: exact.go is the lock-free hash
// set that makes small counts exact, sketch.go is the HyperLogLog that
// takes over when the set fills up.
//
// A Counter stores hashes, not values: hash the value first, with a hash
// whose bits are all well mixed such as [hash/maphash]. Both halves rely
// on that: the exact set picks a slot by the low bits, the sketch picks a
// register by the high bits and reads a geometric coin toss from the rest.
package hll
