import { writeErr } from "./output.js";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join, relative, resolve } from "node:path";
import { generateKeyLine } from "../crypto/index.js";
import { resolveConfig } from "../config/load.js";
import { startDemoProvider } from "../dev/demo-provider.js";
import { cliInvocation } from "./invocation.js";
import { runUntilSignal } from "./serve.js";

/**
 * Dev mode: embedded defaults, state under ./var/dev, a generated key, the
 * built-in demo provider on loopback and one demo link (user "demo",
 * provider "demo"), imported fresh at every start. The demo provider keeps
 * its grants in `demo-provider.json` next to the store, and its address when
 * free, so links made before a restart still refresh after it. Its authorize endpoint and device
 * flow approve without a login, so `link` can be tried too.
 */
export async function devCommand(dirFlag: string | undefined, ports: { grpc?: number; http?: number } = {}): Promise<number> {
  const dir = resolve(dirFlag ?? "var/dev");
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const keysFile = join(dir, "keys");
  if (!existsSync(keysFile)) writeFileSync(keysFile, `${generateKeyLine()}\n`, { mode: 0o600 });
  // TCP listeners require a caller token, even in dev mode; the Unix socket does not.
  const tokenFile = join(dir, "caller-token");
  if (!existsSync(tokenFile)) writeFileSync(tokenFile, `${randomBytes(24).toString("base64url")}\n`, { mode: 0o600 });
  const callerToken = readFileSync(tokenFile, "utf8").trim();
  const demo = await startDemoProvider({ stateFile: join(dir, "demo-provider.json") });
  const grpcPort = ports.grpc ?? 7480;
  const httpPort = ports.http ?? 7481;
  const config = resolveConfig(
    {
      listen: { grpc: [`unix://${dir}/tokenbroker.sock`, `tcp://127.0.0.1:${grpcPort}`], http: `tcp://127.0.0.1:${httpPort}` },
      store: { sqlite: { path: join(dir, "tokenbroker.db") } },
      encryption: { keys_file: keysFile },
      shutdown_grace: "3s",
      callers: [{ name: "dev", token_sha256: createHash("sha256").update(callerToken).digest("hex"), scopes: ["token", "link", "admin"] }],
      providers: [
        {
          id: "demo",
          type: "oauth2",
          display_name: "Demo provider (dev mode)",
          client_id: demo.clientId,
          client_secret: demo.clientSecret,
          token_url: demo.tokenUrl,
          validate_url: demo.validateUrl,
          auth_url: demo.authUrl,
          device_code_url: demo.deviceCodeUrl,
          device_flow: true,
          regex: "^https?://demo\\.invalid(/.*)?$",
        },
      ],
    },
    "<dev>",
  );
  const sock = relative(process.cwd(), join(dir, "tokenbroker.sock"));
  return runUntilSignal(config, {
    async onStarted(app, log) {
      // 75 s left on the seeded token: enough for the default min_valid_for (60 s),
      // too little for `--min-valid 90s`, which then shows a refresh at once.
      const grant = demo.issue(75);
      await app.store.links.put(
        { providerId: "demo", userId: "demo" },
        { accessToken: grant.accessToken, tokenType: "bearer", refreshToken: grant.refreshToken, expiresAt: grant.expiresAt, extra: {} },
        Date.now(),
      );
      log.info({ provider: "demo", user: "demo" }, "demo link imported");
      const addr = sock.startsWith("..") ? `unix://${join(dir, "tokenbroker.sock")}` : `unix://./${sock}`;
      const tcp = app.listeners.grpc.find((a) => a.kind === "tcp")?.url ?? "";
      const http = app.listeners.http?.url.replace("tcp://", "http://") ?? "";
      const cli = cliInvocation();
      writeErr(
        [
          "",
          `tokenbroker dev mode — state in ${dir}`,
          `  gRPC:    ${addr}  and  ${tcp}`,
          `  Connect: ${http}`,
          `  demo provider on ${demo.url} (2-minute access tokens, single-use rotating refresh tokens)`,
          "",
          "try:",
          `  ${cli} token --user demo --provider demo --addr ${addr}`,
          `  ${cli} token --user demo --provider demo --addr ${addr} --min-valid 90s --json   # refreshes when less than 90 s are left`,
          `  ${cli} link --user me --provider demo --addr ${addr}   # open the URL it prints: the demo provider approves at once`,
          `  ${cli} link --user me --provider demo --addr ${addr} --device`,
          `  TOKENBROKER_CALLER_TOKEN=$(cat ${relative(process.cwd(), tokenFile)}) ${cli} token --user demo --provider demo --addr ${tcp}`,
          `  curl -s -H "authorization: Bearer $(cat ${relative(process.cwd(), tokenFile)})" -H 'content-type: application/json' \\`,
          `    -d '{"userId":"demo","providerId":"demo"}' ${http}/tokenbroker.v1.TokenService/ObtainAccessToken`,
          "",
        ].join("\n"),
      );
    },
    onStopped: () => demo.close(),
  });
}
