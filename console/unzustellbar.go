package console

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/amtsbote/amtsbote/admin"
	"github.com/amtsbote/amtsbote/pipeline"
)

// filterError is a filter the page cannot use: the field (its label) and what is wrong.
type filterError struct {
	Field, Message string
}

// sinceLayouts are what the "seit" field takes: the browser's datetime-local and date
// controls, and German dates typed by hand.
var sinceLayouts = []string{"2006-01-02T15:04", "2006-01-02T15:04:05", "2006-01-02", "02.01.2006, 15:04", "02.01.2006 15:04", "02.01.2006"}

// parseSince reads the "seit" filter in the console's zone; "" is no filter.
func (c *Console) parseSince(v string) (time.Time, *filterError) {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}, nil
	}
	for _, l := range sinceLayouts {
		if t, err := time.ParseInLocation(l, v, c.opts.Location); err == nil {
			return t, nil
		}
	}
	return time.Time{}, &filterError{Field: "seit", Message: fmt.Sprintf("„%s“ ist kein Zeitpunkt. Geben Sie ihn als Datum (TT.MM.JJJJ) oder Datum mit Uhrzeit (TT.MM.JJJJ HH:MM) an.", v)}
}

// configLists are the route and destination ids of the configuration in force (empty outside a
// daemon: the API has no configuration to show then).
func (c *Console) configLists(r *http.Request) (routes, destinations []string) {
	var cfg admin.ConfigView
	if err := c.callAPI(r, http.MethodGet, "/v1/config", &cfg); err != nil {
		return nil, nil
	}
	for _, rt := range cfg.Routes {
		routes = append(routes, rt.ID)
	}
	for _, d := range cfg.Destinations {
		destinations = append(destinations, d.ID)
	}
	return routes, destinations
}

// withValues adds the values not yet in list, sorted after it.
func withValues(list []string, values ...string) []string {
	var extra []string
	for _, v := range values {
		if v != "" && !slices.Contains(list, v) && !slices.Contains(extra, v) {
			extra = append(extra, v)
		}
	}
	slices.Sort(extra)
	return append(list, extra...)
}

// deadKey is how a dead letter is named in a form: "<submission>/<destination>" (submission ids
// have no slash).
func deadKey(dl admin.DeadLetterView) string { return dl.SubmissionID + "/" + dl.Destination }

func parseDeadKey(v string) (pipeline.DeliveryKey, bool) {
	s, d, ok := strings.Cut(v, "/")
	if !ok || s == "" || d == "" {
		return pipeline.DeliveryKey{}, false
	}
	return pipeline.DeliveryKey{SubmissionID: s, Destination: d}, true
}

type deadLettersData struct {
	Ziel, Route, Seit string
	Destinations      []string
	Routes            []string
	Error             *filterError
	Dead              []admin.DeadLetterView
	// DeadDestinations are the destinations of the dead letters listed, for "all of one".
	DeadDestinations []string
	Replies          []admin.DeadReplyView
	// Back is this page with its filters, where the actions return.
	Back string
}

// deadLettersPage lists the dead letters (filtered by destination, route and time) and the dead
// replies; operators replay from here.
func (c *Console) deadLettersPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	d := deadLettersData{Ziel: q.Get("ziel"), Route: q.Get("route"), Seit: q.Get("seit")}
	d.Routes, d.Destinations = c.configLists(r)
	since, ferr := c.parseSince(d.Seit)
	if ferr != nil {
		d.Error = ferr
		d.Routes, d.Destinations = withValues(d.Routes, d.Route), withValues(d.Destinations, d.Ziel)
		c.renderStatus(w, r, http.StatusBadRequest, "unzustellbar", "Unzustellbar", d)
		return
	}
	api := url.Values{}
	for k, v := range map[string]string{"destination": d.Ziel, "route": d.Route} {
		if v != "" {
			api.Set(k, v)
		}
	}
	if !since.IsZero() {
		api.Set("since", since.UTC().Format(time.RFC3339))
	}
	var out struct {
		DeadLetters []admin.DeadLetterView `json:"dead_letters"`
	}
	if err := c.callAPI(r, http.MethodGet, "/v1/dead-letters?"+api.Encode(), &out); err != nil {
		c.apiError(w, r, err)
		return
	}
	d.Dead = out.DeadLetters
	var replies struct {
		DeadReplies []admin.DeadReplyView `json:"dead_replies"`
	}
	if err := c.callAPI(r, http.MethodGet, "/v1/replies/dead", &replies); err != nil {
		c.apiError(w, r, err)
		return
	}
	d.Replies = replies.DeadReplies
	var dests, routes []string
	for _, dl := range d.Dead {
		dests, routes = append(dests, dl.Destination), append(routes, dl.Route)
	}
	d.DeadDestinations = withValues(nil, dests...)
	d.Destinations = withValues(d.Destinations, append(dests, d.Ziel)...)
	d.Routes = withValues(d.Routes, append(routes, d.Route)...)
	d.Back = r.URL.RequestURI()
	c.render(w, r, "unzustellbar", "Unzustellbar", d)
}

