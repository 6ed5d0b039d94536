package index

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/bulwark-k8s/bulwark/internal/audit"
)

// Entry is one archived event to index.
type Entry struct {
	Pos   audit.Position
	Event *audit.Event
}

// insertEvent inserts rows events; several rows a statement share the
// cost of running one (opening and closing a cursor on every index).
func insertEvent(rows int) string {
	var b strings.Builder
	b.WriteString(`INSERT INTO event (pos, ts, received, audit_id, stage, stage_rank, superseded, level,
	username, impersonated, user_groups, verb, resource, subresource, api_group, namespace, name,
	code, source_ips, user_agent, request_uri) VALUES `)
	for i := range rows {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("(" + marks(insertColumns) + ")")
	}
	b.WriteString(" ON CONFLICT (pos) DO NOTHING")
	return b.String()
}

// insertColumns is the number of values of one row of insertEvent;
// insertRows the number of rows of its statement for full chunks.
const (
	insertColumns = 21
	insertRows    = 50
)

const saveProgress = `INSERT INTO progress (one, pos) VALUES (1, ?)
ON CONFLICT (one) DO UPDATE SET pos = excluded.pos WHERE excluded.pos > progress.pos`

// Add indexes entries in one transaction: all of them or, on error, none.
// Adding a position already indexed keeps the row there, so a batch may
// be added again after a crash. Entries with a nil Event are skipped but
// count for Last.
func (ix *Index) Add(ctx context.Context, entries []Entry) error {
	if len(entries) == 0 {
		return nil
	}
	ix.wmu.Lock()
	defer ix.wmu.Unlock()
	if ix.w == nil {
		conn, err := ix.db.Conn(ctx)
		if err != nil {
			return fmt.Errorf("audit index %s: add: %w", ix.path, err)
		}
		ix.w = &writer{conn: conn, stmts: map[string]rawStmt{}, terms: &interner{d: ix.terms}, lists: &interner{d: ix.lists}}
	}
	// The driver's own interface: database/sql's conversion of arguments
	// would be a fifth of the time of an Add.
	err := ix.w.conn.Raw(func(dc any) error { return ix.w.addRaw(ctx, dc, entries) })
	if err != nil {
		// Start again from a new connection: this one may be broken.
		ix.w.close()
		ix.w = nil
		return fmt.Errorf("audit index %s: add: %w", ix.path, err)
	}
	return nil
}

func (w *writer) addRaw(ctx context.Context, dc any, entries []Entry) (err error) {
	c, ok := dc.(rawConn)
	if !ok {
		return fmt.Errorf("driver connection %T lacks the context methods", dc)
	}
	w.c = c
	defer func() { w.c = nil }()
	tx, err := c.BeginTx(ctx, driver.TxOptions{})
	if err != nil {
		return err
	}
	defer func() {
		w.closeOnce()
		if err != nil {
			tx.Rollback()
			w.terms.rollback()
			w.lists.rollback()
		}
	}()
	if err = w.add(ctx, entries); err != nil {
		return err
	}
	w.closeOnce()
	if err = tx.Commit(); err != nil {
		return err
	}
	w.terms.commit()
	w.lists.commit()
	return nil
}

// rawConn is what Add needs of the driver's connection.
type rawConn interface {
	driver.ConnBeginTx
	driver.ConnPrepareContext
}

// rawStmt is what Add needs of the driver's statements.
type rawStmt interface {
	driver.Stmt
	driver.StmtExecContext
	driver.StmtQueryContext
}

// values fills args with the ordinals of n arguments and returns it.
func values(args []driver.NamedValue, n int) []driver.NamedValue {
	args = slices.Grow(args[:0], n)[:n]
	for i := range args {
		args[i] = driver.NamedValue{Ordinal: i + 1}
	}
	return args
}

// writer holds the connection Add writes through, for the life of the
// Index, and the statements prepared on it. Index.wmu guards it; c is
// the driver's connection during an Add only.
type writer struct {
	conn         *sql.Conn
	c            rawConn
	stmts        map[string]rawStmt
	once         []rawStmt // prepared for one Add
	terms, lists *interner
	buf          []byte
	args         []driver.NamedValue
	probeArgs    []driver.NamedValue
}

// stmt returns the statement of query, prepared once for the writer's
// life.
func (w *writer) stmt(ctx context.Context, query string) (rawStmt, error) {
	if st, ok := w.stmts[query]; ok {
		return st, nil
	}
	st, err := w.prepare(ctx, query)
	if err == nil {
		w.stmts[query] = st
	}
	return st, err
}

