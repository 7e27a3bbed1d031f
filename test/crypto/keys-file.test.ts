import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Keyring, generateKeyLine, loadKeys, parseKeysFile } from "../../src/crypto/index.js";
import { tempDir } from "../support/temp-dir.js";
import { keyringError, masterKey } from "./fixtures.js";

const dir = tempDir("tb-keys-");

let n = 0;
function keysFile(text: string, mode = 0o600): string {
  const path = join(dir, `keys-${n++}`);
  writeFileSync(path, text);
  chmodSync(path, mode); // explicit: the umask must not decide the test
  return path;
}

const b64 = (k: Buffer) => k.toString("base64");

describe("parseKeysFile", () => {
  const [k1, k2] = [masterKey(), masterKey()];

  it("reads one key per line in order, skipping blank lines and comments, tolerating CRLF and unpadded base64", () => {
    const text = `# active key\n\n  ${b64(k1)}  \r\n# retired after rotation\n${b64(k2).replace(/=$/, "")}\n\n`;
    expect(parseKeysFile(text, "keys file /k")).toEqual([k1, k2]);
  });

  it("accepts what generateKeyLine produces", () => {
    const line = generateKeyLine();
    expect(line).toMatch(/^[A-Za-z0-9+/]{43}=$/);
    expect(generateKeyLine()).not.toBe(line);
    const [key] = parseKeysFile(`${line}\n`, "x");
    expect(key).toHaveLength(32);
    expect(() => new Keyring([key!])).not.toThrow();
  });

  it.each(["", "\n\n", "# only a comment\n", "  \n# a\n\t\n"])("rejects a file with no keys: %j", (text) => {
    const err = keyringError(() => parseKeysFile(text, "keys file /etc/tokenbroker/keys"));
    expect(err.code).toBe("KEYS_EMPTY");
    expect(err.message).toMatch(/^keys file \/etc\/tokenbroker\/keys: no keys/);
  });

  it("names the line of a key of the wrong length", () => {
    const short = masterKey().subarray(0, 31).toString("base64");
    const err = keyringError(() => parseKeysFile(`# c\n${b64(k1)}\n${short}\n`, "keys file /path"));
    expect(err.code).toBe("KEYS_MALFORMED");
    expect(err.message).toBe("keys file /path line 3: expected 32 bytes of base64, got 31");
    const long = Buffer.alloc(48, 9).toString("base64");
    expect(keyringError(() => parseKeysFile(long, "f")).message).toBe("f line 1: expected 32 bytes of base64, got 48");
  });

  it.each([
    ["a character outside base64", (k: string) => k.slice(0, 10) + "!" + k.slice(11)],
    ["base64url alphabet", () => Buffer.alloc(32, 0xfb).toString("base64url")],
    ["inner whitespace", (k: string) => k.slice(0, 20) + " " + k.slice(20)],
    ["padding in the middle", (k: string) => k.slice(0, 20) + "=" + k.slice(21)],
    ["too much padding", (k: string) => k + "="],
    ["non-canonical trailing bits", (k: string) => k.slice(0, 42) + "B="],
    ["an inline comment", (k: string) => `${k} # main key`],
    ["hex instead of base64", () => "ab".repeat(32)],
  ])("rejects malformed base64 (%s) with the line number and without echoing the line", (_what, mangle) => {
    const line = mangle(b64(k2));
    const err = keyringError(() => parseKeysFile(`${b64(k1)}\n\n${line}\n`, "keys file /path"));
    expect(err.code).toBe("KEYS_MALFORMED");
    expect(err.message).toMatch(/^keys file \/path line 3: /);
    expect(err.message).not.toContain(line.trim());
    expect(err.message).not.toContain(b64(k1));
  });

  it("rejects an all-zero placeholder key", () => {
    const err = keyringError(() => parseKeysFile(Buffer.alloc(32).toString("base64"), "f"));
    expect(err.code).toBe("KEYS_MALFORMED");
    expect(err.message).toMatch(/line 1: the key is all zeros/);
  });

  it("rejects a duplicate key, naming both lines", () => {
    const err = keyringError(() => parseKeysFile(`${b64(k1)}\n${b64(k2)}\n${b64(k1)}\n`, "f"));
    expect(err.code).toBe("KEYS_DUPLICATE");
    expect(err.message).toBe("f line 3: the same key as line 1");
  });
});

