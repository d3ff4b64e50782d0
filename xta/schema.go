package xta

import (
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/amtsbote/amtsbote/xoev"
)

// Schemas are the WSDL and XSDs of XTA-WS 2.1.1 (schema/README.md).
//
//go:embed schema/*.xsd schema/*.wsdl
var Schemas embed.FS

var (
	envelopeOnce   sync.Once
	envelopeSchema *xoev.SchemaSet
	envelopeErr    error
)

// EnvelopeSchema is the compiled schema of XTA-WS messages (schema/amtsbote-envelope.xsd):
// the SOAP 1.2 envelope with every header block and body element XTA-WS declares. Validate
// WithoutXOP(envelope) with it (the code-list check off).
func EnvelopeSchema() (*xoev.SchemaSet, error) {
	envelopeOnce.Do(func() {
		dir, err := os.MkdirTemp("", "amtsbote-xta-schema-")
		if err != nil {
			envelopeErr = err
			return
		}
		defer os.RemoveAll(dir)
		sub, _ := fs.Sub(Schemas, "schema")
		if err := os.CopyFS(dir, sub); err != nil {
			envelopeErr = err
			return
		}
		envelopeSchema, envelopeErr = xoev.Compile("xta-ws-2.1.1", NSSoap, filepath.Join(dir, "amtsbote-envelope.xsd"))
		if envelopeErr != nil {
			envelopeErr = fmt.Errorf("compile the XTA-WS schemas: %w", envelopeErr)
		}
	})
	return envelopeSchema, envelopeErr
}
