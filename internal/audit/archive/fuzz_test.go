package archive

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/bulwark-k8s/bulwark/internal/audit"
)

// FuzzReadSegment feeds arbitrary bytes to the readers of segments
// (compressed and not), journals and Verify's record checker: they must
// return an error, never panic, and what they accept must re-encode to
// the bytes read.
func FuzzReadSegment(f *testing.F) {
	var records []byte
	h := Genesis
	for i := range 3 {
		ev := testEvent(i)
		h = chainNext(h, ev)
		records = appendRecord(records, h, ev)
	}
	journal := append(journalHeader{Journal: journalVersion, Sequence: 7, Opened: t0, ChainStart: Genesis.String()}.line(), records...)
	seg := gzipBytes(records)
	f.Add(records)
	f.Add(journal)
	f.Add(seg)
	f.Add(journal[:len(journal)-40])
	f.Add(seg[:len(seg)/2])
	f.Add([]byte(`{"h":"` + Genesis.String() + `","e":{}}` + "\n"))
	f.Add([]byte("{\"journal\":1,\"sequence\":0,\"opened\":\"2026-11-22T07:00:00Z\",\"chainStart\":\"" + Genesis.String() + "\"}\n{\"h\":\"zz\"}\n"))

	f.Fuzz(func(t *testing.T, data []byte) {
		// Uncompressed records: each accepted record re-encodes to its line.
		var re []byte
		rr := newRecordReader(bytes.NewReader(data), "fuzz")
		for {
			h, raw, err := rr.next()
			if err != nil {
				var rerr *RecordError
				if err != io.EOF && !errors.As(err, &rerr) {
					t.Fatalf("uncompressed read: %v is not a RecordError", err)
				}
				break
			}
			re = appendRecord(re, h, raw)
		}
		if !bytes.Equal(re, data[:len(re)]) || int64(len(re)) != rr.off {
			t.Fatalf("accepted records do not re-encode to the bytes read")
		}

		for _, compressed := range []bool{false, true} {
			n := uint64(0)
			readSegment(bytes.NewReader(data), compressed, "fuzz", 3, 1, func(p audit.Position, raw []byte) error {
				if p.Segment != 3 || p.Index != n+1 {
					t.Fatalf("position %v after %d events", p, n)
				}
				n++
				return checkEvent(raw)
			})
		}

		if j, err := readJournal(bytes.NewReader(data), "fuzz"); j != nil {
			if j.size > int64(len(data)) || j.hdr > j.size {
				t.Fatalf("journal of %d bytes: header %d, valid size %d", len(data), j.hdr, j.size)
			}
			if err == nil && j.size != int64(len(data)) {
				t.Fatalf("journal read without error stops at %d of %d bytes", j.size, len(data))
			}
			// The valid prefix reads again without error.
			if j2, err := readJournal(bytes.NewReader(data[:j.size]), "fuzz"); err != nil || j2.events != j.events || j2.chain != j.chain {
				t.Fatalf("valid prefix of %d bytes: %v", j.size, err)
			}
		}

		checkRecords(bytes.NewReader(data), segmentJob{key: "fuzz", startKnown: true})
	})
}
