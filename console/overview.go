package console

import (
	"net/http"
	"net/url"

	"github.com/amtsbote/amtsbote/admin"
)

// overview is the start page: GET /v1/overview — intake and delivery, what waits for an
// operator, each destination's queue and circuit, and the configuration in force.
func (c *Console) overview(w http.ResponseWriter, r *http.Request) {
	var o admin.OverviewView
	if err := c.callAPI(r, http.MethodGet, "/v1/overview", &o); err != nil {
		c.apiError(w, r, err)
		return
	}
	c.render(w, r, "uebersicht", "Übersicht", o)
}

// deadLetters lists dead letters through the JSON API (destination "": all).
func (c *Console) deadLetters(r *http.Request, destination string) ([]admin.DeadLetterView, error) {
	var out struct {
		DeadLetters []admin.DeadLetterView `json:"dead_letters"`
	}
	path := "/v1/dead-letters"
	if destination != "" {
		path += "?destination=" + url.QueryEscape(destination)
	}
	err := c.callAPI(r, http.MethodGet, path, &out)
	return out.DeadLetters, err
}

// confirmData is a confirmation page: what will happen, and the form that does it.
type confirmData struct {
	// Question is the page's heading; Details say what will happen, a line each.
	Question string
	Details  []string
	// Action is the form's target; Fields its hidden fields (besides csrf).
	Action string
	Fields map[string]string
	// Items are what the action applies to, listed on the page, each with its hidden field.
	Items []confirmItem
	// Button labels the POST button; Cancel is where "Abbrechen" leads.
	Button, Cancel string
}

// confirmItem is one of the things a confirmed action applies to: a hidden field (Name=Value)
// and how the page names it.
type confirmItem struct {
	Name, Value, Label string
}

// confirm shows a confirmation page: dangerous actions are a GET first, then a POST.
func (c *Console) confirm(w http.ResponseWriter, r *http.Request, title string, d confirmData) {
	c.render(w, r, "bestaetigen", title, d)
}
