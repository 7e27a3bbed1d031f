//go:build !grpc_newclient

package main

import "google.golang.org/grpc"

// newClient on grpc-go before 1.63 (Debian 12 ships 1.33), which has no grpc.NewClient: Dial
// with the same explicit credentials. It connects lazily too; only the default resolver differs
// (passthrough here, dns for NewClient), which changes nothing for unix:// or host:port targets.
func newClient(target string, opts ...grpc.DialOption) (*grpc.ClientConn, error) {
	return grpc.Dial(target, opts...)
}