// backTo is where an action returns: the page it came from (a form's "zurueck" field) if that is
// a page of the console under prefix, else prefix.
func backTo(v, prefix string) string {
	p := localPath(v)
	if p == prefix || strings.HasPrefix(p, prefix+"?") {
		return p
	}
	return prefix
}

// replayFlash says how many deliveries were queued again and how many were skipped.
func replayFlash(queued, skipped int, dest string) flash {
	msg := Count(queued, "Zustellung", "Zustellungen")
	if dest != "" {
		msg += " an „" + dest + "“"
	}
	msg += " erneut in die Warteschlange gestellt."
	if skipped > 0 {
		msg += fmt.Sprintf(" %s übersprungen: nicht mehr unzustellbar, oder die Aufbewahrungsfrist hat die Daten gelöscht.", Count(skipped, "Zustellung", "Zustellungen"))
	}
	kind := "ok"
	if queued == 0 {
		kind = "fehler"
	}
	return flash{Kind: kind, Message: msg}
}

// replayConfirm asks before dead letters are delivered again: all of a destination (?ziel=), or
// one (?ziel=&antrag=).
func (c *Console) replayConfirm(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	dest, sub := q.Get("ziel"), q.Get("antrag")
	back := "/"
	if z := q.Get("zurueck"); z != "" {
		back = backTo(z, "/unzustellbar")
	}
	if dest == "" {
		c.errorPage(w, r, http.StatusBadRequest, "Es fehlt das Ziel (Parameter ziel), dessen unzustellbare Zustellungen erneut zugestellt werden sollen.")
		return
	}
	dead, err := c.deadLetters(r, dest)
	if err != nil {
		c.apiError(w, r, err)
		return
	}
	details := []string{
		"Die Zustellung wird wieder in die Warteschlange des Ziels gestellt und mit der Nachricht zugestellt, die sie bereits hat.",
		"Die bisherigen Versuche bleiben in der Historie des Antrags; das Prüfprotokoll vermerkt Sie als Auslöser.",
		"Schlägt die Zustellung wieder fehl, wird sie nach den Wiederholungsregeln des Ziels erneut unzustellbar.",
	}
	fields := map[string]string{"ziel": dest, "zurueck": back}
	if sub != "" {
		i := slices.IndexFunc(dead, func(dl admin.DeadLetterView) bool { return dl.SubmissionID == sub })
		if i < 0 {
			c.errorPage(w, r, http.StatusNotFound, fmt.Sprintf("Der Antrag %s hat keine unzustellbare Zustellung an „%s“.", sub, dest))
			return
		}
		fields["antrag"] = sub
		c.confirm(w, r, "Erneut zustellen", confirmData{
			Question: fmt.Sprintf("Zustellung von Antrag %s an „%s“ erneut zustellen?", deadLabelRef(dead[i]), dest),
			Details:  details, Action: "/unzustellbar/erneut-zustellen", Fields: fields,
			Button: "Erneut zustellen", Cancel: back,
		})
		return
	}
	if len(dead) == 0 {
		c.errorPage(w, r, http.StatusNotFound, fmt.Sprintf("Für das Ziel „%s“ gibt es keine unzustellbaren Zustellungen.", dest))
		return
	}
	details[0] = "Jede Zustellung wird wieder in die Warteschlange des Ziels gestellt und mit der Nachricht zugestellt, die sie bereits hat."
	c.confirm(w, r, "Erneut zustellen", confirmData{
		Question: fmt.Sprintf("%s an „%s“ erneut zustellen?", Count(len(dead), "unzustellbare Zustellung", "unzustellbare Zustellungen"), dest),
		Details:  details, Action: "/unzustellbar/erneut-zustellen", Fields: fields,
		Button: "Erneut zustellen", Cancel: back,
	})
}

