package posture

import (
	"fmt"
	"slices"
	"strings"
)

// GapKind says why data a check needs is missing, so that an UNKNOWN
// result is read right: a permission to grant is not an API the endpoint
// lacks, and neither is a throttle.
type GapKind string

// Gap kinds, in the order a report explains them.
const (
	// GapDenied: the caller may not make the call; the action names the
	// IAM permission to grant.
	GapDenied GapKind = "access-denied"
	// GapUnsupported: the endpoint does not serve the call (an unknown
	// operation); no permission would help.
	GapUnsupported GapKind = "not-supported"
	// GapThrottled: the call was throttled through every retry.
	GapThrottled GapKind = "throttled"
	// GapError: the call failed otherwise (a service error, a timeout).
	GapError GapKind = "error"
	// GapNotReported: every call answered, but the API did not report the
	// value the check reads.
	GapNotReported GapKind = "not-reported"
	// GapNotInPlan: the snapshot is a Terraform plan, which does not hold
	// what the check reads (a trail, a route table, IAM policies).
	GapNotInPlan GapKind = "not-in-plan"
	// GapAfterApply: the snapshot is a Terraform plan and the value the
	// check reads is known only after apply.
	GapAfterApply GapKind = "known-after-apply"
)

// CodeNotInPlan is the [AccessError] code of a read a Terraform plan
// cannot answer; its kind is [GapNotInPlan].
const CodeNotInPlan = "NotInPlan"

// unsupportedCodes are the error codes of an operation the endpoint does
// not know (query protocols, JSON protocols, and a few others).
var unsupportedCodes = map[string]bool{
	"InvalidAction": true, "UnknownOperationException": true, "UnsupportedOperation": true,
	"UnsupportedOperationException": true, "NotImplemented": true,
}

// throttleCodes are the error codes of a throttled call.
var throttleCodes = map[string]bool{
	"Throttling": true, "ThrottlingException": true, "ThrottledException": true, "RequestLimitExceeded": true,
	"TooManyRequestsException": true, "RequestThrottled": true, "RequestThrottledException": true,
	"SlowDown": true, "PriorRequestNotComplete": true, "ProvisionedThroughputExceededException": true,
	"BandwidthLimitExceeded": true,
}

// Kind classifies the failure.
func (e AccessError) Kind() GapKind {
	switch {
	case e.Denied:
		return GapDenied
	case e.Code == CodeNotInPlan:
		return GapNotInPlan
	case unsupportedCodes[e.Code]:
		return GapUnsupported
	case throttleCodes[e.Code]:
		return GapThrottled
	}
	return GapError
}

// Explain is the failure for a person, in one line with no SDK dump:
// "access denied to rds:DescribeDBInstances".
func (e AccessError) Explain() string {
	res := ""
	if e.Resource != "" {
		res = " (" + e.Resource + ")"
	}
	return gapPhrase(e.Kind()) + " " + e.Action + res
}

func gapPhrase(k GapKind) string {
	switch k {
	case GapDenied:
		return "access denied to"
	case GapUnsupported:
		return "the endpoint does not serve"
	case GapThrottled:
		return "throttled after retries:"
	case GapNotReported:
		return "not reported by"
	case GapNotInPlan:
		return "not in the plan:"
	}
	return "failed:"
}

// gapKind is the kind of an unknown result whose missing actions are
// missing: the worst-explained kind among their failures in r (denied
// first, since granting it is what a person can do), or GapNotReported
// when no call failed.
func gapKind(r *Region, iam []AccessError, missing []string) GapKind {
	var kinds []GapKind
	for _, errs := range [][]AccessError{r.Errors, iam} {
		for _, e := range errs {
			if slices.Contains(missing, e.Action) {
				kinds = append(kinds, e.Kind())
			}
		}
	}
	for _, k := range []GapKind{GapDenied, GapUnsupported, GapThrottled, GapError, GapNotInPlan} {
		if slices.Contains(kinds, k) {
			return k
		}
	}
	return GapNotReported
}

// UnknownText is how a report explains an unknown finding's missing data:
// " [access denied: rds:DescribeDBSnapshots]"; "" when f is not unknown
// or names no action.
func UnknownText(f Finding) string {
	if f.Status != StatusUnknown || len(f.MissingActions) == 0 {
		return ""
	}
	label := map[GapKind]string{
		GapDenied: "access denied", GapUnsupported: "not served by the endpoint",
		GapThrottled: "throttled after retries", GapNotReported: "not reported",
		GapNotInPlan: "not in the plan", GapAfterApply: "known after apply",
	}[f.Reason]
	if label == "" {
		label = "read failed"
	}
	return fmt.Sprintf(" [%s: %s]", label, strings.Join(f.MissingActions, ", "))
}
