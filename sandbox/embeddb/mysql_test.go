package embeddb

import (
	"context"
	"database/sql"
	"errors"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/rdsgate/rdsgate/internal/testpeer"
)

func serveMySQL(t *testing.T, d *DB) (string, *MySQLServer) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ms := NewMySQLServer(d)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = ms.Serve(ctx, ln)
	}()
	t.Cleanup(func() {
		cancel()
		ln.Close()
		<-done
		ms.Wait()
	})
	return ln.Addr().String(), ms
}

func myOpen(t *testing.T, addr, user, password, db string) *sql.DB {
	t.Helper()
	cfg := mysql.NewConfig()
	cfg.Net, cfg.Addr, cfg.User, cfg.Passwd, cfg.DBName = "tcp", addr, user, password, db
	cfg.Timeout = 5 * time.Second
	cfg.MultiStatements = true
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	d := sql.OpenDB(conn)
	t.Cleanup(func() { d.Close() })
	return d
}

func TestMySQLFaceWithGoDriver(t *testing.T) {
	d := newDemo(t)
	addr, _ := serveMySQL(t, d)
	db := myOpen(t, addr, "master", "s3cret-pw", "demo")
	ctx := context.Background()

	var user string
	var orders int64
	var total float64
	if err := db.QueryRowContext(ctx, "select current_user as db_user, count(*) as orders, sum(total) as total from orders").Scan(&user, &orders, &total); err != nil {
		t.Fatal(err)
	}
	if user != "master@%" || orders != 3 || total < 159.39 || total > 159.41 {
		t.Fatalf("got %q %d %v", user, orders, total)
	}
	var version, dbName string
	if err := db.QueryRowContext(ctx, "select @@version, database()").Scan(&version, &dbName); err != nil || version != MySQLVersion || dbName != "demo" {
		t.Fatalf("variables: %q %q %v", version, dbName, err)
	}
	r, err := db.ExecContext(ctx, "UPDATE orders SET total = total + 1 WHERE id > 1")
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := r.RowsAffected(); n != 2 {
		t.Fatalf("affected %d", n)
	}
	// A transaction rolled back leaves nothing behind.
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO orders VALUES (4, 'Barbara', 5)"); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRowContext(ctx, "select count(*) from orders").Scan(&orders); err != nil || orders != 3 {
		t.Fatalf("after rollback: %d %v", orders, err)
	}
	_, err = db.ExecContext(ctx, "SELECT * FROM missing")
	var me *mysql.MySQLError
	if !errors.As(err, &me) || me.Number != 1146 {
		t.Fatalf("missing table: %v", err)
	}
}

func TestMySQLFaceRefusals(t *testing.T) {
	d := newDemo(t)
	addr, _ := serveMySQL(t, d)
	for _, tc := range []struct {
		name, user, password, db string
		code                     uint16
	}{
		{"wrong password", "master", "nope", "demo", 1045},
		{"unknown user", "mallory", "x", "demo", 1045},
		{"unknown database", "master", "s3cret-pw", "nodb", 1049},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := myOpen(t, addr, tc.user, tc.password, tc.db).Ping()
			var me *mysql.MySQLError
			if !errors.As(err, &me) || me.Number != tc.code {
				t.Fatalf("want error %d, got %v", tc.code, err)
			}
		})
	}
	_, err := myOpen(t, addr, "master", "s3cret-pw", "demo").Exec("SELECT User FROM mysql.user")
	var me *mysql.MySQLError
	if !errors.As(err, &me) || me.Number != erNotSupportedYet || !strings.Contains(me.Message, "--backend installed") {
		t.Errorf("catalog query: %v", err)
	}
}

