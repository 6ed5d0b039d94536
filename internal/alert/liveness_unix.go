//go:build unix

package alert

import (
	"crypto/tls"
	"errors"
	"net"
	"syscall"
)

// connAlive reports whether a stream connection can still carry data: a
// syslog receiver never sends anything, so a readable socket means it
// closed the connection (EOF, a reset, or a TLS close_notify waiting).
// It peeks without blocking and without consuming.
func connAlive(c net.Conn) bool {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return true
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	alive := true
	var buf [1]byte
	err = raw.Read(func(fd uintptr) bool {
		n, _, err := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		// EAGAIN: nothing to read, the connection is open. Anything
		// else (data, EOF as n == 0, an error) means it is closing.
		alive = n < 0 && (errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EWOULDBLOCK) || errors.Is(err, syscall.EINTR))
		return true // never wait for readability
	})
	return err == nil && alive
}
