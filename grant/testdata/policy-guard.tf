resource "aws_iam_policy" "rdsgate_deny_delete" {
  name        = "rdsgate-deny-delete"
  description = "deletion guard"
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid    = "DenyDeletingProtectedDatabases"
        Effect = "Deny"
        Action = [
          "rds:DeleteDBInstance",
          "rds:DeleteDBCluster",
        ]
        Resource = [
          "arn:aws:rds:eu-west-1:123456789012:db:orders-prod",
          "arn:aws:rds:eu-west-1:123456789012:db:billing-1",
          "arn:aws:rds:eu-west-1:123456789012:cluster:billing",
        ]
      },
      {
        Sid    = "DenyModifyingProtectedDatabases"
        Effect = "Deny"
        Action = [
          "rds:ModifyDBInstance",
          "rds:ModifyDBCluster",
        ]
        Resource = [
          "arn:aws:rds:eu-west-1:123456789012:db:orders-prod",
          "arn:aws:rds:eu-west-1:123456789012:db:billing-1",
          "arn:aws:rds:eu-west-1:123456789012:cluster:billing",
        ]
        Condition = {
          ArnNotLike = {
            "aws:PrincipalArn" = ["arn:aws:iam::123456789012:role/break-glass"]
          }
        }
      },
    ]
  })
}
