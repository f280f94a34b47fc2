package session

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// MaxSpoolLine bounds one line of a spool file; a longer one (never
// written by a Recorder) is skipped as corrupt.
const MaxSpoolLine = 1 << 20

// DefaultSpoolDir is where records a remote destination could not take yet
// wait: under the user's cache directory.
func DefaultSpoolDir() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "rdsgate-"+strconv.Itoa(os.Getuid()), "session-spool")
	}
	return filepath.Join(dir, "rdsgate", "session-spool")
}

// Line is one record as sent to a remote store: its time and its JSON text
// (one object, no newline).
type Line struct {
	Time time.Time
	Data []byte
}

// parseSpoolLine reads a spool line: a JSON object with the record's
// "time". The data is kept as written.
func parseSpoolLine(b []byte) (Line, error) {
	b = bytes.TrimSpace(b)
	var t struct {
		Time time.Time `json:"time"`
	}
	if len(b) == 0 || b[0] != '{' {
		return Line{}, errors.New("not a JSON object")
	}
	if err := json.Unmarshal(b, &t); err != nil {
		return Line{}, err
	}
	return Line{Time: t.Time, Data: bytes.Clone(b)}, nil
}

// spool keeps, in files under one directory per destination, the records
// a remote store could not take, until they are sent. This process appends
// to a file of its own, locked while it is open; files another process
// left (unlocked: it ended) are taken over and sent too. Delivery from a
// spool is at least once: a crash between sending and recording the
// progress sends some records twice.
type spool struct {
	dir   string
	own   *spoolFile
	files []*spoolFile // to send, oldest first; own is among them when it has data
	// skipped counts corrupt lines dropped.
	skipped int
}

// spoolFile is one file being appended to or sent from.
type spoolFile struct {
	path string
	f    *os.File
	off  int64 // bytes already sent
	own  bool
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// newSpool returns the spool of destination name under root, creating its
// directory (0700).
func newSpool(root, name string) (*spool, error) {
	sum := sha256.Sum256([]byte(name))
	base := strings.Trim(unsafeName.ReplaceAllString(name, "_"), "_")
	if len(base) > 60 {
		base = base[:60]
	}
	dir := filepath.Join(root, base+"-"+hex.EncodeToString(sum[:4]))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("session: spool directory: %w", err)
	}
	return &spool{dir: dir}, nil
}

// claim takes over the spool files no live process holds.
func (s *spool) claim() error {
	names, err := filepath.Glob(filepath.Join(s.dir, "*.jsonl"))
	if err != nil {
		return fmt.Errorf("session: spool: %w", err)
	}
	var errs []error
	for _, path := range names {
		if s.holds(path) {
			continue
		}
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			errs = append(errs, fmt.Errorf("session: spool: %w", err))
			continue
		}
		if !tryLock(f) {
			f.Close()
			continue
		}
		s.files = append(s.files, &spoolFile{path: path, f: f})
	}
	return errors.Join(errs...)
}

func (s *spool) holds(path string) bool {
	for _, sf := range s.files {
		if sf.path == path {
			return true
		}
	}
	return s.own != nil && s.own.path == path
}

// pending reports whether the spool holds records to send.
func (s *spool) pending() bool { return len(s.files) > 0 }

// add appends lines to this process's file and syncs it.
func (s *spool) add(lines []Line) error {
	if len(lines) == 0 {
		return nil
	}
	if s.own == nil {
		path := filepath.Join(s.dir, fmt.Sprintf("%d-%s.jsonl", os.Getpid(), NewID()))
		f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDWR|os.O_APPEND, 0o600)
		if err != nil {
			return fmt.Errorf("session: spool: %w", err)
		}
		tryLock(f) // a new file nobody else knows yet
		s.own = &spoolFile{path: path, f: f, own: true}
	}
	var buf bytes.Buffer
	for _, l := range lines {
		buf.Write(l.Data)
		buf.WriteByte('\n')
	}
	if _, err := s.own.f.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("session: spool: %w", err)
	}
	if err := s.own.f.Sync(); err != nil {
		return fmt.Errorf("session: spool: %w", err)
	}
	if !s.holdsFile(s.own) {
		s.files = append(s.files, s.own)
	}
	return nil
}

func (s *spool) holdsFile(sf *spoolFile) bool {
	for _, f := range s.files {
		if f == sf {
			return true
		}
	}
	return false
}

