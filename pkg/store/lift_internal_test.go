package store

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/auditlog/auditlog/pkg/demo"
	"github.com/auditlog/auditlog/pkg/event"
)

// liftEvent is an event whose columns say Berlin, AS6805.
func liftEvent(ctx string) *event.Event {
	return &event.Event{
		Context: json.RawMessage(ctx),
		Geo:     &event.Geo{Country: "Germany", CountryCode: "DE", City: "Berlin", Continent: "EU", Lat: 52.52, Lon: 13.405},
		ASN:     &event.ASN{Number: 6805, Org: "Telefonica Germany", Network: "5.4.0.0/14"},
	}
}

const (
	geoAuthentik = `"geo":{"continent":"EU","country":"DE","city":"Berlin","lat":52.52,"long":13.405}`
	geoSorted    = `"geo":{"city":"Berlin","continent":"EU","country":"DE","lat":52.52,"long":13.405}`
	asnAuthentik = `"asn":{"asn":6805,"as_org":"Telefonica Germany","network":"5.4.0.0/14"}`
	asnSorted    = `"asn":{"as_org":"Telefonica Germany","asn":6805,"network":"5.4.0.0/14"}`
)

func TestLiftContext(t *testing.T) {
	cases := []struct {
		name string
		ctx  string
		kept string // "" when nothing may be lifted
	}{
		{"authentik order, among others", `{"a":1,` + geoAuthentik + `,"b":[1,{"c":"}"}],` + asnAuthentik + `,"z":null}`, `{"a":1,"b":[1,{"c":"}"}],"z":null}`},
		{"sorted keys", `{` + asnSorted + `,"brand":{"name":"x"},` + geoSorted + `,"http_request":{"path":"/"}}`, `{"brand":{"name":"x"},"http_request":{"path":"/"}}`},
		{"geo last", `{"a":"\"geo\":{",` + geoSorted + `}`, `{"a":"\"geo\":{"}`},
		{"geo first", `{` + geoSorted + `,"a":true}`, `{"a":true}`},
		{"geo alone", `{` + geoSorted + `}`, `{}`},
		{"geo and asn alone", `{` + asnSorted + `,` + geoSorted + `}`, `{}`},
		{"geo and asn alone, geo first", `{` + geoAuthentik + `,` + asnAuthentik + `}`, `{}`},
		{"asn kept when it differs", `{"asn":{"asn":6805,"as_org":"Other","network":"5.4.0.0/14"},` + geoSorted + `}`, `{"asn":{"asn":6805,"as_org":"Other","network":"5.4.0.0/14"}}`},
		{"other number text", `{"geo":{"city":"Berlin","continent":"EU","country":"DE","lat":52.520,"long":13.405}}`, ""},
		{"extra key", `{"geo":{"city":"Berlin","continent":"EU","country":"DE","lat":52.52,"long":13.405,"tz":"x"}}`, ""},
		{"spaces around", `{"a":1, ` + geoSorted + `}`, ""},
		{"nested, not a member", `{"x":{` + geoSorted + `}}`, ""},
		{"inside a string", `{"x":"{` + `\"geo\":{}` + `"}`, ""},
		{"twice", `{` + geoSorted + `,` + geoSorted + `}`, `{` + geoSorted + `}`},
		{"not an object", `[` + geoSorted[6:] + `]`, ""},
		{"no context", ``, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := liftEvent(tc.ctx)
			kept, lifted := liftContext(e)
			if tc.kept == "" {
				if lifted != 0 || !bytes.Equal(kept, e.Context) {
					t.Fatalf("lifted %#x, kept %s; want the context whole", lifted, kept)
				}
				return
			}
			if lifted == 0 || string(kept) != tc.kept {
				t.Fatalf("kept %s (lifted %#x), want %s", kept, lifted, tc.kept)
			}
			if back := restoreContext(kept, lifted, e); string(back) != tc.ctx {
				t.Fatalf("restored %s\nwant     %s", back, tc.ctx)
			}
		})
	}
}

