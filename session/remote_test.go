package session

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// fakeShipper stores what it is given, failing while down.
type fakeShipper struct {
	mu      sync.Mutex
	down    bool
	calls   int
	got     []Line
	maxSeen int
	order   bool // every batch was in time order
}

func (f *fakeShipper) Ship(ctx context.Context, lines []Line) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.down {
		return 0, errors.New("store unavailable")
	}
	for i := 1; i < len(lines); i++ {
		if lines[i].Time.Before(lines[i-1].Time) {
			f.order = false
		}
	}
	f.maxSeen = max(f.maxSeen, len(lines))
	f.got = append(f.got, lines...)
	return len(lines), nil
}

func (f *fakeShipper) String() string { return "fake:store" }

func (f *fakeShipper) set(down bool) {
	f.mu.Lock()
	f.down = down
	f.mu.Unlock()
}

func (f *fakeShipper) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.got)
}

func testRemote(dir string) RemoteOptions {
	return RemoteOptions{SpoolDir: dir, FlushDelay: 20 * time.Millisecond, SpoolAfter: 100 * time.Millisecond,
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, MaxBatch: 100}
}

func writeEvents(t *testing.T, s Sink, n int, base time.Time) {
	t.Helper()
	for i := range n {
		// Times go back and forth: batches must still be in order.
		ts := base.Add(time.Duration((i*7919)%n) * time.Millisecond)
		if err := s.Write(Event{Type: TypeStatement, Time: ts, Record: Record{ID: fmt.Sprint(i)}}); err != nil {
			t.Fatal(err)
		}
	}
}

func waitCount(t *testing.T, f *fakeShipper, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for f.count() < n && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if got := f.count(); got != n {
		t.Fatalf("store has %d records, want %d", got, n)
	}
}

func TestRemoteSinkBatchesInOrder(t *testing.T) {
	f := &fakeShipper{order: true}
	s, err := NewRemoteSink(f, testRemote(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	writeEvents(t, s, 1000, time.Now())
	waitCount(t, f, 1000)
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if f.maxSeen > 100 || !f.order {
		t.Errorf("largest batch %d (max 100), in time order: %v", f.maxSeen, f.order)
	}
}

func TestRemoteSinkOutage(t *testing.T) {
	for _, tc := range []struct {
		desc      string
		recoverIn bool // the store comes back while the sink runs
	}{
		{"recovers while running", true},
		{"down until close, sent by the next sink", false},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			dir := t.TempDir()
			f := &fakeShipper{down: true, order: true}
			s, err := NewRemoteSink(f, testRemote(dir))
			if err != nil {
				t.Fatal(err)
			}
			writeEvents(t, s, 300, time.Now())
			time.Sleep(300 * time.Millisecond) // past SpoolAfter
			if n := spooled(t, dir); n != 300 {
				t.Errorf("%d records spooled, want 300", n)
			}
			writeEvents(t, s, 50, time.Now())
			if tc.recoverIn {
				f.set(false)
				waitCount(t, f, 350)
				if err := s.Close(context.Background()); err != nil {
					t.Fatal(err)
				}
			} else {
				ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
				defer cancel()
				if err := s.Close(ctx); err != nil {
					t.Fatal(err)
				}
				if n := spooled(t, dir); n != 350 {
					t.Fatalf("%d records spooled at close, want 350", n)
				}
				f.set(false)
				s, err = NewRemoteSink(f, testRemote(dir))
				if err != nil {
					t.Fatal(err)
				}
				waitCount(t, f, 350)
				if err := s.Close(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			if n := spooled(t, dir); n != 0 {
				t.Errorf("%d records left in the spool", n)
			}
			seen := map[string]bool{}
			for _, l := range f.got {
				seen[string(l.Data)] = true
			}
			if len(seen) != 350 {
				t.Errorf("%d distinct records, want 350", len(seen))
			}
		})
	}
}

// spooled counts the lines of the spool files under dir.
func spooled(t *testing.T, dir string) int {
	t.Helper()
	names, _ := filepath.Glob(filepath.Join(dir, "*", "*.jsonl"))
	n := 0
	for _, name := range names {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range b {
			if c == '\n' {
				n++
			}
		}
	}
	return n
}

// TestSpoolLockedFilesLeftAlone checks that a sink does not take over the
// spool file of another live sink (the lock), only one left behind.
func TestSpoolLockedFilesLeftAlone(t *testing.T) {
	dir := t.TempDir()
	a, err := newSpool(dir, "fake:store")
	if err != nil {
		t.Fatal(err)
	}
	if err := a.add([]Line{{Time: time.Now(), Data: []byte(`{"time":"2026-01-01T00:00:00Z"}`)}}); err != nil {
		t.Fatal(err)
	}
	b, _ := newSpool(dir, "fake:store")
	if err := b.claim(); err != nil {
		t.Fatal(err)
	}
	if b.pending() {
		t.Error("a live spool's file was taken over")
	}
	a.own.f.Close() // as if the process had ended
	a.own, a.files = nil, nil
	if err := b.claim(); err != nil {
		t.Fatal(err)
	}
	lines, done, err := b.next(10, 1<<20)
	if err != nil || len(lines) != 1 {
		t.Fatalf("left-behind file: %d lines, %v", len(lines), err)
	}
	done()
	if err := b.close(); err != nil {
		t.Fatal(err)
	}
	if spooled(t, dir) != 0 {
		t.Error("a sent file was kept")
	}
}

func TestSpoolSkipsCorruptLines(t *testing.T) {
	dir := t.TempDir()
	s, _ := newSpool(dir, "x")
	path := filepath.Join(s.dir, "1-left.jsonl")
	text := `{"time":"2026-01-01T00:00:00Z","n":1}` + "\nnot json\n" + `{"time":"2026-01-01T00:00:01Z","n":2}` + "\n" + `{"time":"2026-01-01T00:00:02Z","n":3`
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.claim(); err != nil {
		t.Fatal(err)
	}
	var got []string
	for s.pending() {
		lines, done, err := s.next(1, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range lines {
			got = append(got, string(l.Data))
		}
		done()
	}
	if len(got) != 2 || s.skipped != 1 {
		t.Errorf("got %q, %d skipped; want the 2 whole records, 1 skipped (the torn tail is dropped)", got, s.skipped)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("a finished file was kept: %v", err)
	}
}

func FuzzParseSpoolLine(f *testing.F) {
	for _, s := range []string{`{"time":"2026-01-01T00:00:00Z"}`, `{}`, `{"time":1}`, `[]`, ``, `{"time":"x"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := parseSpoolLine(b)
		if err == nil && (len(l.Data) == 0 || l.Data[0] != '{') {
			t.Errorf("accepted %q as %q", b, l.Data)
		}
	})
}
