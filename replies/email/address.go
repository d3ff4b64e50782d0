package email

import (
	"fmt"
	"net/mail"
	"strings"
	"unicode"

	"golang.org/x/net/idna"
)

// CheckAddress checks an applicant's e-mail address strictly and returns it as it goes into the
// envelope and the To header: the domain in ASCII (IDNA). Accepted is exactly one bare
// addr-spec — name@example.de — with a dot-atom ASCII local part and a domain name of at least
// two labels; refused are display names, angle brackets, comments, quoted local parts, address
// literals, line breaks and lists. The error says what is wrong, without the address.
func CheckAddress(s string) (string, error) {
	switch {
	case strings.ContainsAny(s, "\r\n"):
		return "", fmt.Errorf("contains a line break")
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		return "", fmt.Errorf("contains control characters")
	case len(s) > 254:
		return "", fmt.Errorf("is %d characters long, more than the 254 an address may have", len(s))
	}
	if strings.HasPrefix(s, `"`) {
		return "", fmt.Errorf("has a quoted local part, which is not accepted")
	}
	addr, err := mail.ParseAddress(s)
	if err != nil {
		return "", fmt.Errorf("is not an e-mail address (%v); expected e.g. name@example.de", strings.TrimPrefix(err.Error(), "mail: "))
	}
	if addr.Name != "" {
		return "", fmt.Errorf("has a display name: give only the address, e.g. name@example.de")
	}
	at := strings.LastIndexByte(s, '@')
	if at < 0 || addr.Address != s {
		return "", fmt.Errorf("is not a bare address (angle brackets, comments, quoting or spaces around it); expected e.g. name@example.de")
	}
	local, domain := s[:at], s[at+1:]
	if err := checkLocalPart(local); err != nil {
		return "", err
	}
	ascii, err := checkDomain(domain)
	if err != nil {
		return "", err
	}
	return local + "@" + ascii, nil
}

// checkLocalPart accepts a dot-atom of ASCII atext (RFC 5322 3.2.3) of at most 64 characters.
func checkLocalPart(local string) error {
	switch {
	case strings.IndexFunc(local, func(r rune) bool { return r > 0x7e }) >= 0:
		return fmt.Errorf("has non-ASCII characters before the @, which not every mail server along the way can carry (SMTPUTF8)")
	case len(local) > 64:
		return fmt.Errorf("has %d characters before the @, more than 64", len(local))
	case local == "" || strings.HasPrefix(local, ".") || strings.HasSuffix(local, ".") || strings.Contains(local, ".."):
		return fmt.Errorf("has an empty part before the @ or around a dot")
	}
	for _, r := range local {
		if !isAtext(r) && r != '.' {
			return fmt.Errorf("has the character %q before the @, which an address may not have unquoted", r)
		}
	}
	return nil
}

func isAtext(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("!#$%&'*+-/=?^_`{|}~", r)
}

// checkDomain returns the domain in ASCII: an internationalised name through IDNA (UTS #46
// lookup), then every label letters, digits and hyphens, not a hyphen at either end, at least
// two labels and a top-level label that is not all digits (so no IP address).
func checkDomain(domain string) (string, error) {
	if strings.HasPrefix(domain, "[") {
		return "", fmt.Errorf("names an address literal after the @: a domain name is needed")
	}
	ascii := domain
	if strings.IndexFunc(domain, func(r rune) bool { return r > 0x7e }) >= 0 {
		var err error
		if ascii, err = idna.Lookup.ToASCII(domain); err != nil {
			return "", fmt.Errorf("has a domain that is no valid internationalised domain name: %v", err)
		}
	}
	if len(ascii) > 253 {
		return "", fmt.Errorf("has a domain of %d characters, more than 253", len(ascii))
	}
	labels := strings.Split(ascii, ".")
	if len(labels) < 2 {
		return "", fmt.Errorf("has a domain without a dot: a domain name such as example.de is needed")
	}
	for _, l := range labels {
		switch {
		case l == "":
			return "", fmt.Errorf("has an empty label in its domain")
		case len(l) > 63:
			return "", fmt.Errorf("has a domain label of %d characters, more than 63", len(l))
		case l[0] == '-' || l[len(l)-1] == '-':
			return "", fmt.Errorf("has a domain label that starts or ends with a hyphen")
		}
		for _, r := range l {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return "", fmt.Errorf("has the character %q in its domain, which a domain name may not have", r)
			}
		}
	}
	if strings.Trim(labels[len(labels)-1], "0123456789") == "" {
		return "", fmt.Errorf("has an IP address or a numeric top-level label after the @: a domain name is needed")
	}
	// An ASCII-encoded internationalised label (xn--…) must decode.
	if strings.Contains(strings.ToLower(ascii), "xn--") {
		if _, err := idna.Lookup.ToUnicode(ascii); err != nil {
			return "", fmt.Errorf("has a domain that is no valid internationalised domain name: %v", err)
		}
	}
	return ascii, nil
}
