# Metric filter and alarm per database.

resource "aws_cloudwatch_log_metric_filter" "c1_outside_vpc" {
  name           = "rdsgate-outside-vpc-c1"
  log_group_name = "/aws/rds/cluster/c1/postgresql"
  pattern        = "\"connection received\" -\"host=127.0.0.1\" -\"host=::1\" -\"host=[local]\" -\"host=10.0.\""

  metric_transformation {
    name          = "OutsideVPCConnections-c1"
    namespace     = "rdsgate"
    value         = "1"
    default_value = "0"
  }
}

resource "aws_cloudwatch_metric_alarm" "c1_outside_vpc" {
  alarm_name          = "rdsgate-outside-vpc-connection-c1"
  alarm_description   = "Connection to c1 from outside its VPC"
  namespace           = aws_cloudwatch_log_metric_filter.c1_outside_vpc.metric_transformation[0].namespace
  metric_name         = aws_cloudwatch_log_metric_filter.c1_outside_vpc.metric_transformation[0].name
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = ["arn:aws:sns:us-east-1:123456789012:oncall"]
}

resource "aws_cloudwatch_log_metric_filter" "db1_outside_vpc" {
  name           = "rdsgate-outside-vpc-db1"
  log_group_name = "/aws/rds/instance/db1/postgresql"
  pattern        = "\"connection received\" -\"host=127.0.0.1\" -\"host=::1\" -\"host=[local]\" -\"host=10.0.\""

  metric_transformation {
    name          = "OutsideVPCConnections-db1"
    namespace     = "rdsgate"
    value         = "1"
    default_value = "0"
  }
}

resource "aws_cloudwatch_metric_alarm" "db1_outside_vpc" {
  alarm_name          = "rdsgate-outside-vpc-connection-db1"
  alarm_description   = "Connection to db1 from outside its VPC"
  namespace           = aws_cloudwatch_log_metric_filter.db1_outside_vpc.metric_transformation[0].namespace
  metric_name         = aws_cloudwatch_log_metric_filter.db1_outside_vpc.metric_transformation[0].name
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = ["arn:aws:sns:us-east-1:123456789012:oncall"]
}

resource "aws_cloudwatch_log_metric_filter" "shop_maria_outside_vpc" {
  name           = "rdsgate-outside-vpc-shop-maria"
  log_group_name = "/aws/rds/instance/shop-maria/audit"
  pattern        = "\"CONNECT\" -\",localhost,\" -\",127.0.0.1,\" -\",172.16.16.\" -\",172.16.17.\" -\",172.16.18.\" -\",172.16.19.\" -\",172.16.20.\" -\",172.16.21.\" -\",172.16.22.\" -\",172.16.23.\" -\",172.16.24.\" -\",172.16.25.\" -\",172.16.26.\" -\",172.16.27.\" -\",172.16.28.\" -\",172.16.29.\" -\",172.16.30.\" -\",172.16.31.\""

  metric_transformation {
    name          = "OutsideVPCConnections-shop-maria"
    namespace     = "rdsgate"
    value         = "1"
    default_value = "0"
  }
}

resource "aws_cloudwatch_metric_alarm" "shop_maria_outside_vpc" {
  alarm_name          = "rdsgate-outside-vpc-connection-shop-maria"
  alarm_description   = "Connection to shop-maria from outside its VPC"
  namespace           = aws_cloudwatch_log_metric_filter.shop_maria_outside_vpc.metric_transformation[0].namespace
  metric_name         = aws_cloudwatch_log_metric_filter.shop_maria_outside_vpc.metric_transformation[0].name
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = ["arn:aws:sns:us-east-1:123456789012:oncall"]
}
