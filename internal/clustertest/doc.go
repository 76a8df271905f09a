// Package clustertest holds the relay's failure tests with real
// processes: it builds cmd/parleyd once, runs three parleyd nodes on
// loopback ports against one fresh PostgreSQL schema and one NATS subject
// prefix (the machine's NATS server, or a private one the test can stop),
// and drives them with real SDK clients (package client).
//
// The tests show what docs/architecture.md ("Several relay nodes")
// promises: live delivery across nodes by NATS wake-ups; a node killed
// with SIGKILL under load loses no acknowledged message and its clients
// move to the other nodes; with NATS stopped, delivery falls back to the
// bounded poll and returns to wake-ups when NATS does; a PostgreSQL
// outage (a proxy that cuts every connection and refuses new ones for a
// while) loses nothing whose send succeeded, and the nodes recover by
// themselves.
//
// The package has no code outside its tests. They skip with -short, and,
// like the store's PostgreSQL tests, when PostgreSQL
// (PARLEY_TEST_POSTGRES) or NATS (PARLEY_TEST_NATS) is unreachable,
// except under CI=true, where they fail.
package clustertest
