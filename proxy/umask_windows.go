package proxy

// umask does nothing on Windows: a unix socket's access there follows its
// directory's ACL (the socket directory is created for the user alone).
func umask(int) int { return 0 }
