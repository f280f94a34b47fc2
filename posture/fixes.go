package posture

import (
	"fmt"
	"slices"
	"strings"
)

// Fixes that depend on the database: a check's static [Remediation] is
// right for every engine and kind it can fail on, or the check has a fix
// function here that writes the one for this database (its engine's log
// types and parameters, a cluster's own commands, its member instances).

// memberIDs are the instances a setting of db lives on: the instance, or
// a cluster's members ("INSTANCE" when none is known).
func memberIDs(db *DB) []string {
	if db.Instance != nil {
		return []string{db.Instance.ID}
	}
	var ids []string
	for _, m := range db.Members {
		ids = append(ids, m.ID)
	}
	if len(ids) == 0 {
		ids = append(ids, db.Cluster.Members...)
	}
	if len(ids) == 0 {
		ids = []string{"INSTANCE"}
	}
	return ids
}

// perMember repeats the AWS CLI line format (one %s: the instance id) for
// each instance a setting of db lives on.
func perMember(db *DB, format string) string {
	var lines []string
	for _, id := range memberIDs(db) {
		lines = append(lines, fmt.Sprintf(format, id))
	}
	return strings.Join(lines, "\n")
}

// memberTerraform is the Terraform block that sets attr on db's instances:
// aws_db_instance for an instance, aws_rds_cluster_instance for members.
func memberTerraform(db *DB, attr string) string {
	if db.Kind == KindCluster {
		return fmt.Sprintf("resource \"aws_rds_cluster_instance\" \"{id}\" {\n  # every member of cluster {id}\n  %s\n}", attr)
	}
	return fmt.Sprintf("resource \"aws_db_instance\" \"{id}\" {\n  %s\n}", attr)
}

// multiAZCluster: a Multi-AZ DB cluster (not Aurora), whose settings are
// the cluster's, not its members'.
func multiAZCluster(db *DB) bool { return db.Kind == KindCluster && !db.Aurora() }

func fixPublicAccess(db *DB) Remediation {
	if multiAZCluster(db) {
		return Remediation{
			Text:      "Turn off public accessibility of the Multi-AZ DB cluster.",
			CLI:       "aws rds modify-db-cluster --region {region} --db-cluster-identifier {id} --no-publicly-accessible --apply-immediately",
			Terraform: "resource \"aws_rds_cluster\" \"{id}\" {\n  publicly_accessible = false\n}",
		}
	}
	text := "Turn off public accessibility."
	if db.Kind == KindCluster {
		text = "Turn off public accessibility of every member instance (Aurora sets it per instance)."
	}
	return Remediation{
		Text:      text,
		CLI:       perMember(db, "aws rds modify-db-instance --region {region} --db-instance-identifier %s --no-publicly-accessible --apply-immediately"),
		Terraform: memberTerraform(db, "publicly_accessible = false"),
	}
}

func fixAutoMinorUpgrade(db *DB) Remediation {
	if multiAZCluster(db) {
		return Remediation{
			Text:      "Enable automatic minor version upgrades on the Multi-AZ DB cluster.",
			CLI:       "aws rds modify-db-cluster --region {region} --db-cluster-identifier {id} --auto-minor-version-upgrade --apply-immediately",
			Terraform: "resource \"aws_rds_cluster\" \"{id}\" {\n  auto_minor_version_upgrade = true\n}",
		}
	}
	text := "Enable automatic minor version upgrades."
	if db.Kind == KindCluster {
		text = "Enable automatic minor version upgrades on every member instance (Aurora sets it per instance)."
	}
	return Remediation{
		Text:      text,
		CLI:       perMember(db, "aws rds modify-db-instance --region {region} --db-instance-identifier %s --auto-minor-version-upgrade --apply-immediately"),
		Terraform: memberTerraform(db, "auto_minor_version_upgrade = true"),
	}
}

// CurrentCA is the RDS CA a rotation moves a server certificate to.
const CurrentCA = "rds-ca-rsa2048-g1"

