// Package posture checks RDS and Aurora databases, and the account around
// them, against rdsgate's hardening guidance (private subnets, tight
// security groups, encryption, IAM authentication, managed master secrets,
// backups, deletion protection, CloudTrail, exported audit logs and an alarm
// on connections from outside the VPC).
//
// The package is split in three steps, each usable on its own:
//
//   - a [Snapshot] is everything the checks read, per region, collected
//     read-only from the AWS APIs by package posture/collect (or loaded from
//     a file saved earlier: it is plain JSON, see [Snapshot] and
//     [SchemaVersion]). A read the caller was not allowed to make is recorded
//     in the snapshot as an [AccessError] naming the API action;
//   - [Checks] are small pure functions over a snapshot and one database
//     ([DB]); a check whose input could not be collected says
//     [StatusUnknown] and names the missing actions, it never passes;
//   - [Audit] runs the checks over every database and returns a [Report],
//     which package posture/report renders as text, JSON, SARIF or Markdown.
//
// [AlarmKit] prints (never applies) the CloudWatch Logs metric filter and
// alarm that close the no-outside-vpc-connection-alarm check.
//
// Nothing in this package or its subpackages changes the account.
package posture
