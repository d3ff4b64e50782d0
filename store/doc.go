// Package store keeps submissions, their attachments, the mapped messages, per-destination
// delivery state and the event history of every submission in the embedded SQLite file.
//
// Writes take an Execer so that the caller decides the transaction: intake commits a submission
// together with the queue message that starts its processing, and each pipeline stage commits
// its effects together with the ack of the message it handled.
package store