// stmtOnce prepares query for this Add only.
func (w *writer) stmtOnce(ctx context.Context, query string) (rawStmt, error) {
	st, err := w.prepare(ctx, query)
	if err == nil {
		w.once = append(w.once, st)
	}
	return st, err
}

func (w *writer) prepare(ctx context.Context, query string) (rawStmt, error) {
	st, err := w.c.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	rs, ok := st.(rawStmt)
	if !ok {
		st.Close()
		return nil, fmt.Errorf("driver statement %T lacks the context methods", st)
	}
	return rs, nil
}

func (w *writer) closeOnce() {
	for _, st := range w.once {
		st.Close()
	}
	w.once = w.once[:0]
}

// close closes the statements and gives the connection back.
func (w *writer) close() error {
	err := w.conn.Raw(func(any) error {
		for _, st := range w.stmts {
			st.Close()
		}
		return nil
	})
	clear(w.stmts)
	return errors.Join(err, w.conn.Close())
}

func (w *writer) add(ctx context.Context, entries []Entry) error {
	last := entries[0].Pos
	for _, en := range entries[1:] {
		if last.Less(en.Pos) {
			last = en.Pos
		}
	}
	lastPos, err := packPosition(last)
	if err != nil {
		return err
	}
	// Events to insert; nil ones count for the progress only.
	events := make([]Entry, 0, len(entries))
	batch := make([]pending, 0, len(entries))
	for _, en := range entries {
		if en.Event == nil {
			continue
		}
		pos, err := packPosition(en.Pos)
		if err != nil {
			return err
		}
		e := en.Event
		// The receive time keys the stages of one request; an event
		// without one gets a key no other event has.
		received := unixNano(e.RequestReceivedTimestamp)
		if received == 0 {
			received = -1 - pos
		}
		events = append(events, en)
		batch = append(batch, pending{pos: pos, received: received, rank: stageRank(e.Stage), auditID: e.AuditID})
	}
	demote, err := w.resolve(ctx, batch)
	if err != nil {
		return err
	}
	var insert rawStmt
	for len(events) > 0 {
		n := min(insertRows, len(events))
		// Full chunks share one statement; the last may need its own.
		if n == insertRows {
			insert, err = w.stmt(ctx, insertEvent(n))
		} else {
			insert, err = w.stmtOnce(ctx, insertEvent(n))
		}
		if err != nil {
			return err
		}
		if len(w.args) != insertColumns*n {
			w.args = values(w.args, insertColumns*n)
		}
		args := w.args
		for i, en := range events[:n] {
			if err := w.row(ctx, args[i*insertColumns:(i+1)*insertColumns], en.Event, &batch[i]); err != nil {
				return fmt.Errorf("event %s: %w", en.Pos, err)
			}
		}
		if _, err := insert.ExecContext(ctx, args); err != nil {
			return fmt.Errorf("events %s to %s: %w", events[0].Pos, events[n-1].Pos, err)
		}
		events, batch = events[n:], batch[n:]
	}
	if err := w.supersede(ctx, demote); err != nil {
		return err
	}
	st, err := w.stmt(ctx, saveProgress)
	if err != nil {
		return err
	}
	_, err = st.ExecContext(ctx, []driver.NamedValue{{Ordinal: 1, Value: lastPos}})
	return err
}

// row sets the values of one row of insertEvent.
func (w *writer) row(ctx context.Context, args []driver.NamedValue, e *audit.Event, p *pending) error {
	var o audit.ObjectReference
	if e.ObjectRef != nil {
		o = *e.ObjectRef
	}
	var imp string
	if e.ImpersonatedUser != nil {
		imp = e.ImpersonatedUser.Username
	}
	var code int64
	if e.ResponseStatus != nil {
		code = int64(e.ResponseStatus.Code)
	}
	var superseded int64
	if p.superseded {
		superseded = 1
	}
	var terms [10]int64
	var err error
	for i, s := range [...]string{e.Stage, e.Level, e.User.Username, imp, e.Verb,
		o.Resource, o.Subresource, o.APIGroup, o.Namespace, e.UserAgent} {
		if terms[i], err = w.terms.str(ctx, w, s); err != nil {
			return err
		}
	}
	w.buf = appendStrings(w.buf[:0], e.User.Groups)
	groups, err := w.lists.id(ctx, w, w.buf)
	if err != nil {
		return err
	}
	w.buf = appendStrings(w.buf[:0], e.SourceIPs)
	ips, err := w.lists.id(ctx, w, w.buf)
	if err != nil {
		return err
	}
	for i, v := range [insertColumns]any{
		p.pos, unixNano(e.Time()), p.received, e.AuditID, terms[0], p.rank, superseded, terms[1],
		terms[2], terms[3], groups, terms[4],
		terms[5], terms[6], terms[7], terms[8], o.Name, code,
		ips, terms[9], e.RequestURI,
	} {
		args[i].Value = v
	}
	return nil
}

