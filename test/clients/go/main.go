// Command tokenbroker-client-go calls TokenService.ObtainAccessToken with the Go code generated
// from proto/ (buf.gen.go.yaml) and Debian's grpc-go, as a Go caller of the daemon would.
//
// It prints the token as one JSON line on stdout and exits 0, or prints the error as one JSON
// line (code, the google.rpc details decoded with genproto's stock types) and exits 1.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	tokenbrokerv1 "github.com/tokenbroker/tokenbroker/gen/go/tokenbroker/v1"
	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/local"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

func main() {
	addr := flag.String("addr", "", "unix:///path/to/socket or host:port")
	user := flag.String("user", "", "user id")
	provider := flag.String("provider", "", "provider id")
	cacert := flag.String("cacert", "", "TLS: the CA that issued the listener's certificate (PEM); without it, no TLS")
	cert := flag.String("cert", "", "mTLS: a client certificate (PEM), with -key")
	key := flag.String("key", "", "mTLS: its private key (PEM)")
	flag.Parse()

	creds, err := transportCredentials(*cacert, *cert, *key)
	if err != nil {
		fail(err)
	}
	// newClient is grpc.NewClient (grpc-go 1.63+, build with -tags grpc_newclient) or grpc.Dial
	// (older grpc-go, such as Debian 12's 1.33): client_newclient.go, client_dial.go.
	conn, err := newClient(*addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		fail(err)
	}
	defer conn.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// The caller token comes from the environment so it never shows in a process listing. It is
	// sent only when set: optional on the Unix socket, required on TCP unless a client
	// certificate stands for the caller.
	if token := os.Getenv("TOKENBROKER_CALLER_TOKEN"); token != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
	}

	res, err := tokenbrokerv1.NewTokenServiceClient(conn).ObtainAccessToken(ctx, &tokenbrokerv1.ObtainAccessTokenRequest{
		UserId:     *user,
		ProviderId: *provider,
	})
	if err != nil {
		printError(err)
		os.Exit(1)
	}
	t := res.GetToken()
	extra := t.GetExtra()
	if extra == nil {
		extra = map[string]string{} // {} in the JSON, as for a token with extras, not null
	}
	out := map[string]any{
		"access_token": t.GetAccessToken(),
		"token_type":   t.GetTokenType(),
		"user_id":      t.GetUserId(),
		"provider_id":  t.GetProviderId(),
		"extra":        extra,
	}
	if t.GetExpiresAt() != nil {
		out["expires_at"] = t.GetExpiresAt().AsTime().Format(time.RFC3339Nano)
	}
	emit(out)
}

// transportCredentials says how the connection is secured, explicitly: TLS trusting the CA in
// cacert (a TCP listener with tls, any address; with cert and key a client certificate for
// mTLS), else local credentials, which speak plaintext and refuse any address but a Unix socket
// or loopback TCP (the daemon's listeners without TLS are only those).
func transportCredentials(cacert, cert, key string) (credentials.TransportCredentials, error) {
	if cacert == "" {
		if cert != "" || key != "" {
			return nil, errors.New("-cert and -key need -cacert (mTLS is TLS)")
		}
		return local.NewCredentials(), nil
	}
	pem, err := os.ReadFile(cacert)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: no PEM certificate", cacert)
	}
	config := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if cert != "" || key != "" {
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return nil, err
		}
		config.Certificates = []tls.Certificate{pair}
	}
	return credentials.NewTLS(config), nil
}

// printError decodes the google.rpc.Status the daemon puts in grpc-status-details-bin.
func printError(err error) {
	st := status.Convert(err)
	// code.Code_name spells codes as the other languages do: FAILED_PRECONDITION, not FailedPrecondition.
	out := map[string]any{"code": code.Code_name[int32(st.Code())], "message": st.Message()}
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.ErrorInfo:
			out["reason"] = d.GetReason()
			out["domain"] = d.GetDomain()
			out["metadata"] = d.GetMetadata()
			// Unknown reasons map to ERROR_REASON_UNSPECIFIED: branch on the gRPC code then.
			reason := tokenbrokerv1.ErrorReason(tokenbrokerv1.ErrorReason_value[d.GetReason()])
			out["error_reason"] = reason.String()
			out["action"] = action(reason)
		case *errdetails.RetryInfo:
			out["retry_delay_ms"] = d.GetRetryDelay().AsDuration().Milliseconds()
		case *errdetails.Help:
			if links := d.GetLinks(); len(links) > 0 {
				out["help_url"] = links[0].GetUrl()
				out["help_description"] = links[0].GetDescription()
			}
		}
	}
	emit(out)
}

// action is what a caller does about a reason: the switch a typed client writes.
func action(reason tokenbrokerv1.ErrorReason) string {
	switch reason {
	case tokenbrokerv1.ErrorReason_REAUTH_REQUIRED, tokenbrokerv1.ErrorReason_LINK_NOT_FOUND:
		return "link"
	case tokenbrokerv1.ErrorReason_PROVIDER_UNAVAILABLE, tokenbrokerv1.ErrorReason_PROVIDER_RATE_LIMITED, tokenbrokerv1.ErrorReason_STORE_UNAVAILABLE:
		return "retry"
	default:
		return "fail"
	}
}

func emit(v any) {
	if err := json.NewEncoder(os.Stdout).Encode(v); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "tokenbroker-client-go:", err)
	os.Exit(2)
}
