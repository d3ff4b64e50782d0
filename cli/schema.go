package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/amtsbote/amtsbote/xoev"
)

func schemaCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "schema", Short: "Work with XSD schema sets"}
	cmd.AddCommand(schemaScanCmd())
	return cmd
}

func schemaScanCmd() *cobra.Command {
	var cache, catalogFile, writeCatalog, format string
	var force bool
	cmd := &cobra.Command{
		Use:   "scan ROOT.xsd",
		Short: "List every include and import of a schema set and whether it resolves offline (exit 0 all resolve, 1 some do not, 2 usage error)",
		Long: `List every xs:include, xs:import, xs:redefine and xs:override from ROOT.xsd on, recursively:
the schema and line that refers, the schemaLocation, the namespace of imports, and whether it
resolves offline — a relative location by the file existing, a URL through --catalog.

--cache DIR names a directory of downloaded schemas (e.g. a mirror of xoev.de). A URL that no
catalog maps is looked up there by its path (the cached file whose path ends with the longest
part of the URL's host and path) or else by the import's namespace (the cached schema with that
targetNamespace); files found are scanned in turn. Equally good candidates with different
content are reported as ambiguous.

--write-catalog FILE writes an OASIS XML catalog mapping every URL that resolved to its local
file, relative to FILE: the schema set's "catalog". An existing FILE with other content is
only replaced with --force.`,
		Example: `  amtsbote schema scan xoev/testdata/absolute/beispiel.xsd \
    --cache fixtures/xoev/xdomea-3.0.0/xoev --write-catalog /tmp/beispiel-catalog.xml`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "text" && format != "json" {
				return usageError{fmt.Errorf("--format %q: expected text or json", format)}
			}
			opts := xoev.ScanOptions{Cache: cache}
			if catalogFile != "" {
				c, err := xoev.LoadCatalog(catalogFile)
				if err != nil {
					return usageError{err}
				}
				opts.Catalog = c
			}
			rep, err := xoev.Scan(args[0], opts)
			if err != nil {
				return usageError{err}
			}
			out := scanOutput{ScanReport: rep, Resolved: rep.OK()}
			var writeErr error
			if writeCatalog != "" {
				out.Catalog = &catalogOutput{File: writeCatalog, Entries: rep.CatalogEntries()}
				if len(out.Catalog.Entries) > 0 {
					out.Catalog.Written, writeErr = xoev.WriteCatalog(writeCatalog, out.Catalog.Entries, force)
				}
			}
			printScan(cmd.OutOrStdout(), format, out, writeErr == nil)
			switch {
			case errors.Is(writeErr, xoev.ErrCatalogExists):
				return usageError{writeErr}
			case writeErr != nil:
				return writeErr
			case !out.Resolved:
				return errFailed // printed above
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&cache, "cache", "", "directory of downloaded schema files to find the URLs in")
	cmd.Flags().StringVar(&catalogFile, "catalog", "", "existing OASIS XML catalog to resolve URLs through first")
	cmd.Flags().StringVar(&writeCatalog, "write-catalog", "", "write a catalog of the URLs that resolved to this file")
	cmd.Flags().BoolVar(&force, "force", false, "let --write-catalog replace a file with other content")
	cmd.Flags().StringVar(&format, "format", "text", "output: text or json")
	return cmd
}

type scanOutput struct {
	*xoev.ScanReport
	Resolved bool           `json:"resolved"`
	Catalog  *catalogOutput `json:"catalog,omitempty"`
}

type catalogOutput struct {
	File    string            `json:"file"`
	Entries map[string]string `json:"entries"`
	Written bool              `json:"written"`
}

func printScan(w io.Writer, format string, out scanOutput, catalogOK bool) {
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(out)
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "WHERE\tKIND\tNAMESPACE\tSCHEMALOCATION\tRESOLVES\tFILE")
	var bad []xoev.Reference
	for _, r := range out.References {
		resolves, file := r.Via, r.Local
		switch r.Status {
		case xoev.StatusUnresolved:
			resolves = "NO"
			bad = append(bad, r)
		case xoev.StatusAmbiguous:
			resolves, file = "AMBIGUOUS", strings.Join(r.Candidates, " ")
			bad = append(bad, r)
		case xoev.StatusNoLocation:
			resolves = "no schemaLocation"
		}
		fmt.Fprintf(tw, "%s:%d\t%s\t%s\t%s\t%s\t%s\n", r.File, r.Line, r.Kind, dash(r.Namespace), dash(r.Location), resolves, file)
	}
	tw.Flush()
	fmt.Fprintln(w)
	for _, p := range out.Problems {
		fmt.Fprintln(w, p)
	}
	for _, r := range bad {
		what := r.Kind + " of " + r.Location
		if r.Namespace != "" {
			what += " (namespace " + r.Namespace + ")"
		}
		fmt.Fprintf(w, "%s:%d: %s does not resolve: %s\n", r.File, r.Line, what, r.Problem)
	}
	summary := fmt.Sprintf("%d schemas read, %d references", len(out.Schemas), len(out.References))
	switch {
	case len(bad) > 0:
		summary += fmt.Sprintf(": %d do not resolve", len(bad))
	case len(out.Problems) == 0:
		summary += ": all resolve"
	}
	if len(out.Problems) > 0 {
		summary += fmt.Sprintf("; %d schemas cannot be read", len(out.Problems))
	}
	fmt.Fprintln(w, summary)
	if c := out.Catalog; c != nil && catalogOK {
		switch {
		case len(c.Entries) == 0:
			fmt.Fprintf(w, "no URL needs a catalog entry; %s not written\n", c.File)
		case c.Written:
			fmt.Fprintf(w, "wrote %s: %d URLs; name it as the schema set's catalog\n", c.File, len(c.Entries))
		default:
			fmt.Fprintf(w, "%s is up to date: %d URLs\n", c.File, len(c.Entries))
		}
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
