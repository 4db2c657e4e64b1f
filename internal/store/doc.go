// Package store holds the domain types of appbackend's durable state — the webhook
// inbox, installations and settings — and the interface every database adapter
// implements.
//
// Two adapters implement [Store]: store/sqlite (the embedded default) and, later,
// store/postgres. Both run the one conformance suite in store/storetest, so the flows
// built on top (webhook, events, install) behave the same on either database.
//
// # Transactions
//
// The flows compose several writes into one transaction: the webhook receiver inserts
// an event and its River job together; the event worker loads an event, runs handlers
// and completes its job together. Methods whose name ends in Tx therefore take the
// caller's *sql.Tx, the same transaction type River uses on both databases
// (riversqlite and riverdatabasesql). Methods without Tx run on their own.
//
// Event handlers reach the job's transaction through [TxFrom], so that their own
// writes commit or roll back with the event's status.
package store
