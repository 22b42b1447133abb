package token

import "testing"

// BenchmarkSign signs a typical token into a buffer with room: one HMAC
// and the encoding, no allocation.
func BenchmarkSign(b *testing.B) {
	c := testCodec(b, testKeyA)
	tok := testToken()
	dst := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		dst, _ = c.AppendSign(dst[:0], &tok)
	}
}

// BenchmarkVerify verifies a genuine token with one key, and with three
// where the signing key is tried last.
func BenchmarkVerify(b *testing.B) {
	tok := testToken()
	s := testCodec(b, testKeyA).Sign(&tok)
	for _, bc := range []struct {
		name string
		keys [][]byte
	}{
		{"keys=1", [][]byte{testKeyA}},
		{"keys=3", [][]byte{testKeyB, testKeyB, testKeyA}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			c := testCodec(b, bc.keys...)
			b.ReportAllocs()
			for b.Loop() {
				if _, v := c.Verify(s, testT0); v != OK {
					b.Fatal(v)
				}
			}
		})
	}
}
