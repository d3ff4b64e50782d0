// Package trust puts the level of assurance of a citizen's identification on one scale.
//
// Portals and FIT-Connect report the level in the notation of their identity provider: eIDAS
// (low, substantial, high; also as http://eidas.europa.eu/LoA/… URIs), BSI TR-03107 (normal,
// substantiell, hoch) or STORK QAA (1–4). The scale here follows STORK, which has the most steps:
//
//	Level        eIDAS        BSI TR-03107   STORK QAA   BundID
//	none         –            –              –           not identified
//	basic        –            –              1           Basisregistrierung (user name and password)
//	low          low          normal         2
//	substantial  substantial  substantiell   3           ELSTER certificate, "substanziell"
//	high         high         hoch           4           eID card (Online-Ausweis), "hoch"
//
// A route may require a minimum level (routes: min_trust_level).
package trust

import (
	"fmt"
	"strings"
)

// Level is a level of assurance; a higher level is stronger.
type Level int

// The levels, weakest first.
const (
	None Level = iota
	Basic
	Low
	Substantial
	High
)

var names = [...]string{"none", "basic", "low", "substantial", "high"}

// String is the level's name on amtsbote's scale.
func (l Level) String() string {
	if l < None || l > High {
		return fmt.Sprintf("Level(%d)", int(l))
	}
	return names[l]
}

// AtLeast reports whether l meets min.
func (l Level) AtLeast(min Level) bool { return l >= min }

// aliases maps every accepted notation (lower case) to the scale.
var aliases = map[string]Level{
	"none": None, "": None,
	"basic": Basic, "basisregistrierung": Basic, "stork-qaa-level-1": Basic, "stork 1": Basic, "1": Basic, "qaa1": Basic,
	"low": Low, "niedrig": Low, "normal": Low, "stork-qaa-level-2": Low, "stork 2": Low, "2": Low, "qaa2": Low,
	"substantial": Substantial, "substantiell": Substantial, "substanziell": Substantial,
	"stork-qaa-level-3": Substantial, "stork 3": Substantial, "3": Substantial, "qaa3": Substantial,
	"high": High, "hoch": High, "stork-qaa-level-4": High, "stork 4": High, "4": High, "qaa4": High,
}

// uriPrefixes are the URI forms of levels: the eIDAS LoA URIs and the STORK QAA URNs.
var uriPrefixes = []string{
	"http://eidas.europa.eu/loa/",
	"https://eidas.europa.eu/loa/",
	"http://eidas.europa.eu/notnotified/loa/",
	"urn:oasis:names:tc:saml:2.0:ac:classes:stork-qaa-level-",
	"http://www.stork.gov.eu/1.0/",
}

// Parse reads a level in any of the notations above (case does not matter): a name on the
// scale, an eIDAS or BSI name, a STORK QAA number, or an eIDAS LoA URI such as
// http://eidas.europa.eu/LoA/substantial.
func Parse(s string) (Level, error) {
	v := strings.ToLower(strings.TrimSpace(s))
	if l, ok := aliases[v]; ok {
		return l, nil
	}
	for _, p := range uriPrefixes {
		if rest, ok := strings.CutPrefix(v, p); ok {
			if strings.Contains(p, "eidas") {
				switch rest {
				case "low", "substantial", "high":
					return aliases[rest], nil
				}
				break
			}
			if l, ok := aliases["stork-qaa-level-"+rest]; ok {
				return l, nil
			}
		}
	}
	return None, fmt.Errorf("%q is not a level of assurance; expected one of none, basic, low, substantial, high "+
		"(or eIDAS low/substantial/high, BSI normal/substantiell/hoch, STORK QAA 1-4, an eIDAS LoA URI)", s)
}

// AccountTypes are the kinds of user account a portal may report.
var AccountTypes = []string{"person", "organisation"}

// ParseAccountType checks an account type: person (a citizen's account, e.g. BundID) or
// organisation (a company account, e.g. Mein Unternehmenskonto); "" is unknown.
func ParseAccountType(s string) (string, error) {
	switch v := strings.ToLower(strings.TrimSpace(s)); v {
	case "", "person", "organisation":
		return v, nil
	case "organization", "unternehmen", "company":
		return "organisation", nil
	case "private", "citizen", "buerger", "bürger":
		return "person", nil
	}
	return "", fmt.Errorf("%q is not an account type; expected person or organisation", s)
}