// next reads up to maxLines lines (maxBytes of data) from the oldest file
// with records left; done records them as sent. It returns no lines when
// the spool is empty.
func (s *spool) next(maxLines, maxBytes int) (lines []Line, done func() error, err error) {
	for len(s.files) > 0 {
		sf := s.files[0]
		lines, n, err := s.read(sf, maxLines, maxBytes)
		if err != nil {
			return nil, nil, err
		}
		if n == 0 {
			if err := s.finish(sf); err != nil {
				return nil, nil, err
			}
			continue
		}
		return lines, func() error {
			sf.off += n
			return nil
		}, nil
	}
	return nil, func() error { return nil }, nil
}

// read reads lines of sf from its offset; n is the bytes they take
// (corrupt lines included, which are skipped).
func (s *spool) read(sf *spoolFile, maxLines, maxBytes int) (lines []Line, n int64, err error) {
	if _, err := sf.f.Seek(sf.off, io.SeekStart); err != nil {
		return nil, 0, fmt.Errorf("session: spool: %w", err)
	}
	r := bufio.NewReaderSize(sf.f, 64<<10)
	size := 0
	for len(lines) < maxLines {
		raw, err := readLine(r)
		if len(raw) > 0 && raw[len(raw)-1] != '\n' {
			// A line still being written, or cut by a crash: it is
			// sent when complete, or dropped when the file is finished.
			break
		}
		if len(raw) > 0 {
			l, perr := parseSpoolLine(raw)
			if perr != nil || len(raw) > MaxSpoolLine {
				s.skipped++
				n += int64(len(raw))
				continue
			}
			if size+len(l.Data) > maxBytes && len(lines) > 0 {
				break
			}
			size += len(l.Data)
			n += int64(len(raw))
			lines = append(lines, l)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, 0, fmt.Errorf("session: spool: %w", err)
		}
	}
	return lines, n, nil
}

// readLine reads one line, newline included, reading past MaxSpoolLine
// without keeping it (the caller skips such a line by its length).
func readLine(r *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		chunk, err := r.ReadSlice('\n')
		if len(line) <= MaxSpoolLine {
			line = append(line, chunk...)
		} else {
			line = append(line[:MaxSpoolLine+1], chunk[len(chunk)-1])
		}
		if err != bufio.ErrBufferFull {
			return line, err
		}
	}
}

// finish is called when every record of sf is sent: another process's
// file is removed; this process's is emptied for reuse.
func (s *spool) finish(sf *spoolFile) error {
	s.files = s.files[1:]
	if sf.own {
		sf.off = 0
		if err := sf.f.Truncate(0); err != nil {
			return fmt.Errorf("session: spool: %w", err)
		}
		return nil
	}
	sf.f.Close()
	if err := os.Remove(sf.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("session: spool: %w", err)
	}
	return nil
}

// close releases the files: a file with nothing left is removed, one
// partly sent is rewritten with what is left, the rest stay for the next
// start.
func (s *spool) close() error {
	files := s.files
	if s.own != nil && !s.holdsFile(s.own) {
		files = append(files, s.own)
	}
	var errs []error
	for _, sf := range files {
		errs = append(errs, s.release(sf))
	}
	s.files, s.own = nil, nil
	return errors.Join(errs...)
}

func (s *spool) release(sf *spoolFile) error {
	defer sf.f.Close()
	st, err := sf.f.Stat()
	if err != nil {
		return fmt.Errorf("session: spool: %w", err)
	}
	if sf.off >= st.Size() {
		return removeIfExists(sf.path)
	}
	if sf.off == 0 {
		return nil
	}
	// Keep only what is left, in a new file, then drop the old one.
	tmp, err := os.CreateTemp(s.dir, "compact-*.tmp")
	if err != nil {
		return fmt.Errorf("session: spool: %w", err)
	}
	if _, err = sf.f.Seek(sf.off, io.SeekStart); err == nil {
		_, err = io.Copy(tmp, sf.f)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), filepath.Join(s.dir, fmt.Sprintf("%d-%s.jsonl", os.Getpid(), NewID())))
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("session: spool: %w", err)
	}
	return removeIfExists(sf.path)
}

func removeIfExists(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("session: spool: %w", err)
	}
	return nil
}
