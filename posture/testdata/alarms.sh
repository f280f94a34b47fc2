# Metric filter and alarm per database: review, then run. Needs the connection log exported
# (PostgreSQL: log_connections = 1 and the postgresql export; MySQL/MariaDB: the audit export).

# c1 (aurora-postgresql, us-east-1)
aws logs put-metric-filter --region us-east-1 \
  --log-group-name '/aws/rds/cluster/c1/postgresql' \
  --filter-name 'rdsgate-outside-vpc-c1' \
  --filter-pattern '"connection received" -"host=127.0.0.1" -"host=::1" -"host=[local]" -"host=10.0."' \
  --metric-transformations metricName=OutsideVPCConnections-c1,metricNamespace=rdsgate,metricValue=1,defaultValue=0
aws cloudwatch put-metric-alarm --region us-east-1 \
  --alarm-name 'rdsgate-outside-vpc-connection-c1' \
  --alarm-description 'Connection to c1 from outside its VPC' \
  --namespace 'rdsgate' --metric-name 'OutsideVPCConnections-c1' \
  --statistic Sum --period 300 --evaluation-periods 1 --threshold 1 \
  --comparison-operator GreaterThanOrEqualToThreshold --treat-missing-data notBreaching \
  --alarm-actions 'arn:aws:sns:us-east-1:123456789012:oncall'

# db1 (postgres, us-east-1)
aws logs put-metric-filter --region us-east-1 \
  --log-group-name '/aws/rds/instance/db1/postgresql' \
  --filter-name 'rdsgate-outside-vpc-db1' \
  --filter-pattern '"connection received" -"host=127.0.0.1" -"host=::1" -"host=[local]" -"host=10.0."' \
  --metric-transformations metricName=OutsideVPCConnections-db1,metricNamespace=rdsgate,metricValue=1,defaultValue=0
aws cloudwatch put-metric-alarm --region us-east-1 \
  --alarm-name 'rdsgate-outside-vpc-connection-db1' \
  --alarm-description 'Connection to db1 from outside its VPC' \
  --namespace 'rdsgate' --metric-name 'OutsideVPCConnections-db1' \
  --statistic Sum --period 300 --evaluation-periods 1 --threshold 1 \
  --comparison-operator GreaterThanOrEqualToThreshold --treat-missing-data notBreaching \
  --alarm-actions 'arn:aws:sns:us-east-1:123456789012:oncall'

# shop-maria (mariadb, us-east-1)
aws logs put-metric-filter --region us-east-1 \
  --log-group-name '/aws/rds/instance/shop-maria/audit' \
  --filter-name 'rdsgate-outside-vpc-shop-maria' \
  --filter-pattern '"CONNECT" -",localhost," -",127.0.0.1," -",172.16.16." -",172.16.17." -",172.16.18." -",172.16.19." -",172.16.20." -",172.16.21." -",172.16.22." -",172.16.23." -",172.16.24." -",172.16.25." -",172.16.26." -",172.16.27." -",172.16.28." -",172.16.29." -",172.16.30." -",172.16.31."' \
  --metric-transformations metricName=OutsideVPCConnections-shop-maria,metricNamespace=rdsgate,metricValue=1,defaultValue=0
aws cloudwatch put-metric-alarm --region us-east-1 \
  --alarm-name 'rdsgate-outside-vpc-connection-shop-maria' \
  --alarm-description 'Connection to shop-maria from outside its VPC' \
  --namespace 'rdsgate' --metric-name 'OutsideVPCConnections-shop-maria' \
  --statistic Sum --period 300 --evaluation-periods 1 --threshold 1 \
  --comparison-operator GreaterThanOrEqualToThreshold --treat-missing-data notBreaching \
  --alarm-actions 'arn:aws:sns:us-east-1:123456789012:oncall'
