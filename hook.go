package exposure

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/open-feature/go-sdk/openfeature"
)

// hook records experiment evaluations as pending assignments in the
// evaluation's Scope. It sends nothing and never returns an error: an error
// from a hook makes the SDK hand the caller the default value.
type hook struct {
	openfeature.UnimplementedHook
	t *Tracker
}

// Hook returns the OpenFeature hook that records assignments. Register it
// once, with [openfeature.AddHooks] or on a client, and evaluate flags with
// the request's context so the hook finds the request's Scope.
func (t *Tracker) Hook() openfeature.Hook { return t.hook }

// After records a successful experiment evaluation. Evaluations that errored
// never reach After; a disabled flag, or one whose provider says the subject
// is outside the experiment, is skipped.
func (h *hook) After(ctx context.Context, hc openfeature.HookContext, d openfeature.InterfaceEvaluationDetails, _ openfeature.HookHints) error {
	defer h.recoverPanic("After")
	t := h.t
	exp := t.reg.byFlag[hc.FlagKey()]
	meta := d.FlagMetadata
	metaName, _ := meta[MetadataExperimentName].(string)
	inExperiment, saysIn := meta[MetadataInExperiment].(bool)
	_, related := meta[metadataNumberedPrefix+"1.name"]
	if exp == nil && metaName == "" && !inExperiment && !related {
		return nil // not an experiment flag
	}
	primaryIn := !saysIn || inExperiment
	if d.ErrorCode != "" || d.Reason == openfeature.ErrorReason || d.Reason == openfeature.DisabledReason || (!primaryIn && !related) {
		// The reason is worth building only for an observer.
		if t.ledger.observed() {
			t.ledger.recordFlag(StageSkipped, hc.FlagKey(), skipReason(d))
		} else {
			t.ledger.counts[StageSkipped].Add(1)
		}
		return nil
	}
	s := ScopeFromContext(ctx)
	if s == nil {
		t.ledger.recordFlag(StageSkipped, hc.FlagKey(), ErrNoScope)
		t.unscopedOnce.Do(func() {
			t.log.Warn("exposure: experiment flag evaluated outside any scope; its exposure cannot be recorded. "+
				"Wrap the handler with Tracker.Middleware and pass the request's context (r.Context()) to the evaluation, "+
				"or open a scope with Tracker.Scope outside HTTP", "flag", hc.FlagKey())
		})
		return nil
	}
	id, err := t.identity(hc.EvaluationContext())
	if err != nil {
		t.ledger.recordFlag(StageSkipped, hc.FlagKey(), err)
		return nil
	}
	a := Assignment{
		FlagKey:  hc.FlagKey(),
		Identity: id,
		Reason:   string(d.Reason),
		Context:  hc.EvaluationContext(),
	}
	if primaryIn {
		metaVariant, _ := meta[MetadataExperimentVariant].(string)
		if exp != nil {
			a.Experiment = exp.Name
		} else if metaName != "" {
			a.Experiment = metaName
		} else {
			a.Experiment = hc.FlagKey()
		}
		a.Variant = exp.variantName(metaVariant, d.Variant, d.Value)
		a.ProviderVariant = d.Variant
		a.Properties = propertiesOf(meta, MetadataPropertyPrefix)
	}
	if related {
		a = withRelated(a, meta)
	}
	if a.Variant == "" {
		t.ledger.recordFlag(StageSkipped, hc.FlagKey(), errNoVariant)
		return nil
	}
	if err := a.checkBounds(); err != nil {
		t.ledger.recordFlag(StageSkipped, hc.FlagKey(), err)
		if t.boundsLog.allow(time.Minute) {
			t.log.Warn("exposure: assignment refused: a field is over Mixpanel's limit", "flag", truncate(hc.FlagKey(), 64), "err", err)
		}
		return nil
	}
	s.assign(&a, evaluationOf(hc))
	return nil
}

// Error undoes the assignment of this evaluation when a later hook's After
// failed: the caller then got the default value, not the recorded variant.
func (h *hook) Error(ctx context.Context, hc openfeature.HookContext, _ error, _ openfeature.HookHints) {
	defer h.recoverPanic("Error")
	if s := ScopeFromContext(ctx); s != nil {
		s.revert(hc.FlagKey(), evaluationOf(hc))
	}
}

// Finally counts the evaluation and settles its assignment.
func (h *hook) Finally(ctx context.Context, hc openfeature.HookContext, _ openfeature.InterfaceEvaluationDetails, _ openfeature.HookHints) {
	defer h.recoverPanic("Finally")
	h.t.ledger.recordFlag(StageEvaluated, hc.FlagKey(), nil)
	if s := ScopeFromContext(ctx); s != nil {
		s.settle(hc.FlagKey(), evaluationOf(hc))
	}
}

func (h *hook) recoverPanic(stage string) {
	if r := recover(); r != nil {
		h.t.log.Error("exposure: hook panicked; the evaluation is unaffected", "stage", stage, "panic", fmt.Sprint(r))
	}
}

var errNoVariant = errors.New("exposure: the evaluation names no variant")

// skipReason says why an experiment evaluation is not an assignment.
func skipReason(d openfeature.InterfaceEvaluationDetails) error {
	switch {
	case d.ErrorCode != "":
		return fmt.Errorf("exposure: evaluation failed: %s %s", d.ErrorCode, d.ErrorMessage)
	case d.Reason == openfeature.ErrorReason:
		return errors.New("exposure: evaluation failed")
	case d.Reason == openfeature.DisabledReason:
		return errors.New("exposure: flag disabled")
	default:
		return errors.New("exposure: subject outside the experiment's sample")
	}
}
