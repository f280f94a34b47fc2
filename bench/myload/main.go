// Command myload is the benchmarks' MySQL/MariaDB load generator (the
// pgbench of bench/proxy-mysql.sh), on go-sql-driver/mysql. It speaks to a
// server directly (TLS verified against -ca with -servername, password =
// an IAM token) or to rdsgate proxy (no TLS, no password).
//
//	myload qps  -addr A [tls flags] -clients 4 -secs 10   # SELECT 1 on open connections
//	myload conn -addr A [tls flags] -clients 1 -secs 10   # new connection + SELECT 1 + close
//	myload hold -addr A [tls flags] -n 200 -secs 30       # open N idle sessions, print "held N", hold
//	myload bulk -addr A [tls flags] -query "SELECT ..."   # read a large result, MB/s
//
// Prints one line of key=value pairs. Every run is bounded in time.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"flag"
	"fmt"
	"log"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-sql-driver/mysql"
)

func main() {
	log.SetFlags(0)
	if len(os.Args) < 2 {
		log.Fatal("usage: myload qps|conn|hold|bulk [flags]")
	}
	mode := os.Args[1]
	fs := flag.NewFlagSet(mode, flag.ExitOnError)
	addr := fs.String("addr", "", "HOST:PORT")
	user := fs.String("user", "app_user", "database user")
	pass := fs.String("password", "", "password (an IAM token); default $MYLOAD_PASSWORD")
	db := fs.String("db", "demo", "database")
	ca := fs.String("ca", "", "CA file: use TLS, verified against it")
	sni := fs.String("servername", "", "TLS server name to verify (the endpoint)")
	clients := fs.Int("clients", 1, "qps/conn: parallel clients")
	secs := fs.Duration("secs", 10*time.Second, "qps/conn: duration; hold: how long to hold")
	n := fs.Int("n", 200, "hold: connections")
	query := fs.String("query", "", "bulk: the query")
	_ = fs.Parse(os.Args[2:])
	if *pass == "" {
		*pass = os.Getenv("MYLOAD_PASSWORD")
	}
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net, cfg.Addr, cfg.DBName = *user, *pass, "tcp", *addr, *db
	cfg.AllowCleartextPasswords = *pass != ""
	cfg.Timeout = 30 * time.Second
	if *ca != "" {
		pem, err := os.ReadFile(*ca)
		if err != nil {
			log.Fatal(err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			log.Fatalf("no certificates in %s", *ca)
		}
		cfg.TLS = &tls.Config{RootCAs: pool, ServerName: *sni}
	}
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		log.Fatal(err)
	}
	d := sql.OpenDB(conn)
	defer d.Close()
	ctx, cancel := context.WithTimeout(context.Background(), *secs+2*time.Minute)
	defer cancel()
	switch mode {
	case "qps", "conn":
		load(ctx, d, mode, *clients, *secs)
	case "hold":
		hold(ctx, d, *n, *secs)
	case "bulk":
		bulk(ctx, d, *query)
	default:
		log.Fatalf("unknown mode %q", mode)
	}
}

func load(ctx context.Context, d *sql.DB, mode string, clients int, secs time.Duration) {
	d.SetMaxOpenConns(clients)
	if mode == "conn" {
		d.SetMaxIdleConns(0) // every db.Conn is a new login, closed on release
	} else {
		d.SetMaxIdleConns(clients)
	}
	var done, connNs atomic.Int64
	var wg sync.WaitGroup
	stop := time.Now().Add(secs)
	errc := make(chan error, clients)
	start := time.Now()
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var c *sql.Conn
			for time.Now().Before(stop) {
				if c == nil {
					t0 := time.Now()
					var err error
					if c, err = d.Conn(ctx); err != nil {
						errc <- err
						return
					}
					if err := c.PingContext(ctx); err != nil {
						errc <- err
						return
					}
					connNs.Add(int64(time.Since(t0)))
				}
				var one int
				if err := c.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
					errc <- err
					return
				}
				done.Add(1)
				if mode == "conn" {
					c.Close()
					c = nil
				}
			}
			if c != nil {
				c.Close()
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	close(errc)
	if err := <-errc; err != nil {
		log.Fatalf("%s: %v", mode, err)
	}
	q := done.Load()
	avgConn := 0.0
	if mode == "conn" && q > 0 {
		avgConn = float64(connNs.Load()) / float64(q) / 1e6
	}
	fmt.Printf("mode=%s clients=%d queries=%d seconds=%.2f qps=%.0f avg_connect_ms=%.3f\n", mode, clients, q, el.Seconds(), float64(q)/el.Seconds(), avgConn)
}

func hold(ctx context.Context, d *sql.DB, n int, secs time.Duration) {
	d.SetMaxOpenConns(n)
	d.SetMaxIdleConns(n)
	conns := make([]*sql.Conn, 0, n)
	for i := 0; i < n; i++ {
		c, err := d.Conn(ctx)
		if err == nil {
			err = c.PingContext(ctx)
		}
		if err != nil {
			log.Fatalf("hold: connection %d: %v", i+1, err)
		}
		conns = append(conns, c)
	}
	fmt.Printf("held %d\n", n)
	time.Sleep(secs)
	for _, c := range conns {
		c.Close()
	}
}

func bulk(ctx context.Context, d *sql.DB, query string) {
	t0 := time.Now()
	rows, err := d.QueryContext(ctx, query)
	if err != nil {
		log.Fatal(err)
	}
	defer rows.Close()
	var total int64
	var b sql.RawBytes
	for rows.Next() {
		if err := rows.Scan(&b); err != nil {
			log.Fatal(err)
		}
		total += int64(len(b))
	}
	if err := rows.Err(); err != nil {
		log.Fatal(err)
	}
	el := time.Since(t0)
	fmt.Printf("mode=bulk bytes=%d seconds=%.3f mbps=%.2f\n", total, el.Seconds(), float64(total)/el.Seconds()/1e6)
}
