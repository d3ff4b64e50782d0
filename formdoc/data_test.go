package formdoc

import (
	"reflect"
	"testing"
	"time"
)

func TestItems(t *testing.T) {
	h := func(depth int, label string) item { return item{kind: itemHeading, depth: depth, label: label} }
	r := func(depth int, label, value string) item {
		return item{kind: itemRow, depth: depth, label: label, value: value}
	}
	tests := []struct {
		name   string
		data   string
		labels Labels
		want   []item
	}{
		{
			name: "order of the JSON is kept",
			data: `{"zeta": "1", "alpha": "2", "mitte": "3"}`,
			want: []item{r(0, "Zeta", "1"), r(0, "Alpha", "2"), r(0, "Mitte", "3")},
		},
		{
			name:   "nested objects",
			data:   `{"inhaber": {"name": "Eva", "anschrift": {"plz": "80331"}}}`,
			labels: Labels{Fields: map[string]string{"inhaber": "Inhaberin", "inhaber.anschrift.plz": "PLZ"}},
			want:   []item{h(0, "Inhaberin"), r(1, "Name", "Eva"), h(1, "Anschrift"), r(2, "PLZ", "80331")},
		},
		{
			name:   "array of objects",
			data:   `{"gs": [{"n": "A"}, null, {"n": "B"}, {}]}`,
			labels: Labels{Fields: map[string]string{"gs[]": "Gesellschafter/in", "gs[].n": "Name"}},
			want:   []item{h(0, "Gs"), h(1, "Gesellschafter/in 1"), r(2, "Name", "A"), h(1, "Gesellschafter/in 3"), r(2, "Name", "B")},
		},
		{
			name: "array items without their own label",
			data: `{"kinder": [{"n": "A"}]}`,
			want: []item{h(0, "Kinder"), h(1, "Kinder 1"), r(2, "N", "A")},
		},
		{
			name: "array of scalars",
			data: `{"sprachen": ["de", null, "", 2, true]}`,
			want: []item{r(0, "Sprachen", "de, 2, Ja")},
		},
		{
			name: "mixed array",
			data: `{"m": ["x", {"a": "b"}, [1, 2]]}`,
			want: []item{h(0, "M"), r(1, "M 1", "x"), h(1, "M 2"), r(2, "A", "b"), r(1, "M 3", "1, 2")},
		},
		{
			name:   "hidden paths",
			data:   `{"intern": {"x": 1}, "a": {"geheim": 1, "b": 2}, "l": [{"id": 1, "n": "x"}], "h": [{"n": 1}]}`,
			labels: Labels{Hide: []string{"intern", "a.geheim", "l[].id", "h[]"}},
			want:   []item{h(0, "A"), r(1, "B", "2"), h(0, "L"), h(1, "L 1"), r(2, "N", "x")},
		},
		{
			name: "empty sections vanish",
			data: `{"a": {"b": {"c": null}}, "d": [], "e": [null], "f": [{}], "g": ""}`,
			want: nil,
		},
		{
			name:   "blank label falls back to the key",
			data:   `{"geburts_ort": "Bonn"}`,
			labels: Labels{Fields: map[string]string{"geburts_ort": "  "}},
			want:   []item{r(0, "Geburts Ort", "Bonn")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root, err := parseData([]byte(tt.data))
			if err != nil {
				t.Fatal(err)
			}
			got := newWalker(tt.labels, time.UTC).object(root, "", 0)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestFormatValues(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	w := newWalker(Labels{}, berlin)
	tests := []struct{ json, want string }{
		{`"1985-04-12"`, "12.04.1985"},
		{`"2024-02-30"`, "2024-02-30"}, // not a date
		{`"2026-01-15T10:30:00Z"`, "15.01.2026, 11:30 Uhr"},
		{`"2026-07-15T10:30:00+02:00"`, "15.07.2026, 10:30 Uhr"},
		{`"2026-07-15T10:30:00.123456Z"`, "15.07.2026, 12:30 Uhr"},
		{`"2026-07-15T10:30"`, "15.07.2026, 10:30 Uhr"},
		{`"2026-07-15T10:30:59"`, "15.07.2026, 10:30 Uhr"},
		{`"2026-07-15 10:30"`, "2026-07-15 10:30"},
		{`"  Text mit Rand  "`, "Text mit Rand"},
		{`"DE89 3704 0044 0532 0130 00"`, "DE89 3704 0044 0532 0130 00"},
		{`true`, "Ja"},
		{`false`, "Nein"},
		{`3`, "3"},
		{`2.5`, "2,5"},
		{`-0.75`, "-0,75"},
		{`1234567.891`, "1234567,891"},
		{`1e3`, "1e3"},
		{`12345678901234567890`, "12345678901234567890"},
	}
	for _, tt := range tests {
		root, err := parseData([]byte(`{"v": ` + tt.json + `}`))
		if err != nil {
			t.Fatalf("%s: %v", tt.json, err)
		}
		got, ok := w.scalar(root.vals[0])
		if !ok || got != tt.want {
			t.Errorf("%s → %q (%v), want %q", tt.json, got, ok, tt.want)
		}
	}
	for _, left := range []string{`null`, `""`, `"  "`} {
		root, _ := parseData([]byte(`{"v": ` + left + `}`))
		if got, ok := w.scalar(root.vals[0]); ok {
			t.Errorf("%s → %q, want it left out", left, got)
		}
	}
}

func TestHumanize(t *testing.T) {
	tests := []struct{ in, want string }{
		{"staatsangehoerigkeit", "Staatsangehoerigkeit"},
		{"geburts_datum", "Geburts Datum"},
		{"geburtsDatum", "Geburts Datum"},
		{"geburts-datum", "Geburts Datum"},
		{"PLZ", "PLZ"},
		{"iban2", "Iban2"},
		{"ärztlicheBescheinigung", "Ärztliche Bescheinigung"},
		{"__x__", "X"},
		{"", "–"},
		{"_", "–"},
	}
	for _, tt := range tests {
		if got := humanize(tt.in); got != tt.want {
			t.Errorf("humanize(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestGermanSize(t *testing.T) {
	tests := []struct {
		in   int64
		want string
	}{
		{-1, "unbekannt"},
		{0, "0 Byte"},
		{512, "512 Byte"},
		{1023, "1023 Byte"},
		{1024, "1,0 KB"},
		{3584, "3,5 KB"},
		{1_258_291, "1,2 MB"},
		{1024*1024 - 1, "1,0 MB"},
		{5 * 1024 * 1024 * 1024, "5,0 GB"},
	}
	for _, tt := range tests {
		if got := germanSize(tt.in); got != tt.want {
			t.Errorf("germanSize(%d) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
