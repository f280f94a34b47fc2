package collect

import (
	"context"
	"io"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rdsgate/rdsgate/posture"
	"github.com/rdsgate/rdsgate/posture/report"
)

// TestFakeOrg checks the fake the benchmark runs against, and CollectOrg
// with it: every database of every account-region is read and audited
// with its account and region, throttled calls are retried, an account
// whose role is denied is reported and the others are read.
func TestFakeOrg(t *testing.T) {
	f := &fakeOrg{accounts: 3, regions: []string{"eu-west-1", "us-east-1"}, databases: 5, throttleEvery: 7,
		denyRole: map[string]bool{"200000000002": true}}
	cfg := f.start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var last OrgProgress
	snap, err := CollectOrg(ctx, cfg, OrgOptions{Options: Options{MaxBackoff: 20 * time.Millisecond}, Parallel: 3,
		Progress: func(p OrgProgress) { last = p }})
	if snap == nil {
		t.Fatal(err)
	}
	if err == nil || !strings.Contains(err.Error(), "1 account not read, 0 reads failed") {
		t.Errorf("err = %v, want 1 account not read and no read failed", err)
	}
	if f.throttled.Load() == 0 {
		t.Error("no call was throttled: the retries are not exercised")
	}
	for _, a := range snap.Accounts {
		if a.Snapshot == nil {
			continue
		}
		for _, r := range a.Snapshot.Regions {
			for _, e := range r.Errors {
				t.Errorf("%s/%s: %+v", a.ID, r.Name, e)
			}
		}
		for _, e := range a.Snapshot.IAM.Errors {
			t.Errorf("%s IAM: %+v", a.ID, e)
		}
	}
	// management, 200000000001, 200000000003 read in two regions; 200000000002 denied.
	if want := (OrgProgress{Accounts: 4, AccountsDone: 4, Regions: 6, RegionsDone: 6}); last != want {
		t.Errorf("last progress %+v, want %+v", last, want)
	}
	rep := posture.Audit(snap, posture.AuditOptions{})
	if len(rep.Databases) != 2*2*5+2*5 {
		// The management account is a member too: the fake serves it databases.
		t.Errorf("%d databases, want %d", len(rep.Databases), 30)
	}
	for _, db := range rep.Databases {
		want := posture.StatusPass
		if strings.HasSuffix(db.ID, "1") || strings.HasSuffix(db.ID, "3") {
			want = posture.StatusFail
		}
		if got := statusOf(&db, "public-access"); got != want {
			t.Errorf("%s/%s/%s: public-access %s, want %s", db.Account, db.Region, db.ID, got, want)
		}
		if got := statusOf(&db, "tls-not-enforced"); got != want {
			t.Errorf("%s/%s/%s: tls-not-enforced %s, want %s", db.Account, db.Region, db.ID, got, want)
		}
		if !strings.Contains(db.ARN, ":"+db.Account+":") || !strings.Contains(db.ARN, ":"+db.Region+":") {
			t.Errorf("database %s of %s/%s has ARN %s", db.ID, db.Account, db.Region, db.ARN)
		}
	}
	if len(rep.Incomplete) != 1 || !strings.Contains(rep.Incomplete[0], "account 200000000002") || !strings.Contains(rep.Incomplete[0], "AccessDenied") {
		t.Errorf("incomplete: %q, want the denied account", rep.Incomplete)
	}
	if code := report.ExitCode(rep, report.ExitPolicy{}); code != report.ExitIncomplete {
		t.Errorf("exit code %d, want %d", code, report.ExitIncomplete)
	}
}

// BenchmarkCollectOrg reads and audits 10,000 databases over 40
// account-regions (20 accounts × 2 regions × 250 databases, half of them
// misconfigured) from the in-process fake, and renders the JSON report;
// it reports the peak live heap and the process's peak RSS (the fake's
// share included). Run it alone, once:
//
//	go test -run '^$' -bench CollectOrg -benchtime 1x ./posture/collect/
func BenchmarkCollectOrg(b *testing.B) {
	f := &fakeOrg{accounts: 19, regions: []string{"eu-west-1", "us-east-1"}, databases: 250}
	cfg := f.start(b)
	runtime.GC()
	peak := heapPeak()
	b.ResetTimer()
	for range b.N {
		snap, err := CollectOrg(context.Background(), cfg, OrgOptions{})
		if err != nil {
			b.Fatal(err)
		}
		rep := posture.Audit(snap, posture.AuditOptions{})
		if rep.Summary.Databases != 10000 || len(rep.Incomplete) != 0 {
			b.Fatalf("%d databases, incomplete %q", rep.Summary.Databases, rep.Incomplete)
		}
		if err := report.JSON(io.Discard, rep); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(peak())/1e6, "peak-heap-MB")
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err == nil {
		b.ReportMetric(float64(ru.Maxrss)/1024, "maxrss-MB") // Linux: KiB
	}
	b.ReportMetric(float64(f.calls.Load())/float64(b.N), "calls/op")
}

// heapPeak samples the live heap every 10 ms until the returned function
// is called, which returns the highest sample.
func heapPeak() func() uint64 {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	var peak uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			metrics.Read(sample)
			peak = max(peak, sample[0].Value.Uint64())
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	})
	return func() uint64 {
		close(stop)
		wg.Wait()
		return peak
	}
}
