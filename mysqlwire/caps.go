package mysqlwire

import (
	"math/bits"
	"strconv"
	"strings"
)

// References: the MySQL source's "Connection Phase" documentation and
// MariaDB's "clientserver protocol" pages. Where the two differ (MariaDB's
// extended capabilities in the greeting's and the response's filler bytes,
// signalled by clearing the CLIENT_MYSQL bit), this package supports both.

// Capability is the 32-bit capability flag set of the greeting and the
// client's handshake response. The constants carry the C names of the
// MySQL source (CLIENT_*) in their comments.
type Capability uint32

// Capability flags.
const (
	// ClientLongPassword is CLIENT_LONG_PASSWORD in MySQL. MariaDB calls
	// the bit CLIENT_MYSQL: a MariaDB server (and a MariaDB-aware client)
	// clears it to say that MariaDB's extended capabilities travel in the
	// filler bytes of the greeting (and of the response); see
	// MariaDBCapability.
	ClientLongPassword  Capability = 1 << 0
	ClientFoundRows     Capability = 1 << 1 // CLIENT_FOUND_ROWS
	ClientLongFlag      Capability = 1 << 2 // CLIENT_LONG_FLAG
	ClientConnectWithDB Capability = 1 << 3 // CLIENT_CONNECT_WITH_DB
	ClientNoSchema      Capability = 1 << 4 // CLIENT_NO_SCHEMA
	// ClientCompress (CLIENT_COMPRESS) switches the command phase to the
	// compressed protocol (zlib).
	ClientCompress    Capability = 1 << 5
	ClientODBC        Capability = 1 << 6  // CLIENT_ODBC
	ClientLocalFiles  Capability = 1 << 7  // CLIENT_LOCAL_FILES: LOAD DATA LOCAL
	ClientIgnoreSpace Capability = 1 << 8  // CLIENT_IGNORE_SPACE
	ClientProtocol41  Capability = 1 << 9  // CLIENT_PROTOCOL_41
	ClientInteractive Capability = 1 << 10 // CLIENT_INTERACTIVE
	// ClientSSL (CLIENT_SSL): offered by a server with TLS; set by a client in
	// its SSLRequest before the TLS handshake.
	ClientSSL           Capability = 1 << 11
	ClientIgnoreSIGPIPE Capability = 1 << 12 // CLIENT_IGNORE_SIGPIPE
	ClientTransactions  Capability = 1 << 13 // CLIENT_TRANSACTIONS
	ClientReserved      Capability = 1 << 14 // CLIENT_RESERVED
	// ClientSecureConnection (CLIENT_SECURE_CONNECTION, "RESERVED2"): the
	// auth response has a 1-byte length (unless PluginAuthLenEncClientData).
	ClientSecureConnection Capability = 1 << 15
	ClientMultiStatements  Capability = 1 << 16 // CLIENT_MULTI_STATEMENTS
	ClientMultiResults     Capability = 1 << 17 // CLIENT_MULTI_RESULTS
	ClientPSMultiResults   Capability = 1 << 18 // CLIENT_PS_MULTI_RESULTS
	ClientPluginAuth       Capability = 1 << 19 // CLIENT_PLUGIN_AUTH
	ClientConnectAttrs     Capability = 1 << 20 // CLIENT_CONNECT_ATTRS
	// ClientPluginAuthLenEncClientData (CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA):
	// the auth response is a length-encoded string.
	ClientPluginAuthLenEncClientData Capability = 1 << 21
	ClientCanHandleExpiredPasswords  Capability = 1 << 22 // CLIENT_CAN_HANDLE_EXPIRED_PASSWORDS
	ClientSessionTrack               Capability = 1 << 23 // CLIENT_SESSION_TRACK: OK packets carry session state
	ClientDeprecateEOF               Capability = 1 << 24 // CLIENT_DEPRECATE_EOF: OK instead of EOF after rows
	ClientOptionalResultsetMetadata  Capability = 1 << 25 // CLIENT_OPTIONAL_RESULTSET_METADATA
	// ClientZstdCompression (CLIENT_ZSTD_COMPRESSION_ALGORITHM): compressed
	// protocol with zstd; the response then ends with the zstd level.
	ClientZstdCompression Capability = 1 << 26
	// ClientQueryAttributes (CLIENT_QUERY_ATTRIBUTES): COM_QUERY and
	// COM_STMT_EXECUTE carry attributes (MySQL 8.0.23+).
	ClientQueryAttributes     Capability = 1 << 27
	ClientMultiFactorAuth     Capability = 1 << 28 // MULTI_FACTOR_AUTHENTICATION
	ClientCapabilityExtension Capability = 1 << 29 // CLIENT_CAPABILITY_EXTENSION (MariaDB: CLIENT_PROGRESS_OBSOLETE)
	ClientSSLVerifyServerCert Capability = 1 << 30 // CLIENT_SSL_VERIFY_SERVER_CERT (client-side only)
	ClientRememberOptions     Capability = 1 << 31 // CLIENT_REMEMBER_OPTIONS (client-side only)
)

