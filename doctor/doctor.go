// Package doctor runs every stage of the path to a database and checks each
// precondition — credentials, the target's settings, the caller's IAM
// permission, the bastion, the route, the server certificate, the login —
// reporting pass, fail, warn or skip with the fix for each failure.
//
// Checks run in order and later checks are skipped when what they need
// failed, so the first failure is the one to fix. Nothing is changed: every
// AWS call is a read (or the IAM policy simulator).
package doctor

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/rdsgate/rdsgate/setting"
)

// Status of a check.
type Status string

// Statuses.
const (
	Pass Status = "pass"
	Fail Status = "fail"
	Warn Status = "warn"
	Skip Status = "skip"
)

// Result is one check's outcome. Detail and Fix may name settings, which
// the report spells as its RenderOptions say.
type Result struct {
	ID       string        `json:"id"`
	Title    string        `json:"title"`
	Status   Status        `json:"status"`
	Detail   setting.Text  `json:"detail"`
	Fix      setting.Text  `json:"fix,omitzero"`
	Duration time.Duration `json:"-"`
	Millis   int64         `json:"duration_ms"`
}

// RenderOptions say how a report is written.
type RenderOptions struct {
	// Settings spells the settings that details and fixes name, e.g. as
	// a command line's flags; the zero Style spells them as config keys.
	Settings setting.Style
	// Color paints the statuses (FAIL red, WARN yellow, PASS green) with
	// ANSI colours; set it only for a terminal.
	Color bool
}

// colors are the ANSI colours of the statuses.
var colors = map[Status]string{Fail: "\x1b[31m", Warn: "\x1b[33m", Pass: "\x1b[32m"}

// Report is every check's result for one target.
type Report struct {
	Target  string   `json:"target"`
	Results []Result `json:"checks"`
}

// OK reports whether no check failed.
func (r *Report) OK() bool {
	for _, x := range r.Results {
		if x.Status == Fail {
			return false
		}
	}
	return true
}

// Failed returns the failed results.
func (r *Report) Failed() []Result {
	var out []Result
	for _, x := range r.Results {
		if x.Status == Fail {
			out = append(out, x)
		}
	}
	return out
}

// WriteText prints the report as a checklist.
func (r *Report) WriteText(w io.Writer, o RenderOptions) error {
	fmt.Fprintf(w, "rdsgate doctor %s\n", r.Target)
	for _, x := range r.Results {
		status := fmt.Sprintf("%-4s", strings.ToUpper(string(x.Status)))
		if c, ok := colors[x.Status]; ok && o.Color {
			status = c + status + "\x1b[0m"
		}
		fmt.Fprintf(w, "  %s  %-18s %s", status, x.ID, x.Detail.Render(o.Settings))
		if x.Duration > 0 {
			fmt.Fprintf(w, " (%s)", x.Duration.Round(time.Millisecond))
		}
		fmt.Fprintln(w)
		if !x.Fix.IsZero() {
			for i, line := range strings.Split(x.Fix.Render(o.Settings), "\n") {
				prefix := "        fix: "
				if i > 0 {
					prefix = "             "
				}
				fmt.Fprintf(w, "%s%s\n", prefix, line)
			}
		}
	}
	if r.OK() {
		_, err := fmt.Fprintln(w, "All checks passed.")
		return err
	}
	_, err := fmt.Fprintf(w, "%d check(s) failed; fix the first one first.\n", len(r.Failed()))
	return err
}

// WriteJSON prints the report as JSON.
func (r *Report) WriteJSON(w io.Writer, o RenderOptions) error {
	type result struct {
		ID     string `json:"id"`
		Title  string `json:"title"`
		Status Status `json:"status"`
		Detail string `json:"detail"`
		Fix    string `json:"fix,omitempty"`
		Millis int64  `json:"duration_ms"`
	}
	out := struct {
		Target  string   `json:"target"`
		Results []result `json:"checks"`
		OK      bool     `json:"ok"`
	}{Target: r.Target, Results: make([]result, 0, len(r.Results)), OK: r.OK()}
	for _, x := range r.Results {
		out.Results = append(out.Results, result{ID: x.ID, Title: x.Title, Status: x.Status,
			Detail: x.Detail.Render(o.Settings), Fix: x.Fix.Render(o.Settings), Millis: x.Millis})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// run times fn and appends its result.
func (r *Report) run(id, title string, fn func() Result) Result {
	start := time.Now()
	res := fn()
	res.ID, res.Title = id, title
	res.Duration = time.Since(start)
	res.Millis = res.Duration.Milliseconds()
	r.Results = append(r.Results, res)
	return res
}

func (r *Report) skip(id, title, why string) {
	r.Results = append(r.Results, Result{ID: id, Title: title, Status: Skip, Detail: setting.Plain(why)})
}

// certSummary describes the server certificate TLS verified.
func certSummary(st tls.ConnectionState) (string, time.Time) {
	if len(st.PeerCertificates) == 0 {
		return "no certificate", time.Time{}
	}
	leaf := st.PeerCertificates[0]
	return fmt.Sprintf("certificate for %s from %q, valid until %s", strings.Join(leaf.DNSNames, ", "), leaf.Issuer.CommonName,
		leaf.NotAfter.UTC().Format("2006-01-02")), leaf.NotAfter
}

// ExpiryWarning is how close to its expiry a server certificate makes the
// tls check warn.
const ExpiryWarning = 30 * 24 * time.Hour
