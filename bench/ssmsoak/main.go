// Command ssmsoak is the login soak of bench/ssm-soak.sh: many fresh
// logins through `rdsgate proxy` (PostgreSQL and MySQL), each timed from
// dial to the first result, while bulk transfers run on the same proxy.
//
//	ssmsoak -pg 127.0.0.1:P -mysql 127.0.0.1:M -logins 10000 -workers 8 -bulk 2
//
// A login is a new connection, the database login through the proxy,
// SELECT 1 and close; every few logins a worker runs the real client
// (psql, mariadb) instead of the Go drivers. Bulk workers read a large
// result (PostgreSQL COPY, a MariaDB SELECT) over and over until the
// logins are done. Each login is bounded by -login-timeout (a hung one
// counts as a failure), the whole run by -deadline. Prints one line of
// key=value pairs, then the slowest logins and the first errors; exits 1
// if any login or transfer failed or a login took longer than -slow.
package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
)

type login struct {
	engine string // pg, mysql, psql, mariadb
	d      time.Duration
	err    error
}

func main() {
	log.SetFlags(0)
	pgAddr := flag.String("pg", "", "rdsgate proxy's PostgreSQL listener HOST:PORT")
	myAddr := flag.String("mysql", "", "rdsgate proxy's MySQL listener HOST:PORT")
	user := flag.String("user", "app_user", "database user")
	db := flag.String("db", "demo", "database")
	logins := flag.Int("logins", 10000, "logins in all, half per engine")
	workers := flag.Int("workers", 8, "parallel login workers, half per engine")
	cliEvery := flag.Int("cli-every", 10, "every Nth login of a worker runs psql/mariadb (0: never)")
	bulk := flag.Int("bulk", 1, "bulk workers per engine")
	bulkRows := flag.Int("bulk-rows", 2000, "rows of 1000 bytes per bulk transfer")
	loginTimeout := flag.Duration("login-timeout", 30*time.Second, "bound on one login")
	slow := flag.Duration("slow", 5*time.Second, "a login slower than this fails the run")
	deadline := flag.Duration("deadline", 60*time.Minute, "bound on the whole run")
	flag.Parse()
	if *pgAddr == "" || *myAddr == "" || *workers < 2 {
		log.Fatal("usage: ssmsoak -pg HOST:PORT -mysql HOST:PORT [-logins N] [-workers N>=2]")
	}
	ctx, cancel := context.WithTimeout(context.Background(), *deadline)
	defer cancel()

	pgHost, pgPort := split(*pgAddr)
	myHost, myPort := split(*myAddr)
	pgConn := fmt.Sprintf("host=%s port=%s user=%s dbname=%s sslmode=disable connect_timeout=%d", pgHost, pgPort, *user, *db, int(loginTimeout.Seconds()))
	mcfg := mysql.NewConfig()
	mcfg.User, mcfg.Net, mcfg.Addr, mcfg.DBName = *user, "tcp", *myAddr, *db
	mcfg.Timeout = *loginTimeout
	myConnector, err := mysql.NewConnector(mcfg)
	if err != nil {
		log.Fatal(err)
	}
	mdb := sql.OpenDB(myConnector)
	mdb.SetMaxIdleConns(0) // every Conn is a new login
	defer mdb.Close()

	once := func(engine string) login {
		lctx, cancel := context.WithTimeout(ctx, *loginTimeout)
		defer cancel()
		t0 := time.Now()
		var err error
		switch engine {
		case "pg":
			err = pgLogin(lctx, pgConn)
		case "mysql":
			err = myLogin(lctx, mdb)
		case "psql":
			err = run(lctx, "psql", pgConn, "-Atc", "SELECT 1")
		case "mariadb":
			err = run(lctx, "mariadb", "-h", myHost, "-P", myPort, "-u", *user, "--skip-ssl", "-NBe", "SELECT 1", *db)
		}
		return login{engine, time.Since(t0), err}
	}

	results := make(chan login, 1024)
	var nextPG, nextMy atomic.Int64 // logins taken, per engine
	var wg sync.WaitGroup
	start := time.Now()
	for w := range *workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			engine, cli, next, quota := "pg", "psql", &nextPG, *logins/2
			if w%2 == 1 {
				engine, cli, next, quota = "mysql", "mariadb", &nextMy, *logins-*logins/2
			}
			for i := 1; ctx.Err() == nil && next.Add(1) <= int64(quota); i++ {
				e := engine
				if *cliEvery > 0 && i%*cliEvery == 0 {
					e = cli
				}
				results <- once(e)
			}
		}()
	}
	bctx, stopBulk := context.WithCancel(ctx)
	var bulkBytes, bulkRuns atomic.Int64
	var bulkErrs []error
	var bmu sync.Mutex
	var bwg sync.WaitGroup
	for i := range 2 * *bulk {
		bwg.Add(1)
		go func() {
			defer bwg.Done()
			for bctx.Err() == nil {
				var n int64
				var err error
				if i%2 == 0 {
					n, err = pgBulk(bctx, pgConn, *bulkRows)
				} else {
					n, err = myBulk(bctx, mdb, *bulkRows)
				}
				if err != nil && bctx.Err() == nil {
					bmu.Lock()
					bulkErrs = append(bulkErrs, err)
					bmu.Unlock()
				}
				bulkBytes.Add(n)
				if err == nil {
					bulkRuns.Add(1)
				}
			}
		}()
	}
	go func() {
		wg.Wait()
		stopBulk()
		close(results)
	}()

	var all []login
	var failed []login
	count := map[string]int{}
	for r := range results {
		all = append(all, r)
		count[r.engine]++
		if r.err != nil {
			failed = append(failed, r)
		}
		if n := len(all); n%1000 == 0 {
			fmt.Fprintf(os.Stderr, "# %d logins, %d failed, %s\n", n, len(failed), time.Since(start).Round(time.Second))
		}
	}
	bwg.Wait()
	el := time.Since(start)

	ds := make([]time.Duration, 0, len(all))
	var overSlow int
	for _, r := range all {
		if r.err == nil {
			ds = append(ds, r.d)
			if r.d > *slow {
				overSlow++
			}
		}
	}
	slices.Sort(ds)
	q := func(p float64) float64 {
		if len(ds) == 0 {
			return 0
		}
		return ms(ds[min(len(ds)-1, int(p*float64(len(ds))))])
	}
	fmt.Printf("logins=%d pg=%d mysql=%d psql=%d mariadb=%d failed=%d over_%s=%d p50_ms=%.1f p99_ms=%.1f p999_ms=%.1f max_ms=%.1f bulk_transfers=%d bulk_mb=%.1f bulk_failed=%d seconds=%.0f\n",
		len(all), count["pg"], count["mysql"], count["psql"], count["mariadb"], len(failed), *slow, overSlow,
		q(0.50), q(0.99), q(0.999), q(1), bulkRuns.Load(), float64(bulkBytes.Load())/1e6, len(bulkErrs), el.Seconds())
	slices.SortFunc(all, func(a, b login) int { return int(b.d - a.d) })
	for _, r := range all[:min(5, len(all))] {
		fmt.Printf("slow: %s %.1f ms %v\n", r.engine, ms(r.d), r.err)
	}
	for _, r := range failed[:min(10, len(failed))] {
		fmt.Printf("failed: %s after %.1f ms: %v\n", r.engine, ms(r.d), r.err)
	}
	for _, err := range bulkErrs[:min(10, len(bulkErrs))] {
		fmt.Printf("bulk failed: %v\n", err)
	}
	if len(all) < *logins || len(failed) > 0 || overSlow > 0 || len(bulkErrs) > 0 {
		os.Exit(1)
	}
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

