// Package mysqlwire encodes and decodes the connection phase of the
// MySQL/MariaDB client/server protocol: packet framing with sequence ids,
// capability flags (including MariaDB's extended capabilities), the server
// greeting (HandshakeV10), the client's SSLRequest and HandshakeResponse41,
// auth switch and auth-more-data packets, OK/ERR/EOF packets, length-encoded
// integers and strings, and the mysql_native_password scramble.
//
// It is a primitive shared by the sandbox's RDS-like front and the local
// proxy; it does no network I/O beyond reading and writing packets on the
// io.Reader/io.Writer it is given, and keeps no global state.
//
// Every decoder takes a packet payload (without the 4-byte header), never
// panics on malformed input and allocates no more than the input's size;
// each is fuzzed next to its encoder. Decoders copy what they keep, so the
// payload buffer may be reused after a call.
//
// References: the MySQL source's "Connection Phase" documentation and
// MariaDB's "clientserver protocol" pages. Where the two differ (MariaDB's
// extended capabilities in the greeting's and the response's filler
// bytes, signalled by clearing the CLIENT_MYSQL bit), both are supported.
package mysqlwire
