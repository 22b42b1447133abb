package statsig

import (
	"errors"
	"fmt"

	"github.com/open-feature/go-sdk/openfeature"
	sdk "github.com/statsig-io/go-sdk"
)

// Evaluation-context attributes with a meaning of their own in a Statsig
// user. Every other attribute becomes a custom field (User.Custom).
const (
	// AttributeUserID is the user id when the targeting key is empty.
	AttributeUserID = "userID"
	// AttributeCustomIDs holds the user's other unit ids, such as
	// "stableID" or "companyID" (map[string]string or map[string]any of
	// strings).
	AttributeCustomIDs = "customIDs"
	// AttributePrivate holds attributes used for targeting but kept out of
	// logged events (map[string]any).
	AttributePrivate = "privateAttributes"
)

// The Statsig user fields set from the string attributes of these names.
var userFields = map[string]func(*sdk.User, string){
	"email":      func(u *sdk.User, v string) { u.Email = v },
	"ip":         func(u *sdk.User, v string) { u.IpAddress = v },
	"userAgent":  func(u *sdk.User, v string) { u.UserAgent = v },
	"country":    func(u *sdk.User, v string) { u.Country = v },
	"locale":     func(u *sdk.User, v string) { u.Locale = v },
	"appVersion": func(u *sdk.User, v string) { u.AppVersion = v },
}

// errNoUnit is wrapped when a context has no user id and no custom ids.
var errNoUnit = errors.New("evaluation context has no targeting key, \"userID\" or \"customIDs\"")

// UserFrom converts an OpenFeature evaluation context to a Statsig user, as
// the provider does for every evaluation: the targeting key is the user id;
// "email", "ip", "userAgent", "country", "locale" and "appVersion" are the
// user fields of those names; [AttributeCustomIDs] and [AttributePrivate]
// their Statsig namesakes; every other attribute a custom field.
func UserFrom(ec openfeature.EvaluationContext) (sdk.User, error) {
	flat := openfeature.FlattenedContext(ec.Attributes())
	if tk := ec.TargetingKey(); tk != "" {
		flat[openfeature.TargetingKey] = tk
	}
	return userFrom(flat)
}

func userFrom(flat openfeature.FlattenedContext) (sdk.User, error) {
	var u sdk.User
	u.UserID, _ = flat[openfeature.TargetingKey].(string)
	for name, v := range flat {
		switch name {
		case openfeature.TargetingKey:
		case AttributeUserID:
			s, ok := v.(string)
			if !ok {
				return sdk.User{}, fmt.Errorf("attribute %q must be a string, got %T", name, v)
			}
			if u.UserID == "" {
				u.UserID = s
			}
		case AttributeCustomIDs:
			ids, err := stringMap(v)
			if err != nil {
				return sdk.User{}, fmt.Errorf("attribute %q: %w", name, err)
			}
			u.CustomIDs = ids
		case AttributePrivate:
			m, ok := v.(map[string]any)
			if !ok {
				return sdk.User{}, fmt.Errorf("attribute %q must be a map[string]any, got %T", name, v)
			}
			u.PrivateAttributes = m
		default:
			if set, ok := userFields[name]; ok {
				s, isString := v.(string)
				if !isString {
					return sdk.User{}, fmt.Errorf("attribute %q must be a string, got %T", name, v)
				}
				set(&u, s)
				continue
			}
			if u.Custom == nil {
				u.Custom = make(map[string]any)
			}
			u.Custom[name] = v
		}
	}
	if u.UserID == "" && len(u.CustomIDs) == 0 {
		return sdk.User{}, errNoUnit
	}
	return u, nil
}

func stringMap(v any) (map[string]string, error) {
	switch v := v.(type) {
	case map[string]string:
		return v, nil
	case map[string]any:
		out := make(map[string]string, len(v))
		for k, e := range v {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("id %q must be a string, got %T", k, e)
			}
			out[k] = s
		}
		return out, nil
	default:
		return nil, fmt.Errorf("must be a map of strings, got %T", v)
	}
}
