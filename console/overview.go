package console

import (
	"fmt"
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
	// Button labels the POST button; Cancel is where "Abbrechen" leads.
	Button, Cancel string
}

// confirm shows a confirmation page: dangerous actions are a GET first, then a POST.
func (c *Console) confirm(w http.ResponseWriter, r *http.Request, title string, d confirmData) {
	c.render(w, r, "bestaetigen", title, d)
}

// replayDestinationConfirm asks before the dead letters of a destination are delivered again.
func (c *Console) replayDestinationConfirm(w http.ResponseWriter, r *http.Request) {
	dest := r.URL.Query().Get("ziel")
	if dest == "" {
		c.errorPage(w, r, http.StatusBadRequest, "Es fehlt das Ziel (Parameter ziel), dessen unzustellbare Zustellungen erneut zugestellt werden sollen.")
		return
	}
	dead, err := c.deadLetters(r, dest)
	if err != nil {
		c.apiError(w, r, err)
		return
	}
	if len(dead) == 0 {
		c.errorPage(w, r, http.StatusNotFound, fmt.Sprintf("Für das Ziel „%s“ gibt es keine unzustellbaren Zustellungen.", dest))
		return
	}
	c.confirm(w, r, "Erneut zustellen", confirmData{
		Question: fmt.Sprintf("%s an „%s“ erneut zustellen?", Count(len(dead), "unzustellbare Zustellung", "unzustellbare Zustellungen"), dest),
		Details: []string{
			"Jede Zustellung wird wieder in die Warteschlange des Ziels gestellt und mit der Nachricht zugestellt, die sie bereits hat.",
			"Die bisherigen Versuche bleiben in der Historie des Antrags; das Prüfprotokoll vermerkt Sie als Auslöser.",
			"Schlägt die Zustellung wieder fehl, wird sie nach den Wiederholungsregeln des Ziels erneut unzustellbar.",
		},
		Action: "/unzustellbar/erneut-zustellen",
		Fields: map[string]string{"ziel": dest},
		Button: "Erneut zustellen",
		Cancel: "/",
	})
}

// replayDestination delivers the dead letters of a destination again.
func (c *Console) replayDestination(w http.ResponseWriter, r *http.Request) {
	dest := r.PostFormValue("ziel")
	if dest == "" {
		c.errorPage(w, r, http.StatusBadRequest, "Es fehlt das Ziel (Feld ziel).")
		return
	}
	var out struct {
		Replayed []any `json:"replayed"`
	}
	if err := c.callAPI(r, http.MethodPost, "/v1/dead-letters/replay?destination="+url.QueryEscape(dest), &out); err != nil {
		c.apiError(w, r, err)
		return
	}
	c.redirect(w, r, "/", flash{Kind: "ok", Message: fmt.Sprintf("%s an „%s“ erneut in die Warteschlange gestellt.", Count(len(out.Replayed), "Zustellung", "Zustellungen"), dest)})
}
