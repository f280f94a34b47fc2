// Package mysqlwire encodes and decodes the connection phase of the
// MySQL/MariaDB client/server protocol (framing, capabilities, greeting,
// SSLRequest, handshake response, auth switch, OK/ERR/EOF), for the local
// proxy (proxy/mysql) and the sandbox's RDS-like front (sandbox/mysqlfront).
// It does no network I/O beyond the reader and writer it is given.
package mysqlwire
