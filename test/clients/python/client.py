"""Calls TokenService.ObtainAccessToken with the Python code generated from proto/
(buf.gen.python.yaml) and Debian's grpcio, as a Python caller of the daemon would.

Prints the token as one JSON line on stdout and exits 0, or prints the error as one JSON line
(code, the google.rpc details decoded from grpc-status-details-bin) and exits 1. The generated
code must be on PYTHONPATH.
"""

import argparse
import json
import os
import sys

import grpc
from google.rpc import error_details_pb2, status_pb2
from tokenbroker.v1 import errors_pb2, token_service_pb2, token_service_pb2_grpc


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--addr", required=True, help="unix:///path/to/socket or host:port")
    parser.add_argument("--user", required=True)
    parser.add_argument("--provider", required=True)
    parser.add_argument("--cacert", help="TLS: the CA that issued the listener's certificate (PEM); without it, no TLS")
    parser.add_argument("--cert", help="mTLS: a client certificate (PEM), with --key")
    parser.add_argument("--key", help="mTLS: its private key (PEM)")
    args = parser.parse_args()

    # The caller token comes from the environment so it never shows in a process listing. It is
    # sent only when set: optional on the Unix socket, required on TCP unless a client
    # certificate stands for the caller.
    caller_token = os.environ.get("TOKENBROKER_CALLER_TOKEN")
    metadata = [("authorization", f"Bearer {caller_token}")] if caller_token else []
    with open_channel(args) as channel:
        stub = token_service_pb2_grpc.TokenServiceStub(channel)
        request = token_service_pb2.ObtainAccessTokenRequest(user_id=args.user, provider_id=args.provider)
        try:
            token = stub.ObtainAccessToken(request, metadata=metadata, timeout=20).token
        except grpc.RpcError as err:
            emit(describe_error(err))
            return 1
    out = {
        "access_token": token.access_token,
        "token_type": token.token_type,
        "user_id": token.user_id,
        "provider_id": token.provider_id,
        "extra": dict(token.extra),
    }
    if token.HasField("expires_at"):
        out["expires_at"] = token.expires_at.ToJsonString()
    emit(out)
    return 0


def open_channel(args: argparse.Namespace) -> grpc.Channel:
    """TLS trusting --cacert (a TCP listener with tls; --cert/--key add a client certificate),
    else plaintext: only the Unix socket and loopback TCP listeners speak it."""
    if args.cacert is None:
        if args.cert or args.key:
            raise SystemExit("--cert and --key need --cacert (mTLS is TLS)")
        return grpc.insecure_channel(args.addr)
    def read(path):
        with open(path, "rb") as f:
            return f.read()
    credentials = grpc.ssl_channel_credentials(
        root_certificates=read(args.cacert),
        private_key=read(args.key) if args.key else None,
        certificate_chain=read(args.cert) if args.cert else None,
    )
    return grpc.secure_channel(args.addr, credentials)


def describe_error(err: grpc.RpcError) -> dict:
    """The google.rpc.Status the daemon puts in grpc-status-details-bin, decoded."""
    out = {"code": err.code().name, "message": err.details()}
    status = status_pb2.Status()
    for key, value in err.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            status.ParseFromString(value)
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            out["reason"] = info.reason
            out["domain"] = info.domain
            out["metadata"] = dict(info.metadata)
            # Unknown reasons map to ERROR_REASON_UNSPECIFIED: branch on the gRPC code then.
            names = errors_pb2.ErrorReason.keys()
            reason = errors_pb2.ErrorReason.Value(info.reason) if info.reason in names else 0
            out["error_reason"] = errors_pb2.ErrorReason.Name(reason)
            out["action"] = action(reason)
        elif detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            retry = error_details_pb2.RetryInfo()
            detail.Unpack(retry)
            out["retry_delay_ms"] = retry.retry_delay.ToMilliseconds()
        elif detail.Is(error_details_pb2.Help.DESCRIPTOR):
            help_ = error_details_pb2.Help()
            detail.Unpack(help_)
            if help_.links:
                out["help_url"] = help_.links[0].url
                out["help_description"] = help_.links[0].description
    return out


def action(reason: int) -> str:
    """What a caller does about a reason: the branch a typed client writes."""
    if reason in (errors_pb2.REAUTH_REQUIRED, errors_pb2.LINK_NOT_FOUND):
        return "link"
    if reason in (errors_pb2.PROVIDER_UNAVAILABLE, errors_pb2.PROVIDER_RATE_LIMITED, errors_pb2.STORE_UNAVAILABLE):
        return "retry"
    return "fail"


def emit(value: dict) -> None:
    json.dump(value, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    sys.exit(main())
