// Package grant writes what it takes to let one person or program into a
// database with its own AWS identity, and nothing more: the SQL that creates
// and revokes an IAM-authenticated user, the IAM policies that let it connect,
// a listing of a database's users, and the admin connection these run over.
package grant

// Notes on this package:
//
// Package grant writes what it takes to let one person or program into a
// database with its own AWS identity, and nothing more:
//
//   - SQL that creates an IAM-authenticated database user with a privilege
//     profile (read-only, read-write, owner, or an explicit list) and SQL
//     that undoes it (GrantPlan, RevokePlan); Plan.Apply runs it over an
//     administrative connection, skipping what is already in place, so that
//     applying a plan twice changes nothing and says so;
//   - IAM policy documents that allow rds-db:connect as that user on the
//     database's resource id (never its name), the Session Manager
//     statements for the bastion route, and a deletion guard (Policy,
//     DenyDeletePolicy), rendered as JSON, Terraform or CloudFormation;
//   - a listing of a database's users with how they sign in (ListUsers);
//   - the administrative connection these run over (OpenAdmin): the master
//     secret or a prompt, verify-full TLS over the caller's route, and IAM
//     tokens when RDS refuses the password of a master user in rds_iam.
//
// Identifiers and literals are always quoted for the engine (quote.go), so
// that names with quotes, capitals, dashes or reserved words work and cannot
// inject SQL. The master user is refused everywhere: it is for
// administration, never handed out.
//
// # PostgreSQL
//
// grant: CREATE ROLE ... LOGIN, GRANT rds_iam, CONNECT on the database,
// USAGE on the schemas (default public) and the profile's privileges on the
// existing tables and sequences, plus ALTER DEFAULT PRIVILEGES for the
// tables and sequences the administrative user creates later (default
// privileges only ever apply to objects created by the role that set them).
//
// revoke: the same privileges revoked (every profile's, so it undoes any
// grant), then DROP ROLE, which also ends the rds_iam membership. When the
// role owns objects revoke refuses and says how to hand them over (REASSIGN
// OWNED BY ... TO ...): dropping or silently reassigning somebody's tables is
// a decision for a person.
//
// # MySQL and MariaDB
//
// grant: CREATE USER IF NOT EXISTS 'u'@'%' IDENTIFIED WITH
// AWSAuthenticationPlugin AS 'RDS' REQUIRE SSL (RDS's syntax; the sandbox's
// MariaDB front rewrites it to its IAM emulation) and the profile's
// privileges on `db`.*. revoke: REVOKE on `db`.*, then DROP USER.
