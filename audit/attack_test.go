package audit_test

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/exposurekit/exposure"
	"github.com/exposurekit/exposure/audit"
	"github.com/exposurekit/exposure/mixpanel"
	"github.com/exposurekit/exposure/mixpanel/mixpaneltest"
)

// attackCandidates is how many ids the attacker tries.
const attackCandidates = 100_000

func candidate(i int) string { return fmt.Sprintf("user-%06d@example.com", i) }

// flushRefused flushes delivery to the recorder and to a Mixpanel that
// refuses every event.
func flushRefused(t *testing.T, e *env) {
	t.Helper()
	require.ErrorContains(t, e.tracker.Flush(context.Background()), "failed for good")
}

// rowFacts is what a masked row shows in the clear: what an attacker
// combines with a guessed id.
type rowFacts struct {
	experiment, variant string
	ms                  int64
}

// The attacker reads a shared audit page and its JSON report, masked (the
// default), and knows that the exposed subject is one of 100,000 candidate
// ids. They try every field: the ids as they are, the insert id and the
// deduper's key recomputed as the root package computes them (SHA-256 of
// distinct id \x00 experiment \x00 variant, plus the big-endian
// milliseconds for the insert id, first 16 bytes in hex), plain SHA-256
// of the id, and the masks another Auditor of the same library computes.
// The exposure is also refused by Mixpanel, so the sink's last error names
// its insert id. None of it may give the id away.
func TestMaskedReportDoesNotRevealTheID(t *testing.T) {
	const secret = 73_421
	target := candidate(secret)

	// Mixpanel's clock runs two hours behind: it refuses the exposure as
	// "more than 1 hour in the future", naming its insert id.
	mp := mixpaneltest.Start(t, mixpaneltest.WithClock(func() time.Time { return time.Now().Add(-2 * time.Hour) }))
	sink, err := mixpanel.NewSink(mp.Token(), mixpanel.WithEndpoint(mp.URL), mixpanel.WithLogger(quietLogger))
	require.NoError(t, err)
	e := newEnv(t, checkout, nil, exposure.WithSink(sink, exposure.WithFlushInterval(10*time.Millisecond)))
	e.get(t, "/checkout?user="+url.QueryEscape(target))
	flushRefused(t, e)
	require.Len(t, e.recorder.Exposures(), 1)
	require.Eventually(t, func() bool { return e.tracker.Stats().Sinks[1].LastError != "" }, 5*time.Second, 10*time.Millisecond)
	require.Contains(t, e.tracker.Stats().Sinks[1].LastError, e.recorder.Exposures()[0].InsertID,
		"the sink's error names the refused event's insert id, the way to it the attack tries")

	js := e.get(t, "/debug/exposures?format=json")
	page := e.get(t, "/debug/exposures")
	var report audit.Report
	require.NoError(t, json.Unmarshal([]byte(js), &report))
	require.True(t, report.IDsMasked)
	require.Len(t, report.Recent, 1)

	var rows []rowFacts
	for _, x := range report.Recent {
		rows = append(rows, rowFacts{x.Properties.Experiment, x.Properties.Variant, x.Properties.Time})
	}
	found := recoverIDs(t, rows, js+"\n"+page)
	assert.Empty(t, found, "the masked report gave the id away")

	// Masks are keyed: another Auditor, made with the same public API and
	// fed every candidate's exposure (with its insert id), computes other
	// masks.
	other, err := audit.NewAuditor(audit.WithRecent(attackCandidates))
	require.NoError(t, err)
	x := e.recorder.Exposures()[0]
	for i := range attackCandidates {
		x.Identity = exposure.Identity{DistinctID: candidate(i), UserID: candidate(i)}
		x.InsertID = rootInsertID(candidate(i), rows[0])
		other.Observe(exposure.Event{Stage: exposure.StageCommitted, Exposure: x, Count: 1})
	}
	own := other.Report(nil).Recent
	require.Len(t, own, attackCandidates)
	masks := make(map[string]string, 2*attackCandidates)
	for j, r := range own { // newest first
		c := candidate(attackCandidates - 1 - j)
		masks[r.Properties.DistinctID] = c + " by another Auditor's mask"
		masks[r.Properties.InsertID] = c + " by another Auditor's mask of the insert id"
	}
	found = map[string]string{}
	for _, word := range words(js + "\n" + page) {
		if how, ok := masks[word]; ok {
			found[word] = how
		}
	}
	assert.Empty(t, found, "masks are keyed, with a key of this Auditor's own")
}

// rootInsertID is the insert id as the root package computes it: SHA-256
// of distinct id \x00 experiment \x00 variant and the big-endian
// milliseconds, the first 16 bytes in hex.
func rootInsertID(id string, r rowFacts) string {
	b := append(append(append(append([]byte(id), 0), r.experiment...), 0), r.variant...)
	sum := sha256.Sum256(binary.BigEndian.AppendUint64(b, uint64(r.ms)))
	return hex.EncodeToString(sum[:16])
}

