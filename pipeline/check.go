package pipeline

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/amtsbote/amtsbote/formdata"
	"github.com/amtsbote/amtsbote/routes"
	"github.com/amtsbote/amtsbote/snapshot"
	"github.com/amtsbote/amtsbote/store"
)

// Problem is one reason a submission cannot be made into valid messages.
type Problem struct {
	// Destination is the target the problem is with; "" for the route's own JSON Schema.
	Destination string `json:"destination,omitempty"`
	// Field is the form data's field (data.inhaber.geburtsdatum), where known.
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
	// Rule is the file:line of the mapping rule that failed or produced the invalid element.
	Rule string `json:"rule,omitempty"`
}

// Check runs for a submission that is not stored yet what processing will run: the route's
// JSON Schema, and with check_at_intake every target's mapping and validation, as a dry run. It returns every problem; none means the submission will map to
// valid messages with this configuration. Attachments are read for their metadata only.
func Check(sub store.Submission, atts []store.Attachment, route *routes.Route, snap *snapshot.Snapshot, now func() time.Time) ([]Problem, error) {
	var problems []Problem
	if f, err := routeSchemaFailure(sub, route); err != nil {
		return nil, err
	} else if f != nil {
		problems = append(problems, f.Problems...)
	}
	if !route.CheckAtIntake {
		return problems, nil
	}
	atts = withSizes(atts)
	// The readable application is described, not rendered: the mapping needs its name and
	// format, and rendering it would cost most of the check.
	generated, err := makeApplicationFiles(formData(sub), atts, route, snap.Config.Location(), len(atts), false)
	if err != nil {
		return nil, err
	}
	in, err := mappingInput(sub, append(atts, generated...), snap)
	if err != nil {
		return append(problems, Problem{Field: "data", Message: err.Error()}), nil
	}
	for _, t := range route.Targets {
		_, f, err := mapTarget(in, t, snap, now)
		if err != nil {
			return nil, err
		}
		if f != nil {
			problems = append(problems, f.Problems...)
		}
	}
	return relativeRules(problems, filepath.Dir(snap.Routes.File)), nil
}

// relativeRules names the rules' files relative to the routes file, as golden tests and
// integrators name them, rather than by the server's absolute paths.
func relativeRules(problems []Problem, dir string) []Problem {
	for i, p := range problems {
		file, line, ok := strings.Cut(p.Rule, ":")
		if !ok {
			continue
		}
		if rel, err := filepath.Rel(dir, file); err == nil && !strings.HasPrefix(rel, "..") {
			problems[i].Rule = filepath.ToSlash(rel) + ":" + line
		}
	}
	return problems
}

// routeSchemaFailure checks JSON form data against the route's JSON Schema, if it has one.
func routeSchemaFailure(sub store.Submission, route *routes.Route) (*failure, error) {
	if route.Schema == nil || sub.DataType == "application/xml" {
		return nil, nil
	}
	err := route.Schema.Validate(sub.Data)
	var fe *formdata.ValidationError
	switch {
	case errors.As(err, &fe):
		return schemaFailure(fe, ""), nil
	case err != nil:
		return &failure{Type: "validation_failed", Detail: err.Error(), Problems: []Problem{{Field: "data", Message: err.Error()}}}, nil
	}
	return nil, nil
}

// withSizes gives attachments not stored yet the size of their content, as storing will.
func withSizes(atts []store.Attachment) []store.Attachment {
	out := make([]store.Attachment, len(atts))
	for i, a := range atts {
		if a.Size == 0 && a.Content != nil {
			switch c := a.Content.(type) {
			case interface{ Size() int64 }:
				a.Size = c.Size()
			case *os.File:
				if fi, err := c.Stat(); err == nil {
					a.Size = fi.Size()
				}
			case io.Seeker:
				if n, err := c.Seek(0, io.SeekEnd); err == nil {
					a.Size = n
					_, _ = c.Seek(0, io.SeekStart)
				}
			}
		}
		out[i] = a
	}
	return out
}
