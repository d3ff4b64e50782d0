package xoev

// Authority is an XÖV Behördenkennung: who sends or reads a message.
type Authority struct {
	// Kennung is the authority's identifier within its prefix list.
	Kennung string `mapstructure:"kennung" yaml:"kennung"`
	// Praefix is the code of the identifier's prefix (Präfix der Behördenkennung).
	Praefix string `mapstructure:"praefix" yaml:"praefix"`
	// Name is the authority's readable name.
	Name string `mapstructure:"name" yaml:"name"`
}
