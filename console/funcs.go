package console

import (
	"html/template"
	"strconv"
	"strings"
	"time"

	"github.com/amtsbote/amtsbote/config"
	"github.com/amtsbote/amtsbote/store"
)

// statusLabels are the German names of the store's statuses: of submissions, deliveries, reply
// deliveries and filed replies, and of a destination's circuit.
var statusLabels = map[string]string{
	store.StatusReceived:        "Eingegangen",
	store.StatusProcessing:      "In Verarbeitung",
	store.StatusDelivered:       "Zugestellt",
	store.StatusFailed:          "Fehlgeschlagen",
	store.StatusDead:            "Unzustellbar",
	store.StatusAcknowledged:    "Empfang bestätigt",
	store.StatusRejected:        "Abgelehnt",
	store.StatusAwaitingPayment: "Wartet auf Zahlung",
	store.StatusPaymentFailed:   "Zahlung fehlgeschlagen",
	store.StatusPaymentCanceled: "Zahlung abgebrochen",
	store.StatusInProgress:      "In Bearbeitung",
	store.StatusDecided:         "Entschieden",
	store.StatusClosed:          "Abgeschlossen",
	store.DeliveryPending:       "Ausstehend",
	store.ReplySent:             "Versandt",
	store.FiledUnmatched:        "Nicht zugeordnet",
	store.FiledMalformed:        "Fehlerhaft",
	store.FiledUnauthorised:     "Nicht berechtigt",
	store.FiledPurged:           "Gelöscht",
	"closed-circuit":            "Stellt zu",
	"open":                      "Pausiert nach Fehlern",
	"half-open":                 "Probezustellung",
}

// StatusLabel is a status's German name (the status itself when it has none).
func StatusLabel(status string) string {
	if l, ok := statusLabels[status]; ok {
		return l
	}
	return status
}

// CircuitLabel is a destination circuit's state in German ("closed" is a submission status too).
func CircuitLabel(state string) string {
	if state == "closed" {
		return statusLabels["closed-circuit"]
	}
	return StatusLabel(state)
}

// RoleLabel is a role's German name.
func RoleLabel(role string) string {
	switch role {
	case config.RoleOperator:
		return "Bedienung"
	case config.RoleViewer:
		return "Lesezugriff"
	}
	return role
}

// DateLayout is how the console writes a point in time: 02.12.2026, 14:05:09.
const DateLayout = "02.01.2006, 15:04:05"

// Number writes n with German digit grouping: 1.234.567.
func Number(n int) string {
	s := strconv.Itoa(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte('.')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// Count writes a number with its noun in singular or plural: "1 Zustellung", "3 Zustellungen".
func Count(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return Number(n) + " " + many
}

func (c *Console) funcs() template.FuncMap {
	return template.FuncMap{
		// datum writes a time in the configuration's zone, German style; the zero time is "—".
		"datum": func(t time.Time) string {
			if t.IsZero() {
				return "—"
			}
			return t.In(c.opts.Location).Format(DateLayout)
		},
		// datumISO is the same time for <time datetime>.
		"datumISO": func(t time.Time) string { return t.In(c.opts.Location).Format(time.RFC3339) },
		"status":   StatusLabel,
		"kreis":    CircuitLabel,
		"rolle":    RoleLabel,
		"zahl":     Number,
		"anzahl":   Count,
		// dauer, kommazahl, kreiszustand and ereignis: see Duration, Decimal, CircuitState and
		// EventLabel.
		"dauer":        Duration,
		"kommazahl":    Decimal,
		"kreiszustand": CircuitState,
		"ereignis":     EventLabel,
		"zahl64":       func(n int64) string { return Number(int(n)) },
		"anzahl64":     func(n int64, one, many string) string { return Count(int(n), one, many) },
		// optionen lists a destination's options (secrets redacted by the API).
		"optionen": flatOptions,
		// dateiLink is the page of a configuration file at a line (0: the top).
		"dateiLink": fileLink,
		"liste":     func(s []string) string { return strings.Join(s, ", ") },
		// kurzID is the start of a long id, enough to tell submissions apart in a list.
		"kurzID": func(id string) string {
			if len(id) > 13 {
				return id[:8] + "…"
			}
			return id
		},
	}
}
