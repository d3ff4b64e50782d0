package console

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"

	"github.com/amtsbote/amtsbote/admin"
)

// auditParams are the audit log's parameters, named as the JSON API names them, and their
// fields' labels.
var auditParams = []fieldParam{
	{"since", "Von"}, {"until", "Bis"}, {"actor", "Akteur"}, {"action", "Aktion"}, {"subject", "Betreff"},
	{"before", "Seite"}, {"limit", "Anzahl je Seite"},
}

// auditPageSize is how many entries a page of the audit log shows unless asked otherwise.
const auditPageSize = 100

// auditData is the audit log's page: the form as filled in, and the entries or the error.
type auditData struct {
	Form              url.Values
	Error, ErrorField string
	Page              admin.AuditPage
	// Older continues with older entries, Newest starts again; "" where there is none.
	Older, Newest string
}

// auditLog is the audit trail, newest first: GET /v1/audit with the form's filters.
func (c *Console) auditLog(w http.ResponseWriter, r *http.Request) {
	form := passParams(r.URL.Query(), auditParams)
	api := cloneValues(form)
	if api.Get("limit") == "" {
		api.Set("limit", strconv.Itoa(auditPageSize))
	}
	d := auditData{Form: form}
	if err := c.callAPI(r, http.MethodGet, "/v1/audit?"+api.Encode(), &d.Page); err != nil {
		var e *errAPI
		if errors.As(err, &e) && e.Status == http.StatusBadRequest {
			d.ErrorField, d.Error = paramProblem(e.Message, auditParams)
			c.renderStatus(w, r, http.StatusBadRequest, "pruefprotokoll", "Prüfprotokoll", d)
			return
		}
		c.apiError(w, r, err)
		return
	}
	if d.Page.NextBefore != 0 {
		older := cloneValues(form)
		older.Set("before", strconv.FormatInt(d.Page.NextBefore, 10))
		d.Older = "/pruefprotokoll?" + older.Encode()
	}
	if form.Get("before") != "" {
		newest := cloneValues(form)
		newest.Del("before")
		d.Newest = "/pruefprotokoll?" + newest.Encode()
	}
	c.render(w, r, "pruefprotokoll", "Prüfprotokoll", d)
}
