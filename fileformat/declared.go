package fileformat

import "strings"

// mediaTypes maps declared media types, lower case and without parameters, to names. It holds the
// registered types and the unregistered ones that browsers and mail clients send for the formats an
// administration receives. Generic types such as application/octet-stream are absent: they declare
// nothing.
var mediaTypes = map[string]string{
	"application/pdf": "pdf", "application/x-pdf": "pdf", "application/acrobat": "pdf",
	"applications/vnd.pdf": "pdf", "text/pdf": "pdf", "text/x-pdf": "pdf",

	"image/png": "png", "image/x-png": "png",
	"image/jpeg": "jpeg", "image/jpg": "jpeg", "image/pjpeg": "jpeg",
	"image/gif":  "gif",
	"image/tiff": "tiff", "image/tif": "tiff", "image/x-tiff": "tiff",
	"image/bmp": "bmp", "image/x-bmp": "bmp", "image/x-ms-bmp": "bmp", "image/x-windows-bmp": "bmp",
	"image/webp": "webp",
	"image/heic": "heic", "image/heif": "heic", "image/heic-sequence": "heic", "image/heif-sequence": "heic",
	"image/svg+xml": "svg",

	"application/xml": "xml", "text/xml": "xml",
	"application/xml-dtd": "dtd",
	"application/json":    "json", "text/json": "json",
	"text/plain": "txt",
	"text/csv":   "csv", "text/comma-separated-values": "csv", "text/x-csv": "csv",
	"application/csv": "csv", "application/x-csv": "csv",
	"text/html": "html", "application/xhtml+xml": "html",
	"application/rtf": "rtf", "text/rtf": "rtf", "application/x-rtf": "rtf", "text/richtext": "rtf",
	"application/postscript": "ps",
	"message/rfc822":         "eml",

	"application/zip": "zip", "application/x-zip-compressed": "zip", "application/x-zip": "zip",
	"multipart/x-zip": "zip",
	"application/vnd.openxmlformats-officedocument.wordprocessingml.document":   "docx",
	"application/vnd.openxmlformats-officedocument.wordprocessingml.template":   "dotx",
	"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet":         "xlsx",
	"application/vnd.openxmlformats-officedocument.spreadsheetml.template":      "xltx",
	"application/vnd.openxmlformats-officedocument.presentationml.presentation": "pptx",
	"application/vnd.openxmlformats-officedocument.presentationml.template":     "potx",
	"application/vnd.oasis.opendocument.text":                                   "odt",
	"application/vnd.oasis.opendocument.text-template":                          "ott",
	"application/vnd.oasis.opendocument.spreadsheet":                            "ods",
	"application/vnd.oasis.opendocument.spreadsheet-template":                   "ots",
	"application/vnd.oasis.opendocument.presentation":                           "odp",
	"application/vnd.oasis.opendocument.presentation-template":                  "otp",

	"application/msword": "doc", "application/vnd.ms-word": "doc",
	"application/vnd.ms-excel": "xls", "application/msexcel": "xls", "application/x-msexcel": "xls",
	"application/x-excel": "xls", "application/excel": "xls", "application/x-ms-excel": "xls",
	"application/vnd.ms-powerpoint": "ppt", "application/mspowerpoint": "ppt",
	"application/powerpoint": "ppt", "application/x-mspowerpoint": "ppt",
	"application/vnd.ms-outlook": "msg",
	"application/vnd.ms-works":   "wps",
	"application/vnd.ms-project": "mpp",

	"application/pkcs7-signature": "p7s", "application/x-pkcs7-signature": "p7s",
	"application/pkcs7-mime": "p7m", "application/x-pkcs7-mime": "p7m",
}

// byMediaType is the name a declared media type stands for; "" if none.
func byMediaType(mediaType string) string {
	mt, _, _ := strings.Cut(mediaType, ";")
	mt = strings.ToLower(strings.TrimSpace(mt))
	if name, ok := mediaTypes[mt]; ok {
		return name
	}
	// Structured syntax suffixes (RFC 6839) say what a type is built on.
	switch {
	case strings.HasSuffix(mt, "+xml"):
		return "xml"
	case strings.HasSuffix(mt, "+json"):
		return "json"
	case strings.HasSuffix(mt, "+zip"):
		return "zip"
	}
	return ""
}

// extensions maps file name extensions to names: those of the Dateiformat list and a few more.
var extensions = map[string]string{
	"pdf": "pdf",
	"png": "png", "jpe": "jpeg", "jpeg": "jpeg", "jpg": "jpeg", "jfif": "jpeg", "gif": "gif",
	"tif": "tiff", "tiff": "tiff", "bmp": "bmp", "webp": "webp", "heic": "heic", "heif": "heic",
	"svg": "svg",
	"xml": "xml", "xsd": "xsd", "dtd": "dtd", "json": "json", "txt": "txt", "csv": "csv",
	"htm": "html", "html": "html", "rtf": "rtf", "ps": "ps", "eps": "ps", "eml": "eml",
	"zip":  "zip",
	"docx": "docx", "dotx": "dotx", "xlsx": "xlsx", "xltx": "xltx", "pptx": "pptx", "potx": "potx",
	"odt": "odt", "ott": "ott", "ods": "ods", "ots": "ots", "odp": "odp", "otp": "otp",
	"doc": "doc", "dot": "dot", "xls": "xls", "xlt": "xlt", "xlw": "xlw", "xlc": "xlc", "xlm": "xlm",
	"ppt": "ppt", "pot": "pot", "msg": "msg", "wps": "wps", "mpp": "mpp",
	"p7s": "p7s", "p7m": "p7m",
}

// byExtension is the name a file name extension stands for; "" if none.
func byExtension(ext string) string { return extensions[ext] }

// extension is the lower-case extension of a file name, which may come with a path (some browsers
// send one, with either separator); "" where what follows the last dot is not 1 to 16 ASCII
// letters or digits.
func extension(filename string) string {
	name := strings.TrimSpace(filename[strings.LastIndexAny(filename, `/\`)+1:])
	dot := strings.LastIndexByte(name, '.')
	if dot < 0 {
		return ""
	}
	ext := name[dot+1:]
	if len(ext) == 0 || len(ext) > 16 {
		return ""
	}
	for i := 0; i < len(ext); i++ {
		if !isLetter(ext[i]) && !isDigit(ext[i]) {
			return ""
		}
	}
	return strings.ToLower(ext)
}
