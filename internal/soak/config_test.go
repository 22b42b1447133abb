package soak

import (
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The size of a soak run. The defaults keep it between half a minute and
// three minutes on two cores, depending on the machine's load: 100,000
// users without the race detector (about 70 s), and 50,000 under -race,
// which slows every request two- to tenfold (100,000 users could take six
// minutes there). The fault schedule goes by progress, not by time, so a
// smaller run goes through every fault too.
const (
	defaultUsers     = 100_000
	defaultRaceUsers = 50_000
	defaultClients   = 64
)

// soakConfig is what the environment asks of a run.
type soakConfig struct {
	users    int           // new users per round
	duration time.Duration // rounds repeat until it has passed; 0: one round
	clients  int           // concurrent HTTP clients
	seed     uint64        // of the visits, the fake's faults and the flushes
}

func configFromEnv(t *testing.T) soakConfig {
	t.Helper()
	c := soakConfig{users: defaultUsers, clients: defaultClients, seed: uint64(time.Now().UnixNano())}
	if raceEnabled {
		c.users = defaultRaceUsers
	}
	if v := os.Getenv("EXPOSURE_SOAK_USERS"); v != "" {
		n, err := strconv.Atoi(v)
		require.NoError(t, err, "EXPOSURE_SOAK_USERS")
		require.Positive(t, n, "EXPOSURE_SOAK_USERS")
		c.users = n
	}
	if v := os.Getenv("EXPOSURE_SOAK_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		require.NoError(t, err, "EXPOSURE_SOAK_DURATION (such as 30m)")
		require.GreaterOrEqual(t, d, time.Duration(0), "EXPOSURE_SOAK_DURATION")
		c.duration = d
	}
	if v := os.Getenv("EXPOSURE_SOAK_CLIENTS"); v != "" {
		n, err := strconv.Atoi(v)
		require.NoError(t, err, "EXPOSURE_SOAK_CLIENTS")
		require.Positive(t, n, "EXPOSURE_SOAK_CLIENTS")
		c.clients = n
	}
	if v := os.Getenv("EXPOSURE_SOAK_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		require.NoError(t, err, "EXPOSURE_SOAK_SEED")
		c.seed = n
	}
	return c
}
