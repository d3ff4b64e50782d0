// Package yamlfile says where the YAML files integrators write (the configuration, routes,
// mappings, labels) are wrong: a syntax error reads FILE:LINE:COLUMN: message, like every other
// problem, instead of the parser's "yaml: line N: …". It also resolves the paths such a file
// names (Beside).
package yamlfile
