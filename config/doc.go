// Package config loads amtsbote's configuration: one YAML file read with viper, where every
// scalar key can be overridden by an environment variable AMTSBOTE_<KEY> (dots become
// underscores, e.g. AMTSBOTE_SERVER_LISTEN). Unknown keys are an error. A loaded Config is a
// snapshot: it is validated whole and not changed afterwards.
package config
