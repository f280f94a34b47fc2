package proxy

import "strings"

// The application tag: the proxy adds the AWS identity it logs in for to
// the application name the server shows other sessions (PostgreSQL's
// application_name), so that an administrator's listing of connections
// can tie each one to a person. It is " rdsgate:" and the ARN's resource
// (user/NAME, assumed-role/ROLE/SESSION) after the client's own name, and
// fits PostgreSQL's 63 bytes: the client's name is shortened first, the
// identity last, ending in AppTagCut then. A client can write any name, so
// a tag is a claim, to be checked against who holds a session.
const (
	appTagMark = "rdsgate:"
	// AppTagMax is the longest application name PostgreSQL keeps.
	AppTagMax = 63
	// AppTagCut ends an identity cut short; IAM names never contain it.
	AppTagCut = "~"
)

// AppTag is app with principal's tag (app alone when principal is not an
// ARN). Characters PostgreSQL would not keep (non-printable ASCII) are
// replaced, as the server does, by '?'.
func AppTag(app, principal string) string {
	parts := strings.SplitN(principal, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[5] == "" {
		return app
	}
	tag := appTagMark + parts[5]
	if len(tag) > AppTagMax {
		tag = tag[:AppTagMax-len(AppTagCut)] + AppTagCut
	}
	app = printable(app)
	if room := AppTagMax - len(tag) - 1; len(app) > room {
		app = strings.TrimRight(app[:max(room, 0)], " ")
	}
	if app == "" {
		return tag
	}
	return app + " " + tag
}

// SplitAppTag splits an application name into the client's name and the
// identity its tag names (the ARN's resource, maybe ending in AppTagCut);
// ok is false when it has no tag.
func SplitAppTag(name string) (app, identity string, ok bool) {
	i := strings.LastIndex(name, appTagMark)
	if i < 0 || i > 0 && name[i-1] != ' ' {
		return name, "", false
	}
	identity = name[i+len(appTagMark):]
	if identity == "" || strings.Contains(identity, " ") {
		return name, "", false
	}
	return strings.TrimSuffix(name[:i], " "), identity, true
}

func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return '?'
		}
		return r
	}, s)
}
