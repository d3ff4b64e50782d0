package xoev

// Authority is an XÖV Behördenkennung: who sends or reads a message.
type Authority struct {
	// Kennung is the authority's identifier within its prefix list.
	Kennung string `mapstructure:"kennung" yaml:"kennung"`
	// Praefix is the code of the identifier's prefix (Präfix der Behördenkennung).
	Praefix string `mapstructure:"praefix" yaml:"praefix"`
	// Name is the authority's readable name.
	Name string `mapstructure:"name" yaml:"name"`
	// PraefixList and PraefixListVersion name the code list of Praefix: the DVDV's list of
	// prefixes (urn:xoev-de:bund:bmi:bit:codeliste:dvdv.praefix), written as listURI and
	// listVersionID so that --check-codes can check the code.
	PraefixList        string `mapstructure:"praefix_list" yaml:"praefix_list"`
	PraefixListVersion string `mapstructure:"praefix_list_version" yaml:"praefix_list_version"`
	// KennungList and KennungListVersion name the list of Kennung, which depends on the prefix:
	// for "ags" the Amtliche Gemeindeschlüssel (urn:de:bund:destatis:bevoelkerungsstatistik:schluessel:ags).
	KennungList        string `mapstructure:"kennung_list" yaml:"kennung_list"`
	KennungListVersion string `mapstructure:"kennung_list_version" yaml:"kennung_list_version"`
}

// Same reports whether a and b name the same authority (by Behördenkennung, else by name).
func (a Authority) Same(b Authority) bool {
	if a.Kennung != "" || b.Kennung != "" {
		return a.Kennung == b.Kennung && a.Praefix == b.Praefix
	}
	return a.Name != "" && a.Name == b.Name
}
