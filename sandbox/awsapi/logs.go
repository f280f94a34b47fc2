package awsapi

// logsOps are the CloudWatch Logs operations the sandbox serves.
func (s *Server) logsOps() map[string]op {
	return map[string]op{"DescribeLogGroups": s.describeLogGroups, "DescribeMetricFilters": s.describeMetricFilters}
}

// describeLogGroups answers CloudWatch Logs DescribeLogGroups: the
// sandbox's databases export no logs, so there are none.
func (s *Server) describeLogGroups(c *call) (any, *apiError) {
	if e := s.authorize(c, "logs:DescribeLogGroups", s.arn("logs", "log-group:*"), nil); e != nil {
		return nil, e
	}
	return map[string]any{"logGroups": []logGroupJSON{}}, nil
}

// describeMetricFilters answers CloudWatch Logs DescribeMetricFilters:
// none (no-outside-vpc-connection-alarm fails).
func (s *Server) describeMetricFilters(c *call) (any, *apiError) {
	if e := s.authorize(c, "logs:DescribeMetricFilters", s.arn("logs", "log-group:*"), nil); e != nil {
		return nil, e
	}
	return map[string]any{"metricFilters": []struct{}{}}, nil
}
