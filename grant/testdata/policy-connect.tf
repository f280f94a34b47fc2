resource "aws_iam_policy" "rdsgate_orders_prod_jane" {
  name        = "rdsgate-orders-prod-jane"
  description = "rds-db:connect as jane on orders-prod"
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "ConnectAsDatabaseUser"
        Effect   = "Allow"
        Action   = "rds-db:connect"
        Resource = "arn:aws:rds-db:eu-west-1:123456789012:dbuser:db-ABCDEFGHIJKLMNOPQRSTUVWXY1/jane"
      },
      {
        Sid    = "FindTheDatabase"
        Effect = "Allow"
        Action = [
          "rds:DescribeDBInstances",
          "rds:DescribeDBClusters",
        ]
        Resource = "*"
      },
    ]
  })
}
