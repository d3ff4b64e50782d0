package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/amtsbote/amtsbote/config"
	"github.com/amtsbote/amtsbote/xoev"
)

// errInvalid makes the command exit 1 after it has printed its verdicts.
var errInvalid = errors.New("some files are not valid")

func validateCmd() *cobra.Command {
	var file, schemaID, format string
	var codes bool
	cmd := &cobra.Command{
		Use:   "validate [--schema ID] FILE...",
		Short: "Validate XÖV messages against the configured schema sets (exit 0 all valid, 1 some invalid, 2 usage or config error)",
		Long: `Validate XÖV messages offline against the schema sets of the configuration.

Without --schema, each file's schema set is picked by the namespace of its root element.
The verdict equals xmllint --noout --nonet --schema on the same files; --check-codes also
checks codes against the set's genericode code lists, which the XSD cannot do; it warns about a
set that has none configured, since then nothing beyond the XSD was checked.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			if format != "text" && format != "json" {
				return usageError{fmt.Errorf("--format %q: expected text or json", format)}
			}
			cfg, err := config.Load(file)
			if err != nil {
				return usageError{err}
			}
			sets, err := loadSchemaSets(cfg, schemaID)
			if err != nil {
				return usageError{err}
			}
			defer func() {
				for _, s := range sets {
					s.Close()
				}
			}()
			results := make([]fileResult, 0, len(files))
			for _, f := range files {
				r, err := validateFile(f, sets, schemaID, codes)
				if err != nil {
					return usageError{err}
				}
				results = append(results, r)
			}
			var warnings []string
			if codes {
				warnings = uncheckedCodes(sets, results)
				for _, w := range warnings {
					fmt.Fprintln(cmd.ErrOrStderr(), "warning: "+w)
				}
			}
			printResults(cmd.OutOrStdout(), format, results, warnings)
			for _, r := range results {
				if !r.Valid {
					return errInvalid
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&file, "config", config.DefaultFile, "configuration file naming the schema sets")
	cmd.Flags().StringVar(&schemaID, "schema", "", "schema set id (default: by the root element's namespace)")
	cmd.Flags().StringVar(&format, "format", "text", "output: text or json")
	cmd.Flags().BoolVar(&codes, "check-codes", false, "also check codes against the schema set's code lists")
	return cmd
}

func loadSchemaSets(cfg *config.Config, only string) ([]*xoev.SchemaSet, error) {
	var sets []*xoev.SchemaSet
	for _, s := range cfg.Schemas {
		if only != "" && s.ID != only {
			continue
		}
		set, err := xoev.LoadSchemaSet(xoev.SchemaSetConfig{
			ID: s.ID, Root: cfg.Path(s.Root), Namespaces: s.Namespaces,
			Catalog: cfg.Path(s.Catalog), CodeLists: cfg.Paths(s.CodeLists), Standard: s.Standard, Version: s.Version,
		})
		if err != nil {
			for _, done := range sets {
				done.Close()
			}
			return nil, err
		}
		sets = append(sets, set)
	}
	if only != "" && len(sets) == 0 {
		return nil, fmt.Errorf("--schema %q: no such schema set in %s (configured: %s)", only, cfg.File, schemaIDs(cfg))
	}
	return sets, nil
}

func schemaIDs(cfg *config.Config) string {
	ids := make([]string, len(cfg.Schemas))
	for i, s := range cfg.Schemas {
		ids[i] = s.ID
	}
	return strings.Join(ids, ", ")
}

type fileResult struct {
	File     string         `json:"file"`
	Schema   string         `json:"schema,omitempty"`
	Valid    bool           `json:"valid"`
	Problems []xoev.Problem `json:"problems"`
}

func validateFile(path string, sets []*xoev.SchemaSet, schemaID string, codes bool) (fileResult, error) {
	r := fileResult{File: path, Problems: []xoev.Problem{}}
	data, err := os.ReadFile(path)
	if err != nil {
		return r, err
	}
	set := sets[0]
	if schemaID == "" {
		// The parser that validates picks the set too: one parser, one verdict.
		ns, err := xoev.RootNamespace(data)
		var pe *xoev.ParseError
		if errors.As(err, &pe) {
			r.Problems = append(r.Problems, pe.Problem)
			return r, nil
		}
		if err != nil {
			return r, err
		}
		if set = setFor(sets, ns); set == nil {
			// Reported for this file; the others still get their verdicts.
			r.Problems = append(r.Problems, xoev.Problem{Message: fmt.Sprintf(
				"no schema set is configured for the root element's namespace %q; pass --schema or add the namespace to a schema set (namespaces)", ns)})
			return r, nil
		}
	}
	r.Schema = set.ID
	err = set.Check(data, codes)
	var ve *xoev.ValidationError
	var pe *xoev.ParseError
	switch {
	case err == nil:
		r.Valid = true
	case errors.As(err, &ve):
		r.Problems = ve.Problems
	case errors.As(err, &pe):
		r.Problems = []xoev.Problem{pe.Problem}
	default:
		return r, err
	}
	return r, nil
}

func setFor(sets []*xoev.SchemaSet, ns string) *xoev.SchemaSet {
	for _, s := range sets {
		for _, n := range s.Namespaces {
			if n == ns {
				return s
			}
		}
	}
	return nil
}

// uncheckedCodes names the schema sets --check-codes had nothing to check against: no
// genericode lists configured (the lists a schema enumerates the XSD checks already), so their
// files' verdicts are the XSD's alone.
func uncheckedCodes(sets []*xoev.SchemaSet, results []fileResult) []string {
	used := map[string]bool{}
	for _, r := range results {
		used[r.Schema] = true
	}
	var out []string
	for _, s := range sets {
		if used[s.ID] && s.CodeLists.Genericode() == 0 {
			out = append(out, fmt.Sprintf("schema set %s has no code lists configured (code_lists): --check-codes checked nothing beyond the XSD", s.ID))
		}
	}
	return out
}

func printResults(w io.Writer, format string, results []fileResult, warnings []string) {
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		out := map[string]any{"files": results}
		if len(warnings) > 0 {
			out["warnings"] = warnings
		}
		_ = enc.Encode(out)
		return
	}
	for _, r := range results {
		if r.Valid {
			fmt.Fprintf(w, "%s: valid\n", r.File)
			continue
		}
		fmt.Fprintf(w, "%s: invalid (%d problems)\n", r.File, len(r.Problems))
		sort.SliceStable(r.Problems, func(i, j int) bool { return r.Problems[i].Line < r.Problems[j].Line })
		for _, p := range r.Problems {
			loc := r.File
			if p.Line > 0 {
				loc = fmt.Sprintf("%s:%d", loc, p.Line)
				if p.Column > 0 {
					loc = fmt.Sprintf("%s:%d", loc, p.Column)
				}
			}
			if p.Path != "" {
				fmt.Fprintf(w, "  %s: %s: %s\n", loc, p.Path, p.Message)
			} else {
				fmt.Fprintf(w, "  %s: %s\n", loc, p.Message)
			}
		}
	}
}