func split(addr string) (string, string) {
	for i := len(addr) - 1; i >= 0; i-- {
		if addr[i] == ':' {
			return addr[:i], addr[i+1:]
		}
	}
	return addr, ""
}

func pgLogin(ctx context.Context, conninfo string) error {
	c, err := pgx.Connect(ctx, conninfo)
	if err != nil {
		return err
	}
	defer c.Close(context.Background())
	var one int
	if err := c.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
		return err
	}
	return nil
}

func myLogin(ctx context.Context, d *sql.DB) error {
	c, err := d.Conn(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	var one int
	return c.QueryRowContext(ctx, "SELECT 1").Scan(&one)
}

// run runs a client and checks that it printed 1.
func run(ctx context.Context, name string, args ...string) error {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", name, err, strings.TrimSpace(string(out)))
	}
	if string(out) != "1\n" {
		return fmt.Errorf("%s printed %q", name, out)
	}
	return nil
}

type counter struct{ n int64 }

func (c *counter) Write(b []byte) (int, error) { c.n += int64(len(b)); return len(b), nil }

func pgBulk(ctx context.Context, conninfo string, rows int) (int64, error) {
	c, err := pgx.Connect(ctx, conninfo)
	if err != nil {
		return 0, fmt.Errorf("pg bulk: %w", err)
	}
	defer c.Close(context.Background())
	var w counter
	_, err = c.PgConn().CopyTo(ctx, &w, fmt.Sprintf("COPY (SELECT repeat('x', 1000) FROM generate_series(1, %d)) TO STDOUT", rows))
	if err == nil && w.n != int64(rows)*1001 {
		err = fmt.Errorf("%d bytes, want %d", w.n, rows*1001)
	}
	if err != nil {
		return w.n, fmt.Errorf("pg bulk: %w", err)
	}
	return w.n, nil
}

func myBulk(ctx context.Context, d *sql.DB, rows int) (int64, error) {
	rs, err := d.QueryContext(ctx, fmt.Sprintf("SELECT REPEAT('x', 1000) FROM seq_1_to_%d", rows))
	if err != nil {
		return 0, fmt.Errorf("mysql bulk: %w", err)
	}
	defer rs.Close()
	var n, got int64
	var b sql.RawBytes
	for rs.Next() {
		if err := rs.Scan(&b); err != nil {
			return n, fmt.Errorf("mysql bulk: %w", err)
		}
		n += int64(len(b))
		got++
	}
	if err := rs.Err(); err != nil {
		return n, fmt.Errorf("mysql bulk: %w", err)
	}
	if got != int64(rows) {
		return n, fmt.Errorf("mysql bulk: %d rows, want %d", got, rows)
	}
	return n, nil
}
