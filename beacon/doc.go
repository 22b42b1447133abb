// Package beacon confirms exposures in the browser. A variant rendered
// below the fold, in a hidden element or in a tab nobody looks at was
// rendered but not seen. For such render sites the template function
// "exposureBeacon" takes the assignment out of the request's
// [exposure.Scope] (see [exposure.Scope.HandOff]) and puts a signed token
// on the element instead of marking it; a small script served by the
// [Confirmer] posts the token back once the element was visible long
// enough, and only then is the exposure committed with
// [exposure.Tracker.Confirm], through the same dedupe and delivery as every
// other exposure.
//
// Wiring is a constructor, a handler and a template function:
//
//	confirmer, err := beacon.NewConfirmer(tracker, beacon.WithKeys(key))
//	mux.Handle("/exposure/beacon", confirmer)
//	tmpl.Funcs(exposure.TemplateFuncs()).Funcs(confirmer.TemplateFuncs())
//
//	<script src="/exposure/beacon" defer></script>
//	<div class="slot" {{ exposureBeacon .Ctx "accessories-panel" }}>…</div>
//
// Single-page apps, JSON APIs and mobile apps, whose client draws the
// variant after the server has answered, take the token with
// [Confirmer.Token] and post it back themselves; the protocol is in
// PROTOCOL.md, beside this package's sources.
//
// # Tokens
//
// A token is the assignment, encrypted and authenticated with AES-256-GCM
// under a key of its own derived from the first key of [WithKeys], and
// bound to the application ([WithApplication]): the flag key, the
// experiment, the variant and the provider's own name of it
// (Assignment.ProviderVariant, which vendor sinks compare with a fresh
// evaluation), the subject (distinct id, user id, device id, targeting
// key), the reason, the evaluation time, the issue time and the
// attributes of the evaluation context, encoded in base64url. Vendor sinks
// that evaluate the flag again (GrowthBook, say, with a rule on a
// "country" attribute) so see the same context for a confirmed exposure as
// for one marked on the server, on any instance that holds the key; and
// the client that carries the token can read none of it. The token also
// carries the event properties of the assignment
// ([exposure.Assignment.Properties], types kept) and its related
// assignments ([exposure.Assignment.Related], a holdout around the
// experiment, say), so that the confirmed exposure reaches every sink as
// a server-marked one would: with its properties, and with each related
// assignment as an exposure of its own. A typical token (five attributes)
// is about 220 characters, and none is over 4096: what follows the fields
// gets what they leave (at least 710 bytes, typically about 2,900), the
// related assignments first, then the properties, then the attributes,
// each whole; what does not fit is left out and counted in
// [Stats].RelatedDropped, PropertiesDropped and AttributesDropped.
//
// Tokens are versioned. This release issues version 5 and verifies
// versions 5, 4, 3, 2 and 1. Version 4, issued by the release before,
// carries no properties and no related assignment. Versions 3 and
// earlier carry no attributes beyond $user_id and $device_id, and are
// signed in clear. Version 3 is bound to the application; versions 2 and
// 1 name none: they are accepted by a Confirmer of the unnamed
// application (the default) and refused as forged by one with a name.
// Version 1 has no provider variant, so an exposure confirmed with it
// arrives with ProviderVariant empty. Pages rendered before a deploy
// therefore keep confirming until their tokens expire ([WithExpiry]),
// unless the deploy gives the application a name.
//
// # Hostile pages and clients
//
// The script confirms only what a person could have seen, and cannot be
// steered by the page around it:
//
//   - In a frame it confirms nothing unless every ancestor frame is of the
//     page's own origin, or of an origin listed in the data-allow-framing
//     attribute of its script element (space-separated origins); a
//     browser that cannot tell an ancestor's origin (no
//     location.ancestorOrigins) counts it as foreign. Pages that carry
//     tokens should still forbid framing by others, which also stops
//     clickjacking, with the Content-Security-Policy header
//     "frame-ancestors 'self'" (listing any origin allowed to frame them).
//   - Where the browser tracks visibility (IntersectionObserver v2, in
//     Chromium-based browsers) an element counts as visible only while
//     nothing is drawn over it and it has no opacity below 1, no filter
//     and no transform beyond translation and scaling, itself, on its
//     ancestors or on the frames around it. Other browsers check
//     visibility:hidden and opacity:0 on the element and its ancestors.
//   - It reads its settings from its own script element only, through
//     the DOM's own accessors, so injected markup such as an
//     <img name="currentScript"> cannot shadow them (DOM clobbering), and
//     it posts only to an endpoint of the page's origin: a data-endpoint
//     of another origin makes it send nothing.
//
// The endpoint accepts confirmations from its own origin and from clients
// that send no Origin (mobile apps, servers); a browser page of another
// origin is refused unless [WithAllowedOrigins] lists it.
//
// The endpoint bounds what a client can make it do: a body over 8 KiB or
// not received within 5 seconds is refused and its connection closed, and
// [WithRateLimit] limits confirmations per client. Each token confirms one
// subject's assignment, but an application that lets a client choose its
// subject (an id taken from a cookie) lets it mint tokens for invented
// subjects: a rate limit bounds how fast such subjects can push real users
// out of a bounded Deduper.
//
// # Where to put the token
//
// Put the token (exposureBeacon, or the browser module's observe) on a
// slot element that is the same in every variant: the container that
// holds the variant, at the same place and of the same size whatever is
// drawn in it. Never put it on markup that only one variant has, or whose
// size or position depends on the variant. A browser confirms an element
// once enough of it was on screen long enough, so a variant whose panel is
// taller, or drawn lower, is confirmed more often or less often for
// reasons of layout, and the exposures no longer split as the assignments
// did: the experiment compares populations that the layout, not the
// assignment, chose. ABsmartly tracks the element's position in every
// variant for the same reason.
//
// The audit (package audit) watches for it: when the exposure rates of an
// experiment's variants differ and its exposures are confirmed in the
// browser, the flag names this as the likely cause.
//
// # Bots
//
// The Tracker's bot filter ([exposure.WithBotFilter]) applies to the marks
// of the requests its middleware serves. Crawlers that run scripts
// (Googlebot renders pages) would confirm the tokens of those pages: the
// endpoint refuses confirmations posted by a bot as well ([WithBotFilter],
// by default [exposure.IsKnownBot]), answers them 204 and counts them
// ([Stats].Bots). Give both the same function if you replace one.
package beacon
