package ssm

import (
	"fmt"
	"os"
	"strconv"
	"testing"

	"github.com/rdsgate/rdsgate/sandbox/ssmagent"
)

// BenchmarkParallelSessions: 8 parallel echo transfers of 16 MiB each way
// (SSM_BENCH_MIB changes the size) through one Dialer against the paced
// sandbox agent, over 1, 2, 4 and 8 sessions. One op is the whole batch;
// MB/s is the aggregate per direction. docs/benchmarks.md has the command
// and the numbers.
func BenchmarkParallelSessions(b *testing.B) {
	mib := 16
	if v := os.Getenv("SSM_BENCH_MIB"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			b.Fatalf("SSM_BENCH_MIB=%q: want a number of MiB", v)
		}
		mib = n
	}
	const conns = 8
	for _, sessions := range []int{1, 2, 4, 8} {
		b.Run(fmt.Sprintf("sessions=%d", sessions), func(b *testing.B) {
			e := newEnv(b, ssmagent.Options{})
			d := e.dialer(b, Config{Sessions: sessions})
			b.SetBytes(int64(conns * mib << 20))
			for b.Loop() {
				if err := parallel(d, e.dest(), conns, int64(mib)<<20); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(d.Stats().Peak), "sessions")
		})
	}
}