// recoverIDs is the attacker: it maps every candidate id, and everything
// derived from one without a key, to the candidate, and looks each word
// and hex run of the page up. It returns how each recovered id was found.
func recoverIDs(t *testing.T, rows []rowFacts, body string) map[string]string {
	t.Helper()
	start := time.Now()
	derived := make(map[string]string, attackCandidates*16)
	hashed := func(sum []byte, c, how string) {
		h := hex.EncodeToString(sum)
		for _, n := range []int{8, 16, 32, 64} { // truncated hashes too
			if n <= len(h) {
				derived[h[:n]] = c + " by " + how
			}
		}
	}
	buf := make([]byte, 0, 256)
	for i := range attackCandidates {
		c := candidate(i)
		derived[c] = c + " as it is"
		derived["$device:"+c] = c + " as it is"
		plain := sha256.Sum256([]byte(c))
		hashed(plain[:], c, "SHA-256 of the id")
		for _, r := range rows {
			buf = append(append(append(append(append(buf[:0], c...), 0), r.experiment...), 0), r.variant...)
			key := sha256.Sum256(buf)
			hashed(key[:16], c, "the deduper's key")
			ins, _ := hex.DecodeString(rootInsertID(c, r))
			hashed(ins, c, "the insert id")
		}
	}
	found := map[string]string{}
	for _, w := range words(body) {
		if how, ok := derived[w]; ok {
			found[w] = how
		}
	}
	for _, run := range hexRun.FindAllString(body, -1) {
		run = strings.ToLower(run)
		for _, n := range []int{8, 16, 32, 64} {
			if n <= len(run) {
				if how, ok := derived[run[:n]]; ok {
					found[run] = how
				}
			}
		}
	}
	t.Logf("tried %d candidates in %d derived forms in %v", attackCandidates, len(derived), time.Since(start))
	return found
}

var (
	wordRun = regexp.MustCompile(`[A-Za-z0-9@._$:\-]+`)
	hexRun  = regexp.MustCompile(`[0-9a-fA-F]{8,}`)
)

// words splits text into the runs an id or a mask could be.
func words(text string) []string {
	ws := wordRun.FindAllString(text, -1)
	for _, w := range ws {
		if rest, ok := strings.CutPrefix(w, "$device:"); ok {
			ws = append(ws, rest)
		}
	}
	return ws
}

// Masks stay stable within the process: the rows of one subject show the
// same masked ids, another subject's differ, each event's insert id has
// its own mask, and the masked insert id in the sink's last error is the
// one of the refused event's row.
func TestMasksAreStableWithinTheProcess(t *testing.T) {
	mp := mixpaneltest.Start(t, mixpaneltest.WithClock(func() time.Time { return time.Now().Add(-2 * time.Hour) }))
	sink, err := mixpanel.NewSink(mp.Token(), mixpanel.WithEndpoint(mp.URL), mixpanel.WithLogger(quietLogger))
	require.NoError(t, err)
	e := newEnv(t, checkout, nil, exposure.WithSink(sink, exposure.WithFlushInterval(10*time.Millisecond)))

	variant := "a"
	e.rules.variantFor = func(string) string { return variant }
	e.get(t, "/checkout?user=alice")
	flushRefused(t, e)
	variant = "b" // alice again, in the other variant: a second exposure
	e.get(t, "/checkout?user=alice")
	e.get(t, "/checkout?user=bob")
	flushRefused(t, e)

	r := e.report(t)
	require.Len(t, r.Recent, 3)
	bob, alice2, alice1 := r.Recent[0].Properties, r.Recent[1].Properties, r.Recent[2].Properties
	for _, p := range []audit.EventProperties{bob, alice2, alice1} {
		assert.Regexp(t, `^masked:[0-9a-f]{16}$`, p.DistinctID)
		assert.Regexp(t, `^masked:[0-9a-f]{16}$`, p.InsertID)
	}
	assert.Equal(t, alice1.DistinctID, alice2.DistinctID, "one subject's rows match")
	assert.NotEqual(t, alice1.DistinctID, bob.DistinctID)
	assert.NotEqual(t, alice1.InsertID, alice2.InsertID)
	assert.Equal(t, e.report(t).Recent[0].Properties.DistinctID, bob.DistinctID, "stable from one report to the next")

	sent := e.recorder.Exposures()
	require.Len(t, r.Sinks, 2)
	last := r.Sinks[1].LastError
	require.NotEmpty(t, last)
	assert.NotContains(t, last, sent[len(sent)-1].InsertID)
	assert.Contains(t, last, bob.InsertID, "the refused event is found among the rows by its masked insert id")
}

// namingSink refuses every batch with an error that names the subject, as
// a vendor's SDK might.
type namingSink struct{}

func (namingSink) Name() string { return "naming" }

func (namingSink) Send(_ context.Context, batch []exposure.Exposure) error {
	return fmt.Errorf("vendor refused user %q (insert id %s)", batch[0].Identity.DistinctID, batch[0].InsertID)
}

// A sink's last error is free text: with ids masked, the ids of the recent
// exposures and the insert ids in it are masked as on their rows; shown,
// it is left as it is.
func TestLastErrorIsMaskedWithTheIDs(t *testing.T) {
	for _, show := range []bool{false, true} {
		t.Run(fmt.Sprint("show=", show), func(t *testing.T) {
			e := newEnv(t, checkout, []audit.Option{audit.WithShowIDs(show)}, exposure.WithSink(namingSink{}))
			e.get(t, "/checkout?user=carol-secret@example.com")
			flushRefused(t, e)
			sent := e.recorder.Exposures()
			require.Len(t, sent, 1)

			r := e.report(t)
			require.Len(t, r.Sinks, 2)
			last, row := r.Sinks[1].LastError, r.Recent[0].Properties
			if show {
				assert.Contains(t, last, "carol-secret@example.com")
				assert.Contains(t, last, sent[0].InsertID)
				return
			}
			assert.NotContains(t, last, "carol-secret")
			assert.NotContains(t, last, sent[0].InsertID)
			assert.Equal(t, fmt.Sprintf("vendor refused user %q (insert id %s)", row.DistinctID, row.InsertID), last)
		})
	}
}
