package index

// schema is the version-1 schema.
//
// One row of event per archived event, keyed by its position: the
// segment in the high 32 bits, the index in the segment in the low 32.
// The rowid is the position, so ingest is idempotent without an index of
// its own, and rows are stored in archive order. The other columns are
// never NULL (a missing field is empty, a missing response code 0). ts is
// the event's time (Event.Time) and received the request's receive time,
// in Unix nanoseconds; ts is 0 when the event has no time, and received
// is -1 - pos when it has no receive time, a key of its own.
// stage_rank orders the stages of a request (1 RequestReceived,
// 2 ResponseStarted, 3 the rest); superseded is 1 when another event
// represents the request (see request.go).
//
// The short strings that repeat from event to event (users, verbs,
// resources, namespaces, stages, user agents) are stored once in term and
// referenced by id; the lists (groups, source IPs) likewise in list, as
// JSON arrays. This keeps a row near 150 bytes instead of 450, and the
// indexes on these columns small, which is what ingest speed comes down
// to. Term 0 is the empty string and list 0 the empty list. Object names,
// audit IDs and request URIs rarely repeat and stay in the row.
//
// Indexes serve the filters investigations start from; each ends with ts
// so the newest-first order comes from the index without a sort:
//   - event_ts: a time range, and every query without a narrower filter;
//   - event_user: what one user did;
//   - event_resource: activity on a kind of resource, exec into pods
//     (a resource without its subresource is several ranges, sorted);
//   - event_namespace: activity in a namespace;
//
// These three hold the rows of the default view only (superseded = 0):
// with the usual audit policy half the events are superseded
// RequestReceived stages, which Add then writes to the table and
// event_ts alone. A query of every stage filtered by user, resource or
// namespace reads event_ts over its time range instead.
//
//   - event_request: the representative event of each request by
//     receive time, for Add to find the requests of a batch. Receive
//     times arrive in order, so ingest writes to the end of this index;
//     keyed by audit ID, each batch would write a page per event all
//     over it.
//
// Each index costs ingest time (each batch rewrites the pages around
// every insertion point), so name, verb, code, source IPs and audit IDs
// are filtered by scanning the rows another index selects: a query by
// audit ID or object name wants a time range.
//
// The view events shows the rows with their terms and lists resolved,
// for reading the index with the sqlite3 shell.
const schema = `
CREATE TABLE term (
	id    INTEGER PRIMARY KEY,
	value TEXT NOT NULL UNIQUE
) STRICT;
INSERT INTO term (id, value) VALUES (0, '');
CREATE TABLE list (
	id    INTEGER PRIMARY KEY,
	value TEXT NOT NULL UNIQUE
) STRICT;
INSERT INTO list (id, value) VALUES (0, '[]');
CREATE TABLE event (
	pos          INTEGER PRIMARY KEY,
	ts           INTEGER NOT NULL,
	received     INTEGER NOT NULL,
	audit_id     TEXT NOT NULL,
	stage        INTEGER NOT NULL,
	stage_rank   INTEGER NOT NULL,
	superseded   INTEGER NOT NULL,
	level        INTEGER NOT NULL,
	username     INTEGER NOT NULL,
	impersonated INTEGER NOT NULL,
	user_groups  INTEGER NOT NULL,
	verb         INTEGER NOT NULL,
	resource     INTEGER NOT NULL,
	subresource  INTEGER NOT NULL,
	api_group    INTEGER NOT NULL,
	namespace    INTEGER NOT NULL,
	name         TEXT NOT NULL,
	code         INTEGER NOT NULL,
	source_ips   INTEGER NOT NULL,
	user_agent   INTEGER NOT NULL,
	request_uri  TEXT NOT NULL
) STRICT;
CREATE INDEX event_ts ON event (ts);
CREATE INDEX event_user ON event (username, ts) WHERE superseded = 0;
CREATE INDEX event_resource ON event (resource, subresource, ts) WHERE superseded = 0;
CREATE INDEX event_namespace ON event (namespace, ts) WHERE superseded = 0;
CREATE INDEX event_request ON event (received) WHERE superseded = 0;
CREATE TABLE progress (
	one INTEGER PRIMARY KEY CHECK (one = 1),
	pos INTEGER NOT NULL
) STRICT;
CREATE VIEW events AS SELECT e.pos >> 32 AS segment, e.pos & 0xffffffff AS idx, e.superseded, ` + rowColumns + rowFrom + `;
`

// rowColumns and rowFrom select the fields of a Row. The joins are outer
// and the values coalesced so that a missing term cannot hide a row.
const (
	rowColumns = `e.pos, e.ts, e.audit_id, coalesce(stage.value, '') AS stage, coalesce(level.value, '') AS level,
	coalesce(username.value, '') AS username, coalesce(user_groups.value, '[]') AS user_groups, coalesce(impersonated.value, '') AS impersonated,
	coalesce(verb.value, '') AS verb, coalesce(resource.value, '') AS resource, coalesce(subresource.value, '') AS subresource,
	coalesce(api_group.value, '') AS api_group, coalesce(namespace.value, '') AS namespace, e.name, e.code,
	coalesce(source_ips.value, '[]') AS source_ips, coalesce(user_agent.value, '') AS user_agent, e.request_uri`
	rowFrom = `
	FROM event e
	LEFT JOIN term stage ON stage.id = e.stage
	LEFT JOIN term level ON level.id = e.level
	LEFT JOIN term username ON username.id = e.username
	LEFT JOIN list user_groups ON user_groups.id = e.user_groups
	LEFT JOIN term impersonated ON impersonated.id = e.impersonated
	LEFT JOIN term verb ON verb.id = e.verb
	LEFT JOIN term resource ON resource.id = e.resource
	LEFT JOIN term subresource ON subresource.id = e.subresource
	LEFT JOIN term api_group ON api_group.id = e.api_group
	LEFT JOIN term namespace ON namespace.id = e.namespace
	LEFT JOIN list source_ips ON source_ips.id = e.source_ips
	LEFT JOIN term user_agent ON user_agent.id = e.user_agent`
)
