package main

import (
	"context"
	"embed"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"slices"

	"github.com/exposurekit/exposure"
	"github.com/open-feature/go-sdk/openfeature"
)

//go:embed templates/*.html
var templateFS embed.FS

var users = []string{"alice", "bob", "carol", "dave", "erin", "frank"}

type shop struct {
	flags *openfeature.Client
	pages *template.Template
}

// newShop parses the pages with the template functions of exposure
// ("exposed") and of the beacon's Confirmer ("exposureBeacon").
func newShop(flags *openfeature.Client, beaconFuncs template.FuncMap) (*shop, error) {
	pages, err := template.New("").Funcs(exposure.TemplateFuncs()).Funcs(beaconFuncs).ParseFS(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	return &shop{flags: flags, pages: pages}, nil
}

func (s *shop) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.home)
	mux.HandleFunc("GET /checkout", s.checkout)
	mux.HandleFunc("POST /user", s.pickUser)
	return mux
}

// page is what every template gets: Ctx carries the request's exposure
// Scope to the "exposed" template function.
type page struct {
	Ctx         context.Context
	User        string
	Users       []string
	Variant     string
	Accessories string // the accessories panel's variant, on the checkout page
}

// currentUser is the user named in the cookie, if it is one of the shop's
// users. The demo has no login: checking the name against its list keeps a
// forged cookie from minting subjects (each a new exposure, a new dedupe
// entry) or carrying an id of any length.
func currentUser(r *http.Request) string {
	c, err := r.Cookie("user")
	if err != nil {
		return ""
	}
	u, err := url.QueryUnescape(c.Value)
	if err != nil || !slices.Contains(users, u) {
		return ""
	}
	return u
}

// variant evaluates the experiment flag for the user: an assignment,
// recorded by the exposure hook, and nothing sent yet.
func (s *shop) variant(r *http.Request, user string) string {
	return s.evaluate(r, checkoutFlag, "classic", user)
}

// evaluate evaluates a string flag for the user, def when there is no user
// or the evaluation fails.
func (s *shop) evaluate(r *http.Request, flag, def, user string) string {
	if user == "" {
		return def
	}
	ec := openfeature.NewEvaluationContext(user, map[string]any{exposure.AttributeUserID: user})
	v, err := s.flags.StringValue(r.Context(), flag, def, ec)
	if err != nil {
		slog.Warn("flag evaluation failed; showing the default", "flag", flag, "default", def, "err", err)
	}
	return v
}

func (s *shop) home(w http.ResponseWriter, r *http.Request) {
	user := currentUser(r)
	// The home page decides the variant (to prefetch its assets, say) but
	// does not show the checkout: the user is assigned, not exposed.
	s.render(w, "home.html", page{Ctx: r.Context(), User: user, Users: users, Variant: s.variant(r, user)})
}

func (s *shop) checkout(w http.ResponseWriter, r *http.Request) {
	user := currentUser(r)
	if user == "" {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	// checkout.html draws the variant and calls {{ exposed .Ctx "checkout-redesign" }};
	// far below, the accessories panel carries {{ exposureBeacon .Ctx "accessories-panel" }}.
	s.render(w, "checkout.html", page{Ctx: r.Context(), User: user, Variant: s.variant(r, user),
		Accessories: s.evaluate(r, accessoriesFlag, "grid", user)})
}

func (s *shop) pickUser(w http.ResponseWriter, r *http.Request) {
	user := r.FormValue("user")
	if !slices.Contains(users, user) {
		http.Error(w, "unknown user", http.StatusBadRequest)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: "user", Value: url.QueryEscape(user), Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (s *shop) render(w http.ResponseWriter, name string, p page) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := s.pages.ExecuteTemplate(w, name, p); err != nil {
		slog.Error("rendering page", "page", name, "err", err)
	}
}
