import type { PeerCertificate } from "node:tls";
import { describe, expect, it } from "vitest";
import { certificateNames } from "../../src/listen/tls-files.js";

const cert = (subject: Record<string, string | string[]>, subjectaltname?: string): PeerCertificate =>
  ({ subject, ...(subjectaltname !== undefined ? { subjectaltname } : {}) }) as unknown as PeerCertificate;

describe("the names a client certificate identifies its holder by", () => {
  it("are the subject CN and every subjectAltName entry, each with its kind (issue 23 item 10)", () => {
    expect(certificateNames(cert({ CN: "agent", O: "ci" }, "DNS:agent.ci.example, URI:spiffe://ci.example/agent, email:ops@ci.example, IP Address:10.0.0.7"))).toEqual([
      "cn:agent",
      "dns:agent.ci.example",
      "uri:spiffe://ci.example/agent",
      "email:ops@ci.example",
      "ip:10.0.0.7",
    ]);
  });

  it("include every CN of a subject with several, and nothing for entries of other types", () => {
    expect(certificateNames(cert({ CN: ["a", "b"] }, "othername:<unsupported>, DNS:c"))).toEqual(["cn:a", "cn:b", "dns:c"]);
    expect(certificateNames(cert({ O: "no cn" }))).toEqual([]);
  });
});
