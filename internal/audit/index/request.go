package index

import (
	"context"
	"database/sql/driver"
	"fmt"
	"io"
	"strings"
)

// One row per request. Of the events of one request (same audit ID and
// receive time), exactly one row has superseded = 0: the one of the
// highest stage rank, and of those the first archived. Add keeps this
// true as events arrive, so that queries select the rows shown by a
// column rather than by a lookup per row, which made counting over a day
// several times slower than reading the rows.
//
// An Add first reads the current representatives of the requests its
// events belong to (one statement for the whole batch, through the
// partial index event_request, which holds representatives only), then
// decides each event in archive order: it replaces the representative
// (which becomes superseded) or is superseded itself.

// pending is an event of a batch as the writer decides it.
type pending struct {
	pos, received, rank int64
	auditID             string
	superseded          bool
}

// standsAlone reports whether an event is its own request: it has no
// audit ID or no receive time to find its other stages by.
func (p *pending) standsAlone() bool { return p.auditID == "" || p.received < 0 }

// better reports whether p represents its request rather than q.
func better(p, q *pending) bool {
	return p.rank > q.rank || p.rank == q.rank && p.pos < q.pos
}

type requestKey struct {
	received int64
	auditID  string
}

// probeChunk is how many receive times one probe statement looks up.
const probeChunk = 500

// resolve sets superseded on the batch's events and returns the positions
// of indexed rows they supersede.
func (w *writer) resolve(ctx context.Context, batch []pending) ([]int64, error) {
	reps := make(map[requestKey]*pending, len(batch))
	seen := make(map[int64]bool, len(batch))
	var received []int64
	for i := range batch {
		p := &batch[i]
		if !p.standsAlone() && !seen[p.received] {
			seen[p.received] = true
			received = append(received, p.received)
		}
	}
	for len(received) > 0 {
		chunk := received[:min(probeChunk, len(received))]
		received = received[len(chunk):]
		if err := w.probe(ctx, chunk, reps); err != nil {
			return nil, err
		}
	}
	// Representatives read from the index are marked by a nil batch
	// entry: demote collects their positions.
	indexed := make(map[*pending]bool, len(reps))
	for _, r := range reps {
		indexed[r] = true
	}
	var demote []int64
	for i := range batch {
		p := &batch[i]
		if p.standsAlone() {
			continue
		}
		k := requestKey{p.received, p.auditID}
		r, ok := reps[k]
		switch {
		case !ok:
			reps[k] = p
		case r.pos == p.pos:
			// Added again: the row is there as it was.
		case better(p, r):
			if indexed[r] {
				demote = append(demote, r.pos)
			} else {
				r.superseded = true
			}
			reps[k] = p
		default:
			p.superseded = true
		}
	}
	return demote, nil
}

// probe reads the representatives received at the given times.
func (w *writer) probe(ctx context.Context, received []int64, reps map[requestKey]*pending) error {
	// Always probeChunk values, the last repeated: one statement.
	st, err := w.stmt(ctx, "SELECT pos, received, audit_id, stage_rank FROM event WHERE superseded = 0 AND received IN ("+marks(probeChunk)+")")
	if err != nil {
		return err
	}
	if len(w.probeArgs) != probeChunk {
		w.probeArgs = values(nil, probeChunk)
	}
	args := w.probeArgs
	for i := range args {
		args[i].Value = received[min(i, len(received)-1)]
	}
	rows, err := st.QueryContext(ctx, args)
	if err != nil {
		return err
	}
	defer rows.Close()
	dest := make([]driver.Value, 4)
	for {
		if err := rows.Next(dest); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
		p := &pending{}
		var ok [4]bool
		p.pos, ok[0] = dest[0].(int64)
		p.received, ok[1] = dest[1].(int64)
		p.auditID, ok[2] = dest[2].(string)
		p.rank, ok[3] = dest[3].(int64)
		if ok != [4]bool{true, true, true, true} {
			return fmt.Errorf("unexpected types %T %T %T %T in event", dest[0], dest[1], dest[2], dest[3])
		}
		k := requestKey{p.received, p.auditID}
		if r, ok := reps[k]; !ok || better(p, r) {
			reps[k] = p
		}
	}
}

// supersede marks indexed rows superseded.
func (w *writer) supersede(ctx context.Context, positions []int64) error {
	for len(positions) > 0 {
		chunk := positions[:min(probeChunk, len(positions))]
		positions = positions[len(chunk):]
		st, err := w.stmtOnce(ctx, "UPDATE event SET superseded = 1 WHERE pos IN ("+marks(len(chunk))+")")
		if err != nil {
			return err
		}
		args := values(nil, len(chunk))
		for i, p := range chunk {
			args[i].Value = p
		}
		if _, err := st.ExecContext(ctx, args); err != nil {
			return err
		}
	}
	return nil
}

// marks returns n comma-separated parameters.
func marks(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}