// ClientMySQL is MariaDB's name for bit 0: set by MySQL peers, cleared by
// MariaDB peers that exchange MariaDBCapability flags.
const ClientMySQL = ClientLongPassword

// WireFormatCaps are the flags that change how command-phase packets look.
// A relay must see them identical on the client and the server leg.
const WireFormatCaps = ClientCompress | ClientZstdCompression | ClientDeprecateEOF |
	ClientSessionTrack | ClientQueryAttributes | ClientOptionalResultsetMetadata |
	ClientProtocol41 | ClientMultiResults | ClientPSMultiResults | ClientLocalFiles

// MariaDBCapability is MariaDB's extended capability set: the upper 32 bits
// of its 64-bit capabilities, carried in the last 4 filler bytes of the
// greeting and of the SSLRequest/HandshakeResponse41 when the sender clears
// ClientMySQL.
type MariaDBCapability uint32

// MariaDB extended capability flags (MARIADB_CLIENT_*).
const (
	MariaDBClientProgress           MariaDBCapability = 1 << 0 // MARIADB_CLIENT_PROGRESS: progress reports in the stream
	MariaDBClientComMulti           MariaDBCapability = 1 << 1 // MARIADB_CLIENT_COM_MULTI (reserved)
	MariaDBClientStmtBulkOperations MariaDBCapability = 1 << 2 // MARIADB_CLIENT_STMT_BULK_OPERATIONS
	MariaDBClientExtendedMetadata   MariaDBCapability = 1 << 3 // MARIADB_CLIENT_EXTENDED_METADATA
	MariaDBClientCacheMetadata      MariaDBCapability = 1 << 4 // MARIADB_CLIENT_CACHE_METADATA
	MariaDBClientBulkUnitResults    MariaDBCapability = 1 << 5 // MARIADB_CLIENT_BULK_UNIT_RESULTS
)

var capNames = [32]string{
	"LONG_PASSWORD", "FOUND_ROWS", "LONG_FLAG", "CONNECT_WITH_DB", "NO_SCHEMA",
	"COMPRESS", "ODBC", "LOCAL_FILES", "IGNORE_SPACE", "PROTOCOL_41",
	"INTERACTIVE", "SSL", "IGNORE_SIGPIPE", "TRANSACTIONS", "RESERVED",
	"SECURE_CONNECTION", "MULTI_STATEMENTS", "MULTI_RESULTS", "PS_MULTI_RESULTS",
	"PLUGIN_AUTH", "CONNECT_ATTRS", "PLUGIN_AUTH_LENENC_CLIENT_DATA",
	"CAN_HANDLE_EXPIRED_PASSWORDS", "SESSION_TRACK", "DEPRECATE_EOF",
	"OPTIONAL_RESULTSET_METADATA", "ZSTD_COMPRESSION_ALGORITHM", "QUERY_ATTRIBUTES",
	"MULTI_FACTOR_AUTHENTICATION", "CAPABILITY_EXTENSION", "SSL_VERIFY_SERVER_CERT",
	"REMEMBER_OPTIONS",
}

var mariaCapNames = []string{
	"PROGRESS", "COM_MULTI", "STMT_BULK_OPERATIONS", "EXTENDED_METADATA",
	"CACHE_METADATA", "BULK_UNIT_RESULTS",
}

// Has reports whether every flag of f is set in c.
func (c Capability) Has(f Capability) bool { return c&f == f }

// String lists the set flags by their C names without the CLIENT_ prefix,
// joined by "|", e.g. "PROTOCOL_41|SSL".
func (c Capability) String() string {
	if c == 0 {
		return "0"
	}
	var parts []string
	for v := uint32(c); v != 0; v &= v - 1 {
		parts = append(parts, capNames[bits.TrailingZeros32(v)])
	}
	return strings.Join(parts, "|")
}

// Has reports whether every flag of f is set in c.
func (c MariaDBCapability) Has(f MariaDBCapability) bool { return c&f == f }

// String lists the set flags by their names without the MARIADB_CLIENT_
// prefix; unnamed bits print as BIT<n>.
func (c MariaDBCapability) String() string {
	if c == 0 {
		return "0"
	}
	var parts []string
	for v := uint32(c); v != 0; v &= v - 1 {
		i := bits.TrailingZeros32(v)
		if i < len(mariaCapNames) {
			parts = append(parts, mariaCapNames[i])
		} else {
			parts = append(parts, "BIT"+strconv.Itoa(i))
		}
	}
	return strings.Join(parts, "|")
}
