package mysqlwire

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// ReadLenEncInt decodes a length-encoded integer at the start of b and
// returns it and the number of bytes it took. ok is false when b is empty,
// truncated, or starts with 0xFB (SQL NULL in result rows) or 0xFF (not an
// integer).
func ReadLenEncInt(b []byte) (v uint64, n int, ok bool) {
	if len(b) == 0 {
		return 0, 0, false
	}
	switch c := b[0]; {
	case c < 0xFB:
		return uint64(c), 1, true
	case c == 0xFC:
		if len(b) < 3 {
			return 0, 0, false
		}
		return uint64(binary.LittleEndian.Uint16(b[1:])), 3, true
	case c == 0xFD:
		if len(b) < 4 {
			return 0, 0, false
		}
		return uint64(b[1]) | uint64(b[2])<<8 | uint64(b[3])<<16, 4, true
	case c == 0xFE:
		if len(b) < 9 {
			return 0, 0, false
		}
		return binary.LittleEndian.Uint64(b[1:]), 9, true
	}
	return 0, 0, false
}

// AppendLenEncInt appends v as a length-encoded integer.
func AppendLenEncInt(b []byte, v uint64) []byte {
	switch {
	case v < 0xFB:
		return append(b, byte(v))
	case v <= 0xFFFF:
		return append(b, 0xFC, byte(v), byte(v>>8))
	case v <= 0xFFFFFF:
		return append(b, 0xFD, byte(v), byte(v>>8), byte(v>>16))
	}
	return binary.LittleEndian.AppendUint64(append(b, 0xFE), v)
}

// ReadLenEncString decodes a length-encoded string at the start of b and
// returns it (a sub-slice of b, not a copy) and the bytes it took.
func ReadLenEncString(b []byte) (s []byte, n int, ok bool) {
	v, n, ok := ReadLenEncInt(b)
	if !ok || v > uint64(len(b)-n) {
		return nil, 0, false
	}
	return b[n : n+int(v)], n + int(v), true
}

// AppendLenEncString appends s as a length-encoded string.
func AppendLenEncString(b []byte, s []byte) []byte {
	return append(AppendLenEncInt(b, uint64(len(s))), s...)
}

// decoder walks a payload. Its first error sticks; later reads return zero
// values, so decoders check err once at the end.
type decoder struct {
	b    []byte
	pos  int
	what string // packet name, for errors
	err  error
}

func (d *decoder) fail(field string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s: truncated or invalid %s at byte %d", ErrMalformed, d.what, field, d.pos)
	}
}

func (d *decoder) rest() []byte {
	if d.err != nil {
		return nil
	}
	return d.b[d.pos:]
}

func (d *decoder) empty() bool { return d.err != nil || d.pos >= len(d.b) }

func (d *decoder) bytes(n int, field string) []byte {
	if d.err != nil || n < 0 || n > len(d.b)-d.pos {
		d.fail(field)
		return nil
	}
	v := d.b[d.pos : d.pos+n]
	d.pos += n
	return v
}

func (d *decoder) u8(field string) byte {
	v := d.bytes(1, field)
	if v == nil {
		return 0
	}
	return v[0]
}

func (d *decoder) u16(field string) uint16 {
	v := d.bytes(2, field)
	if v == nil {
		return 0
	}
	return binary.LittleEndian.Uint16(v)
}

func (d *decoder) u32(field string) uint32 {
	v := d.bytes(4, field)
	if v == nil {
		return 0
	}
	return binary.LittleEndian.Uint32(v)
}

// nulString reads a NUL-terminated string; when eofOK, the end of the
// payload also terminates it (some servers omit the last NUL).
func (d *decoder) nulString(field string, eofOK bool) string {
	if d.err != nil {
		return ""
	}
	rest := d.b[d.pos:]
	i := bytes.IndexByte(rest, 0)
	if i < 0 {
		if !eofOK {
			d.fail(field)
			return ""
		}
		d.pos = len(d.b)
		return string(rest)
	}
	d.pos += i + 1
	return string(rest[:i])
}

func (d *decoder) lenEncInt(field string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n, ok := ReadLenEncInt(d.b[d.pos:])
	if !ok {
		d.fail(field)
		return 0
	}
	d.pos += n
	return v
}

func (d *decoder) lenEncBytes(field string) []byte {
	if d.err != nil {
		return nil
	}
	v, n, ok := ReadLenEncString(d.b[d.pos:])
	if !ok {
		d.fail(field)
		return nil
	}
	d.pos += n
	return v
}

// clone copies b (nil stays nil, empty stays empty) so that decoded values
// never alias the caller's buffer.
func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte{}, b...)
}
