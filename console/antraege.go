package console

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"

	"github.com/amtsbote/amtsbote/admin"
	"github.com/amtsbote/amtsbote/store"
)

// searchParams are the search's parameters, named as the JSON API names them, and the labels of
// their fields.
var searchParams = []fieldParam{
	{"id", "Antrags-ID"}, {"reference", "Referenz"}, {"portal", "Portal"}, {"route", "Route"},
	{"status", "Status"}, {"leistung", "Leistung"}, {"ags", "AGS"}, {"from", "Eingang von"},
	{"to", "Eingang bis"}, {"limit", "Anzahl je Seite"}, {"after", "Seite"},
}

// fieldParam is a query parameter of a page and its form field's label.
type fieldParam struct{ Param, Label string }

// pageSizes are the choices of "Anzahl je Seite".
var pageSizes = []string{"10", "25", "50", "100", "200", "500"}

// option is an <option> of a select.
type option struct{ Value, Label string }

// searchData is the search page: the form as filled in, and the page of results or the error.
type searchData struct {
	Form     url.Values
	Statuses []option
	Sizes    []option
	// Error says what is wrong with the field ErrorField (a parameter's name).
	Error, ErrorField string
	Results           []admin.SubmissionSummaryView
	// Next continues the search (the next page), First starts it again; "" where there is none.
	Next, First string
}

// submissions is the search: GET /v1/submissions with the form's parameters.
func (c *Console) submissions(w http.ResponseWriter, r *http.Request) {
	api := passParams(r.URL.Query(), searchParams)
	d := searchData{Form: api, Statuses: []option{{"", "Alle"}}}
	for _, s := range store.SubmissionStatuses {
		d.Statuses = append(d.Statuses, option{s, StatusLabel(s)})
	}
	size := api.Get("limit")
	if size == "" {
		size = fmt.Sprint(admin.DefaultSearchLimit)
	}
	for _, s := range pageSizes {
		d.Sizes = append(d.Sizes, option{s, s})
	}
	if !slices.Contains(pageSizes, size) {
		d.Sizes = append(d.Sizes, option{size, size})
	}
	d.Form.Set("limit", size)
	var page admin.SearchPage
	if err := c.callAPI(r, http.MethodGet, "/v1/submissions?"+api.Encode(), &page); err != nil {
		var e *errAPI
		if errors.As(err, &e) && e.Status == http.StatusBadRequest {
			d.ErrorField, d.Error = paramProblem(e.Message, searchParams)
			c.renderStatus(w, r, http.StatusBadRequest, "antraege", "Anträge", d)
			return
		}
		c.apiError(w, r, err)
		return
	}
	// An id is unique: when it is all that was asked for, show the submission itself.
	if id := api.Get("id"); id != "" && api.Get("after") == "" && len(page.Submissions) == 1 && page.Submissions[0].ID == id {
		http.Redirect(w, r, "/antraege/"+url.PathEscape(id), http.StatusSeeOther)
		return
	}
	d.Results = page.Submissions
	if page.Next != "" {
		next := cloneValues(api)
		next.Set("after", page.Next)
		d.Next = "/antraege?" + next.Encode()
	}
	if api.Get("after") != "" {
		first := cloneValues(api)
		first.Del("after")
		d.First = "/antraege?" + first.Encode()
	}
	c.render(w, r, "antraege", "Anträge", d)
}

// passParams keeps the parameters a page knows, without the empty ones.
func passParams(q url.Values, params []fieldParam) url.Values {
	out := url.Values{}
	for _, p := range params {
		for _, v := range q[p.Param] {
			if v = strings.TrimSpace(v); v != "" {
				out.Add(p.Param, v)
			}
		}
	}
	return out
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = slices.Clone(vs)
	}
	return out
}

