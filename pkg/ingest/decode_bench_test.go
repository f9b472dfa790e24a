package ingest

import (
	"bytes"
	"testing"
	"time"

	"github.com/auditlog/auditlog/pkg/access"
	"github.com/auditlog/auditlog/pkg/demo"
)

// BenchmarkDecodeNDJSON measures the CPU side of ingest alone: reading an
// NDJSON body of 1000 authentik events and preparing each (decode, tenant,
// normalize, validate, retention), without the store.
func BenchmarkDecodeNDJSON(b *testing.B) {
	benchDecode(b, FormatNDJSON, func(body *bytes.Buffer, raws [][]byte) {
		for _, r := range raws {
			body.Write(r)
			body.WriteByte('\n')
		}
	})
}

// BenchmarkDecodeJSONArray is BenchmarkDecodeNDJSON for the same events
// sent as one JSON array, which goes through the body reader's other path.
func BenchmarkDecodeJSONArray(b *testing.B) {
	benchDecode(b, FormatJSON, func(body *bytes.Buffer, raws [][]byte) {
		body.WriteByte('[')
		for i, r := range raws {
			if i > 0 {
				body.WriteString(",\n")
			}
			body.Write(r)
		}
		body.WriteByte(']')
	})
}

func benchDecode(b *testing.B, f Format, frame func(*bytes.Buffer, [][]byte)) {
	now := time.Now()
	raws := demo.GenerateRaw(42, 1000, now.Add(-30*24*time.Hour), now)
	var body bytes.Buffer
	frame(&body, raws)
	in := New(nil, Options{})
	p := access.Principal{Tenant: access.AllTenants, Role: access.RoleAdmin}
	b.SetBytes(int64(body.Len()))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		bt := in.newBatch(p)
		err := readEvents(bytes.NewReader(body.Bytes()), f, DefaultMaxEvents, func(i int, raw []byte) error {
			return in.addRaw(bt, i, raw)
		})
		if err != nil || len(bt.events) != len(raws) {
			b.Fatalf("%v: %d of %d events", err, len(bt.events), len(raws))
		}
	}
	b.ReportMetric(float64(b.N*len(raws))/b.Elapsed().Seconds(), "events/s")
}
