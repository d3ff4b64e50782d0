package simulator

import (
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	json "github.com/go-json-experiment/json"

	"github.com/amtsbote/amtsbote/payment"
)

// control serves the control API under /simulator/ (see Handler).
func (s *Server) control(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimPrefix(r.URL.Path, "/simulator/")
	switch {
	case path == "transactions" && r.Method == http.MethodGet:
		s.mu.Lock()
		out := []payment.Transaction{}
		for _, t := range s.txs {
			out = append(out, s.view(r, t))
		}
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, out)
	case path == "transactions" && r.Method == http.MethodPost:
		var in struct {
			OriginatorID  string `json:"originatorId"`
			EndpointID    string `json:"endPointId"`
			TransactionID string `json:"transactionId"`
		}
		if err := json.UnmarshalRead(http.MaxBytesReader(w, r.Body, 64<<10), &in, json.RejectUnknownMembers(true)); err != nil {
			problem(w, http.StatusBadRequest, payment.CodeValidationError, err.Error())
			return
		}
		t, err := s.AddTransaction(in.OriginatorID, in.EndpointID, in.TransactionID)
		if err != nil {
			problem(w, http.StatusBadRequest, payment.CodeValidationError, err.Error())
			return
		}
		s.writeTransaction(w, r, t.ID, http.StatusCreated, "")
	case strings.HasPrefix(path, "transactions/") && strings.HasSuffix(path, "/status") && r.Method == http.MethodPost:
		id := strings.TrimSuffix(strings.TrimPrefix(path, "transactions/"), "/status")
		var in struct {
			Status        payment.Status `json:"status"`
			PaymentMethod string         `json:"paymentMethod"`
		}
		if err := json.UnmarshalRead(http.MaxBytesReader(w, r.Body, 64<<10), &in, json.RejectUnknownMembers(true)); err != nil {
			problem(w, http.StatusBadRequest, payment.CodeValidationError, err.Error())
			return
		}
		if _, ok := s.Transaction(id); !ok {
			problem(w, http.StatusNotFound, "", "no payment transaction "+id)
			return
		}
		if !in.Status.Valid() {
			problem(w, http.StatusBadRequest, payment.CodeValidationError, fmt.Sprintf("status %q is not one of INITIAL, PAYED, FAILED, CANCELED", in.Status))
			return
		}
		notified := "sent"
		if err := s.SetStatus(id, in.Status, in.PaymentMethod); err != nil {
			notified = err.Error()
		}
		s.writeTransaction(w, r, id, http.StatusOK, notified)
	case path == "faults" && r.Method == http.MethodPost:
		var in struct {
			Status    int    `json:"status"`
			Delay     string `json:"delay"`
			Malformed bool   `json:"malformed"`
			Count     int    `json:"count"`
		}
		if err := json.UnmarshalRead(http.MaxBytesReader(w, r.Body, 64<<10), &in, json.RejectUnknownMembers(true)); err != nil {
			problem(w, http.StatusBadRequest, payment.CodeValidationError, err.Error())
			return
		}
		if in.Count <= 0 {
			in.Count = 1
		}
		switch {
		case in.Status >= 400 && in.Status <= 599:
			s.Fail(in.Count, in.Status)
		case in.Delay != "":
			d, err := time.ParseDuration(in.Delay)
			if err != nil || d <= 0 {
				problem(w, http.StatusBadRequest, payment.CodeValidationError, "delay: a positive duration like 5s")
				return
			}
			s.Stall(in.Count, d)
		case in.Malformed:
			s.Malform(in.Count)
		default:
			problem(w, http.StatusBadRequest, payment.CodeValidationError, "give status (400–599), delay or malformed")
			return
		}
		w.WriteHeader(http.StatusNoContent)
	default:
		problem(w, http.StatusNotFound, "", "no such control call: "+r.Method+" "+r.URL.Path)
	}
}

func (s *Server) writeTransaction(w http.ResponseWriter, r *http.Request, id string, status int, notified string) {
	s.mu.Lock()
	view := s.view(r, s.txs[id])
	s.mu.Unlock()
	writeJSON(w, status, struct {
		payment.Transaction
		Notification string `json:"notification,omitempty"`
	}{view, notified})
}

var paypage = template.Must(template.New("paypage").Parse(`<!doctype html>
<html lang="de"><head><meta charset="utf-8"><title>Bezahlseite (Simulator)</title></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 2em auto">
<h1>Bezahlseite</h1>
<p><strong>Simulator</strong> einer E-Payment-Plattform (XBezahldienste) — hier wird nichts bezahlt.</p>
<p>Transaktion {{.ID}}, Kassenzeichen {{.Reference}}{{with .Request}}, {{printf "%.2f" .GrosAmount}} {{.Currency}} — {{.Purpose}}{{end}}</p>
<p>Status: <strong>{{.Status}}</strong>{{with .Notified}} (Benachrichtigung: {{.}}){{end}}</p>
{{if eq .Status "INITIAL"}}
<form method="post"><button name="action" value="pay">Bezahlen</button>
<button name="action" value="cancel">Abbrechen</button>
<button name="action" value="fail">Zahlung scheitert</button></form>
{{end}}
</body></html>
`))

// paypage is where the payer pays (or cancels): a form for trying the flow out in a browser.
func (s *Server) paypage(w http.ResponseWriter, r *http.Request) {
	id := strings.TrimPrefix(r.URL.Path, "/paypage/")
	t, ok := s.Transaction(id)
	if !ok {
		http.Error(w, "no such payment", http.StatusNotFound)
		return
	}
	notified := ""
	switch r.Method {
	case http.MethodGet:
	case http.MethodPost:
		if t.Status != payment.StatusInitial {
			http.Error(w, "this payment is no longer open: "+string(t.Status), http.StatusConflict)
			return
		}
		to := map[string]payment.Status{"pay": payment.StatusPayed, "cancel": payment.StatusCanceled, "fail": payment.StatusFailed}[r.PostFormValue("action")]
		if to == "" {
			http.Error(w, "action is pay, cancel or fail", http.StatusBadRequest)
			return
		}
		notified = "gesendet"
		if err := s.SetStatus(id, to, ""); err != nil {
			notified = err.Error()
		}
		t, _ = s.Transaction(id)
		if t.Request != nil {
			if u, err := url.Parse(t.Request.RedirectURL); err == nil && (u.Scheme == "https" || u.Scheme == "http") {
				http.Redirect(w, r, u.String(), http.StatusSeeOther)
				return
			}
		}
	default:
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "GET or POST", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = paypage.Execute(w, struct {
		Transaction
		Notified string
	}{t, notified})
}
