package awsapi

// getCallerIdentityResult is STS GetCallerIdentity's answer.
type getCallerIdentityResult struct {
	Arn     string `xml:"Arn"`
	UserID  string `xml:"UserId"`
	Account string `xml:"Account"`
}

// getCallerIdentity answers STS GetCallerIdentity. Like AWS it needs no
// permission: a denying policy cannot stop a caller from learning who it is.
func (s *Server) getCallerIdentity(c *call) (any, *apiError) {
	return getCallerIdentityResult{Arn: c.principal.ARN, UserID: c.principal.UserID, Account: s.world.Account}, nil
}
