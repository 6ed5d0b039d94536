// Package archive keeps every Kubernetes audit event (requirement REQ-03)
// in a tamper-evident archive: a local journal for the segment being
// written, and sealed, compressed, hash-chained segments with their
// checkpoints in a bucket (gocloud.dev/blob: file://, azblob://, s3://).
//
// # Durability
//
// Append writes the events to the open segment's journal and returns once
// it is fsynced; concurrent calls share fsyncs. A segment is sealed when
// it reaches Options.MaxSegmentBytes (uncompressed) or
// Options.MaxSegmentAge: its journal is compressed into a local segment
// file and its checkpoint written, both fsynced, then Run uploads them
// (segment first, in sequence order) and removes the local files. Objects
// are written only if absent and never overwritten. After a crash Open
// cuts off a record torn by the crash (its bytes saved in a .torn file),
// seals what was closed and leaves the rest to Run. While the bucket is
// unreachable Append keeps working and Run retries with backoff.
//
// # Format
//
// Objects in the bucket:
//
//	segments/YYYY/MM/DD/HH/<seq>.jsonl.gz  gzip of JSON lines, one event a line
//	checkpoints/<seq>.json                 the checkpoint closing segment <seq>
//	retention.json                         the checkpoint of the last segment retention deleted
//
// <seq> is the segment's sequence number, 12 decimal digits, from 0; the
// hour is the UTC hour the segment was opened. Each line of a segment is
//
//	{"h":"<chain value, 64 lowercase hex digits>","e":<the event exactly as appended>}
//
// and the chain values are h_i = SHA-256(h_{i-1} || e_i), over the 32
// bytes of h_{i-1} and the event's bytes; h_{-1} of the first segment
// ever is 32 zero bytes (Genesis), and of every other the previous
// segment's last. A checkpoint (Checkpoint, one JSON line) holds the
// sequence number, segment key, event count, first and last event times,
// the size and SHA-256 of the stored (compressed) segment, the chain
// values before and after the segment, and the SHA-256 of the previous
// checkpoint object ("" for the first), so checkpoints form a chain too.
//
// Verify recomputes everything: a changed byte shows as a digest
// mismatch and a damaged record or chain mismatch at the first bad event;
// a removed segment or checkpoint as missing or as a gap in the sequence;
// reordered segments or events as digest and chain mismatches. Retention
// records the checkpoint of the last segment it deletes in retention.json
// before deleting, and Verify starts the chains there. Someone who can
// rewrite the whole bucket can rewrite the chains: keep the bucket
// immutable (WORM) and the checkpoint digests elsewhere (docs/audit.md).
//
// This package does not decode or index events (see internal/audit and
// internal/audit/index) and does not receive them (internal/audit/ingest).
package archive