func TestMySQLFaceKillQuery(t *testing.T) {
	d := newDemo(t)
	addr, _ := serveMySQL(t, d)
	db := myOpen(t, addr, "master", "s3cret-pw", "demo")
	db.SetMaxOpenConns(1)
	var id int64
	if err := db.QueryRow("select connection_id()").Scan(&id); err != nil {
		t.Fatal(err)
	}
	other := myOpen(t, addr, "master", "s3cret-pw", "demo")
	if _, err := other.Exec("KILL QUERY 99999"); err == nil || !strings.Contains(err.Error(), "Unknown thread id") {
		t.Fatalf("KILL of an unknown id: %v", err)
	}
	errc := make(chan error, 1)
	go func() {
		// Never ends on its own.
		_, err := db.Exec("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT count(*) FROM c")
		errc <- err
	}()
	time.Sleep(200 * time.Millisecond)
	if _, err := other.Exec("KILL QUERY " + strconv.FormatInt(id, 10)); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		var me *mysql.MySQLError
		if !errors.As(err, &me) || me.Number != 1317 {
			t.Fatalf("killed query: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("KILL QUERY did not stop the query")
	}
	// The connection survives KILL QUERY.
	var one int
	if err := db.QueryRow("select 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("after KILL QUERY: %v", err)
	}
}

func TestMySQLFaceWithMariaDBCLI(t *testing.T) {
	cli := testpeer.LookPath(t, "apt-get install mariadb-client", "mariadb", "mysql")
	d := newDemo(t)
	addr, _ := serveMySQL(t, d)
	host, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command(cli, "--no-defaults", "-h", host, "-P", port, "-u", "master", "-ps3cret-pw", "--skip-ssl", "-N", "-B",
		"demo", "-e", "select customer, total from orders order by id; show tables")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", cli, err, out)
	}
	want := "Ada\t42\nGrace\t17.5\nLinus\t99.9\norders\n"
	if string(out) != want {
		t.Fatalf("printed %q, want %q", out, want)
	}
}

// Queries with arguments use the binary protocol (COM_STMT_PREPARE and
// COM_STMT_EXECUTE), as go-sql-driver does by default.
func TestMySQLFacePreparedStatements(t *testing.T) {
	d := newDemo(t)
	addr, _ := serveMySQL(t, d)
	db := myOpen(t, addr, "master", "s3cret-pw", "demo")
	ctx := context.Background()

	var customer string
	var total float64
	var id int64
	if err := db.QueryRowContext(ctx, "SELECT id, customer, total FROM orders WHERE id = ? AND customer <> ? AND total > ?", int64(2), "nobody", 1.5).Scan(&id, &customer, &total); err != nil {
		t.Fatal(err)
	}
	if id != 2 || customer != "Grace" || total != 17.5 {
		t.Fatalf("got %d %q %v", id, customer, total)
	}
	when := time.Date(2026, 11, 25, 10, 11, 12, 0, time.UTC)
	if _, err := db.ExecContext(ctx, "CREATE TABLE events (id int, at text, note text, flag int)"); err != nil {
		t.Fatal(err)
	}
	r, err := db.ExecContext(ctx, "INSERT INTO events VALUES (?, ?, ?, ?)", int8(-3), when, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := r.RowsAffected(); n != 1 {
		t.Fatalf("affected %d", n)
	}
	var at string
	var note sql.NullString
	var flag int
	if err := db.QueryRowContext(ctx, "SELECT at, note, flag FROM events WHERE id = ?", -3).Scan(&at, &note, &flag); err != nil {
		t.Fatal(err)
	}
	if at != "2026-11-25 10:11:12" || note.Valid || flag != 1 {
		t.Fatalf("got %q %v %d", at, note, flag)
	}
	// A statement prepared once runs many times.
	st, err := db.PrepareContext(ctx, "SELECT count(*) FROM orders WHERE total > ?")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, tc := range []struct {
		min  float64
		want int64
	}{{0, 3}, {20, 2}, {50, 1}, {100, 0}} {
		var n int64
		if err := st.QueryRowContext(ctx, tc.min).Scan(&n); err != nil || n != tc.want {
			t.Errorf("total > %v: %d, %v", tc.min, n, err)
		}
	}
	_, err = db.QueryContext(ctx, "SELECT * FROM missing WHERE id = ?", 1)
	var me *mysql.MySQLError
	if !errors.As(err, &me) || me.Number != 1146 {
		t.Fatalf("missing table: %v", err)
	}
}

// FuzzDecodeParams: COM_STMT_EXECUTE's parameter block is the peer's bytes.
func FuzzDecodeParams(f *testing.F) {
	f.Add(3, []byte{0, 1, 8, 0, 0xfd, 0, 5, 0, 1, 0, 0, 0, 0, 0, 0, 0, 3, 'a', 'b', 'c', 0, 0, 0, 0, 0, 0, 0xf0, 0x3f})
	f.Add(1, []byte{0, 1, 12, 0, 11, 0xea, 7, 11, 25, 10, 11, 12, 1, 0, 0, 0})
	f.Add(2, []byte{3, 1})
	f.Fuzz(func(t *testing.T, n int, b []byte) {
		if n < 0 || n > 64 {
			return
		}
		st := &myStmt{nParams: n}
		args, err := decodeParams(b, st)
		if err == nil && len(args) != n {
			t.Fatalf("%d args for %d parameters", len(args), n)
		}
	})
}
