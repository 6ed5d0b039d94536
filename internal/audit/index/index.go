package index

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// FileName is the name of the index file in Bulwark's audit data
// directory.
const FileName = "index.db"

// IndexPath returns the index file of an audit data directory, the file
// bulwark serve --audit writes and bulwark audit query reads.
func IndexPath(dataDir string) string { return filepath.Join(dataDir, FileName) }

// The file's identity: SQLite's application_id header field ("BWAI") and
// user_version, the version of the schema below.
const (
	applicationID = 0x42574149
	schemaVersion = 1
)

// pageSize is the database page size of a new index. Larger pages make
// each batch write more: the indexes' insertion points are spread over
// many pages, and a commit writes every page it touched.
const pageSize = 4096

// Errors of Open, wrapped with the file's name.
var (
	// ErrNotIndex: the file is not an SQLite database, or one another
	// application wrote.
	ErrNotIndex = errors.New("not a bulwark audit index")
	// ErrCorrupt: SQLite found the file damaged.
	ErrCorrupt = errors.New("audit index is corrupt")
	// ErrSchemaVersion: the file is a bulwark index of a schema version
	// this build does not read.
	ErrSchemaVersion = errors.New("unsupported audit index schema version")
)

// Index is an open audit index. Its methods are safe for concurrent use;
// writes (Add, Prune) are serialized, reads run beside them.
type Index struct {
	db   *sql.DB
	path string
	// wmu serializes this process's writers, so they queue here rather
	// than in SQLite's busy handler, which sleeps.
	wmu sync.Mutex
	// terms and lists cache the ids of term and list rows for writers;
	// wmu guards them and w, the writer's connection, opened by the
	// first Add.
	terms, lists *dict
	w            *writer
}

// Open opens the index file at path, creating the file (mode 0600, and
// its directory) and the schema when the file does not exist or is empty.
// An existing file must be a bulwark audit index of the schema version
// this build reads: otherwise the error wraps ErrNotIndex, ErrCorrupt or
// ErrSchemaVersion and names the file.
func Open(ctx context.Context, path string) (*Index, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("create audit index directory: %w", err)
	}
	// SQLite would create the file 0644; audit events are not for every
	// local user. The -wal and -shm files take the database's mode.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open audit index: %w", err)
	}
	f.Close()
	return open(ctx, path, false)
}

// OpenReadOnly opens an existing index for Query and Count only: it
// neither creates the file nor writes to it. Add and Prune fail.
func OpenReadOnly(ctx context.Context, path string) (*Index, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("open audit index: %w", err)
	}
	return open(ctx, path, true)
}

func open(ctx context.Context, path string, readOnly bool) (*Index, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open audit index %s: %w", path, err)
	}
	q := url.Values{}
	// Pragmas every connection runs: wait for another process's writer
	// rather than fail; NORMAL is durable across application crashes in
	// WAL mode (a power loss may drop the last transactions, which the
	// pipeline re-adds from the archive); a 32 MiB page cache keeps the
	// indexes' hot pages in memory during ingest; statement journals
	// (multi-row inserts) and sorts in memory, not in temporary files.
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", "cache_size(-32768)")
	q.Add("_pragma", "temp_store(MEMORY)")
	q.Set("_txlock", "immediate")
	if readOnly {
		q.Set("mode", "ro")
	}
	dsn := "file:" + (&url.URL{Path: abs}).EscapedPath() + "?" + q.Encode()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open audit index %s: %w", path, err)
	}
	ix := &Index{db: db, path: path, terms: newDict("term", ""), lists: newDict("list", "[]")}
	if err := ix.init(ctx, readOnly); err != nil {
		db.Close()
		return nil, err
	}
	return ix, nil
}

// init checks the file's identity and creates the schema in a new file.
func (ix *Index) init(ctx context.Context, readOnly bool) error {
	if readOnly {
		err := ix.check(ctx, ix.db)
		if errors.Is(err, errEmpty) {
			return fmt.Errorf("audit index %s: %w: the database is empty", ix.path, ErrNotIndex)
		}
		return err
	}
	// One connection: page_size is its setting until the first table
	// makes it the file's.
	conn, err := ix.db.Conn(ctx)
	if err != nil {
		return ix.openError(err)
	}
	defer conn.Close()
	err = ix.check(ctx, conn)
	if err != nil && !errors.Is(err, errEmpty) {
		return err
	}
	created := false
	if errors.Is(err, errEmpty) {
		if _, err := conn.ExecContext(ctx, fmt.Sprintf("PRAGMA page_size = %d", pageSize)); err != nil {
			return fmt.Errorf("create audit index %s: %w", ix.path, err)
		}
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			return ix.openError(err)
		}
		defer tx.Rollback()
		// Another process may have created it meanwhile.
		if err := ix.check(ctx, tx); errors.Is(err, errEmpty) {
			created = true
			for _, s := range []string{
				fmt.Sprintf("PRAGMA application_id = %d", applicationID),
				schema,
				fmt.Sprintf("PRAGMA user_version = %d", schemaVersion),
			} {
				if _, err := tx.ExecContext(ctx, s); err != nil {
					return fmt.Errorf("create audit index %s: %w", ix.path, err)
				}
			}
		} else if err != nil {
			return err
		}
		if err := tx.Commit(); err != nil {
			return ix.openError(err)
		}
	}
	if created {
		// Persistent, and outside a transaction as SQLite requires.
		if _, err := conn.ExecContext(ctx, "PRAGMA journal_mode = WAL"); err != nil {
			return fmt.Errorf("create audit index %s: %w", ix.path, err)
		}
	}
	return nil
}

var errEmpty = errors.New("empty database")

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// check reads the header fields that identify a bulwark index. It returns
// errEmpty for a database with nothing in it.
func (ix *Index) check(ctx context.Context, q querier) error {
	var appID, version, objects int64
	err := q.QueryRowContext(ctx, "SELECT (SELECT application_id FROM pragma_application_id), (SELECT user_version FROM pragma_user_version), (SELECT count(*) FROM sqlite_schema)").
		Scan(&appID, &version, &objects)
	if err != nil {
		return ix.openError(err)
	}
	switch {
	case appID == 0 && version == 0 && objects == 0:
		return errEmpty
	case appID != applicationID:
		return fmt.Errorf("audit index %s: %w: an SQLite database of another application (application_id %#x)", ix.path, ErrNotIndex, appID)
	case version != schemaVersion:
		return fmt.Errorf("audit index %s: %w: %d (this build reads version %d)", ix.path, ErrSchemaVersion, version, schemaVersion)
	}
	return nil
}

// openError names the file and says in words what SQLite's codes mean.
func (ix *Index) openError(err error) error {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_NOTADB:
			return fmt.Errorf("audit index %s: %w: the file is not an SQLite database", ix.path, ErrNotIndex)
		case sqlite3.SQLITE_CORRUPT:
			return fmt.Errorf("audit index %s: %w: %v", ix.path, ErrCorrupt, err)
		}
	}
	return fmt.Errorf("open audit index %s: %w", ix.path, err)
}

// Path returns the file the index was opened from.
func (ix *Index) Path() string { return ix.path }

// Close closes the database. Every other call must have returned.
func (ix *Index) Close() error {
	ix.wmu.Lock()
	defer ix.wmu.Unlock()
	var err error
	if ix.w != nil {
		err = ix.w.close()
		ix.w = nil
	}
	if err = errors.Join(err, ix.db.Close()); err != nil {
		return fmt.Errorf("close audit index %s: %w", ix.path, err)
	}
	return nil
}
