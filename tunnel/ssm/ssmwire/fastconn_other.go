//go:build !linux

package ssmwire

func (c *fastConn) init() {}
