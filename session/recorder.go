package session

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// QueueSize is how many events wait for the sinks before new statement
// events are dropped (start and end events wait for room instead, bounded by
// EndTimeout, so the record of who connected is not lost to a burst).
const QueueSize = 4096

// EndTimeout bounds how long recording a session's start or end may wait
// for room in a full queue.
const EndTimeout = 2 * time.Second

// Sink receives events in order from one goroutine.
type Sink interface {
	Write(Event) error
	// Sync makes written events durable, or starts sending them (called
	// after a session ends); it does not wait for a remote store.
	Sync() error
	// Close flushes what the sink holds and releases it; ctx bounds the
	// wait for a remote store (what it cannot take is kept on disk).
	Close(ctx context.Context) error
}

// Recorder queues events for its sinks, so recording never blocks the data
// path; sinks are synced (a file fsynced) when a session ends. The zero
// value is not usable; use NewRecorder. A nil *Recorder records nothing.
type Recorder struct {
	sinks   []Sink
	log     *slog.Logger
	queue   chan Event
	done    chan struct{}
	dropped atomic.Int64
	closeMu sync.RWMutex
	closed  bool
}

// NewRecorder starts a recorder writing to sinks; log receives sink errors.
func NewRecorder(log *slog.Logger, sinks ...Sink) *Recorder {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Recorder{sinks: sinks, log: log, queue: make(chan Event, QueueSize), done: make(chan struct{})}
	go r.run()
	return r
}

func (r *Recorder) run() {
	defer close(r.done)
	failed := map[int]bool{}
	for ev := range r.queue {
		for i, s := range r.sinks {
			if err := s.Write(ev); err != nil {
				if !failed[i] {
					r.log.Error("session record not written", "err", err)
					failed[i] = true
				}
				continue
			}
			failed[i] = false
			if ev.Type == TypeEnd {
				if err := s.Sync(); err != nil {
					r.log.Error("session record not synced", "err", err)
				}
			}
		}
	}
}

// Start records that a session began.
func (r *Recorder) Start(rec Record) {
	r.put(Event{Type: TypeStart, Time: rec.Start, Record: rec}, true)
}

// End records that a session ended.
func (r *Recorder) End(rec Record) { r.put(Event{Type: TypeEnd, Time: rec.End, Record: rec}, true) }

// Statement records a statement of a session; it is dropped (and counted)
// when the queue is full rather than slowing the relay.
func (r *Recorder) Statement(rec Record, stmt string) {
	if r == nil {
		return
	}
	ev := Event{Type: TypeStatement, Time: time.Now().UTC(), Record: Record{ID: rec.ID, Target: rec.Target, DBUser: rec.DBUser, Database: rec.Database, Principal: rec.Principal}}
	stmt, ev.Redacted = Redact(stmt) // before the cut, which could split a literal
	if len(stmt) > MaxStatementBytes {
		cut := MaxStatementBytes
		for cut > 0 && !utf8.RuneStart(stmt[cut]) {
			cut--
		}
		stmt, ev.Truncated = stmt[:cut], true
	}
	ev.Statement = stmt
	r.put(ev, false)
}

// Dropped returns how many statement events were dropped.
func (r *Recorder) Dropped() int64 {
	if r == nil {
		return 0
	}
	return r.dropped.Load()
}

func (r *Recorder) put(ev Event, wait bool) {
	if r == nil {
		return
	}
	r.closeMu.RLock()
	defer r.closeMu.RUnlock()
	if r.closed {
		return
	}
	select {
	case r.queue <- ev:
		return
	default:
	}
	if !wait {
		if r.dropped.Add(1) == 1 {
			r.log.Warn("session log queue full: dropping statement records")
		}
		return
	}
	t := time.NewTimer(EndTimeout)
	defer t.Stop()
	select {
	case r.queue <- ev:
	case <-t.C:
		r.dropped.Add(1)
		r.log.Error("session record dropped: sinks too slow", "session_id", ev.ID, "type", ev.Type)
	}
}

// Close flushes queued events, syncs and closes the sinks.
func (r *Recorder) Close(ctx context.Context) error {
	if r == nil {
		return nil
	}
	r.closeMu.Lock()
	if r.closed {
		r.closeMu.Unlock()
		return nil
	}
	r.closed = true
	close(r.queue)
	r.closeMu.Unlock()
	select {
	case <-r.done:
	case <-ctx.Done():
		return fmt.Errorf("session: flush records: %w", ctx.Err())
	}
	var errs []error
	for _, s := range r.sinks {
		errs = append(errs, s.Sync(), s.Close(ctx))
	}
	return errors.Join(errs...)
}

// FileSink appends JSON lines to a file, created 0600.
type FileSink struct {
	f   *os.File
	enc *json.Encoder
}

// OpenFile opens (creating, appending) a JSON lines session log.
func OpenFile(path string) (*FileSink, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("session: open log: %w", err)
	}
	return &FileSink{f: f, enc: json.NewEncoder(f)}, nil
}

// Write appends ev as one line.
func (s *FileSink) Write(ev Event) error { return s.enc.Encode(ev) }

// Sync fsyncs the file.
func (s *FileSink) Sync() error { return s.f.Sync() }

// Close closes the file.
func (s *FileSink) Close(context.Context) error { return s.f.Close() }

// WriterSink writes JSON lines to a stream such as stderr; it does not
// close it.
type WriterSink struct{ enc *json.Encoder }

// NewWriterSink returns a sink writing to w.
func NewWriterSink(w io.Writer) *WriterSink { return &WriterSink{enc: json.NewEncoder(w)} }

// Write writes ev as one line.
func (s *WriterSink) Write(ev Event) error { return s.enc.Encode(ev) }

// Sync does nothing: streams are not synced.
func (s *WriterSink) Sync() error { return nil }

// Close does nothing: the stream belongs to the caller.
func (s *WriterSink) Close(context.Context) error { return nil }
