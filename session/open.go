package session

import (
	"io"
	"log/slog"
)

// Open returns a recorder that logs sessions to log and also writes them
// as JSON lines to dest: nowhere else when dest is "", stderr when it is
// "-", else the file dest (appended to, created private).
func Open(dest string, log *slog.Logger, stderr io.Writer) (*Recorder, error) {
	switch dest {
	case "":
		return NewRecorder(log), nil
	case "-":
		return NewRecorder(log, NewWriterSink(stderr)), nil
	}
	fs, err := OpenFile(dest)
	if err != nil {
		return nil, err
	}
	return NewRecorder(log, fs), nil
}
