// Package pipeline moves a submission through its stages on watermill's Router over durable SQL
// queues: the "submissions" queue is routed, mapped and validated; each destination has its own
// "deliver_<id>" queue, so a destination that is down or slow never delays another.
//
// Every stage commits its effects (new rows, events, messages for the next stage) in the same
// transaction that acks the message it handled. A crash before that commit leaves the message in
// its queue and the stage runs again; stages check the stored state first, so running twice is
// harmless. Retries are new queue messages scheduled for later, never sleeps in a handler.
package pipeline