func fixCA(db *DB) Remediation {
	text := "Rotate the server certificate to a current RDS CA (" + CurrentCA + "); the instance restarts to load it."
	if db.Kind == KindCluster {
		text = "Rotate the server certificate of every member instance to a current RDS CA (" + CurrentCA + "); each restarts to load it."
	}
	return Remediation{
		Text:      text,
		CLI:       perMember(db, "aws rds modify-db-instance --region {region} --db-instance-identifier %s --ca-certificate-identifier "+CurrentCA+" --apply-immediately"),
		Terraform: memberTerraform(db, "ca_cert_identifier = \""+CurrentCA+"\""),
	}
}

func fixMultiAZ(db *DB) Remediation {
	if db.Kind == KindCluster {
		return Remediation{
			Text:      "Add a reader instance in another availability zone; Aurora fails over to it.",
			CLI:       "aws rds create-db-instance --region {region} --db-cluster-identifier {id} --db-instance-identifier {id}-reader --engine {engine} --db-instance-class INSTANCE_CLASS --availability-zone OTHER_AZ",
			Terraform: "resource \"aws_rds_cluster_instance\" \"{id}_reader\" {\n  cluster_identifier = aws_rds_cluster.{id}.id\n  identifier         = \"{id}-reader\"\n  engine             = aws_rds_cluster.{id}.engine\n  instance_class     = INSTANCE_CLASS\n  availability_zone  = OTHER_AZ\n}",
		}
	}
	return Remediation{
		Text:      "Enable Multi-AZ.",
		CLI:       "aws rds modify-db-instance --region {region} --db-instance-identifier {id} --multi-az --apply-immediately",
		Terraform: "resource \"aws_db_instance\" \"{id}\" {\n  multi_az = true\n}",
	}
}

func fixLogExports(db *DB) Remediation {
	logs := RequiredLogExports[db.Engine()]
	quoted := make([]string, len(logs))
	for i, l := range logs {
		quoted[i] = `"` + l + `"`
	}
	text := "Export the " + db.Engine() + " logs " + strings.Join(logs, ", ") + " to CloudWatch Logs."
	switch db.Engine() {
	case "postgres", "aurora-postgresql":
		text += " Set log_connections = 1 in the parameter group so that the postgresql log records connections."
	case "mysql", "mariadb":
		text += " The audit log needs the MARIADB_AUDIT_PLUGIN option in the option group."
	case "aurora-mysql":
		text += " The audit log needs server_audit_logging = 1 in the cluster parameter group."
	}
	return Remediation{
		Text:      text,
		CLI:       "aws rds modify-{kind} --region {region} --{kind}-identifier {id} --cloudwatch-logs-export-configuration '{\"EnableLogTypes\":[" + strings.Join(quoted, ",") + "]}' --apply-immediately",
		Terraform: "resource \"{tf}\" \"{id}\" {\n  enabled_cloudwatch_logs_exports = [" + strings.Join(quoted, ", ") + "]\n}",
	}
}

func fixTLS(db *DB) Remediation {
	param := tlsParameter(db.Engine())
	group, cluster, _ := dbParameterGroup(db)
	if group == "" || strings.HasPrefix(group, "default.") {
		group = "CUSTOM_PARAM_GROUP"
	}
	if cluster {
		return Remediation{
			Text:      "Set " + param + " to 1 in a custom DB cluster parameter group attached to the cluster.",
			CLI:       "aws rds modify-db-cluster-parameter-group --region {region} --db-cluster-parameter-group-name " + group + " --parameters ParameterName=" + param + ",ParameterValue=1,ApplyMethod=immediate",
			Terraform: "resource \"aws_rds_cluster_parameter_group\" \"{id}\" {\n  parameter {\n    name  = \"" + param + "\"\n    value = \"1\"\n  }\n}",
		}
	}
	return Remediation{
		Text:      "Set " + param + " to 1 in a custom DB parameter group attached to the instance.",
		CLI:       "aws rds modify-db-parameter-group --region {region} --db-parameter-group-name " + group + " --parameters ParameterName=" + param + ",ParameterValue=1,ApplyMethod=immediate",
		Terraform: "resource \"aws_db_parameter_group\" \"{id}\" {\n  parameter {\n    name  = \"" + param + "\"\n    value = \"1\"\n  }\n}",
	}
}

