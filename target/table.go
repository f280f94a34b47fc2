package target

import (
	"fmt"
	"io"
	"text/tabwriter"
)

// WriteTable writes ts as an aligned table for people: identifier, kind,
// engine, status, IAM authentication and public access (the two that
// decide how to reach it, shouted when risky) and the endpoint, with a
// cluster's reader endpoint on a line of its own. names are what the
// user's config calls each identifier, shown beside it.
func WriteTable(w io.Writer, ts []Target, names map[string]string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "IDENTIFIER\tKIND\tENGINE\tSTATUS\tIAM AUTH\tPUBLIC\tENDPOINT")
	for _, t := range ts {
		iam := "yes"
		if !t.IAMAuth {
			iam = "NO"
		}
		public := "no"
		if t.Public {
			public = "YES"
		}
		kind := string(t.Kind)
		if t.ClusterIdentifier != "" {
			kind += " of " + t.ClusterIdentifier
		}
		id := t.Identifier
		if n := names[t.Identifier]; n != "" && n != id {
			id += " (" + n + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s:%d\n", id, kind, t.Engine, t.Status, iam, public, t.Host, t.Port)
		if t.ReaderHost != "" {
			fmt.Fprintf(tw, "\t\t\t\t\t\t%s:%d (reader)\n", t.ReaderHost, t.Port)
		}
	}
	return tw.Flush()
}
