// Package pgwire is the PostgreSQL startup-phase codec shared by the sandbox's
// RDS-like front (sandbox/pgfront) and the local proxy (proxy/postgres).
//
// It reads and writes the untyped packets a client sends first
// ([ReadStartup]: SSLRequest, GSSENCRequest, CancelRequest, StartupMessage)
// and frames the typed messages of the startup phase ([ReadMessage],
// [WriteMessage] and builders such as [AuthenticationCleartextPassword] and
// [ErrorResponse]).
//
// Three rules shape the API (see research/wire.md, sections 0 and A):
//
//   - Every read is an exact-length read (io.ReadFull) of a length that was
//     checked against a bound first, so no hostile length field makes the
//     reader allocate more than the bound, and no byte beyond the current
//     packet is consumed. Callers own their bufio.Reader and relay from it
//     once the startup phase is over, so nothing read ahead is lost.
//   - Any protocol version with major 3 is accepted (3.0, 3.2, libpq's
//     "grease" 3.9999), with every parameter, _pq_.* included, kept in
//     order, so that a proxy can forward the client's exact startup upstream
//     and relay the server's NegotiateProtocolVersion.
//   - Secrets (passwords, cancel keys) never appear in an error's text.
package pgwire
