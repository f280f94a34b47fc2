// Package pgwire reads and writes the startup phase of the PostgreSQL
// protocol (SSLRequest, CancelRequest, StartupMessage, authentication and
// the messages up to ReadyForQuery), for the local proxy (proxy/postgres)
// and the sandbox's RDS-like front (sandbox/pgfront).
package pgwire
