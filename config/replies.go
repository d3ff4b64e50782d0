package config

// Replies configures the return channel: how Fachverfahren hand in replies (Bescheide,
// Nachforderungen, status updates, Abschluss) and how they reach the applicant.
type Replies struct {
	// MaxDocumentBytes limits one document of a reply. Default: 20 MiB.
	MaxDocumentBytes int64 `mapstructure:"max_document_bytes"`
	// MaxDocuments limits the documents of one reply. Default: 20.
	MaxDocuments int `mapstructure:"max_documents"`
	// Retry is how a reply's delivery over a channel is retried. Default: as destinations'.
	Retry Retry `mapstructure:"retry"`
	// Email configures the e-mail channel: the smtp adapter's connection options plus from
	// (see docs/replies.md). Empty: no e-mail channel.
	Email map[string]any `mapstructure:"email"`
	// PrintDestination is the destination (e.g. a filedrop for the print service) replies go to
	// on paper when no digital channel reaches the applicant. Empty: no print channel.
	PrintDestination string `mapstructure:"print_destination"`
	// MaxInFlight is how many replies each channel sends at once. Default: 1.
	MaxInFlight int `mapstructure:"max_in_flight"`
}
