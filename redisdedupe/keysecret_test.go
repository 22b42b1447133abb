package redisdedupe

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/exposurekit/exposure"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// guessKey is what an operator with Redis access computes for a candidate
// id: the Tracker's dedupe key, an unkeyed SHA-256 of the subject and
// experiment (see the root package's keys.go), stored as raw bytes.
func guessKey(prefix, user, experiment string) string {
	sum := sha256.Sum256([]byte(user + "\x00" + experiment))
	return prefix + string(sum[:16])
}

// Without a key secret, the Redis keys can be mapped back to the ids that
// were exposed by hashing candidates; with one, they cannot.
func TestKeySecretKeepsIDsOutOfRedisKeys(t *testing.T) {
	rdb := sharedClient(t)
	for _, withSecret := range []bool{false, true} {
		t.Run(fmt.Sprint("secret=", withSecret), func(t *testing.T) {
			prefix := fmt.Sprintf("keysecret-%d-%v:", time.Now().UnixNano(), withSecret)
			opts := []Option{WithKeyPrefix(prefix)}
			if withSecret {
				opts = append(opts, WithKeySecret([]byte("a secret of at least thirty-two bytes!")))
			}
			in := newInstance(t, rdb, time.Hour, opts...)
			resp, err := http.Get(in.server.URL + "/checkout?user=victim-42")
			require.NoError(t, err)
			resp.Body.Close()
			require.NoError(t, in.tracker.Flush(context.Background()))
			require.Equal(t, 2, in.recorder.Len(), "two experiments exposed")

			keys, err := rdb.Keys(context.Background(), prefix+"*").Result()
			require.NoError(t, err)
			require.Len(t, keys, 2)
			found := 0
			for _, e := range in.recorder.Exposures() {
				for i := range 1000 { // the attacker's candidates
					candidate := fmt.Sprint("victim-", i)
					k := guessKey(prefix, candidate, e.Experiment)
					if n, _ := rdb.Exists(context.Background(), k).Result(); n == 1 {
						found++
						assert.Equal(t, e.Identity.DistinctID, candidate)
					}
				}
			}
			if withSecret {
				assert.Zero(t, found, "keyed keys cannot be tested against candidates")
			} else {
				assert.Equal(t, 2, found, "unkeyed keys give the id away (why WithKeySecret exists)")
			}
			// Dedupe works alike: a second visit is a duplicate.
			resp, err = http.Get(in.server.URL + "/checkout?user=victim-42")
			require.NoError(t, err)
			resp.Body.Close()
			require.NoError(t, in.tracker.Flush(context.Background()))
			assert.Equal(t, 2, in.recorder.Len())
			assert.Equal(t, uint64(2), in.tracker.Stats().Counts[exposure.StageDuplicate])
		})
	}
}
