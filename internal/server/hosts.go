package server

import (
	"net"
	"path/filepath"
	"regexp"
	"strings"
)

// hostSet is the names a request's Host header may carry. A page of
// evil.example whose DNS is switched to 127.0.0.1 (DNS rebinding) makes the
// browser send "Host: evil.example:8080" to this server: answering only the
// names the server is known by keeps such a page from reading the API.
type hostSet map[string]bool

// newHostSet allows the loopback names plus extra (host or host:port; the
// port is not compared). An unspecified address (0.0.0.0, ::, as in a
// listen address) names no host and is skipped.
func newHostSet(extra []string) hostSet {
	h := hostSet{"localhost": true}
	for _, e := range extra {
		n := hostName(e)
		if ip := net.ParseIP(n); n == "" || ip != nil && ip.IsUnspecified() {
			continue
		}
		h[n] = true
	}
	return h
}

// allows reports whether a Host header names this server.
func (h hostSet) allows(host string) bool {
	n := hostName(host)
	if n == "" {
		return false
	}
	if ip := net.ParseIP(n); ip != nil && ip.IsLoopback() {
		return true
	}
	return h[n]
}

// hostName is the host of host[:port], lower-case, without brackets or a
// final dot.
func hostName(hostport string) string {
	h := strings.TrimSpace(hostport)
	if host, _, err := net.SplitHostPort(h); err == nil {
		h = host
	}
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	return strings.TrimSuffix(strings.ToLower(h), ".")
}

// absPath matches an absolute file path inside a message.
var absPath = regexp.MustCompile(`(^|[\s'"(=:])(/[^\s'"(),;]+)`)

// redact takes the paths of the machine out of an error message meant for a
// client (the full message goes to the log): the lake's root becomes
// "<lake>", any other absolute path its last element.
func (s *Server) redact(msg string) string {
	if root, err := filepath.Abs(s.lk.Root); err == nil {
		msg = strings.ReplaceAll(msg, root, "<lake>")
	}
	if s.lk.Root != "" {
		msg = strings.ReplaceAll(msg, s.lk.Root, "<lake>")
	}
	return absPath.ReplaceAllStringFunc(msg, func(m string) string {
		i := strings.IndexByte(m, '/')
		return m[:i] + "…/" + filepath.Base(m[i:])
	})
}
