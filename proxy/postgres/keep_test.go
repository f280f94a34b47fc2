package postgres

import (
	"bytes"
	"testing"

	"github.com/rdsgate/rdsgate/pgwire"
)

func msg(typ byte, body string) []byte { return pgwire.AppendMessage(nil, typ, []byte(body)) }

func cat(ms ...[]byte) []byte { return bytes.Join(ms, nil) }

// feedClient feeds b to a clientFramer in pieces of size step (0: whole)
// and returns how many bytes it passed and whether it saw Terminate.
func feedClient(f *clientFramer, b []byte, step int) (int, bool) {
	if step <= 0 {
		step = len(b) + 1
	}
	passed := 0
	for i := 0; i < len(b); i += step {
		n, term := f.feed(b[i:min(i+step, len(b))])
		passed += n
		if term {
			return passed, true
		}
	}
	return passed, false
}

func feedServer(f *serverFramer, b []byte, step int) {
	if step <= 0 {
		step = len(b) + 1
	}
	for i := 0; i < len(b); i += step {
		f.feed(b[i:min(i+step, len(b))])
	}
}

func TestClientFramer(t *testing.T) {
	terminate := msg('X', "")
	query := msg('Q', "select 1\x00")
	parse, bind, exec, sync := msg('P', "\x00select 1\x00\x00\x00"), msg('B', "\x00\x00\x00\x00\x00\x00\x00\x00"), msg('E', "\x00\x00\x00\x00\x00"), msg('S', "")
	copyData, copyDone := msg('d', "1\tone\n"), msg('c', "")
	tests := []struct {
		name      string
		in        []byte
		passed    int // bytes passed on; -1: all
		term      bool
		syncs     int
		clean     bool
		wantWhole bool
	}{
		{"query then terminate", cat(query, terminate), len(query), true, 1, true, true},
		{"extended query with sync", cat(parse, bind, exec, sync, terminate), len(parse) + len(bind) + len(exec) + len(sync), true, 1, true, true},
		{"extended query without sync", cat(parse, bind, exec, terminate), len(parse) + len(bind) + len(exec), true, 0, false, true},
		{"copy from stdin", cat(query, copyData, copyData, copyDone, terminate), 2*len(copyData) + len(query) + len(copyDone), true, 1, true, true},
		{"no terminate", cat(query, query), -1, false, 2, true, true},
		{"half a message", cat(query, query[:3]), -1, false, 1, false, true},
		{"an X inside a body is data", cat(msg('Q', "X\x00"), terminate), 7, true, 1, true, true},
		{"length below 4", []byte{'Q', 0, 0, 0, 3}, -1, false, 0, false, true},
	}
	for _, tt := range tests {
		for _, step := range []int{0, 1, 2, 3, 5, 7} {
			var f clientFramer
			n, term := feedClient(&f, tt.in, step)
			want := tt.passed
			if want < 0 {
				want = len(tt.in)
			}
			if n != want || term != tt.term || f.syncs != tt.syncs || f.clean() != tt.clean {
				t.Errorf("%s (pieces of %d): passed %d, terminated %v, syncs %d, clean %v; want %d, %v, %d, %v",
					tt.name, step, n, term, f.syncs, f.clean(), want, tt.term, tt.syncs, tt.clean)
			}
		}
	}
}

func TestServerFramer(t *testing.T) {
	ready := func(status byte) []byte { return msg('Z', string(status)) }
	complete, row := msg('C', "SELECT 1\x00"), msg('D', "\x00\x01\x00\x00\x00\x011")
	tests := []struct {
		name    string
		in      []byte
		syncs   int
		idle    bool
		params  string
		readies int
	}{
		{"answered and idle", cat(row, complete, ready('I')), 1, true, "", 1},
		{"answered in a transaction", cat(complete, ready('T')), 1, false, "", 1},
		{"in a failed transaction", cat(msg('E', "SERROR\x00\x00"), ready('E')), 1, false, "", 1},
		{"one query not yet answered", cat(complete, ready('I')), 2, false, "", 1},
		{"a notification after ready", cat(complete, ready('I'), msg('A', "\x00\x00\x00\x01ch\x00\x00")), 1, false, "", 1},
		{"half a message after ready", cat(complete, ready('I'), row[:4]), 1, false, "", 1},
		{"parameter status kept", cat(msg('S', "DateStyle\x00German, DMY\x00"), complete, msg('S', "DateStyle\x00ISO, MDY\x00"), ready('I')), 1, true, "DateStyle=ISO, MDY;", 1},
		{"malformed parameter status", cat(msg('S', "DateStyle"), ready('I')), 1, false, "", 1},
		{"length below 4", []byte{'Z', 0, 0, 0, 2}, 0, false, "", 0},
	}
	for _, tt := range tests {
		for _, step := range []int{0, 1, 2, 3, 5, 7} {
			var ps []param
			f := serverFramer{params: &ps}
			feedServer(&f, tt.in, step)
			var got string
			for _, p := range ps {
				got += p.name + "=" + p.value + ";"
			}
			if f.idleAfter(tt.syncs) != tt.idle || got != tt.params || !f.broken && f.readies != tt.readies {
				t.Errorf("%s (pieces of %d): idle %v, params %q, readies %d; want %v, %q, %d",
					tt.name, step, f.idleAfter(tt.syncs), got, f.readies, tt.idle, tt.params, tt.readies)
			}
		}
	}
}

// FuzzFramers: any bytes, cut anywhere, leave both framers in the state
// that the bytes fed whole leave them in (and never panic).
func FuzzFramers(f *testing.F) {
	f.Add([]byte("Q\x00\x00\x00\x0dselect 1\x00X\x00\x00\x00\x04"), 3)
	f.Add([]byte("S\x00\x00\x00\x08a\x00b\x00Z\x00\x00\x00\x05I"), 1)
	f.Fuzz(func(t *testing.T, b []byte, step int) {
		if step <= 0 || step > len(b) {
			step = 1
		}
		var whole, cut clientFramer
		n1, t1 := feedClient(&whole, b, 0)
		n2, t2 := feedClient(&cut, b, step)
		if n1 != n2 || t1 != t2 || whole.syncs != cut.syncs || whole.after != cut.after || whole.clean() != cut.clean() || whole.nh != cut.nh || whole.left != cut.left {
			t.Fatalf("client framer: whole %d %v %+v, in pieces of %d: %d %v %+v", n1, t1, whole, step, n2, t2, cut)
		}
		var p1, p2 []param
		sw, sc := serverFramer{params: &p1}, serverFramer{params: &p2}
		feedServer(&sw, b, 0)
		feedServer(&sc, b, step)
		if sw.broken != sc.broken || !sw.broken && (sw.readies != sc.readies || sw.idle != sc.idle || len(p1) != len(p2) || sw.idleAfter(sw.readies) != sc.idleAfter(sc.readies)) {
			t.Fatalf("server framer differs in pieces of %d: %+v vs %+v", step, sw, sc)
		}
	})
}
