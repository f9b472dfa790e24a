package event_test

import (
	"testing"

	"github.com/auditlog/auditlog/pkg/event"
)

// BenchmarkDecode decodes demo events (authentik's API JSON) one at a time,
// with the fast path and with the encoding/json reference.
func BenchmarkDecode(b *testing.B) {
	raws := demoEvents(1000)
	size := 0
	for _, r := range raws {
		size += len(r)
	}
	for _, bc := range []struct {
		name   string
		decode func([]byte) (event.Event, error)
	}{{"fast", event.Decode}, {"reference", event.DecodeReference}} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(size / len(raws)))
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, err := bc.decode(raws[i%len(raws)]); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}