func fixStorageUnencrypted(db *DB) Remediation {
	if db.Kind == KindCluster {
		return Remediation{
			Text:      "Copy a cluster snapshot with encryption and restore a new cluster from it, then switch over.",
			CLI:       "aws rds copy-db-cluster-snapshot --region {region} --source-db-cluster-snapshot-identifier SNAPSHOT --target-db-cluster-snapshot-identifier {id}-encrypted --kms-key-id alias/aws/rds\naws rds restore-db-cluster-from-snapshot --region {region} --db-cluster-identifier {id}-encrypted --snapshot-identifier {id}-encrypted --engine {engine}",
			Terraform: "resource \"aws_rds_cluster\" \"{id}\" {\n  storage_encrypted = true # forces a new resource\n}",
		}
	}
	return Remediation{
		Text:      "Copy a snapshot with encryption and restore from it, then switch over.",
		CLI:       "aws rds copy-db-snapshot --region {region} --source-db-snapshot-identifier SNAPSHOT --target-db-snapshot-identifier {id}-encrypted --kms-key-id alias/aws/rds\naws rds restore-db-instance-from-db-snapshot --region {region} --db-instance-identifier {id}-encrypted --db-snapshot-identifier {id}-encrypted",
		Terraform: "resource \"aws_db_instance\" \"{id}\" {\n  storage_encrypted = true # forces a new resource\n}",
	}
}

func fixDefaultMasterUsername(db *DB) Remediation {
	if db.Kind == KindCluster {
		return Remediation{
			Text:      "Restore the cluster from a snapshot with a non-default master user name (it cannot be modified); use IAM-authenticated users for everything else.",
			CLI:       "aws rds restore-db-cluster-from-snapshot --region {region} --db-cluster-identifier {id}-new --snapshot-identifier SNAPSHOT --engine {engine}  # then rename users in SQL",
			Terraform: "resource \"aws_rds_cluster\" \"{id}\" {\n  master_username = \"a_non_default_name\" # forces a new resource\n}",
		}
	}
	return Remediation{
		Text:      "Restore the instance from a snapshot with a non-default master user name (it cannot be modified); use IAM-authenticated users for everything else.",
		CLI:       "aws rds restore-db-instance-from-db-snapshot --region {region} --db-instance-identifier {id}-new --db-snapshot-identifier SNAPSHOT  # then rename users in SQL",
		Terraform: "resource \"aws_db_instance\" \"{id}\" {\n  username = \"a_non_default_name\" # forces a new resource\n}",
	}
}

func fixCrossRegionBackup(db *DB) Remediation {
	switch {
	case db.Kind == KindInstance:
		return Remediation{
			Text:      "Replicate the instance's automated backups to another region.",
			CLI:       "aws rds start-db-instance-automated-backups-replication --region OTHER_REGION --source-db-instance-arn {arn} --backup-retention-period 7",
			Terraform: "resource \"aws_db_instance_automated_backups_replication\" \"{id}\" {\n  provider               = aws.other_region\n  source_db_instance_arn = \"{arn}\"\n  retention_period       = 7\n}",
		}
	case db.Aurora():
		return Remediation{
			Text:      "Make the cluster the primary of a global database and add a secondary cluster in another region (or copy snapshots there with AWS Backup).",
			CLI:       "aws rds create-global-cluster --region {region} --global-cluster-identifier {id}-global --source-db-cluster-identifier {arn}\naws rds create-db-cluster --region OTHER_REGION --db-cluster-identifier {id}-secondary --engine {engine} --global-cluster-identifier {id}-global",
			Terraform: "resource \"aws_rds_global_cluster\" \"{id}\" {\n  global_cluster_identifier = \"{id}-global\"\n  source_db_cluster_identifier = aws_rds_cluster.{id}.arn\n}",
		}
	}
	return Remediation{
		Text:      "Copy the Multi-AZ DB cluster's backups to another region with an AWS Backup plan.",
		CLI:       "aws backup create-backup-plan --region {region} --backup-plan '{\"BackupPlanName\":\"{id}-cross-region\",\"Rules\":[{\"RuleName\":\"daily\",\"TargetBackupVaultName\":\"Default\",\"ScheduleExpression\":\"cron(0 5 * * ? *)\",\"CopyActions\":[{\"DestinationBackupVaultArn\":\"OTHER_REGION_VAULT_ARN\"}]}]}'",
		Terraform: "resource \"aws_backup_plan\" \"{id}\" {\n  name = \"{id}-cross-region\"\n  rule {\n    rule_name         = \"daily\"\n    target_vault_name = \"Default\"\n    schedule          = \"cron(0 5 * * ? *)\"\n    copy_action {\n      destination_vault_arn = OTHER_REGION_VAULT_ARN\n    }\n  }\n}",
	}
}

