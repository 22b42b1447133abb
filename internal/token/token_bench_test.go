package token

import "testing"

// BenchmarkSign seals a typical token (five attributes) into a buffer
// with room: a salt, one HMAC, AES-GCM and the encoding.
func BenchmarkSign(b *testing.B) {
	c := testCodec(b, testKeyA)
	tok := typicalToken()
	dst := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		dst, _, _ = c.AppendSign(dst[:0], &tok)
	}
}

// BenchmarkVerify verifies a genuine typical token (five attributes) with
// one key, and with three where the signing key is tried last.
func BenchmarkVerify(b *testing.B) {
	tok := typicalToken()
	s := testCodec(b, testKeyA).Sign(&tok)
	b.Logf("typical token: %d characters", len(s))
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
