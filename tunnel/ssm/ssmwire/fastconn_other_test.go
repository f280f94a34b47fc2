//go:build !linux

package ssmwire

import "github.com/gorilla/websocket"

func lowatOf(*websocket.Conn) string { return "no low-water mark here" }
