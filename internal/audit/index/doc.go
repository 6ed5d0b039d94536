// Package index holds the queryable index of archived audit events: an
// embedded SQLite database (modernc.org/sqlite, pure Go) with one row per
// archived event, keyed by its archive Position, and the queries that
// answer an investigator's questions: what happened to a resource, who
// exec'd into which pod, who touched an object, what one user did, which
// addresses clients came from.
//
// Lifecycle: Open creates or checks the file; the ingest pipeline calls
// Add with batches of events read from the archive, in archive order,
// and resumes after a crash from Last; readers call Query and Count at
// any time, also from other processes (the database is in WAL mode, so
// readers never block the writer); retention calls Prune; the owner
// calls Close once every other call has returned.
//
// A row holds the fields an investigation filters and groups on, not the
// whole event: the archive keeps every event as it arrived, and a Row's
// Pos finds it there.
//
// This package does not read or write the archive (see
// internal/audit/archive) and does not evaluate detection rules (see
// internal/detect).
package index
