package xoev_test

import (
	"testing"

	"github.com/amtsbote/amtsbote/xoev"
)

// The Basisnachricht G2G names an authority by its directory service and its prefix:key there.
func TestAuthorityInTheDirectory(t *testing.T) {
	tests := []struct {
		name                   string
		a                      xoev.Authority
		code, version, kennung string
	}{
		{"defaults", xoev.Authority{Kennung: "09162000", Praefix: "ags"}, "DVDV", "3", "ags:09162000"},
		{"configured", xoev.Authority{Kennung: "11007007", Praefix: "psw", Verzeichnisdienst: "X", VerzeichnisdienstListVersion: "1"}, "X", "1", "psw:11007007"},
		{"key without prefix", xoev.Authority{Kennung: "123"}, "DVDV", "3", "123"},
		{"no key", xoev.Authority{Praefix: "ags", Name: "Amt"}, "DVDV", "3", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, version := tt.a.Directory()
			if code != tt.code || version != tt.version || tt.a.DirectoryKennung() != tt.kennung {
				t.Fatalf("got %s %s %q", code, version, tt.a.DirectoryKennung())
			}
		})
	}
}

func TestProductDefaults(t *testing.T) {
	if p := (xoev.Product{}).WithDefaults(); p.Name != "amtsbote" || p.Manufacturer != "amtsbote" || p.Version != xoev.Version {
		t.Fatalf("defaults %+v", p)
	}
	p := xoev.Product{Name: "Schulportal", Manufacturer: "Land", Version: "2"}
	if got := p.WithDefaults(); got != p {
		t.Fatalf("configured values replaced: %+v", got)
	}
}
