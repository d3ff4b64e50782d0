// Package formdoc renders a citizen's application — the form data as the
// portal sent it, in JSON — into a readable PDF that the E-Akte/DMS files as
// the first document of the case ("Antrag").
//
// The document is German throughout: a header with the administrative facts
// (received, portal reference, Leistung, AGS, portal, Vorgangsnummer), the
// form data in the order of the JSON with labels from a Labels file
// (LoadLabels) or humanized keys, the list of attachments ("Anlagen"), and
// "Seite X von Y" with the Vorgangsnummer in every footer. Values are shown
// the German way: ISO dates as "12.04.1985", date-times as "15.01.2026,
// 10:30 Uhr" in the document's time zone, booleans as "Ja"/"Nein", decimal
// numbers with a comma; null and blank values are left out.
//
// # Text and fonts
//
// Text is set in the Go fonts (golang.org/x/image/font/gofont, BSD
// licence), embedded as subsets. They cover Latin including Latin Extended-A
// (Łódź, Dvořák, Őry), Greek and Cyrillic. Every text is put into Unicode
// NFC first; a character the fonts still lack (Chinese, emoji, …) is shown
// as U+FFFD "�" (or its compatibility form where that is drawable, and the
// capital ẞ as ß), because a glyph missing from the font would be drawn as
// .notdef, which PDF/A forbids, and silently dropping letters from a name
// would hide that the printout differs from the submission. Invisible
// control and format characters are dropped.
//
// # Determinism
//
// Render is a pure function of the Document: no clock, no random IDs, no
// map order. The PDF dates are Document.ReceivedAt and the trailer /ID is a
// digest of the file (the embedded font programs and colour profile stand in
// it by their names), so a redelivery can be compared byte for byte. The
// font subsets depend only on the characters shown (see subset.go), not on
// which documents were rendered before.
//
// # PDF/A-2b
//
// formdoc writes the file itself (write.go): %PDF-1.7 header with a binary
// comment, catalog, pages with their content streams, XMP metadata, an sRGB
// OutputIntent with a profile generated in Go, the Info dictionary, the
// fonts, one complete xref table and a trailer with /ID. Only the font
// subsets are cut by fpdf, once per process for a base set of characters
// plus each combination of character ranges (Latin-1, Latin Extended-A,
// Greek, …) that documents use (subset.go), stripped of the name table and
// the glyphs' hinting instructions (sfnt.go), and then embedded as ready
// bytes.
//
// Checked by the tests (pdfcpu's strict validation plus structural checks):
//   - 6.1.2 header "%PDF-1.7" followed by a comment with four bytes > 127;
//   - 6.1.3 trailer with /ID, no /Encrypt, nothing after %%EOF but an EOL;
//   - 6.1.4 one classic xref section whose offsets point at their objects;
//   - 6.1.7 every stream's /Length matches its data, and no stream has
//     /F, /FFilter or /FDecodeParms;
//   - 6.2.3 an OutputIntent GTS_PDFA1 with an embedded ICC profile
//     that parses (v2.1 'mntr' RGB/XYZ, sizes, tag offsets and alignment);
//   - 6.2.11.4.1 every font is embedded (FontFile2), no standard-14 font;
//   - 6.2.11.5 the /W widths agree with the embedded font programs;
//   - 6.2.11.8 no text shows a character mapped to .notdef;
//   - 6.6.2.1 XMP packet (unfiltered, /Type /Metadata /Subtype /XML) with
//     pdfaid:part 2 and pdfaid:conformance B, the xpacket header without
//     bytes/encoding attributes;
//   - Info and XMP agree: Title/dc:title, Subject/dc:description,
//     Creator/xmp:CreatorTool, Producer/pdf:Producer,
//     CreationDate/xmp:CreateDate, ModDate/xmp:ModifyDate, all dates with a
//     time zone;
//   - no encryption, JavaScript, actions, annotations, embedded files,
//     transparency groups or ExtGState in the file.
//
// Relied on but not verified here (there is no veraPDF in the test
// environment; run veraPDF with the PDF/A-2B profile when upgrading fpdf
// or changing write.go):
//   - the internal structure of the font subsets fpdf generates (valid
//     TrueType tables, cmap consistency, 6.2.11.4); each subset is checked
//     to parse and to have a glyph of the measured width for every
//     character it covers, and the tests of stripFont check its directory,
//     checksums and alignment and that every glyph keeps its outline and
//     advance;
//   - the full colour-space rules of 6.2.4 for every operator (the content
//     uses only DeviceGray and DeviceRGB, which the sRGB OutputIntent allows);
//   - the remaining syntax rules of 6.1.6–6.1.9 beyond what pdfcpu's strict
//     parser enforces;
//   - the XMP packet against the full XMP/RDF grammar (6.6.2.1) beyond the
//     fixed template used.
package formdoc
