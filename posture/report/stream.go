package report

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
)

// writeSpliced writes head as indented JSON (as json.Encoder with
// SetIndent("", "  ") does) with the empty array at key, found at indent,
// filled by the values each emits, marshalled one at a time: a report of
// thousands of databases is never held in memory as one JSON text.
func writeSpliced(w io.Writer, head any, indent, key string, each func(emit func(v any) error) error) error {
	doc, err := json.MarshalIndent(head, "", "  ")
	if err != nil {
		return err
	}
	doc = append(doc, '\n')
	marker := []byte("\n" + indent + `"` + key + `": []`)
	at := bytes.Index(doc, marker)
	if at < 0 {
		return fmt.Errorf("no empty %q array to fill", key)
	}
	at += len(marker) - 1 // at the ']'
	bw := bufio.NewWriterSize(w, 64<<10)
	n := 0
	emit := func(v any) error {
		b, err := json.MarshalIndent(v, indent+"  ", "  ")
		if err != nil {
			return err
		}
		if n == 0 {
			bw.Write(doc[:at])
		} else {
			bw.WriteString(",")
		}
		n++
		bw.WriteString("\n" + indent + "  ")
		_, err = bw.Write(b)
		return err
	}
	if err := each(emit); err != nil {
		return err
	}
	if n == 0 {
		bw.Write(doc)
	} else {
		bw.WriteString("\n" + indent)
		bw.Write(doc[at:])
	}
	return bw.Flush()
}
