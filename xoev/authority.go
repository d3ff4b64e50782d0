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
	// Verzeichnisdienst is the code of the directory service the authority is registered in,
	// from the list urn:xoev-de:kosit:codeliste:verzeichnisdienst: what the header of a
	// Basisnachricht G2G names (Behoerde/verzeichnisdienst). Default: DVDV.
	Verzeichnisdienst string `mapstructure:"verzeichnisdienst" yaml:"verzeichnisdienst"`
	// VerzeichnisdienstListVersion is the version of that list (listVersionID, which the
	// Basisnachricht requires). Default: 3.
	VerzeichnisdienstListVersion string `mapstructure:"verzeichnisdienst_list_version" yaml:"verzeichnisdienst_list_version"`
}

// The code list of the directory services (Verzeichnisdienst) and the defaults amtsbote writes.
const (
	VerzeichnisdienstList               = "urn:xoev-de:kosit:codeliste:verzeichnisdienst"
	DefaultVerzeichnisdienst            = "DVDV"
	DefaultVerzeichnisdienstListVersion = "3"
)

// Directory returns the authority's directory service and the version of its code list, with
// the defaults (DVDV, list version 3) where the configuration names none.
func (a Authority) Directory() (code, listVersion string) {
	code, listVersion = a.Verzeichnisdienst, a.VerzeichnisdienstListVersion
	if code == "" {
		code = DefaultVerzeichnisdienst
	}
	if listVersion == "" {
		listVersion = DefaultVerzeichnisdienstListVersion
	}
	return code, listVersion
}

// DirectoryKennung is the authority's identifier in its directory service as the Basisnachricht
// G2G writes it (Behoerde/kennung): prefix and key joined by a colon, e.g. "ags:09162000" or
// "psw:11007007"; the key alone when there is no prefix.
func (a Authority) DirectoryKennung() string {
	switch {
	case a.Kennung == "":
		return ""
	case a.Praefix == "":
		return a.Kennung
	}
	return a.Praefix + ":" + a.Kennung
}

// Same reports whether a and b name the same authority (by Behördenkennung, else by name).
func (a Authority) Same(b Authority) bool {
	if a.Kennung != "" || b.Kennung != "" {
		return a.Kennung == b.Kennung && a.Praefix == b.Praefix
	}
	return a.Name != "" && a.Name == b.Name
}
