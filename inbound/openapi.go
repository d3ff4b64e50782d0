package inbound

import (
	_ "embed"
	"net/http"
)

// OpenAPI is the OpenAPI 3 document of the inbound and admin APIs.
//
//go:embed openapi.yaml
var OpenAPI []byte

func serveOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/yaml")
	_, _ = w.Write(OpenAPI)
}
