package exposure

import (
	"reflect"
	"unsafe"

	"github.com/open-feature/go-sdk/openfeature"
)

// evaluationID tells one flag evaluation from another evaluation of the
// same flag in the same Scope, so that the Error stage of a failed
// evaluation undoes what that evaluation recorded, not what a concurrent,
// successful one did. 0 means unknown.
//
// OpenFeature gives a hook no evaluation id. What it does give the After,
// Error and Finally stages of one evaluation is one HookContext whose
// evaluation context holds an attribute map the SDK made for that
// evaluation alone (it merges the API, transaction, client and invocation
// contexts into a fresh map each time). That map's address is the id. It
// is read without copying the map, at a field offset found once: if a
// future SDK stores its attributes otherwise, the offset is not found, the
// id is 0, and undo falls back to the latest record of the flag
// (TestEvaluationIDIsFound fails first, so the upgrade is noticed).
type evaluationID uintptr

var attributesOffset = func() uintptr {
	f, ok := reflect.TypeFor[openfeature.EvaluationContext]().FieldByName("attributes")
	if !ok || f.Type.Kind() != reflect.Map {
		return ^uintptr(0)
	}
	return f.Offset
}()

func evaluationOf(hc openfeature.HookContext) evaluationID {
	if attributesOffset == ^uintptr(0) {
		return 0
	}
	ec := hc.EvaluationContext()
	m := *(*unsafe.Pointer)(unsafe.Add(unsafe.Pointer(&ec), attributesOffset))
	return evaluationID(m)
}

// attributesOf returns the attributes of ec to read, without the copy that
// EvaluationContext.Attributes makes: an evaluation context is immutable,
// and its map is only ever read here. Without the offset, it copies.
func attributesOf(ec *openfeature.EvaluationContext) map[string]any {
	if attributesOffset == ^uintptr(0) {
		return ec.Attributes()
	}
	return *(*map[string]any)(unsafe.Add(unsafe.Pointer(ec), attributesOffset))
}
