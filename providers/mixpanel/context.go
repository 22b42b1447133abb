package mixpanelflags

import (
	"errors"
	"fmt"

	"github.com/mixpanel/mixpanel-go/v2/flags"
	"github.com/open-feature/go-sdk/openfeature"

	"github.com/exposurekit/exposure"
)

// Keys of Mixpanel's flag context.
const (
	keyDistinctID       = "distinct_id"
	keyDeviceID         = "device_id"
	keyCustomProperties = "custom_properties"
)

var errNoSubject = errors.New("mixpanelflags: the evaluation context has no targeting key, " +
	exposure.AttributeUserID + " or " + exposure.AttributeDeviceID)

// FlagContext maps an OpenFeature evaluation context (flattened, as
// providers get it) to Mixpanel's flag context, with the subject chosen as
// exposure.DefaultIdentity chooses it, so that the variant is hashed on the
// distinct_id the exposure is sent for:
//
//	distinct_id        the "$user_id" attribute, else "$device:" + "$device_id", else the targeting key
//	device_id          the "$device_id" attribute
//	custom_properties  every other attribute, for the flags' runtime rules
//	<group key>        the attribute of that name, for each key of WithGroupKeys
//
// "$user_id" and "$device_id" must be strings: another type is an error.
// A context with no subject has no distinct_id (local evaluation then
// answers TARGETING_KEY_MISSING for flags assigned by distinct_id).
func FlagContext(flat openfeature.FlattenedContext, groupKeys ...string) (flags.FlagContext, error) {
	fc := make(flags.FlagContext, 3+len(groupKeys))
	custom := make(map[string]any, len(flat))
	var userID, deviceID, targeting string
	for k, v := range flat {
		switch k {
		case openfeature.TargetingKey:
			targeting, _ = v.(string)
		case exposure.AttributeUserID, exposure.AttributeDeviceID:
			s, ok := v.(string)
			if !ok {
				return nil, fmt.Errorf("mixpanelflags: the %q attribute is a %T, not a string", k, v)
			}
			if k == exposure.AttributeUserID {
				userID = s
			} else {
				deviceID = s
			}
		default:
			custom[k] = v
		}
	}
	switch {
	case userID != "":
		fc[keyDistinctID] = userID
	case deviceID != "":
		fc[keyDistinctID] = "$device:" + deviceID
	case targeting != "":
		fc[keyDistinctID] = targeting
	}
	if deviceID != "" {
		fc[keyDeviceID] = deviceID
	}
	fc[keyCustomProperties] = custom
	for _, k := range groupKeys {
		if v, ok := flat[k]; ok {
			fc[k] = v
		}
	}
	return fc, nil
}