func fixSnapshotPublic(db *DB) Remediation {
	if db.Kind == KindCluster {
		return Remediation{
			Text:      "Remove \"all\" from the cluster snapshot's restore attribute.",
			CLI:       "aws rds modify-db-cluster-snapshot-attribute --region {region} --db-cluster-snapshot-identifier SNAPSHOT --attribute-name restore --values-to-remove all",
			Terraform: "resource \"aws_db_cluster_snapshot\" \"{id}\" {\n  shared_accounts = [] # never \"all\"\n}",
		}
	}
	return Remediation{
		Text:      "Remove \"all\" from the snapshot's restore attribute.",
		CLI:       "aws rds modify-db-snapshot-attribute --region {region} --db-snapshot-identifier SNAPSHOT --attribute-name restore --values-to-remove all",
		Terraform: "resource \"aws_db_snapshot\" \"{id}\" {\n  shared_accounts = [] # never \"all\"\n}",
	}
}

func fixSnapshotUnencrypted(db *DB) Remediation {
	if db.Kind == KindCluster {
		return Remediation{
			Text:      "Copy the cluster snapshot with a KMS key and delete the unencrypted one.",
			CLI:       "aws rds copy-db-cluster-snapshot --region {region} --source-db-cluster-snapshot-identifier SNAPSHOT --target-db-cluster-snapshot-identifier SNAPSHOT-encrypted --kms-key-id alias/aws/rds\naws rds delete-db-cluster-snapshot --region {region} --db-cluster-snapshot-identifier SNAPSHOT",
			Terraform: "# copy with the AWS CLI: Terraform has no cluster snapshot copy resource\nresource \"aws_rds_cluster\" \"{id}\" {\n  storage_encrypted = true\n}",
		}
	}
	return Remediation{
		Text:      "Copy the snapshot with a KMS key and delete the unencrypted one.",
		CLI:       "aws rds copy-db-snapshot --region {region} --source-db-snapshot-identifier SNAPSHOT --target-db-snapshot-identifier SNAPSHOT-encrypted --kms-key-id alias/aws/rds\naws rds delete-db-snapshot --region {region} --db-snapshot-identifier SNAPSHOT",
		Terraform: "resource \"aws_db_snapshot_copy\" \"{id}\" {\n  kms_key_id = KMS_KEY_ARN\n}",
	}
}

// fixOutsideVPCAlarm is the metric filter and alarm of [AlarmKit] for db,
// with the connection log export it needs when it is not on.
func fixOutsideVPCAlarm(db *DB) Remediation {
	d, ok := alarmDef(db, AlarmOptions{})
	if !ok {
		return Remediation{Text: "No connection log to filter for engine " + db.Engine() + "."}
	}
	log := connectionLog(db.Engine())
	text := "Create a metric filter on the " + log + " log for connections from outside the VPC, and an alarm on it that notifies a topic (replace TOPIC)."
	cli := alarmCLI(d)
	tf := alarmTerraform(d)
	if !contains(logExports(db), log) {
		text = "Export the " + log + " log, then c" + text[1:]
		cli = "aws rds modify-{kind} --region {region} --{kind}-identifier {id} --cloudwatch-logs-export-configuration '{\"EnableLogTypes\":[\"" + log + "\"]}' --apply-immediately\n" + cli
	}
	return Remediation{Text: text, CLI: cli, Terraform: tf}
}

// badBastions are the ids of db's bastions for which bad holds
// ("INSTANCE_ID" when none is known, as in a report's general fix).
func badBastions(db *DB, bad func(*EC2Instance) bool) []*EC2Instance {
	bs, _ := bastions(db)
	var out []*EC2Instance
	for _, b := range bs {
		if bad(b) {
			out = append(out, b)
		}
	}
	if len(out) == 0 {
		out = []*EC2Instance{{ID: "INSTANCE_ID", SecurityGroups: []string{"SG_ID"}}}
	}
	return out
}