describe("loadKeys", () => {
  const [k1, k2] = [masterKey(), masterKey()];
  const text = `${b64(k1)}\n${b64(k2)}\n`;

  it("reads a 0600 keys file without warnings", () => {
    const path = keysFile(text, 0o600);
    expect(loadKeys({ keysFile: path })).toEqual({ keys: [k1, k2], path, warnings: [] });
  });

  it.each([0o644, 0o640, 0o604, 0o660, 0o601])("warns, but loads, when the keys file has mode %s", (mode) => {
    const path = keysFile(text, mode);
    const loaded = loadKeys({ keysFile: path });
    expect(loaded.keys).toEqual([k1, k2]);
    expect(loaded.warnings).toHaveLength(1);
    expect(loaded.warnings[0]).toBe(
      `keys file ${path} is accessible by group or others (mode 0${mode.toString(8)}); restrict it with chmod 600`,
    );
  });

  it("does not warn for 0400", () => {
    expect(loadKeys({ keysFile: keysFile(text, 0o400) }).warnings).toEqual([]);
  });

  it("prefixes parse errors with the keys file path", () => {
    const path = keysFile(`${b64(k1)}\nnot-a-key\n`);
    expect(keyringError(() => loadKeys({ keysFile: path })).message).toBe(`keys file ${path} line 2: not base64`);
    const empty = keysFile("");
    const err = keyringError(() => loadKeys({ keysFile: empty }));
    expect(err.code).toBe("KEYS_EMPTY");
    expect(err.message).toMatch(new RegExp(`^keys file ${empty}: no keys`));
  });

  it("reports a missing file or a directory as unreadable", () => {
    const missing = join(dir, "does-not-exist");
    const err = keyringError(() => loadKeys({ keysFile: missing }));
    expect(err.code).toBe("KEYS_UNREADABLE");
    expect(err.message).toBe(`keys file ${missing}: cannot read: no such file`);
    const d = join(dir, "a-directory");
    mkdirSync(d);
    expect(keyringError(() => loadKeys({ keysFile: d })).message).toBe(`keys file ${d}: not a regular file`);
  });

  it.skipIf(process.getuid?.() === 0)(`reports a file it may not read as unreadable${process.getuid?.() === 0 ? " (skipped as root: root reads every file)" : ""}`, () => {
    const path = keysFile(text, 0o000);
    const err = keyringError(() => loadKeys({ keysFile: path }));
    expect(err.code).toBe("KEYS_UNREADABLE");
    expect(err.message).toBe(`keys file ${path}: cannot read: permission denied`);
  });

  it("requires exactly one of keysFile and keysCredential", () => {
    expect(keyringError(() => loadKeys({})).message).toMatch(/set keys_file or keys_credential/);
    expect(keyringError(() => loadKeys({ keysFile: "/x", keysCredential: "y" })).message).toMatch(/not both/);
  });

  describe("from a systemd credential", () => {
    const credDir = join(dir, "credentials");
    mkdirSync(credDir, { recursive: true });
    writeFileSync(join(credDir, "tokenbroker-keys"), text, { mode: 0o400 });
    chmodSync(join(credDir, "tokenbroker-keys"), 0o400);

    it("reads $CREDENTIALS_DIRECTORY/NAME", () => {
      const loaded = loadKeys({ keysCredential: "tokenbroker-keys", env: { CREDENTIALS_DIRECTORY: credDir } });
      expect(loaded).toEqual({ keys: [k1, k2], path: join(credDir, "tokenbroker-keys"), warnings: [] });
    });

    it("explains a missing CREDENTIALS_DIRECTORY", () => {
      for (const env of [{}, { CREDENTIALS_DIRECTORY: "" }]) {
        const err = keyringError(() => loadKeys({ keysCredential: "tokenbroker-keys", env }));
        expect(err.code).toBe("KEYS_UNREADABLE");
        expect(err.message).toBe(
          "keys credential tokenbroker-keys: CREDENTIALS_DIRECTORY is not set (run under systemd with LoadCredential=tokenbroker-keys:<path>, or use keys_file)",
        );
      }
    });

    it("explains a credential that is not there", () => {
      const err = keyringError(() => loadKeys({ keysCredential: "other", env: { CREDENTIALS_DIRECTORY: credDir } }));
      expect(err.code).toBe("KEYS_UNREADABLE");
      expect(err.message).toBe(`keys credential other (${join(credDir, "other")}): cannot read: no such file`);
    });

    it.each(["", ".", "..", "../keys-0", "a/b"])("refuses credential name %j, which would leave the directory", (name) => {
      const err = keyringError(() => loadKeys({ keysCredential: name, env: { CREDENTIALS_DIRECTORY: credDir } }));
      expect(err.code).toBe("KEYS_UNREADABLE");
      expect(err.message).toMatch(/not a valid credential name/);
    });

    it("uses process.env when no env is given", () => {
      const saved = process.env["CREDENTIALS_DIRECTORY"];
      process.env["CREDENTIALS_DIRECTORY"] = credDir;
      try {
        expect(loadKeys({ keysCredential: "tokenbroker-keys" }).keys).toEqual([k1, k2]);
      } finally {
        if (saved === undefined) delete process.env["CREDENTIALS_DIRECTORY"];
        else process.env["CREDENTIALS_DIRECTORY"] = saved;
      }
    });
  });
});