// paramProblem turns the JSON API's refusal of a parameter ("<param>: <problem>") into a German
// message that names the field; it returns the parameter too.
func paramProblem(apiMessage string, params []fieldParam) (param, message string) {
	param, problem, _ := strings.Cut(apiMessage, ": ")
	label := ""
	for _, p := range params {
		if p.Param == param {
			label = p.Label
		}
	}
	if label == "" {
		return "", "Die Anfrage ist ungültig: " + apiMessage
	}
	var other string // the other end of a time range
	for _, p := range params {
		if strings.Contains(problem, "is not after "+p.Param) {
			other = p.Label
		}
	}
	switch {
	case strings.Contains(problem, "given ") && strings.Contains(problem, "times"):
		return param, fmt.Sprintf("Das Feld „%s“ ist mehrfach angegeben. Geben Sie es nur einmal an.", label)
	case param == "status":
		return param, fmt.Sprintf("Im Feld „%s“ steht kein bekannter Status. Wählen Sie einen aus der Liste.", label)
	case other != "":
		return param, fmt.Sprintf("„%s“ muss nach „%s“ liegen.", label, other)
	case strings.Contains(problem, "year must be"):
		return param, fmt.Sprintf("Im Feld „%s“ muss das Jahr zwischen 2000 und 9999 liegen.", label)
	case strings.Contains(problem, "want an RFC 3339 time"):
		return param, fmt.Sprintf("Im Feld „%s“ steht kein gültiges Datum. Geben Sie ein Datum an (TT.MM.JJJJ), gegebenenfalls mit Uhrzeit.", label)
	case param == "limit":
		return param, fmt.Sprintf("„%s“ muss eine Zahl von 1 bis %s sein.", label, strings.TrimSuffix(afterLast(problem, " to "), "\""))
	case param == "after" || param == "before":
		return param, "Der Verweis auf die nächste Seite ist ungültig. Beginnen Sie wieder mit der ersten Seite."
	case strings.Contains(problem, "longer than") || strings.Contains(problem, "control characters"):
		return param, fmt.Sprintf("Das Feld „%s“ ist zu lang (höchstens 200 Zeichen) oder enthält Steuerzeichen.", label)
	}
	return param, fmt.Sprintf("Das Feld „%s“ ist ungültig: %s", label, problem)
}

func afterLast(s, sep string) string {
	if i := strings.LastIndex(s, sep); i >= 0 {
		return s[i+len(sep):]
	}
	return s
}

// detailData is a submission's page.
type detailData struct {
	admin.SubmissionView
	// Reprocessable: failed, with its data still there.
	Reprocessable bool
	// Messages by destination, for the deliveries table.
	HasMessage map[string]bool
}

// submissionPath is the page of a submission.
func submissionPath(id string) string { return "/antraege/" + url.PathEscape(id) }

// loadSubmission reads a submission through the JSON API; when there is none (or the API
// refuses) it has answered.
func (c *Console) loadSubmission(w http.ResponseWriter, r *http.Request) (*admin.SubmissionView, bool) {
	id := r.PathValue("id")
	var v admin.SubmissionView
	err := c.callAPI(r, http.MethodGet, "/v1/submissions/"+url.PathEscape(id), &v)
	var e *errAPI
	if errors.As(err, &e) && e.Status == http.StatusNotFound {
		c.errorPage(w, r, http.StatusNotFound, fmt.Sprintf("Es gibt keinen Antrag mit der ID „%s“. Suchen Sie ihn unter „Anträge“.", id))
		return nil, false
	}
	if err != nil {
		c.apiError(w, r, err)
		return nil, false
	}
	return &v, true
}

// submission is a submission's detail: GET /v1/submissions/{id}.
func (c *Console) submission(w http.ResponseWriter, r *http.Request) {
	v, ok := c.loadSubmission(w, r)
	if !ok {
		return
	}
	d := detailData{SubmissionView: *v, Reprocessable: v.Status == store.StatusFailed && v.PurgedAt == nil,
		HasMessage: map[string]bool{}}
	for _, m := range v.Messages {
		d.HasMessage[m.Destination] = !m.Purged
	}
	title := "Antrag " + v.Reference
	if v.Reference == "" {
		title = "Antrag " + v.ID
	}
	c.render(w, r, "antrag", title, d)
}

