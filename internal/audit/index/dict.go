package index

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
)

// maxDictCache bounds the ids a dict remembers. Terms are few (users,
// resources, namespaces, user agents) but source IP lists follow pod IPs;
// past the bound the cache starts over and fills again from the table.
const maxDictCache = 1 << 17

// dict remembers the ids of the term or list table for the writer. Ids
// never change once given, so the cache stays right whoever else writes.
type dict struct {
	table string
	empty string // the value of id 0
	ids   map[string]int64
}

func newDict(table, empty string) *dict {
	return &dict{table: table, empty: empty, ids: make(map[string]int64)}
}

// interner gives ids to values for the writer. Ids it had to create are
// kept apart until their transaction commits: a rollback takes them back.
type interner struct {
	d     *dict
	added map[string]int64
}

func (in *interner) id(ctx context.Context, w *writer, v []byte) (int64, error) {
	if string(v) == in.d.empty {
		return 0, nil
	}
	if id, ok := in.d.ids[string(v)]; ok {
		return id, nil
	}
	if id, ok := in.added[string(v)]; ok {
		return id, nil
	}
	s := string(v)
	id, err := in.lookup(ctx, w, s)
	if err != nil {
		return 0, err
	}
	if in.added == nil {
		in.added = make(map[string]int64)
	}
	in.added[s] = id
	return id, nil
}

func (in *interner) str(ctx context.Context, w *writer, s string) (int64, error) {
	if s == in.d.empty {
		return 0, nil
	}
	if id, ok := in.d.ids[s]; ok {
		return id, nil
	}
	return in.id(ctx, w, []byte(s))
}

// lookup reads the id of s from the table, adding s when it is not there.
func (in *interner) lookup(ctx context.Context, w *writer, s string) (int64, error) {
	sel, err := w.stmt(ctx, "SELECT id FROM "+in.d.table+" WHERE value = ?")
	if err != nil {
		return 0, err
	}
	ins, err := w.stmt(ctx, "INSERT INTO "+in.d.table+" (value) VALUES (?) RETURNING id")
	if err != nil {
		return 0, err
	}
	arg := []driver.NamedValue{{Ordinal: 1, Value: s}}
	id, ok, err := queryInt(ctx, sel, arg)
	if err != nil || ok {
		return id, err
	}
	id, ok, err = queryInt(ctx, ins, arg)
	if err == nil && !ok {
		err = errors.New("insert returned no id")
	}
	return id, err
}

// queryInt runs a query for one integer.
func queryInt(ctx context.Context, st rawStmt, args []driver.NamedValue) (int64, bool, error) {
	rows, err := st.QueryContext(ctx, args)
	if err != nil {
		return 0, false, err
	}
	defer rows.Close()
	dest := make([]driver.Value, 1)
	if err := rows.Next(dest); err == io.EOF {
		return 0, false, nil
	} else if err != nil {
		return 0, false, err
	}
	id, ok := dest[0].(int64)
	if !ok {
		return 0, false, fmt.Errorf("id is %T, not an integer", dest[0])
	}
	return id, true, nil
}

// commit keeps the ids the committed transaction created.
func (in *interner) commit() {
	if len(in.d.ids)+len(in.added) > maxDictCache {
		clear(in.d.ids)
	}
	for s, id := range in.added {
		in.d.ids[s] = id
	}
	clear(in.added)
}

// rollback forgets the ids the transaction rolled back created.
func (in *interner) rollback() { clear(in.added) }
