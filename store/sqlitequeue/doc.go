// Package sqlitequeue lets watermill-sql/v4 run its queues on SQLite, the embedded default store.
//
// watermill-sql ships schema adapters for PostgreSQL and MySQL only, but its SchemaAdapter and
// OffsetsAdapter interfaces are public. Schema implements both as a queue (one table per topic,
// a row is deleted when it is acked) with one addition: every row carries a not-before time, so
// a message can be scheduled for later (persisted retry backoff) without any handler sleeping.
//
// SQLite allows one writer at a time. Beginner therefore hands the subscriber a transaction that
// starts only at its first write: reading the next message and running the handler's slow work
// (mapping, delivery I/O) hold no lock; the handler's writes and the ack then commit together in
// one short IMMEDIATE transaction. This is safe because in the embedded mode exactly one process
// (guarded by a lock file) and one subscriber goroutine per topic consume a queue.
package sqlitequeue
