package console

import (
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/amtsbote/amtsbote/admin"
)

// deadByDestination is the dead letters of one destination.
type deadByDestination struct {
	Destination string
	Count       int
	// Oldest is when the longest-waiting one gave up.
	Oldest time.Time
}

type overviewData struct {
	Runtime *admin.RuntimeStatus
	Dead    []deadByDestination
	DeadAll int
}

// overview is the start page: the configuration in force and what waits for an operator.
func (c *Console) overview(w http.ResponseWriter, r *http.Request) {
	var d overviewData
	if c.adm.Runtime != nil {
		st := c.adm.Runtime.Status()
		d.Runtime = &st
	}
	dead, err := c.deadLetters(r, "")
	if err != nil {
		c.apiError(w, r, err)
		return
	}
	byDest := map[string]*deadByDestination{}
	for _, dl := range dead {
		b := byDest[dl.Destination]
		if b == nil {
			b = &deadByDestination{Destination: dl.Destination, Oldest: dl.DeadSince}
			byDest[dl.Destination] = b
		}
		b.Count++
		if dl.DeadSince.Before(b.Oldest) {
			b.Oldest = dl.DeadSince
		}
	}
	for _, b := range byDest {
		d.Dead = append(d.Dead, *b)
		d.DeadAll += b.Count
	}
	slices.SortFunc(d.Dead, func(a, b deadByDestination) int {
		if a.Destination < b.Destination {
			return -1
		}
		return 1
	})
	c.render(w, r, "uebersicht", "Übersicht", d)
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
