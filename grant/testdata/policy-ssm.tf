resource "aws_iam_policy" "rdsgate_billing_etl_job" {
  name        = "rdsgate-billing-etl-job"
  description = "etl-job on billing through Session Manager"
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "ConnectAsDatabaseUser"
        Effect   = "Allow"
        Action   = "rds-db:connect"
        Resource = "arn:aws:rds-db:eu-west-1:123456789012:dbuser:cluster-ZYXWVUTSRQPONMLKJIHGFEDCBA/etl-job"
      },
      {
        Sid    = "StartPortForwardingToTheDatabase"
        Effect = "Allow"
        Action = "ssm:StartSession"
        Resource = [
          "arn:aws:ec2:eu-west-1:123456789012:instance/i-0123456789abcdef0",
          "arn:aws:ssm:eu-west-1::document/AWS-StartPortForwardingSessionToRemoteHost",
        ]
        Condition = {
          BoolIfExists = {
            "ssm:SessionDocumentAccessCheck" = "true"
          }
        }
      },
      {
        Sid    = "FindTheBastionAndTheDatabase"
        Effect = "Allow"
        Action = [
          "ssm:DescribeInstanceInformation",
          "ec2:DescribeInstances",
          "rds:DescribeDBInstances",
          "rds:DescribeDBClusters",
        ]
        Resource = "*"
      },
      {
        Sid    = "EndAndResumeOwnSessionsOnly"
        Effect = "Allow"
        Action = [
          "ssm:TerminateSession",
          "ssm:ResumeSession",
        ]
        Resource = "arn:aws:ssm:*:*:session/*"
        Condition = {
          StringLike = {
            "ssm:resourceTag/aws:ssmmessages:session-id" = ["$${aws:userid}"]
          }
        }
      },
    ]
  })
}
