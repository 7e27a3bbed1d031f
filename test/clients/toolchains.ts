/**
 * Builds the Go and Python clients in test/clients/ from proto/ with Debian's toolchains,
 * through the repository's own buf.gen.go.yaml and buf.gen.python.yaml (README "Clients in
 * other languages"), so those templates are what the tests prove.
 */
import { execFile, spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readdirSync, renameSync } from "node:fs";
import { join, resolve } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);
const root = resolve(import.meta.dirname, "../..");
const BUF = join(root, "node_modules/.bin/buf");

/** Debian's Go sources (golang-google-grpc-dev, golang-google-genproto-dev, …): a GOPATH entry. */
const DEBIAN_GOCODE = "/usr/share/gocode";
/** The import path of the generated package, as go_package in proto/tokenbroker/v1 names it. */
const GO_GEN_IMPORT = "github.com/tokenbroker/tokenbroker/gen/go";

/** What a language needs; `missing` names the absent pieces (empty: it can run). */
export interface Toolchain {
  missing: string[];
}

function onPath(command: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${command}`], { stdio: "ignore" }).status === 0;
}

export function goToolchain(): Toolchain {
  const missing = ["go", "protoc-gen-go", "protoc-gen-go-grpc"].filter((c) => !onPath(c));
  for (const pkg of ["google.golang.org/grpc", "google.golang.org/genproto/googleapis/rpc/errdetails", "google.golang.org/protobuf", "github.com/golang/protobuf"]) {
    if (!existsSync(join(DEBIAN_GOCODE, "src", pkg))) missing.push(`${DEBIAN_GOCODE}/src/${pkg}`);
  }
  return { missing };
}

/**
 * Generates the Go package and builds test/clients/go in GOPATH mode against Debian's sources:
 * no module proxy, no network. `dir` holds the GOPATH and the build cache (a cold build of
 * grpc-go). Returns the binary.
 */
export async function buildGoClient(dir: string): Promise<string> {
  const out = join(dir, "generated");
  await run(BUF, ["generate", "--template", "buf.gen.go.yaml", "-o", out], { cwd: root });
  const gopath = join(dir, "gopath");
  const genDir = join(gopath, "src", GO_GEN_IMPORT);
  const mainDir = join(gopath, "src", "tokenbroker-client-go");
  mkdirSync(resolve(genDir, ".."), { recursive: true });
  mkdirSync(mainDir, { recursive: true });
  renameSync(join(out, "gen-go"), genDir);
  for (const file of readdirSync(join(root, "test/clients/go")).filter((f) => f.endsWith(".go"))) copyFileSync(join(root, "test/clients/go", file), join(mainDir, file));
  const binary = join(dir, "tokenbroker-client-go");
  await run("go", ["build", "-o", binary, "."], {
    cwd: mainDir,
    env: { ...process.env, GO111MODULE: "off", GOPATH: `${gopath}:${DEBIAN_GOCODE}`, GOCACHE: join(dir, "cache"), GOPROXY: "off", GOFLAGS: "", GOENV: "off" },
  });
  return binary;
}

/** The first python3 that has Debian's grpcio and protobuf (pyenv's or a venv's usually has not). */
function debianPython(): string | undefined {
  return ["/usr/bin/python3", "python3"].find((p) => spawnSync(p, ["-c", "import grpc, google.protobuf"], { stdio: "ignore" }).status === 0);
}

export function pythonToolchain(): Toolchain & { python?: string } {
  const python = debianPython();
  const missing = ["protoc", "grpc_python_plugin"].filter((c) => !onPath(c));
  if (python === undefined) missing.push("a python3 with grpcio and protobuf (python3-grpcio)");
  return python === undefined ? { missing } : { missing, python };
}

/** Generates the Python modules (tokenbroker.v1 and google.rpc) into `dir`; returns the PYTHONPATH entry. */
export async function generatePython(dir: string): Promise<string> {
  await run(BUF, ["generate", "--template", "buf.gen.python.yaml", "-o", dir], { cwd: root });
  return join(dir, "gen-python");
}
