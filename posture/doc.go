// Package posture checks RDS and Aurora databases, and the account around
// them, against rdsgate's hardening guidance. A [Snapshot] (collected
// read-only by posture/collect, or loaded from a saved file) feeds the
// [Checks]; [Audit] runs them into a [Report] that posture/report renders.
// Nothing in this package or its subpackages changes the account.
package posture
