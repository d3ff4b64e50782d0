package admin

import (
	"errors"
	"net/http"
)

// RequestError is a problem with what the caller asked for: the HTTP status that says so and
// the field or parameter it is about.
type RequestError struct {
	Status  int
	Field   string
	Message string
}

func (e *RequestError) Error() string {
	if e.Field == "" {
		return e.Message
	}
	return e.Field + ": " + e.Message
}

func badRequest(field, format string) *RequestError {
	return &RequestError{Status: http.StatusBadRequest, Field: field, Message: format}
}

// answerError writes a RequestError or ErrNoRuntime as what it is, anything else as an
// internal error.
func (s *Server) answerError(w http.ResponseWriter, err error) {
	var re *RequestError
	switch {
	case errors.As(err, &re):
		body := map[string]any{"error": re.Error()}
		if re.Field != "" {
			body["problems"] = []map[string]string{{"field": re.Field, "message": re.Message}}
		}
		writeJSON(w, re.Status, body)
	case errors.Is(err, ErrNoRuntime):
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": err.Error()})
	default:
		s.fail(w, err)
	}
}
