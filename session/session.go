// Package session records who used a database through rdsgate: one record
// per client connection (AWS principal, database user, target, route, times,
// bytes, how it ended) and, when asked, the statements sent, queued to sinks
// (a JSON lines file, or a stream such as stderr) off the data path.
package session

import (
	"crypto/rand"
	"encoding/hex"
	"sync/atomic"
	"time"
)

// Event types.
const (
	TypeStart     = "session.start"
	TypeEnd       = "session.end"
	TypeStatement = "session.statement"
)

// MaxStatementBytes caps a captured statement; longer ones are cut and
// marked truncated.
const MaxStatementBytes = 4096

// Record describes one client connection.
//
// Records never hold a token, a password or a secret key: they are built
// from fields that cannot carry one, statements have the literals that set
// passwords replaced by '***' (redact.go), and statements are capped in
// length (MaxStatementBytes).
type Record struct {
	ID        string    `json:"session_id"`
	Start     time.Time `json:"start"`
	End       time.Time `json:"end,omitzero"`
	Principal string    `json:"aws_principal,omitempty"`
	Target    string    `json:"target"`
	Endpoint  string    `json:"endpoint"`
	Route     string    `json:"route"`
	// RouteSessions, on an ssm route, is the most Session Manager sessions
	// the route had open at once up to this session's end (its peak, which
	// covers every session that may have carried this one; the number open
	// at the end would drop as idle ones are reaped or the route closes).
	// It is set in session.end records; routes without sessions leave it 0.
	RouteSessions int    `json:"route_sessions,omitempty"`
	Engine        string `json:"engine"`
	DBUser        string `json:"db_user,omitempty"`
	Database      string `json:"database,omitempty"`
	// Application is the client's application_name (PostgreSQL) or
	// program_name connect attribute (MySQL), when given.
	Application string `json:"application,omitempty"`
	Client      string `json:"client"`
	// BytesIn counts client-to-database bytes, BytesOut database-to-client.
	BytesIn   int64  `json:"bytes_in"`
	BytesOut  int64  `json:"bytes_out"`
	EndReason string `json:"end_reason,omitempty"`
	// Error is a message safe to show (never a credential).
	Error string `json:"error,omitempty"`
}

// Event is one line of the session log.
type Event struct {
	Type string    `json:"type"`
	Time time.Time `json:"time"`
	Record
	Statement string `json:"statement,omitempty"`
	Truncated bool   `json:"statement_truncated,omitempty"`
	// Redacted says a password literal in Statement was replaced by '***'.
	Redacted bool `json:"statement_redacted,omitempty"`
}

// NewID returns a random session id.
func NewID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Counter is a pair of byte counters safe for concurrent use by the two
// relay directions.
type Counter struct {
	in, out atomic.Int64
}

// AddIn counts client-to-database bytes.
func (c *Counter) AddIn(n int) { c.in.Add(int64(n)) }

// AddOut counts database-to-client bytes.
func (c *Counter) AddOut(n int) { c.out.Add(int64(n)) }

// Totals returns the bytes counted so far.
func (c *Counter) Totals() (in, out int64) { return c.in.Load(), c.out.Load() }
