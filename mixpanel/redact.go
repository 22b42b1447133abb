package mixpanel

import (
	"cmp"
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"
)

// maxMessageBytes bounds the text from the network that an error or a log
// line keeps: Mixpanel's error message, a refused record's field and
// message.
const maxMessageBytes = 200

// minSecretBytes is the shortest value the redactor looks for: shorter
// ones would garble messages without protecting anything.
const minSecretBytes = 4

// redactedText replaces a secret in a message.
const redactedText = "[redacted]"

// A redactor removes the sink's secrets (the project token, the service
// account's user and secret, the basic-auth header value) from text that
// came from the network, since a proxy or Mixpanel may echo them, before
// the text reaches an error, the Tracker's stats or a log line.
//
// It redacts first and bounds the text after: cut first, a secret
// straddling the cut would no longer match and all but its last bytes
// would be kept.
type redactor struct {
	secrets []string // longest first, each in the forms it may be echoed in
}

func newRedactor(values ...string) redactor {
	var r redactor
	for _, v := range values {
		if len(v) < minSecretBytes {
			continue
		}
		quoted, _ := json.Marshal(v)
		forms := []string{v, url.QueryEscape(v), url.PathEscape(v), string(quoted[1 : len(quoted)-1])}
		r.secrets = append(r.secrets, forms...)
	}
	slices.SortFunc(r.secrets, func(x, y string) int {
		return cmp.Or(cmp.Compare(len(y), len(x)), strings.Compare(x, y))
	})
	r.secrets = slices.Compact(r.secrets)
	return r
}

// clean redacts msg and bounds it to maxMessageBytes (on a UTF-8
// boundary, marked by "...").
func (r redactor) clean(msg string) string {
	return shorten(r.redact(msg), maxMessageBytes)
}

// redact replaces every occurrence of a secret in msg by "[redacted]".
// Occurrences that overlap or touch are replaced as one, so that
// replacing one secret cannot break another's occurrence and leave a
// part of it.
func (r redactor) redact(msg string) string {
	var spans [][2]int
	for _, v := range r.secrets {
		for from := 0; ; {
			i := strings.Index(msg[from:], v)
			if i < 0 {
				break
			}
			spans = append(spans, [2]int{from + i, from + i + len(v)})
			from += i + 1
		}
	}
	if len(spans) == 0 {
		return msg
	}
	slices.SortFunc(spans, func(x, y [2]int) int { return cmp.Compare(x[0], y[0]) })
	var b strings.Builder
	at := 0
	for i := 0; i < len(spans); {
		lo, hi := spans[i][0], spans[i][1]
		for i++; i < len(spans) && spans[i][0] <= hi; i++ {
			hi = max(hi, spans[i][1])
		}
		b.WriteString(msg[at:lo])
		b.WriteString(redactedText)
		at = hi
	}
	b.WriteString(msg[at:])
	return b.String()
}

// wrap returns err with the secrets redacted from its message; errors.Is
// and errors.As still see the errors it wraps. It returns err itself when
// its message holds no secret.
func (r redactor) wrap(err error) error {
	msg := err.Error()
	if red := r.redact(msg); red != msg {
		return &redactedError{msg: red, err: err}
	}
	return err
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// shorten cuts s to at most n bytes on a UTF-8 boundary, marking the cut
// with "...".
func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}