// TestLiftEscapedValues: values with characters json.Marshal escapes
// are lifted when the context spells them as Marshal (and so ingest)
// does, and kept when it spells them otherwise.
func TestLiftEscapedValues(t *testing.T) {
	cases := []struct {
		org, member string
		lift        bool
	}{
		{"AT&T Services", `"as_org":"AT\u0026T Services"`, true},
		{"AT&T Services", `"as_org":"AT&T Services"`, false},
		{`Quote "Net" <1>`, `"as_org":"Quote \"Net\" \u003c1\u003e"`, true},
		{"Tab\there", `"as_org":"Tab\there"`, true},
		{"Line\u2028Sep", `"as_org":"Line\u2028Sep"`, true},
		{"Line\u2028Sep", "\"as_org\":\"Line\u2028Sep\"", false},
		{"Zürich AG", `"as_org":"Zürich AG"`, true},
		{"Bad\xffByte", `"as_org":"Bad\ufffdByte"`, true},
	}
	for _, tc := range cases {
		ctx := `{"asn":{` + tc.member + `,"asn":6805,"network":"5.4.0.0/14"},"b":1}`
		e := liftEvent(ctx)
		e.ASN.Org = tc.org
		kept, lifted := liftContext(e)
		if (lifted != 0) != tc.lift {
			t.Errorf("%q in %s: lifted %#x, want lifted %v", tc.org, tc.member, lifted, tc.lift)
			continue
		}
		if back := restoreContext(kept, lifted, e); string(back) != ctx {
			t.Errorf("%q: restored %s, want %s", tc.org, back, ctx)
		}
	}
}

// TestRestoreNeedsTheColumns: the columns a read brings are what restore
// renders, so a row whose columns say something else gets that back, not
// a guess; and a stored value no lift could leave is shown as stored.
func TestRestoreNeedsTheColumns(t *testing.T) {
	e := liftEvent(`{"a":1,` + geoSorted + `}`)
	kept, lifted := liftContext(e)
	e.Geo = nil
	if back := restoreContext(kept, lifted, e); string(back) != `{"a":1}` {
		t.Fatalf("restored %s without geo columns", back)
	}
	if back := restoreContext([]byte(`{"a":1}`), liftedMembers(0x7f), liftEvent("")); string(back) != `{"a":1}` {
		t.Fatalf("restored %s for an index past the members", back)
	}
}

func FuzzLiftContext(f *testing.F) {
	f.Add(`{"a":1,`+geoAuthentik+`,`+asnAuthentik+`}`, "Berlin", 52.52, uint32(6805))
	f.Add(`{`+asnSorted+`,`+geoSorted+`}`, "Berlin", 52.52, uint32(6805))
	f.Add(`{"geo":{"city":"x","continent":"","country":"","lat":0,"long":0}}`, "x", 0.0, uint32(0))
	f.Fuzz(func(t *testing.T, ctx, city string, lat float64, asn uint32) {
		if !json.Valid([]byte(ctx)) {
			return
		}
		e := liftEvent(ctx)
		e.Geo.City, e.Geo.Lat, e.ASN.Number = city, lat, asn
		kept, lifted := liftContext(e)
		if lifted == 0 {
			if !bytes.Equal(kept, e.Context) {
				t.Fatalf("nothing lifted, but kept %q of %q", kept, ctx)
			}
			return
		}
		if len(kept) >= len(ctx) || !json.Valid(kept) {
			t.Fatalf("kept %q of %q", kept, ctx)
		}
		if back := restoreContext(kept, lifted, e); string(back) != ctx {
			t.Fatalf("restored %q, want %q", back, ctx)
		}
	})
}

// BenchmarkLiftContext is the lift's share of an insert, over demo
// events (authentik contexts with geo and asn, in Go's key order).
func BenchmarkLiftContext(b *testing.B) {
	now := time.Now().UTC()
	evs := demo.Generate(1, 1000, now.Add(-time.Hour), now)
	lifted := 0
	for i := range evs {
		event.Normalize(&evs[i], now)
		if _, l := liftContext(&evs[i]); l != 0 {
			lifted++
		}
	}
	if lifted < len(evs)/2 {
		b.Fatalf("%d of %d demo events lifted", lifted, len(evs))
	}
	b.ReportAllocs()
	for b.Loop() {
		for i := range evs {
			liftContext(&evs[i])
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(evs)), "ns/event")
}
