import { describe, expect, it } from "vitest";
import { isAllowedTransport, isLoopbackUrl } from "../../src/oauth/loopback.js";

describe("loopback and transport policy", () => {
  it.each([
    ["http://127.0.0.1:8080/token", true],
    ["http://127.5.6.7/token", true],
    ["http://localhost:9/token", true],
    ["http://[::1]:9/token", true],
    ["http://10.0.0.1/token", false],
    ["http://128.0.0.1/token", false],
    ["http://localhost.example.com/token", false],
    ["http://127.0.0.1.example.com/token", false],
    ["http://[::2]/token", false],
    ["not a url", false],
  ])("isLoopbackUrl(%s) = %s", (url, expected) => {
    expect(isLoopbackUrl(url)).toBe(expected);
  });

  it.each([
    ["https://github.com/login/oauth/access_token", true],
    ["http://127.0.0.1:1/token", true],
    ["http://github.com/login/oauth/access_token", false],
    ["ftp://127.0.0.1/token", false],
  ])("isAllowedTransport(%s) = %s", (url, expected) => {
    expect(isAllowedTransport(url)).toBe(expected);
  });
});
