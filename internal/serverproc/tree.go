package serverproc

import (
	"os"
	"strconv"
	"strings"
)

// procID identifies a process across pid reuse: pid plus start time.
type procID struct {
	pid   int
	start string
}

func (d procID) alive() bool {
	start, ok := StartTime(d.pid)
	return ok && start == d.start
}

// StartTime returns when process pid started (clock ticks after boot, from
// /proc), which together with the pid names a process across pid reuse; ok
// is false when there is no such process.
func StartTime(pid int) (start string, ok bool) {
	_, start, ok = readStat(pid)
	return start, ok
}

// readStat returns the parent pid and start time of pid from /proc.
func readStat(pid int) (ppid int, start string, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, "", false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')') // comm may contain spaces
	if i < 0 {
		return 0, "", false
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); ppid is field 4, starttime field 22.
	if len(f) < 20 {
		return 0, "", false
	}
	ppid, err = strconv.Atoi(f[1])
	if err != nil {
		return 0, "", false
	}
	return ppid, f[19], true
}

// Descendants lists the pids of the processes below pid (Linux /proc; none
// elsewhere).
func Descendants(pid int) []int {
	d := descendants(pid)
	pids := make([]int, len(d))
	for i, p := range d {
		pids[i] = p.pid
	}
	return pids
}

func descendants(pid int) []procID {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	children := map[int][]procID{}
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, start, ok := readStat(n); ok {
			children[ppid] = append(children[ppid], procID{n, start})
		}
	}
	var out []procID
	queue := []int{pid}
	for len(queue) > 0 && len(out) < 10000 {
		c := children[queue[0]]
		queue = queue[1:]
		for _, d := range c {
			out = append(out, d)
			queue = append(queue, d.pid)
		}
	}
	return out
}