// perBastion repeats the line format (one %s: the instance id) for each.
func perBastion(bs []*EC2Instance, format string) string {
	lines := make([]string, len(bs))
	for i, b := range bs {
		lines[i] = fmt.Sprintf(format, b.ID)
	}
	return strings.Join(lines, "\n")
}

func fixBastionPublicIP(db *DB) Remediation {
	bs := badBastions(db, func(b *EC2Instance) bool { return b.PublicIP != "" })
	return Remediation{
		Text: "Remove the bastion's public IPv4 address (Session Manager does not need one) and keep it in a private subnet whose route reaches Systems Manager through a NAT gateway or interface endpoints.",
		CLI: perBastion(bs, "aws ec2 modify-network-interface-attribute --region {region} --no-associate-public-ip-address --network-interface-id "+
			"$(aws ec2 describe-instances --region {region} --instance-ids %s --query 'Reservations[0].Instances[0].NetworkInterfaces[0].NetworkInterfaceId' --output text)"),
		Terraform: "resource \"aws_instance\" \"bastion\" {\n  associate_public_ip_address = false\n}",
	}
}

func fixBastionKeyPair(db *DB) Remediation {
	bs := badBastions(db, func(b *EC2Instance) bool { return b.KeyName != "" })
	var cli []string
	for _, b := range bs {
		cli = append(cli, fmt.Sprintf("aws ssm send-command --region {region} --instance-ids %s --document-name AWS-RunShellScript --parameters 'commands=[\"find /home /root -path \\\"*/.ssh/authorized_keys\\\" -exec truncate -s 0 {} +\"]'", b.ID))
		if b.KeyName != "" {
			cli = append(cli, "aws ec2 delete-key-pair --region {region} --key-name "+b.KeyName)
		}
	}
	return Remediation{
		Text:      "Empty the bastion's authorized_keys through Session Manager and delete the key pair; a replacement bastion is launched without one (the key name of a running instance cannot be changed).",
		CLI:       strings.Join(cli, "\n"),
		Terraform: "resource \"aws_instance\" \"bastion\" {\n  key_name = null # replaces the instance\n}",
	}
}

func fixBastionSSHOpen(db *DB) Remediation {
	ix := db.Region.index()
	var cli []string
	for _, b := range badBastions(db, func(*EC2Instance) bool { return true }) {
		for _, id := range b.SecurityGroups {
			sg := ix.sgs[id]
			for _, cidr := range []string{"0.0.0.0/0", "::/0"} {
				open := sg == nil && cidr == "0.0.0.0/0"
				if sg != nil {
					for _, r := range sg.Ingress {
						open = open || r.coversPort(22) && slices.Contains(r.CIDRs, cidr)
					}
				}
				if !open {
					continue
				}
				flag := "--cidr " + cidr
				if cidr == "::/0" {
					flag = "--ip-permissions 'IpProtocol=tcp,FromPort=22,ToPort=22,Ipv6Ranges=[{CidrIpv6=::/0}]'"
					cli = append(cli, "aws ec2 revoke-security-group-ingress --region {region} --group-id "+id+" "+flag)
					continue
				}
				cli = append(cli, fmt.Sprintf("aws ec2 revoke-security-group-ingress --region {region} --group-id %s --protocol tcp --port 22 %s", id, flag))
			}
		}
	}
	if len(cli) == 0 {
		cli = []string{"aws ec2 revoke-security-group-ingress --region {region} --group-id SG_ID --protocol tcp --port 22 --cidr 0.0.0.0/0"}
	}
	return Remediation{
		Text:      "Remove the SSH rule from the bastion's security group: Session Manager needs no inbound rule. If a rule covers more than port 22, narrow it instead.",
		CLI:       strings.Join(slices.Compact(cli), "\n"),
		Terraform: "resource \"aws_security_group\" \"bastion\" {\n  # no ingress blocks: Session Manager needs none\n  ingress = []\n}",
	}
}

