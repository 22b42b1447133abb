package beacon

import (
	"time"

	"github.com/exposurekit/exposure"
	"github.com/exposurekit/exposure/internal/token"
	"github.com/open-feature/go-sdk/openfeature"
)

// tokenOf is the token of an assignment handed off at issued.
func tokenOf(a *exposure.Assignment, issued time.Time) token.Token {
	ms := uint64(max(issued.UnixMilli(), 0))
	var age uint64
	if ev := a.EvaluatedAt.UnixMilli(); !a.EvaluatedAt.IsZero() && ev > 0 && uint64(ev) <= ms {
		age = ms - uint64(ev)
	}
	return token.Token{
		IssuedMS:        ms,
		AgeMS:           age,
		FlagKey:         a.FlagKey,
		Experiment:      a.Experiment,
		Variant:         a.Variant,
		ProviderVariant: a.ProviderVariant,
		DistinctID:      a.Identity.DistinctID,
		UserID:          a.Identity.UserID,
		DeviceID:        a.Identity.DeviceID,
		TargetingKey:    a.Context.TargetingKey(),
		Reason:          a.Reason,
		Attributes:      a.Context.Attributes(),
		Properties:      a.Properties,
		Related:         relatedOf(a.Related),
	}
}

// relatedOf is what a token carries of the related assignments of an
// assignment: what differs from the assignment's own (the root gives a
// related assignment the flag key, subject and context of the one it is
// related to).
func relatedOf(related []exposure.Assignment) []token.Related {
	if len(related) == 0 {
		return nil
	}
	out := make([]token.Related, len(related))
	for i := range related {
		r := &related[i]
		out[i] = token.Related{Experiment: r.Experiment, Variant: r.Variant,
			ProviderVariant: r.ProviderVariant, Properties: r.Properties}
	}
	return out
}

// assignmentOf rebuilds the assignment a token was issued for, with the
// provider's own name of the variant (ProviderVariant, which vendor sinks
// compare with a fresh evaluation; empty for a version-1 token, issued by
// a release before it was in tokens). Its Context carries the targeting
// key and the attributes of the original evaluation that the token
// carries (versions 4 and 5: all those that fit), and the $user_id and
// $device_id attributes of the subject when the token has none (versions
// 1 to 3 carry no other attribute). A version-5 token also gives it its
// event properties and its related assignments, each with the flag key,
// subject, reason, time and context of the token's own.
func assignmentOf(tok *token.Token) exposure.Assignment {
	attrs := tok.Attributes
	if attrs == nil {
		attrs = map[string]any{}
	}
	if _, ok := attrs[exposure.AttributeUserID]; !ok && tok.UserID != "" {
		attrs[exposure.AttributeUserID] = tok.UserID
	}
	if _, ok := attrs[exposure.AttributeDeviceID]; !ok && tok.DeviceID != "" {
		attrs[exposure.AttributeDeviceID] = tok.DeviceID
	}
	a := exposure.Assignment{
		FlagKey: tok.FlagKey, Experiment: tok.Experiment, Variant: tok.Variant,
		ProviderVariant: tok.ProviderVariant,
		Identity: exposure.Identity{
			DistinctID: tok.DistinctID, UserID: tok.UserID, DeviceID: tok.DeviceID,
		},
		Reason:      tok.Reason,
		EvaluatedAt: tok.Evaluated(),
		Context:     openfeature.NewEvaluationContext(tok.TargetingKey, attrs),
		Properties:  tok.Properties,
	}
	if len(tok.Related) > 0 {
		a.Related = make([]exposure.Assignment, len(tok.Related))
		for i, r := range tok.Related {
			ra := a
			ra.Experiment, ra.Variant, ra.ProviderVariant = r.Experiment, r.Variant, r.ProviderVariant
			ra.Properties = r.Properties
			ra.Related = nil
			a.Related[i] = ra
		}
	}
	return a
}
