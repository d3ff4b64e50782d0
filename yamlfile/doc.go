// Package yamlfile says where the YAML files integrators write (the configuration, routes,
// mappings, labels) are wrong: a syntax error reads FILE:LINE:COLUMN: message, like every other
// problem, instead of the parser's "yaml: line N: …".
package yamlfile