// Positions are stored in one integer, the segment in the high 32 bits
// (31: SQLite's integers are signed) and the index in the low 32. The
// archive numbers segments from 0 and rolls them by size and age, so
// neither runs out in practice; a position that does not fit is an
// error rather than a wrong row.
const (
	maxSegment = 1<<31 - 1
	maxIndex   = 1<<32 - 1
)

func packPosition(p audit.Position) (int64, error) {
	if p.Segment > maxSegment || p.Index > maxIndex {
		return 0, fmt.Errorf("position %s is out of the index's range (segment < 2^31, index < 2^32)", p)
	}
	return int64(p.Segment<<32 | p.Index), nil
}

func unpackPosition(pos int64) audit.Position {
	return audit.Position{Segment: uint64(pos) >> 32, Index: uint64(pos) & maxIndex}
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromUnixNano(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}

// Stage ranks: of the events of one request, the default view shows the
// one of the highest rank. A stage the index does not know, or none,
// ranks with the complete ones: such an event stands for its request.
const (
	rankReceived = 1
	rankStarted  = 2
	rankFinal    = 3
)

func stageRank(stage string) int64 {
	switch stage {
	case "RequestReceived":
		return rankReceived
	case "ResponseStarted":
		return rankStarted
	}
	return rankFinal
}

// appendStrings appends list as a JSON array, so SQLite's json_each can
// read it. Strings that are not valid UTF-8 go through encoding/json,
// which replaces the bad bytes.
func appendStrings(b []byte, list []string) []byte {
	b = append(b, '[')
	for i, s := range list {
		if i > 0 {
			b = append(b, ',')
		}
		if !utf8.ValidString(s) {
			q, _ := json.Marshal(s)
			b = append(b, q...)
			continue
		}
		b = append(b, '"')
		for j := 0; j < len(s); j++ {
			c := s[j]
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c < 0x20:
				const hex = "0123456789abcdef"
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
		}
		b = append(b, '"')
	}
	return append(b, ']')
}

func parseStrings(s string) []string {
	if s == "" || s == "[]" {
		return nil
	}
	var list []string
	if err := json.Unmarshal([]byte(s), &list); err != nil {
		return nil
	}
	return list
}

// Last returns the highest position ever added, and false when nothing
// has been. Prune does not lower it: the ingest pipeline resumes after it.
func (ix *Index) Last(ctx context.Context) (audit.Position, bool, error) {
	var pos int64
	err := ix.db.QueryRowContext(ctx, "SELECT pos FROM progress WHERE one = 1").Scan(&pos)
	if err == sql.ErrNoRows {
		return audit.Position{}, false, nil
	}
	if err != nil {
		return audit.Position{}, false, fmt.Errorf("audit index %s: last position: %w", ix.path, err)
	}
	return unpackPosition(pos), true, nil
}

// pruneBatch is how many rows one Prune transaction deletes, so that an
// Add waits for one batch at most. A variable for tests.
var pruneBatch int64 = 20000

// Prune deletes the events older than before (by event time; events
// without a time are kept) and returns how many it deleted. It deletes
// in batches, each its own transaction, so an Add waits for one batch at
// most. The pages it frees are reused by the events added next; the file
// does not shrink (VACUUM, with bulwark stopped, shrinks it).
func (ix *Index) Prune(ctx context.Context, before time.Time) (int64, error) {
	limit := unixNano(before)
	var total int64
	for {
		n, err := ix.pruneOnce(ctx, limit)
		total += n
		if err != nil {
			return total, fmt.Errorf("audit index %s: prune: %w", ix.path, err)
		}
		if n < pruneBatch {
			break
		}
	}
	return total, nil
}

func (ix *Index) pruneOnce(ctx context.Context, limit int64) (int64, error) {
	ix.wmu.Lock()
	defer ix.wmu.Unlock()
	res, err := ix.db.ExecContext(ctx,
		"DELETE FROM event WHERE pos IN (SELECT pos FROM event WHERE ts > 0 AND ts < ? LIMIT ?)", limit, pruneBatch)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
