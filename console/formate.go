package console

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Duration writes a span of seconds short and German: "12 Sek.", "3 Min.", "2 Std. 5 Min.",
// "3 Tg. 4 Std."; no span is "—".
func Duration(seconds float64) string {
	if seconds <= 0 || math.IsNaN(seconds) || math.IsInf(seconds, 0) {
		return "—"
	}
	s := int64(seconds)
	switch {
	case s < 60:
		return fmt.Sprintf("%d Sek.", s)
	case s < 3600:
		return fmt.Sprintf("%d Min.", s/60)
	case s < 86400:
		if m := s % 3600 / 60; m != 0 {
			return fmt.Sprintf("%d Std. %d Min.", s/3600, m)
		}
		return fmt.Sprintf("%d Std.", s/3600)
	}
	if h := s % 86400 / 3600; h != 0 {
		return fmt.Sprintf("%d Tg. %d Std.", s/86400, h)
	}
	return fmt.Sprintf("%d Tg.", s/86400)
}

// Decimal writes a number with at most one decimal, German style: "0,4", "12".
func Decimal(f float64) string {
	s := strconv.FormatFloat(math.Round(f*10)/10, 'f', -1, 64)
	whole, frac, _ := strings.Cut(s, ".")
	n, _ := strconv.Atoi(whole)
	out := Number(n)
	if n == 0 && strings.HasPrefix(whole, "-") {
		out = "-0"
	}
	if frac != "" {
		out += "," + frac
	}
	return out
}

// circuitStates are a destination circuit's states as the overview names them.
var circuitStates = map[string]string{
	"closed":    "geschlossen",
	"open":      "offen",
	"half-open": "halb offen",
}

// CircuitState is a circuit's state in German: geschlossen, offen or halb offen.
func CircuitState(state string) string {
	if l, ok := circuitStates[state]; ok {
		return l
	}
	return state
}

// eventLabels are the German names of a submission's history events.
var eventLabels = map[string]string{
	"received":                 "Eingegangen",
	"fitconnect_received":      "Über FIT-Connect eingegangen",
	"xta_received":             "Über XTA eingegangen",
	"xta_rejected":             "XTA-Nachricht abgelehnt",
	"scheduled":                "Eingeplant",
	"routed":                   "Weitergeleitet",
	"rerouted":                 "Neu zugeordnet",
	"mapped":                   "Nachricht erzeugt",
	"validated":                "Nachricht geprüft",
	"queued":                   "In die Warteschlange gestellt",
	"delivered":                "Zugestellt",
	"delivery_failed":          "Zustellversuch fehlgeschlagen",
	"attempt_superseded":       "Zustellversuch abgelöst",
	"dead":                     "Unzustellbar",
	"replayed":                 "Erneut zugestellt",
	"reprocess_requested":      "Neu verarbeiten angefordert",
	"routing_failed":           "Zuordnung fehlgeschlagen",
	"mapping_failed":           "Mapping fehlgeschlagen",
	"validation_failed":        "Prüfung fehlgeschlagen",
	"processing_failed":        "Verarbeitung fehlgeschlagen",
	"payment_checked":          "Zahlung geprüft",
	"payment_paid":             "Bezahlt",
	"payment_failed":           "Zahlung fehlgeschlagen",
	"payment_missing":          "Zahlung fehlt",
	"payment_canceled":         "Zahlung abgebrochen",
	"payment_released":         "Zahlung freigegeben",
	"attachment_flagged":       "Anlage beanstandet",
	"acknowledged":             "Empfang bestätigt",
	"rejected":                 "Abgelehnt",
	"callback_failed":          "Rückmeldung an das Portal fehlgeschlagen",
	"purged":                   "Daten gelöscht",
	"reply_planned":            "Antwort geplant",
	"reply_sent":               "Antwort versandt",
	"reply_failed":             "Antwortversand fehlgeschlagen",
	"reply_dead":               "Antwort unzustellbar",
	"reply_replayed":           "Antwort erneut versandt",
	"reply_attempt_superseded": "Antwortversuch abgelöst",
}

// EventLabel is a history event's German name (the type itself when it has none).
func EventLabel(typ string) string {
	if l, ok := eventLabels[typ]; ok {
		return l
	}
	return typ
}
