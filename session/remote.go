package session

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"time"
)

// Shipper sends records to a remote store, such as CloudWatch Logs
// (package session/cwlogs). A RemoteSink calls it from one goroutine.
type Shipper interface {
	// Ship stores lines, which are in time order, and returns how many of
	// the first ones the store has taken (all of them when err is nil). A
	// line the store refuses for good (too old, say) counts as taken: Ship
	// logs it, since retrying cannot help.
	Ship(ctx context.Context, lines []Line) (int, error)
	// String names the destination in logs, and its spool directory.
	String() string
}

// Defaults of RemoteOptions.
const (
	DefaultFlushDelay    = 2 * time.Second
	DefaultMaxBatch      = 10000
	DefaultMaxBatchBytes = 512 << 10
	DefaultSpoolAfter    = 10 * time.Second
	DefaultMaxPending    = 10000
	DefaultMinBackoff    = 250 * time.Millisecond
	DefaultMaxBackoff    = 30 * time.Second
	DefaultShipTimeout   = 30 * time.Second
)

// RemoteOptions tune a RemoteSink; a zero field takes its default.
type RemoteOptions struct {
	// Log receives outages and recoveries (never a record's content).
	Log *slog.Logger
	// SpoolDir holds records the store could not take yet (default
	// DefaultSpoolDir()); each destination has a directory of its own in
	// it, private to the user.
	SpoolDir string
	// FlushDelay is how long a record may wait to be sent with others
	// (default DefaultFlushDelay); the end of a session is sent at once.
	FlushDelay time.Duration
	// MaxBatch and MaxBatchBytes bound what one Ship call gets (defaults
	// DefaultMaxBatch events, DefaultMaxBatchBytes of record text).
	MaxBatch, MaxBatchBytes int
	// SpoolAfter is how long the store may fail before the records waiting
	// in memory go to the spool (default DefaultSpoolAfter); MaxPending
	// records in memory go there at once when the store fails (default
	// DefaultMaxPending).
	SpoolAfter time.Duration
	MaxPending int
	// MinBackoff and MaxBackoff bound the wait between attempts while the
	// store fails (defaults DefaultMinBackoff, DefaultMaxBackoff; doubled
	// each time, with jitter).
	MinBackoff, MaxBackoff time.Duration
	// ShipTimeout bounds one Ship call (default DefaultShipTimeout).
	ShipTimeout time.Duration
}

// RemoteSink batches records for a Shipper off the recorder's path: a
// record waits at most FlushDelay, failures are retried with backoff, and
// records the store does not take within SpoolAfter are written to a spool
// file and sent when it takes them again — or by the next RemoteSink for
// the same destination and spool directory, after a restart. Close sends
// what is left, or spools it.
type RemoteSink struct {
	sh    Shipper
	opts  RemoteOptions
	spool *spool // owned by run

	shipCtx    context.Context
	cancelShip context.CancelFunc
	wake       chan struct{}
	done       chan struct{}
	closeErr   error // set by run before done closes

	mu        sync.Mutex
	pending   []Line
	pendingAt time.Time // when pending became non-empty
	urgent    bool
	closing   bool
}

// NewRemoteSink starts a sink shipping to sh. It fails only when the spool
// directory cannot be made.
func NewRemoteSink(sh Shipper, opts RemoteOptions) (*RemoteSink, error) {
	opts.Log = cmp.Or(opts.Log, slog.New(slog.DiscardHandler))
	opts.SpoolDir = cmp.Or(opts.SpoolDir, DefaultSpoolDir())
	opts.FlushDelay = cmp.Or(opts.FlushDelay, DefaultFlushDelay)
	opts.MaxBatch = cmp.Or(opts.MaxBatch, DefaultMaxBatch)
	opts.MaxBatchBytes = cmp.Or(opts.MaxBatchBytes, DefaultMaxBatchBytes)
	opts.SpoolAfter = cmp.Or(opts.SpoolAfter, DefaultSpoolAfter)
	opts.MaxPending = cmp.Or(opts.MaxPending, DefaultMaxPending)
	opts.MinBackoff = cmp.Or(opts.MinBackoff, DefaultMinBackoff)
	opts.MaxBackoff = cmp.Or(opts.MaxBackoff, DefaultMaxBackoff)
	opts.ShipTimeout = cmp.Or(opts.ShipTimeout, DefaultShipTimeout)
	opts.Log = opts.Log.With("session_log", sh.String())
	sp, err := newSpool(opts.SpoolDir, sh.String())
	if err != nil {
		return nil, err
	}
	s := &RemoteSink{sh: sh, opts: opts, spool: sp, wake: make(chan struct{}, 1), done: make(chan struct{})}
	s.shipCtx, s.cancelShip = context.WithCancel(context.Background())
	go s.run()
	return s, nil
}

// Write queues ev; it never waits for the store.
func (s *RemoteSink) Write(ev Event) error {
	data, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("session: encode record: %w", err)
	}
	s.mu.Lock()
	first := len(s.pending) == 0
	if first {
		s.pendingAt = time.Now()
	}
	s.pending = append(s.pending, Line{Time: ev.Time, Data: data})
	full := len(s.pending) >= s.opts.MaxBatch
	s.mu.Unlock()
	if first || full {
		s.poke() // start the flush delay, or send a full batch now
	}
	return nil
}

// Sync asks for what is queued to be sent now; it does not wait.
func (s *RemoteSink) Sync() error {
	s.mu.Lock()
	s.urgent = true
	s.mu.Unlock()
	s.poke()
	return nil
}