func fixBastionIMDSv1(db *DB) Remediation {
	bs := badBastions(db, func(b *EC2Instance) bool { return b.HTTPTokens != "required" })
	return Remediation{
		Text:      "Require IMDSv2 (session tokens) on the bastion, with a hop limit of 1.",
		CLI:       perBastion(bs, "aws ec2 modify-instance-metadata-options --region {region} --instance-id %s --http-tokens required --http-put-response-hop-limit 1 --http-endpoint enabled"),
		Terraform: "resource \"aws_instance\" \"bastion\" {\n  metadata_options {\n    http_tokens                 = \"required\"\n    http_put_response_hop_limit = 1\n  }\n}",
	}
}

func fixEngineUpgrade(db *DB) Remediation {
	text := "Upgrade to a major version in standard support; restore a snapshot and upgrade that first to test it."
	if db.Kind == KindCluster && db.Aurora() {
		text = "Upgrade the cluster to a major version in standard support (members follow); restore a snapshot and upgrade that first to test it."
	}
	tf := "resource \"{tf}\" \"{id}\" {\n  engine_version              = TARGET_VERSION\n  allow_major_version_upgrade = true\n}"
	return Remediation{
		Text:      text,
		CLI:       "aws rds modify-{kind} --region {region} --{kind}-identifier {id} --engine-version TARGET_VERSION --allow-major-version-upgrade --apply-immediately",
		Terraform: tf,
	}
}

func fixEnhancedMonitoring(db *DB) Remediation {
	const attrs = "monitoring_interval = 60\n  monitoring_role_arn = MONITORING_ROLE_ARN"
	if multiAZCluster(db) {
		return Remediation{
			Text:      "Turn on Enhanced Monitoring on the Multi-AZ DB cluster (interval 60 s or less) with a monitoring role trusted by monitoring.rds.amazonaws.com.",
			CLI:       "aws rds modify-db-cluster --region {region} --db-cluster-identifier {id} --monitoring-interval 60 --monitoring-role-arn MONITORING_ROLE_ARN --apply-immediately",
			Terraform: "resource \"aws_rds_cluster\" \"{id}\" {\n  " + attrs + "\n}",
		}
	}
	text := "Turn on Enhanced Monitoring (interval 60 s or less) with a monitoring role trusted by monitoring.rds.amazonaws.com."
	if db.Kind == KindCluster {
		text = "Turn on Enhanced Monitoring on every member instance (Aurora sets it per instance) with a monitoring role trusted by monitoring.rds.amazonaws.com."
	}
	return Remediation{
		Text:      text,
		CLI:       perMember(db, "aws rds modify-db-instance --region {region} --db-instance-identifier %s --monitoring-interval 60 --monitoring-role-arn MONITORING_ROLE_ARN --apply-immediately"),
		Terraform: memberTerraform(db, attrs),
	}
}

func fixEventSubscription(db *DB) Remediation {
	var cli, tf []string
	for _, st := range eventSources(db) {
		if u := uncoveredEvents(db.Region, st, db.ID()); len(u) == 0 && len(db.Region.EventSubscriptions) > 0 {
			continue
		}
		cats := criticalEvents[st]
		q := make([]string, len(cats))
		for i, c := range cats {
			q[i] = `"` + c + `"`
		}
		name := "rdsgate-" + st + "-events"
		cli = append(cli, "aws rds create-event-subscription --region {region} --subscription-name "+name+" --sns-topic-arn TOPIC_ARN --source-type "+st+" --event-categories "+strings.Join(q, " "))
		tf = append(tf, "resource \"aws_db_event_subscription\" \""+strings.ReplaceAll(name, "-", "_")+"\" {\n  name             = \""+name+"\"\n  sns_topic        = TOPIC_ARN\n  source_type      = \""+st+"\"\n  event_categories = ["+strings.Join(q, ", ")+"]\n}")
	}
	return Remediation{
		Text:      "Subscribe an SNS topic (replace TOPIC_ARN) to the critical events of the database and of the security groups.",
		CLI:       strings.Join(cli, "\n"),
		Terraform: strings.Join(tf, "\n"),
	}
}

