package store

import "testing"

// TestUnverifiedRemote: the relay warns when its PostgreSQL server is on
// another machine and nothing verifies the server's certificate, and only
// then.
func TestUnverifiedRemote(t *testing.T) {
	for dsn, want := range map[string]bool{
		"postgres://parley@db.internal/parley":                          true, // sslmode=prefer
		"postgres://parley@db.internal/parley?sslmode=disable":          true,
		"postgres://parley@db.internal/parley?sslmode=require":          true,
		"postgres://parley@10.0.0.5/parley?sslmode=prefer":              true,
		"postgres://parley@db.internal/parley?sslmode=verify-full":      false,
		"postgres://parley@127.0.0.1/parley":                            false,
		"postgres://parley@[::1]:5432/parley?sslmode=disable":           false,
		"postgres://parley@localhost/parley":                            false,
		"postgres:///parley?host=/var/run/postgresql":                   false,
		"postgres://parley@127.0.0.1,db.internal/parley?sslmode=prefer": true, // a remote fallback
	} {
		cfg, err := pgConfig(dsn)
		if err != nil {
			t.Fatalf("%s: %v", dsn, err)
		}
		if got := unverifiedRemote(cfg); got != want {
			t.Errorf("%s: unverifiedRemote = %v, want %v", dsn, got, want)
		}
	}
}