// apiRaw calls the JSON API as the signed-in user and returns its answer as it is.
func (c *Console) apiRaw(r *http.Request, method, path string) *http.Response {
	req := httptest.NewRequestWithContext(r.Context(), method, path, nil)
	rec := httptest.NewRecorder()
	c.api().ServeHTTP(rec, req)
	return rec.Result()
}

// rawError reads an API error answer.
func rawError(res *http.Response) *errAPI {
	var e struct {
		Error string `json:"error"`
	}
	_ = json.NewDecoder(res.Body).Decode(&e)
	return &errAPI{Status: res.StatusCode, Message: e.Error}
}

// messageError answers a failed download of a generated message in German.
func (c *Console) messageError(w http.ResponseWriter, r *http.Request, res *http.Response) {
	id, dest := r.PathValue("id"), r.PathValue("ziel")
	switch res.StatusCode {
	case http.StatusNotFound:
		c.errorPage(w, r, http.StatusNotFound, fmt.Sprintf("Der Antrag „%s“ hat keine Nachricht an das Ziel „%s“, oder es gibt ihn nicht.", id, dest))
	case http.StatusGone:
		c.errorPage(w, r, http.StatusGone, "Die Nachricht wurde nach Ablauf der Aufbewahrungsfrist gelöscht; Verlauf und Metadaten bleiben.")
	default:
		c.apiError(w, r, rawError(res))
	}
}

// messageData is the page of a generated message.
type messageData struct {
	Submission *admin.SubmissionView
	Message    *admin.MessageDetail
	Content    string
}

// message shows a generated message, indented: GET /v1/submissions/{id}/messages/{d}?pretty=true.
func (c *Console) message(w http.ResponseWriter, r *http.Request) {
	v, ok := c.loadSubmission(w, r)
	if !ok {
		return
	}
	dest := r.PathValue("ziel")
	res := c.apiRaw(r, http.MethodGet, admin.MessageLink(v.ID, dest)+"?pretty=true")
	if res.StatusCode != http.StatusOK {
		c.messageError(w, r, res)
		return
	}
	content, _ := io.ReadAll(res.Body)
	d := messageData{Submission: v, Content: string(content)}
	for i := range v.Messages {
		if v.Messages[i].Destination == dest {
			d.Message = &v.Messages[i]
		}
	}
	c.render(w, r, "nachricht", "Nachricht an "+dest, d)
}

// messageDownload passes the API's download of a generated message on, as a file.
func (c *Console) messageDownload(w http.ResponseWriter, r *http.Request) {
	res := c.apiRaw(r, http.MethodGet, admin.MessageLink(r.PathValue("id"), r.PathValue("ziel")))
	if res.StatusCode != http.StatusOK {
		c.messageError(w, r, res)
		return
	}
	for _, h := range []string{"Content-Type", "Content-Disposition", "Content-Length"} {
		if v := res.Header.Get(h); v != "" {
			w.Header().Set(h, v)
		}
	}
	w.WriteHeader(http.StatusOK)
	_, _ = io.Copy(w, res.Body)
}

// reprocessSubmissionConfirm asks, on a submission's page, before it is processed again.
func (c *Console) reprocessSubmissionConfirm(w http.ResponseWriter, r *http.Request) {
	v, ok := c.loadSubmission(w, r)
	if !ok {
		return
	}
	if v.Status != store.StatusFailed || v.PurgedAt != nil {
		c.errorPage(w, r, http.StatusConflict, fmt.Sprintf("Der Antrag ist „%s“, nicht fehlgeschlagen (oder seine Daten sind gelöscht): Es gibt nichts neu zu verarbeiten.", StatusLabel(v.Status)))
		return
	}
	c.confirm(w, r, "Neu verarbeiten", confirmData{
		Question: fmt.Sprintf("Antrag „%s“ neu verarbeiten?", nonEmpty(v.Reference, v.ID)),
		Details: []string{
			"Zuordnung zur Route, Mapping und Prüfung laufen erneut, mit der Konfiguration, die jetzt gilt.",
			"Der bisherige Fehler bleibt im Verlauf des Antrags; das Prüfprotokoll vermerkt Sie als Auslöser.",
			"Ist die Ursache nicht behoben, schlägt die Verarbeitung erneut fehl.",
		},
		Action: submissionPath(v.ID) + "/neu-verarbeiten",
		Button: "Neu verarbeiten",
		Cancel: submissionPath(v.ID),
	})
}

