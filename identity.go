package exposure

import "github.com/open-feature/go-sdk/openfeature"

// Evaluation-context attributes read by [DefaultIdentity], named as in
// Mixpanel's Simplified ID Merge.
const (
	AttributeUserID   = "$user_id"
	AttributeDeviceID = "$device_id"
)

// DefaultIdentity derives the subject of an evaluation per Mixpanel's
// Simplified ID Merge: the "$user_id" and "$device_id" attributes when
// present (strings); distinct_id is the user id, else "$device:<device id>",
// else the targeting key. A context with none of them returns ErrNoSubject.
func DefaultIdentity(ec openfeature.EvaluationContext) (Identity, error) {
	id := Identity{
		UserID:   stringAttribute(ec, AttributeUserID),
		DeviceID: stringAttribute(ec, AttributeDeviceID),
	}
	switch {
	case id.UserID != "":
		id.DistinctID = id.UserID
	case id.DeviceID != "":
		id.DistinctID = "$device:" + id.DeviceID
	default:
		id.DistinctID = ec.TargetingKey()
	}
	if id.DistinctID == "" {
		return Identity{}, ErrNoSubject
	}
	return id, nil
}

func stringAttribute(ec openfeature.EvaluationContext, key string) string {
	s, _ := ec.Attribute(key).(string)
	return s
}
