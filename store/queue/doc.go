// Package queue runs amtsbote's watermill-sql/v4 queues on the store's database: SQLite for the
// embedded single node, PostgreSQL for a cluster.
//
// Both backends keep one table per topic with the same columns, so publishing is the same SQL on
// either. A row carries a not-before time, so a message can be scheduled for later (persisted
// retry backoff) without any handler sleeping; acking deletes the row, so a queue holds only work
// still to do.
//
// SQLite (SQLiteSchema, SQLiteOffsets, LazyBeginner): watermill-sql ships no SQLite adapter, but
// its SchemaAdapter and OffsetsAdapter interfaces are public. SQLite allows one writer at a
// time, so LazyBeginner hands the subscriber a transaction that starts only at its first write:
// reading the next message and the handler's slow work (mapping, delivery I/O) hold no lock; the
// handler's writes and the ack then commit together in one short IMMEDIATE transaction. A read
// claims its row for a lease, so several subscribers of one queue never share a message.
//
// PostgreSQL (PostgresSchema, PostgresOffsets, PostgresBeginner): watermill-sql's
// PostgreSQLQueueSchema and PostgreSQLQueueOffsetsAdapter (delete on ack), with the due-time
// column and SELECT … FOR UPDATE SKIP LOCKED, one message per transaction: the row lock is the
// claim. It is held by the instance's open transaction while the handler runs, so other
// instances and handlers skip the row, and it disappears with the transaction when the instance
// dies (the server ends a dead client's session), so another instance picks the message up.
//
// On both, a handler's writes commit only together with the ack (Commit without an ack rolls
// back), and Undo discards a failed try's writes while the message stays claimed.
package queue