func fixDefaultPort(db *DB) Remediation {
	text := "Move the database to a non-default port (it restarts), then change the security group rules and the clients' settings to it."
	if db.Kind == KindCluster {
		return Remediation{
			Text:      text,
			CLI:       "aws rds modify-db-cluster --region {region} --db-cluster-identifier {id} --port NEW_PORT --apply-immediately",
			Terraform: "resource \"aws_rds_cluster\" \"{id}\" {\n  port = NEW_PORT\n}",
		}
	}
	return Remediation{
		Text:      text,
		CLI:       "aws rds modify-db-instance --region {region} --db-instance-identifier {id} --db-port-number NEW_PORT --apply-immediately",
		Terraform: "resource \"aws_db_instance\" \"{id}\" {\n  port = NEW_PORT\n}",
	}
}

func fixDefaultVPC(db *DB) Remediation {
	if db.Kind == KindCluster {
		return Remediation{
			Text:      "A cluster cannot change VPC: restore a snapshot into a subnet group of private subnets in a dedicated VPC, then switch over.",
			CLI:       "aws rds restore-db-cluster-from-snapshot --region {region} --db-cluster-identifier {id}-moved --snapshot-identifier SNAPSHOT --engine {engine} --db-subnet-group-name PRIVATE_SUBNET_GROUP --vpc-security-group-ids DB_SG_ID",
			Terraform: "resource \"aws_rds_cluster\" \"{id}\" {\n  db_subnet_group_name = PRIVATE_SUBNET_GROUP # in a dedicated VPC\n}",
		}
	}
	return Remediation{
		Text:      "Move the instance to a subnet group of private subnets in a dedicated VPC (a single-AZ instance can move in place; turn Multi-AZ off for the move, or restore a snapshot there).",
		CLI:       "aws rds modify-db-instance --region {region} --db-instance-identifier {id} --db-subnet-group-name PRIVATE_SUBNET_GROUP --vpc-security-group-ids DB_SG_ID --apply-immediately",
		Terraform: "resource \"aws_db_instance\" \"{id}\" {\n  db_subnet_group_name = PRIVATE_SUBNET_GROUP # in a dedicated VPC\n}",
	}
}

func fixSnapshotShared(db *DB) Remediation {
	if db.Kind == KindCluster {
		return Remediation{
			Text:      "Stop sharing the cluster snapshot with the account (or pass it as trusted if it is yours).",
			CLI:       "aws rds modify-db-cluster-snapshot-attribute --region {region} --db-cluster-snapshot-identifier SNAPSHOT --attribute-name restore --values-to-remove ACCOUNT_ID",
			Terraform: "resource \"aws_db_cluster_snapshot\" \"{id}\" {\n  shared_accounts = [ /* trusted accounts only */ ]\n}",
		}
	}
	return Remediation{
		Text:      "Stop sharing the snapshot with the account (or pass it as trusted if it is yours).",
		CLI:       "aws rds modify-db-snapshot-attribute --region {region} --db-snapshot-identifier SNAPSHOT --attribute-name restore --values-to-remove ACCOUNT_ID",
		Terraform: "resource \"aws_db_snapshot\" \"{id}\" {\n  shared_accounts = [ /* trusted accounts only */ ]\n}",
	}
}

func fixPerformanceInsightsKey(db *DB) Remediation {
	const text = "Performance Insights keeps the key it was turned on with: turn it off, then on again with a customer-managed KMS key (the history collected so far is lost)."
	if multiAZCluster(db) {
		return Remediation{
			Text:      text,
			CLI:       "aws rds modify-db-cluster --region {region} --db-cluster-identifier {id} --no-enable-performance-insights --apply-immediately\naws rds modify-db-cluster --region {region} --db-cluster-identifier {id} --enable-performance-insights --performance-insights-kms-key-id KMS_KEY_ARN --apply-immediately",
			Terraform: "resource \"aws_rds_cluster\" \"{id}\" {\n  performance_insights_enabled    = true\n  performance_insights_kms_key_id = KMS_KEY_ARN\n}",
		}
	}
	return Remediation{
		Text: text,
		CLI: perMember(db, "aws rds modify-db-instance --region {region} --db-instance-identifier %s --no-enable-performance-insights --apply-immediately") + "\n" +
			perMember(db, "aws rds modify-db-instance --region {region} --db-instance-identifier %s --enable-performance-insights --performance-insights-kms-key-id KMS_KEY_ARN --apply-immediately"),
		Terraform: memberTerraform(db, "performance_insights_enabled    = true\n  performance_insights_kms_key_id = KMS_KEY_ARN"),
	}
}
