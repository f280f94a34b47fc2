package session

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestFileSinkOneLinePerEvent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sessions.jsonl")
	fs, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	r := NewRecorder(nil, fs)
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			rec := Record{ID: NewID(), Start: time.Now().UTC(), Target: "demo-pg", Engine: "postgres", DBUser: "app_user", Client: "127.0.0.1:1"}
			r.Start(rec)
			r.Statement(rec, "select 1")
			rec.End, rec.BytesIn, rec.BytesOut, rec.EndReason = time.Now().UTC(), 10, 20, "client closed"
			r.End(rec)
		}(i)
	}
	wg.Wait()
	if err := r.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(path)
	if st.Mode().Perm() != 0o600 {
		t.Errorf("log mode %v, want 0600", st.Mode().Perm())
	}
	f, _ := os.Open(path)
	defer f.Close()
	counts := map[string]int{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var ev Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("not one JSON object per line: %v: %s", err, sc.Text())
		}
		counts[ev.Type]++
		if ev.Type == TypeEnd && (ev.BytesIn != 10 || ev.EndReason == "" || ev.End.IsZero()) {
			t.Errorf("end record incomplete: %s", sc.Text())
		}
	}
	for _, typ := range []string{TypeStart, TypeEnd, TypeStatement} {
		if counts[typ] != 50 {
			t.Errorf("%d %s events, want 50", counts[typ], typ)
		}
	}
}

type slowSink struct {
	mu    sync.Mutex
	n     int
	block chan struct{}
}

func (s *slowSink) Write(Event) error {
	<-s.block
	s.mu.Lock()
	s.n++
	s.mu.Unlock()
	return nil
}
func (s *slowSink) Sync() error                 { return nil }
func (s *slowSink) Close(context.Context) error { return nil }

func TestStatementsNeverBlock(t *testing.T) {
	s := &slowSink{block: make(chan struct{})}
	r := NewRecorder(nil, s)
	rec := Record{ID: "x"}
	start := time.Now()
	for i := 0; i < QueueSize*2; i++ {
		r.Statement(rec, "select 1")
	}
	if time.Since(start) > 5*time.Second {
		t.Fatalf("statement recording blocked the caller")
	}
	if r.Dropped() == 0 {
		t.Error("a full queue must drop statements, and count them")
	}
	close(s.block)
	if err := r.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestStatementTruncatedOnRuneBoundary(t *testing.T) {
	var buf bytes.Buffer
	r := NewRecorder(nil, NewWriterSink(&buf))
	long := strings.Repeat("é", MaxStatementBytes) // 2 bytes each
	r.Statement(Record{ID: "x"}, long)
	r.Close(context.Background())
	var ev Event
	if err := json.Unmarshal(buf.Bytes(), &ev); err != nil {
		t.Fatal(err)
	}
	if !ev.Truncated || len(ev.Statement) > MaxStatementBytes || !strings.HasPrefix(long, ev.Statement) {
		t.Errorf("truncated=%v len=%d", ev.Truncated, len(ev.Statement))
	}
}

func TestNilRecorder(t *testing.T) {
	var r *Recorder
	r.Start(Record{})
	r.Statement(Record{}, "x")
	r.End(Record{})
	if err := r.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}
