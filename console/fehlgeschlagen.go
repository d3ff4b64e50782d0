package console

import (
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/amtsbote/amtsbote/admin"
)

type failedData struct {
	Route, Seit string
	Routes      []string
	Error       *filterError
	Failed      []admin.FailedSubmissionView
	// Back is this page with its filters; All reprocesses all it shows.
	Back string
	All  template.URL
}

// failedQuery is the API's query for the page's filters; a filter error names the field.
func (c *Console) failedQuery(route, seit string) (url.Values, *filterError) {
	api := url.Values{}
	if route != "" {
		api.Set("route", route)
	}
	since, ferr := c.parseSince(seit)
	if ferr != nil {
		return nil, ferr
	}
	if !since.IsZero() {
		api.Set("since", since.UTC().Format(time.RFC3339))
	}
	return api, nil
}

func (c *Console) failedList(r *http.Request, api url.Values) ([]admin.FailedSubmissionView, error) {
	var out struct {
		Failed []admin.FailedSubmissionView `json:"failed_submissions"`
	}
	err := c.callAPI(r, http.MethodGet, "/v1/submissions/failed?"+api.Encode(), &out)
	return out.Failed, err
}

// failedPage lists the failed submissions (filtered by route and time); operators reprocess them
// from here.
func (c *Console) failedPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	d := failedData{Route: q.Get("route"), Seit: q.Get("seit")}
	d.Routes, _ = c.configLists(r)
	api, ferr := c.failedQuery(d.Route, d.Seit)
	if ferr != nil {
		d.Error = ferr
		d.Routes = withValues(d.Routes, d.Route)
		c.renderStatus(w, r, http.StatusBadRequest, "fehlgeschlagen", "Fehlgeschlagen", d)
		return
	}
	var err error
	if d.Failed, err = c.failedList(r, api); err != nil {
		c.apiError(w, r, err)
		return
	}
	var routes []string
	for _, f := range d.Failed {
		routes = append(routes, f.Route)
	}
	d.Routes = withValues(d.Routes, append(routes, d.Route)...)
	d.Back = r.URL.RequestURI()
	d.All = template.URL("/fehlgeschlagen/neu-verarbeiten?alle=1")
	if f := filterQuery(d.Route, d.Seit); f != "" {
		d.All += template.URL("&" + f) // #nosec: filterQuery encodes
	}
	c.render(w, r, "fehlgeschlagen", "Fehlgeschlagen", d)
}

// noFailedSelected says that a selection of failed submissions is empty.
const noFailedSelected = "Kein Antrag ausgewählt: Wählen Sie in der Spalte „Auswahl“ mindestens einen Antrag aus."

// reprocessDetails say what a reprocess does.
var reprocessDetails = []string{
	"Routing, Mapping und Prüfung laufen erneut, mit der Konfiguration, die jetzt gilt.",
	"Der frühere Fehler bleibt in der Historie des Antrags; das Prüfprotokoll vermerkt Sie als Auslöser.",
	"Ist die Ursache nicht behoben, schlägt die Verarbeitung erneut fehl und der Antrag erscheint wieder hier.",
}

// reprocessConfirm asks before failed submissions are processed again: one (?antrag=), or all
// the page shows (?alle=1 with its filters route and seit).
func (c *Console) reprocessConfirm(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if id := q.Get("antrag"); id != "" {
		back := backTo(q.Get("zurueck"), "/fehlgeschlagen")
		c.confirm(w, r, "Neu verarbeiten", confirmData{
			Question: fmt.Sprintf("Antrag %s neu verarbeiten?", id),
			Details:  reprocessDetails,
			Action:   "/fehlgeschlagen/neu-verarbeiten",
			Fields:   map[string]string{"zurueck": back},
			Items:    []confirmItem{{Name: "antrag", Value: id, Label: "Antrag " + id}},
			Button:   "Neu verarbeiten", Cancel: back,
		})
		return
	}
	if q.Get("alle") == "" {
		c.errorPage(w, r, http.StatusBadRequest, "Es fehlt, was neu verarbeitet werden soll: ein Antrag (Parameter antrag) oder alle angezeigten (Parameter alle).")
		return
	}
	route, seit := q.Get("route"), q.Get("seit")
	api, ferr := c.failedQuery(route, seit)
	if ferr != nil {
		c.errorPage(w, r, http.StatusBadRequest, "Der Filter „Fehlgeschlagen seit“ (Parameter seit) ist ungültig: "+ferr.Message)
		return
	}
	failed, err := c.failedList(r, api)
	if err != nil {
		c.apiError(w, r, err)
		return
	}
	back := "/fehlgeschlagen"
	if e := filterQuery(route, seit); e != "" {
		back += "?" + e
	}
	if len(failed) == 0 {
		c.errorPage(w, r, http.StatusNotFound, "Zu diesem Filter gibt es keine fehlgeschlagenen Anträge.")
		return
	}
	question := fmt.Sprintf("Alle %s neu verarbeiten?", Count(len(failed), "fehlgeschlagenen Antrag", "fehlgeschlagenen Anträge"))
	if len(failed) == 1 {
		question = "Den fehlgeschlagenen Antrag neu verarbeiten?"
	}
	details := slices.Clone(reprocessDetails)
	if route != "" || seit != "" {
		details = append([]string{"Es gilt der Filter der Liste: " + filterText(route, seit) + "."}, details...)
	}
	c.confirm(w, r, "Neu verarbeiten", confirmData{
		Question: question,
		Details:  details,
		Action:   "/fehlgeschlagen/neu-verarbeiten",
		Fields:   map[string]string{"alle": "1", "route": route, "seit": seit, "zurueck": back},
		Button:   "Alle neu verarbeiten", Cancel: back,
	})
}

