package trust

import "testing"

func TestParse(t *testing.T) {
	tests := []struct {
		in   string
		want Level
	}{
		{"", None},
		{"none", None},
		{"basic", Basic},
		{"STORK 1", Basic},
		{"low", Low},
		{"normal", Low},
		{"2", Low},
		{"substantial", Substantial},
		{"substantiell", Substantial},
		{"Substanziell", Substantial},
		{"http://eidas.europa.eu/LoA/substantial", Substantial},
		{"http://eidas.europa.eu/LoA/high", High},
		{"http://eidas.europa.eu/LoA/low", Low},
		{"urn:oasis:names:tc:SAML:2.0:ac:classes:STORK-QAA-Level-3", Substantial},
		{"urn:oasis:names:tc:SAML:2.0:ac:classes:STORK-QAA-Level-4", High},
		{"STORK-QAA-Level-1", Basic},
		{"hoch", High},
		{" HIGH ", High},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("Parse(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"medium", "5", "http://eidas.europa.eu/LoA/", "urn:oasis:names:tc:SAML:2.0:ac:classes:STORK-QAA-Level-9", "http://eidas.europa.eu/LoA/normal2", "http://eidas.europa.eu/LoA/3", "http://www.stork.gov.eu/1.0/high"} {
		if l, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) = %v, want an error", bad, l)
		}
	}
}

func TestOrder(t *testing.T) {
	if !High.AtLeast(Substantial) || Low.AtLeast(Substantial) || !Substantial.AtLeast(Substantial) {
		t.Fatal("levels out of order")
	}
	if Substantial.String() != "substantial" || Level(9).String() != "Level(9)" {
		t.Fatal("names")
	}
}

func TestParseAccountType(t *testing.T) {
	for in, want := range map[string]string{"": "", "Person": "person", "organization": "organisation", "organisation": "organisation"} {
		if got, err := ParseAccountType(in); err != nil || got != want {
			t.Errorf("ParseAccountType(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParseAccountType("robot"); err == nil {
		t.Error("robot accepted")
	}
}

func FuzzParse(f *testing.F) {
	f.Add("http://eidas.europa.eu/LoA/high")
	f.Add("STORK 3")
	f.Fuzz(func(t *testing.T, s string) {
		l, err := Parse(s)
		if err == nil && (l < None || l > High) {
			t.Fatalf("Parse(%q) = %d", s, l)
		}
		if err == nil {
			if again, err := Parse(l.String()); err != nil || again != l {
				t.Fatalf("round trip of %q: %v %v", s, again, err)
			}
		}
	})
}
