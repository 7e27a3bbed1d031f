//go:build grpc_newclient

package main

import "google.golang.org/grpc"

// newClient on grpc-go 1.63 and later: go build -tags grpc_newclient.
func newClient(target string, opts ...grpc.DialOption) (*grpc.ClientConn, error) {
	return grpc.NewClient(target, opts...)
}