func filterQuery(route, seit string) string {
	v := url.Values{}
	if route != "" {
		v.Set("route", route)
	}
	if seit != "" {
		v.Set("seit", seit)
	}
	return v.Encode()
}

func filterText(route, seit string) string {
	var parts []string
	if route != "" {
		parts = append(parts, "Route „"+route+"“")
	}
	if seit != "" {
		parts = append(parts, "fehlgeschlagen seit "+seit)
	}
	if len(parts) == 2 {
		return parts[0] + ", " + parts[1]
	}
	return parts[0]
}

// selectedFailed reads the checked submissions (fields "antrag").
func selectedFailed(r *http.Request) ([]string, error) {
	if err := r.ParseForm(); err != nil {
		return nil, err
	}
	var ids []string
	for _, id := range r.PostForm["antrag"] {
		if id != "" && !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	if len(ids) > admin.MaxReplaySelection {
		return nil, fmt.Errorf("%d Anträge ausgewählt; eine Auswahl umfasst höchstens %d (verarbeiten Sie stattdessen alle angezeigten neu)", len(ids), admin.MaxReplaySelection)
	}
	return ids, nil
}

// reprocessSelectionConfirm lists the checked submissions and asks before they are processed
// again.
func (c *Console) reprocessSelectionConfirm(w http.ResponseWriter, r *http.Request) {
	back := backTo(r.PostFormValue("zurueck"), "/fehlgeschlagen")
	ids, ok := selection(c, w, r, back, selectedFailed, noFailedSelected)
	if !ok {
		return
	}
	var items []confirmItem
	for _, id := range ids {
		items = append(items, confirmItem{Name: "antrag", Value: id, Label: "Antrag " + id})
	}
	c.confirm(w, r, "Auswahl neu verarbeiten", confirmData{
		Question: fmt.Sprintf("%s neu verarbeiten?", Count(len(ids), "ausgewählten Antrag", "ausgewählte Anträge")),
		Details:  append(slices.Clone(reprocessDetails), "Was inzwischen nicht mehr fehlgeschlagen ist, wird übersprungen."),
		Action:   "/fehlgeschlagen/neu-verarbeiten",
		Fields:   map[string]string{"zurueck": back},
		Items:    items,
		Button:   "Auswahl neu verarbeiten", Cancel: back,
	})
}

// reprocess processes failed submissions again: those named (fields antrag: one or a
// selection, each through POST /v1/submissions/{id}/reprocess), or all of the filter (alle).
func (c *Console) reprocess(w http.ResponseWriter, r *http.Request) {
	back := backTo(r.PostFormValue("zurueck"), "/fehlgeschlagen")
	ids, ok := selection(c, w, r, back, selectedFailed, "") // none: all of the filter, or the message below
	if !ok {
		return
	}
	var queued, skipped int
	switch {
	case len(ids) > 0:
		for _, id := range ids {
			err := c.callAPI(r, http.MethodPost, "/v1/submissions/"+url.PathEscape(id)+"/reprocess", nil)
			var e *errAPI
			switch {
			case err == nil:
				queued++
			case errors.As(err, &e) && (e.Status == http.StatusConflict || e.Status == http.StatusNotFound):
				skipped++
			default:
				c.apiError(w, r, err)
				return
			}
		}
	case r.PostFormValue("alle") != "":
		api, ferr := c.failedQuery(r.PostFormValue("route"), r.PostFormValue("seit"))
		if ferr != nil {
			c.errorPage(w, r, http.StatusBadRequest, "Der Filter „Fehlgeschlagen seit“ (Feld seit) ist ungültig: "+ferr.Message)
			return
		}
		var out struct {
			Reprocessed []string `json:"reprocessed"`
		}
		if err := c.callAPI(r, http.MethodPost, "/v1/submissions/reprocess?"+api.Encode(), &out); err != nil {
			c.apiError(w, r, err)
			return
		}
		queued = len(out.Reprocessed)
	default:
		c.redirect(w, r, back, flash{Kind: "fehler", Message: noFailedSelected})
		return
	}
	msg := Count(queued, "Antrag", "Anträge") + " zur Neuverarbeitung in die Warteschlange gestellt."
	if skipped > 0 {
		msg += fmt.Sprintf(" %s übersprungen: nicht mehr fehlgeschlagen, oder die Aufbewahrungsfrist hat die Daten gelöscht.", Count(skipped, "Antrag", "Anträge"))
	}
	kind := "ok"
	if queued == 0 {
		kind = "fehler"
	}
	c.redirect(w, r, back, flash{Kind: kind, Message: msg})
}
