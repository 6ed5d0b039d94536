package audit

import "fmt"

// Position is the place of one event in the archive: the sequence number
// of its segment and its index within that segment. Positions order events
// as they were archived; the index and the detector resume from one.
type Position struct {
	Segment uint64 `json:"segment"`
	Index   uint64 `json:"index"`
}

// Less reports whether p comes before q.
func (p Position) Less(q Position) bool {
	return p.Segment < q.Segment || p.Segment == q.Segment && p.Index < q.Index
}

func (p Position) String() string { return fmt.Sprintf("%d:%d", p.Segment, p.Index) }