// reprocessSubmission processes a failed submission again from its page: POST
// /v1/submissions/{id}/reprocess.
func (c *Console) reprocessSubmission(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	err := c.callAPI(r, http.MethodPost, "/v1/submissions/"+url.PathEscape(id)+"/reprocess", nil)
	var e *errAPI
	switch {
	case errors.As(err, &e) && e.Status == http.StatusNotFound:
		c.errorPage(w, r, http.StatusNotFound, fmt.Sprintf("Es gibt keinen Antrag mit der ID „%s“.", id))
	case errors.As(err, &e) && e.Status == http.StatusConflict:
		c.redirect(w, r, submissionPath(id), flash{Kind: "fehler", Message: "Der Antrag ist nicht (mehr) fehlgeschlagen oder seine Daten sind gelöscht; er wurde nicht neu verarbeitet."})
	case err != nil:
		c.apiError(w, r, err)
	default:
		c.redirect(w, r, submissionPath(id), flash{Kind: "ok", Message: "Der Antrag wird mit der aktuellen Konfiguration neu verarbeitet."})
	}
}

// replayOneConfirm asks before a submission's dead delivery is made again.
func (c *Console) replayOneConfirm(w http.ResponseWriter, r *http.Request) {
	v, ok := c.loadSubmission(w, r)
	if !ok {
		return
	}
	dest := r.PathValue("ziel")
	var found *admin.DeliveryDetail
	for i := range v.Deliveries {
		if v.Deliveries[i].Destination == dest && v.Deliveries[i].Status == store.DeliveryDead {
			found = &v.Deliveries[i]
		}
	}
	if found == nil {
		c.errorPage(w, r, http.StatusNotFound, fmt.Sprintf("Die Zustellung des Antrags an „%s“ ist nicht unzustellbar; es gibt nichts erneut zuzustellen.", dest))
		return
	}
	c.confirm(w, r, "Erneut zustellen", confirmData{
		Question: fmt.Sprintf("Antrag „%s“ erneut an „%s“ zustellen?", nonEmpty(v.Reference, v.ID), dest),
		Details: []string{
			fmt.Sprintf("Die Zustellung wird mit der Nachricht, die sie bereits hat, wieder in die Warteschlange von „%s“ gestellt.", dest),
			fmt.Sprintf("Die bisherigen %s bleiben im Verlauf; das Prüfprotokoll vermerkt Sie als Auslöser.", Count(found.Attempts, "Versuch", "Versuche")),
		},
		Action: submissionPath(v.ID) + "/zustellungen/" + url.PathEscape(dest) + "/erneut-zustellen",
		Button: "Erneut zustellen",
		Cancel: submissionPath(v.ID),
	})
}

// replayOne makes a dead delivery again: POST /v1/dead-letters/{s}/{d}/replay.
func (c *Console) replayOne(w http.ResponseWriter, r *http.Request) {
	id, dest := r.PathValue("id"), r.PathValue("ziel")
	err := c.callAPI(r, http.MethodPost, "/v1/dead-letters/"+url.PathEscape(id)+"/"+url.PathEscape(dest)+"/replay", nil)
	var e *errAPI
	switch {
	case errors.As(err, &e) && e.Status == http.StatusNotFound:
		c.redirect(w, r, submissionPath(id), flash{Kind: "fehler", Message: fmt.Sprintf("Die Zustellung an „%s“ ist nicht (mehr) unzustellbar; sie wurde nicht erneut zugestellt.", dest)})
	case err != nil:
		c.apiError(w, r, err)
	default:
		c.redirect(w, r, submissionPath(id), flash{Kind: "ok", Message: fmt.Sprintf("Die Zustellung an „%s“ ist erneut in die Warteschlange gestellt.", dest)})
	}
}

func nonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