// Close sends what is queued and spooled, until ctx is done or the store
// fails; what is left is spooled for the next start. The error reports a
// spool that could not be written (records then lost).
func (s *RemoteSink) Close(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	s.poke()
	stop := context.AfterFunc(ctx, s.cancelShip)
	defer stop()
	<-s.done
	return s.closeErr
}

func (s *RemoteSink) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *RemoteSink) run() {
	defer close(s.done)
	defer s.cancelShip()
	log := s.opts.Log
	if err := s.spool.claim(); err != nil {
		log.Warn("session records: spool files left by an earlier run not readable", "err", err)
	}
	if s.spool.pending() {
		log.Info("session records: sending records spooled by an earlier run", "spool", s.spool.dir)
	}
	var failingSince, retryAt time.Time
	var backoff time.Duration
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		s.mu.Lock()
		closing, urgent, n, since := s.closing, s.urgent, len(s.pending), s.pendingAt
		s.mu.Unlock()
		if closing {
			s.closeErr = s.drain()
			return
		}
		now := time.Now()
		var at time.Time
		switch {
		case !failingSince.IsZero():
			at = retryAt
		case urgent || n >= s.opts.MaxBatch || s.spool.pending():
			at = now
		case n > 0:
			at = since.Add(s.opts.FlushDelay)
		}
		if at.IsZero() || at.After(now) {
			if !at.IsZero() {
				timer.Reset(at.Sub(now))
			}
			select {
			case <-s.wake:
			case <-timer.C:
			}
			timer.Stop()
			continue
		}
		err := s.send()
		if err == nil {
			if !failingSince.IsZero() {
				log.Info("session records: destination back; records sent", "down_for", time.Since(failingSince).Round(time.Millisecond))
			}
			failingSince, backoff = time.Time{}, 0
			continue
		}
		if failingSince.IsZero() {
			failingSince, backoff = now, s.opts.MinBackoff
			log.Warn("session records not sent yet; kept and retried", "err", err)
		} else {
			backoff = min(2*backoff, s.opts.MaxBackoff)
		}
		retryAt = time.Now().Add(backoff/2 + rand.N(backoff/2+1))
		s.mu.Lock()
		n = len(s.pending)
		s.mu.Unlock()
		if n > 0 && (time.Since(failingSince) >= s.opts.SpoolAfter || n >= s.opts.MaxPending) {
			s.toSpool()
		}
	}
}

// send ships the spool, then what is queued, until nothing is left or a
// call fails.
func (s *RemoteSink) send() error {
	for s.spool.pending() {
		lines, done, err := s.spool.next(s.opts.MaxBatch, s.opts.MaxBatchBytes)
		if err != nil {
			return err
		}
		if len(lines) == 0 {
			break
		}
		slices.SortStableFunc(lines, func(a, b Line) int { return a.Time.Compare(b.Time) })
		if n, err := s.ship(lines); n < len(lines) {
			// Part of a spool chunk may be sent twice: spools deliver at
			// least once.
			return cmp.Or(err, errors.New("store took part of a batch"))
		}
		if err := done(); err != nil {
			return err
		}
	}
	for {
		batch := s.take()
		if len(batch) == 0 {
			return nil
		}
		n, err := s.ship(batch)
		s.mu.Lock()
		s.pending = s.pending[n:]
		if len(s.pending) == 0 {
			s.pending = nil
		}
		s.mu.Unlock()
		if err != nil {
			return err
		}
	}
}

// take returns the oldest queued records that fit a batch, leaving them
// queued (send drops them once shipped).
func (s *RemoteSink) take() []Line {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.urgent = false
	slices.SortStableFunc(s.pending, func(a, b Line) int { return a.Time.Compare(b.Time) })
	size, n := 0, 0
	for n < len(s.pending) && n < s.opts.MaxBatch {
		if size += len(s.pending[n].Data); size > s.opts.MaxBatchBytes && n > 0 {
			break
		}
		n++
	}
	return slices.Clone(s.pending[:n])
}

func (s *RemoteSink) ship(lines []Line) (int, error) {
	ctx, cancel := context.WithTimeout(s.shipCtx, s.opts.ShipTimeout)
	defer cancel()
	n, err := s.sh.Ship(ctx, lines)
	n = max(0, min(n, len(lines)))
	if err == nil && n < len(lines) {
		err = fmt.Errorf("session: %s took %d of %d records", s.sh, n, len(lines))
	}
	return n, err
}

// toSpool moves the queued records to the spool file; if it cannot be
// written they stay queued.
func (s *RemoteSink) toSpool() {
	s.mu.Lock()
	lines := s.pending
	s.pending = nil
	s.mu.Unlock()
	if err := s.spool.add(lines); err != nil {
		s.opts.Log.Error("session records not spooled; kept in memory", "err", err)
		s.mu.Lock()
		s.pending = append(lines, s.pending...)
		s.mu.Unlock()
		return
	}
	s.opts.Log.Warn("session records spooled until the destination takes them", "records", len(lines), "spool", s.spool.dir)
}

// drain is Close's last attempt: send everything, spool what is left.
func (s *RemoteSink) drain() error {
	var errs []error
	if err := s.send(); err != nil {
		s.opts.Log.Warn("session records not sent before closing; spooled for the next start", "err", err, "spool", s.spool.dir)
		s.mu.Lock()
		lines := s.pending
		s.pending = nil
		s.mu.Unlock()
		if err := s.spool.add(lines); err != nil {
			errs = append(errs, fmt.Errorf("session: %d records to %s lost: %w", len(lines), s.sh, err))
		}
	}
	if s.spool.skipped > 0 {
		s.opts.Log.Warn("session records: corrupt spool lines skipped", "lines", s.spool.skipped)
	}
	errs = append(errs, s.spool.close())
	return errors.Join(errs...)
}