// deadLabelRef names a dead letter's submission: its reference, or its id.
func deadLabelRef(dl admin.DeadLetterView) string {
	if dl.Reference != "" {
		return dl.Reference
	}
	return dl.SubmissionID
}

type replayAnswer struct {
	Replayed []pipeline.DeliveryKey `json:"replayed"`
	Skipped  []pipeline.DeliveryKey `json:"skipped"`
}

// replay delivers dead letters again: all of a destination (ziel), or one (ziel and antrag).
func (c *Console) replay(w http.ResponseWriter, r *http.Request) {
	dest, sub := r.PostFormValue("ziel"), r.PostFormValue("antrag")
	back := "/"
	if z := r.PostFormValue("zurueck"); z != "" {
		back = backTo(z, "/unzustellbar")
	}
	if dest == "" {
		c.errorPage(w, r, http.StatusBadRequest, "Es fehlt das Ziel (Feld ziel).")
		return
	}
	var out replayAnswer
	var err error
	if sub != "" {
		err = c.callAPIBody(r, http.MethodPost, "/v1/dead-letters/replay",
			map[string]any{"items": []pipeline.DeliveryKey{{SubmissionID: sub, Destination: dest}}}, &out)
	} else {
		err = c.callAPI(r, http.MethodPost, "/v1/dead-letters/replay?destination="+url.QueryEscape(dest), &out)
	}
	if err != nil {
		c.apiError(w, r, err)
		return
	}
	c.redirect(w, r, back, replayFlash(len(out.Replayed), len(out.Skipped), dest))
}

