package formdoc

// File is one of the files that make up the application as a document: the readable PDF, or
// the form data as received.
type File struct {
	Filename    string // e.g. Antrag.pdf
	PackageName string // the name in a delivered package: <object UUID>_Antrag.pdf
	MediaType   string
	Title       string
	// Format, FormatVersion and PDFA describe the file as the format detection would.
	Format, FormatVersion, PDFA string
	Content                     []byte
}

// ApplicationFiles renders d and returns the application's two files: the readable PDF/A and
// the form data exactly as the portal sent it. Their package names start with objectID, the
// UUID of the Dokument they make up together (xdomea wants file names to start with a UUID).
func ApplicationFiles(d Document, objectID string) ([]File, error) {
	pdf, err := Render(d)
	if err != nil {
		return nil, err
	}
	files := ApplicationFilesUnrendered(d, objectID)
	files[0].Content = pdf
	return files, nil
}

// ApplicationFilesUnrendered describes the files ApplicationFiles makes — names, media types,
// titles, formats — without rendering the PDF (its Content is nil): what a dry run of the
// mapping needs, at a fraction of the cost.
func ApplicationFilesUnrendered(d Document, objectID string) []File {
	title := d.Title
	if title == "" {
		title = d.Labels.Title
	}
	return []File{
		{Filename: "Antrag.pdf", PackageName: objectID + "_Antrag.pdf", MediaType: "application/pdf",
			Title: title, Format: "pdf", FormatVersion: PDFVersion, PDFA: PDFA},
		{Filename: "Antrag.json", PackageName: objectID + "_Antrag.json", MediaType: "application/json",
			Title: title + " (Daten)", Format: "json", FormatVersion: "RFC 8259", Content: d.Data},
	}
}
