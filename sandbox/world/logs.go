package world

import "time"

// LogGroup is a CloudWatch Logs group.
type LogGroup struct {
	Name    string
	ARN     string
	Created time.Time
	Streams []LogStream
}

// LogStream is a stream of a log group; its events are in the order they
// were put (each batch in time order).
type LogStream struct {
	Name    string
	Created time.Time
	Events  []LogEvent
}

// LogEvent is one event of a stream.
type LogEvent struct {
	Timestamp time.Time // the event's own time, as the client gave it
	Ingested  time.Time
	Message   string
}

// LogGroup finds a log group by name.
func (w *World) LogGroup(name string) (*LogGroup, bool) {
	for i := range w.LogGroups {
		if w.LogGroups[i].Name == name {
			return &w.LogGroups[i], true
		}
	}
	return nil, false
}

// Stream finds a stream of g by name.
func (g *LogGroup) Stream(name string) (*LogStream, bool) {
	for i := range g.Streams {
		if g.Streams[i].Name == name {
			return &g.Streams[i], true
		}
	}
	return nil, false
}