// selectedDeadLetters reads the checked dead letters (fields "auswahl").
func selectedDeadLetters(r *http.Request) ([]pipeline.DeliveryKey, error) {
	if err := r.ParseForm(); err != nil {
		return nil, err
	}
	var keys []pipeline.DeliveryKey
	for _, v := range r.PostForm["auswahl"] {
		k, ok := parseDeadKey(v)
		if !ok {
			return nil, fmt.Errorf("„%s“ bezeichnet keine Zustellung (Feld Auswahl: Antrag/Ziel)", v)
		}
		if !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	if len(keys) > admin.MaxReplaySelection {
		return nil, fmt.Errorf("%d Zustellungen ausgewählt; eine Auswahl umfasst höchstens %d (stellen Sie stattdessen alle eines Ziels erneut zu)", len(keys), admin.MaxReplaySelection)
	}
	return keys, nil
}

// noDeadLetterSelected says that a selection of dead letters is empty.
const noDeadLetterSelected = "Keine Zustellung ausgewählt: Wählen Sie in der Spalte „Auswahl“ mindestens eine Zustellung aus."

// selection reads the rows checked in a list's form with read. It answers the request itself
// and returns false when the selection is invalid, or empty where none (the message then) is
// not "".
func selection[T any](c *Console, w http.ResponseWriter, r *http.Request, back string, read func(*http.Request) ([]T, error), none string) ([]T, bool) {
	picked, err := read(r)
	if err != nil {
		c.errorPage(w, r, http.StatusBadRequest, "Die Auswahl ist ungültig: "+err.Error()+".")
		return nil, false
	}
	if len(picked) == 0 && none != "" {
		c.redirect(w, r, back, flash{Kind: "fehler", Message: none})
		return nil, false
	}
	return picked, true
}

// replaySelectionConfirm lists the checked dead letters and asks before they are delivered again.
func (c *Console) replaySelectionConfirm(w http.ResponseWriter, r *http.Request) {
	back := backTo(r.PostFormValue("zurueck"), "/unzustellbar")
	keys, ok := selection(c, w, r, back, selectedDeadLetters, noDeadLetterSelected)
	if !ok {
		return
	}
	dead, err := c.deadLetters(r, "")
	if err != nil {
		c.apiError(w, r, err)
		return
	}
	refs := map[pipeline.DeliveryKey]string{}
	for _, dl := range dead {
		refs[pipeline.DeliveryKey{SubmissionID: dl.SubmissionID, Destination: dl.Destination}] = deadLabelRef(dl)
	}
	var items []confirmItem
	for _, k := range keys {
		label := fmt.Sprintf("Antrag %s an „%s“", k.SubmissionID, k.Destination)
		if ref, ok := refs[k]; !ok {
			label += " (nicht mehr unzustellbar)"
		} else if ref != k.SubmissionID {
			label = fmt.Sprintf("Antrag %s (%s) an „%s“", ref, k.SubmissionID, k.Destination)
		}
		items = append(items, confirmItem{Name: "auswahl", Value: k.SubmissionID + "/" + k.Destination, Label: label})
	}
	c.confirm(w, r, "Auswahl erneut zustellen", confirmData{
		Question: fmt.Sprintf("%s erneut zustellen?", Count(len(keys), "ausgewählte Zustellung", "ausgewählte Zustellungen")),
		Details: []string{
			"Jede Zustellung wird wieder in die Warteschlange ihres Ziels gestellt und mit der Nachricht zugestellt, die sie bereits hat.",
			"Die bisherigen Versuche bleiben in der Historie der Anträge; das Prüfprotokoll vermerkt Sie als Auslöser.",
			"Was inzwischen nicht mehr unzustellbar ist, wird übersprungen.",
		},
		Action: "/unzustellbar/auswahl/erneut-zustellen",
		Fields: map[string]string{"zurueck": back},
		Items:  items,
		Button: "Auswahl erneut zustellen",
		Cancel: back,
	})
}

// replaySelection delivers the confirmed selection again.
func (c *Console) replaySelection(w http.ResponseWriter, r *http.Request) {
	back := backTo(r.PostFormValue("zurueck"), "/unzustellbar")
	keys, ok := selection(c, w, r, back, selectedDeadLetters, noDeadLetterSelected)
	if !ok {
		return
	}
	var out replayAnswer
	if err := c.callAPIBody(r, http.MethodPost, "/v1/dead-letters/replay", map[string]any{"items": keys}, &out); err != nil {
		c.apiError(w, r, err)
		return
	}
	c.redirect(w, r, back, replayFlash(len(out.Replayed), len(out.Skipped), ""))
}

// replyReplayConfirm asks before a dead reply is sent again over its channel.
func (c *Console) replyReplayConfirm(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	reply, channel := q.Get("antwort"), q.Get("kanal")
	switch {
	case reply == "":
		c.errorPage(w, r, http.StatusBadRequest, "Es fehlt die Antwort (Parameter antwort), die erneut gesendet werden soll.")
		return
	case channel == "":
		c.errorPage(w, r, http.StatusBadRequest, "Es fehlt der Kanal (Parameter kanal), über den die Antwort erneut gesendet werden soll.")
		return
	}
	c.confirm(w, r, "Antwort erneut senden", confirmData{
		Question: fmt.Sprintf("Antwort %s über den Kanal „%s“ erneut senden?", reply, channel),
		Details: []string{
			"Die Antwort wird über ihren Kanal erneut an die antragstellende Person gesendet.",
			"Die bisherigen Versuche bleiben in der Historie des Antrags; das Prüfprotokoll vermerkt Sie als Auslöser.",
		},
		Action: "/unzustellbar/antworten/erneut-senden",
		Fields: map[string]string{"antwort": reply, "kanal": channel},
		Button: "Erneut senden",
		Cancel: "/unzustellbar",
	})
}

// replyReplay sends a dead reply again.
func (c *Console) replyReplay(w http.ResponseWriter, r *http.Request) {
	reply, channel := r.PostFormValue("antwort"), r.PostFormValue("kanal")
	if reply == "" || channel == "" {
		c.errorPage(w, r, http.StatusBadRequest, "Es fehlen die Antwort (Feld antwort) oder der Kanal (Feld kanal).")
		return
	}
	err := c.callAPI(r, http.MethodPost, "/v1/replies/"+url.PathEscape(reply)+"/channels/"+url.PathEscape(channel)+"/replay", nil)
	var e *errAPI
	switch {
	case errors.As(err, &e) && e.Status == http.StatusNotFound:
		c.redirect(w, r, "/unzustellbar", flash{Kind: "fehler", Message: "0 Antworten erneut in die Warteschlange gestellt, 1 übersprungen: Die Antwort ist auf diesem Kanal nicht mehr unzustellbar, oder die Aufbewahrungsfrist hat ihre Daten gelöscht."})
	case err != nil:
		c.apiError(w, r, err)
	default:
		c.redirect(w, r, "/unzustellbar", flash{Kind: "ok", Message: fmt.Sprintf("1 Antwort über „%s“ erneut in die Warteschlange gestellt, 0 übersprungen.", channel)})
	}
}
