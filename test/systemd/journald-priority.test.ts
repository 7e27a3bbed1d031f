import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { ConfigError, resolveConfig } from "../../src/config/load.js";
import { createLogger, syslogPriority, withPriorityPrefix } from "../../src/log.js";

/** Lines a logger wrote, as written. */
function capture(): { stream: Writable & { write(s: string): boolean }; lines(): string[] } {
  let text = "";
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      text += chunk.toString();
      cb();
    },
  });
  return { stream, lines: () => text.split("\n").filter((l) => l !== "") };
}

const minimal = { listen: { grpc: ["unix:///run/tokenbroker/tokenbroker.sock"] }, store: { sqlite: { path: "/var/lib/tokenbroker/tb.db" } }, encryption: { keys_credential: "k" } };

describe("log.format journald: the sd-daemon <N> priority prefix", () => {
  it("maps every pino level to its syslog priority", () => {
    // pino: trace 10, debug 20, info 30, warn 40, error 50, fatal 60.
    // syslog: 2 crit, 3 err, 4 warning, 6 info, 7 debug (sd-daemon(3)).
    expect([10, 20, 30, 40, 50, 60].map(syslogPriority)).toEqual([7, 7, 6, 4, 3, 2]);
    // Levels between the named ones round down to the named level below.
    expect([25, 35, 45, 55, 70].map(syslogPriority)).toEqual([7, 6, 4, 3, 2]);
  });

  it("writes each JSON line behind its prefix, and the JSON is unchanged after it", () => {
    const out = capture();
    const log = createLogger("trace", out.stream, {}, "journald");
    log.trace("t");
    log.debug("d");
    log.info("i");
    log.warn({ client_secret: "s3cr3t-value" }, "w");
    log.error("e");
    log.fatal("f");
    const lines = out.lines();
    expect(lines.map((l) => /^<(\d)>\{/.exec(l)?.[1])).toEqual(["7", "7", "6", "4", "3", "2"]);
    const parsed = lines.map((l) => JSON.parse(l.slice(3)) as { level: number; msg: string });
    expect(parsed.map((p) => [p.level, p.msg])).toEqual([[10, "t"], [20, "d"], [30, "i"], [40, "w"], [50, "e"], [60, "f"]]);
    // Redaction still applies (the hook sees the finished line).
    expect(lines.join("\n")).not.toContain("s3cr3t-value");
  });

  it("json (the default) writes plain JSON lines, for other log shippers", () => {
    for (const format of [undefined, "json"] as const) {
      const out = capture();
      const log = createLogger("info", out.stream, {}, format);
      log.warn("w");
      const [line] = out.lines();
      expect(line!.startsWith('{"level":40,')).toBe(true);
      expect((JSON.parse(line!) as { msg: string }).msg).toBe("w");
    }
  });

  it("an audit line (level 30) and a line without a level get LOG_INFO", () => {
    expect(withPriorityPrefix('{"level":30,"audit":true,"msg":"rpc"}\n')).toBe('<6>{"level":30,"audit":true,"msg":"rpc"}\n');
    expect(withPriorityPrefix("plain\n")).toBe("<6>plain\n");
  });

  it("the config switch: log.format is json unless set; anything else is refused, naming the key", () => {
    expect(resolveConfig(minimal, "t").logFormat).toBe("json");
    expect(resolveConfig({ ...minimal, log: { format: "journald" } }, "t").logFormat).toBe("journald");
    expect(resolveConfig({ ...minimal, log: { level: "warn", format: "journald" } }, "t")).toMatchObject({ logLevel: "warn", logFormat: "journald" });
    let err: unknown;
    try {
      resolveConfig({ ...minimal, log: { format: "syslog" } }, "t");
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect(String((err as Error).message)).toMatch(/log\.format/);
  });
});
