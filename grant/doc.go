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
//     profile (read-only, read-write, owner through group roles, or an
//     explicit list) and SQL that undoes it (GrantPlan, RevokePlan); Plan.Apply runs it over an
//     administrative connection, skipping what is already in place, so that
//     applying a plan twice changes nothing and says so;
//   - IAM policy documents that allow rds-db:connect as that user on the
//     database's resource id (never its name), the Session Manager
//     statements for the bastion route, and a deletion guard (Policy,
//     DenyDeletePolicy), rendered as JSON, Terraform or CloudFormation;
//   - a listing of a database's users with how they sign in and their
//     access level (ListUsers);
//   - the administrative connection these run over (OpenAdmin): the master
//     secret or a prompt, verify-full TLS over the caller's route, and IAM
//     tokens when RDS refuses the password of a master user in rds_iam.
//
// Identifiers and literals are always quoted for the engine (quote.go), so
// that names with quotes, capitals, dashes or reserved words work and cannot
// inject SQL. The master user is refused everywhere: it is for
// administration, never handed out.
//
// # Group roles
//
// Access goes through one role without login per access level and
// database (roles.go): rdsgate_<db>_read, _write and _owner hold the
// privileges, and a person is a member of exactly one; granting another
// profile moves the membership. The custom profile's privileges are the
// user's own. Revoke removes the membership and drops the user; the group
// roles stay for the others.
//
// # PostgreSQL
//
// grant: the owner group (the administrative user joins it: only members
// may set a role's default privileges), the profile's group with CONNECT,
// USAGE on the schemas (default public), privileges on the existing tables
// and sequences, and ALTER DEFAULT PRIVILEGES FOR ROLE the owner group and
// FOR ROLE CURRENT_USER; then CREATE ROLE ... LOGIN, GRANT rds_iam and the
// membership. An owner's login role has the owner group as its role in the
// database, so that what it creates belongs to the group and the default
// privileges reach readers and writers (sql_postgres.go explains why).
//
// revoke: the memberships, every privilege the user holds itself (so it
// undoes any grant, an rdsgate's before group roles too), then DROP ROLE.
// When the role owns objects revoke refuses and says how to hand them over
// (REASSIGN OWNED BY ... TO ...): dropping or silently reassigning
// somebody's tables is a decision for a person.
//
// # MySQL and MariaDB
//
// grant: CREATE ROLE IF NOT EXISTS with the profile's privileges on
// `db`.* (which cover tables created later), CREATE USER IF NOT EXISTS
// 'u'@'%' IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS' REQUIRE SSL
// (RDS's syntax; the sandbox's MariaDB front rewrites it to its IAM
// emulation), GRANT role and SET DEFAULT ROLE, spelled for MariaDB or MySQL
// 8; without roles (MySQL 5.7) the privileges go to the user. revoke: the
// memberships, REVOKE on `db`.*, then DROP USER.
