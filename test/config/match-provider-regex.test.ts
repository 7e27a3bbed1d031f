import { describe, expect, it } from "vitest";
import { hostRegex } from "../../src/config/host-regex.js";
import { provider } from "./helpers.js";

/**
 * The default MatchProvider regex of every provider type that has one,
 * against the URL shapes git and API clients use (https, scp-style
 * `git@host:path`, ssh:// with and without ports, enterprise and
 * self-hosted hosts) and against look-alikes that must not match: the caller
 * hands the matched provider's token to the URL it asked about.
 */

interface Row {
  name: string;
  config: Record<string, unknown>;
  match: string[];
  refuse: string[];
}

/** Host confusion that no provider's regex may fall for, whatever the host. */
const confusion = (host: string): string[] => [
  `https://${host}@evil.example/o/r`,
  `https://${host}:443@evil.example/o/r`,
  `https://user:pw@evil.example/${host}/o/r`,
  `https://evil.example\\@${host}/o/r`,
  `https://evil.example/${host}/o/r`,
  `${host}:x@evil.example/o`,
  `https://${host}.evil.example/o/r`,
  `ftp://${host}/o/r`,
];

const ROWS: Row[] = [
  {
    name: "github (github.com)",
    config: { type: "github" },
    match: [
      "https://github.com/coder/coder.git",
      "https://github.com",
      "HTTPS://GitHub.com/o/r",
      "https://www.github.com/o/r",
      "https://api.github.com/repos/o/r",
      "https://x-access-token@github.com/o/r",
      "git@github.com:org/repo.git",
      "github.com/org/repo",
      "ssh://git@github.com/o/r.git",
      "ssh://git@ssh.github.com:443/o/r.git",
      "git@ssh.github.com:o/r.git",
      "https://gist.github.com/0123456789abcdef.git",
      "git@gist.github.com:0123456789abcdef.git",
    ],
    refuse: [
      ...confusion("github.com"),
      "https://github.com.evil.example/o/r",
      "https://evilgithub.com/o/r",
      "https://notgithub.com/o",
      "git@evilgithub.com:o/r.git",
      "https://raw.github.com.evil.example/x",
      "https://octocorp.ghe.com/o/r",
      "https://gitlab.com/g/p.git",
    ],
  },
  {
    name: "github (Enterprise Server)",
    config: { type: "github", auth_url: "https://ghe.corp.example/login/oauth/authorize" },
    match: ["https://ghe.corp.example/o/r.git", "https://ghe.corp.example:8443/api/v3/repos/o/r", "git@ghe.corp.example:o/r.git", "ssh://git@ghe.corp.example:22/o/r.git"],
    refuse: [...confusion("ghe.corp.example"), "https://github.com/o/r", "https://api.ghe.corp.example/o/r", "https://xghe.corp.example/o/r"],
  },
  {
    name: "github (GHE.com, data residency)",
    config: { type: "github", auth_url: "https://octocorp.ghe.com/login/oauth/authorize" },
    match: ["https://octocorp.ghe.com/o/r.git", "https://api.octocorp.ghe.com/repos/o/r", "git@octocorp.ghe.com:o/r.git", "ssh://git@octocorp.ghe.com/o/r.git"],
    refuse: [
      ...confusion("octocorp.ghe.com"),
      ...confusion("api.octocorp.ghe.com"),
      "https://github.com/o/r",
      "https://other.ghe.com/o/r",
      "https://api.other.ghe.com/repos/o/r",
      "https://evil.octocorp.ghe.com/o/r",
      "https://octocorp.ghe.com.evil.example/o/r",
    ],
  },
  {
    name: "gitlab (gitlab.com)",
    config: { type: "gitlab" },
    match: [
      "https://gitlab.com/group/sub/project.git",
      "https://gitlab.com/group/sub/subsub/project",
      "git@gitlab.com:group/sub/project.git",
      "ssh://git@gitlab.com/group/project.git",
      "ssh://git@altssh.gitlab.com:443/group/project.git",
      "https://oauth2@gitlab.com/g/p.git",
    ],
    refuse: [...confusion("gitlab.com"), "https://gitlab.corp.example/g/p", "https://evilgitlab.com/g/p", "https://github.com/o/r"],
  },
  {
    name: "gitlab (self-managed, relative URL root)",
    config: { type: "gitlab", auth_url: "https://git.corp.example/gitlab/oauth/authorize" },
    match: ["https://git.corp.example/gitlab/g/sub/p.git", "https://git.corp.example:8443/g/p", "git@git.corp.example:g/sub/p.git", "ssh://git@git.corp.example:2222/g/p.git"],
    refuse: [...confusion("git.corp.example"), "https://gitlab.com/g/p.git", "https://git.corp.example.evil/g"],
  },
  {
    name: "bitbucket-cloud",
    config: { type: "bitbucket-cloud" },
    match: [
      "https://bitbucket.org/team/repo.git",
      "https://x-token-auth@bitbucket.org/team/repo.git",
      "git@bitbucket.org:team/repo.git",
      "git@ssh.bitbucket.org:team/repo.git",
      "ssh://git@altssh.bitbucket.org:443/team/repo.git",
      "https://api.bitbucket.org/2.0/repositories/team/repo",
    ],
    refuse: [...confusion("bitbucket.org"), "https://bitbucket.org.evil.example/t/r", "https://evilbitbucket.org/t/r", "https://bb.corp.example/scm/p/r.git", "https://github.com/o/r"],
  },
  {
    name: "bitbucket-server (Data Center), context path and SSH port",
    config: { type: "bitbucket-server", auth_url: "https://bb.corp.example/bitbucket/rest/oauth2/latest/authorize" },
    match: ["https://bb.corp.example/bitbucket/scm/prj/repo.git", "ssh://git@bb.corp.example:7999/prj/repo.git", "https://bb.corp.example:8443/scm/prj/repo.git"],
    refuse: [...confusion("bb.corp.example"), "https://bitbucket.org/t/r.git"],
  },
  {
    name: "azure-devops and azure-devops-entra (the same hosts)",
    config: { type: "azure-devops" },
    match: [
      "https://dev.azure.com/org/project/_git/repo",
      "https://org@dev.azure.com/org/project/_git/repo",
      "https://dev.azure.com/org",
      "git@ssh.dev.azure.com:v3/org/project/repo",
      "ssh://git@ssh.dev.azure.com:22/v3/org/project/repo",
      "https://contoso.visualstudio.com/project/_git/repo",
      "https://contoso.visualstudio.com/DefaultCollection/project/_git/repo",
      "https://my-org-1.visualstudio.com/p/_git/r",
      "contoso@vs-ssh.visualstudio.com:v3/contoso/project/repo",
      "https://codex.visualstudio.com/p/_git/r",
    ],
    refuse: [
      ...confusion("dev.azure.com"),
      ...confusion("contoso.visualstudio.com"),
      "https://marketplace.visualstudio.com/items?itemName=ms-vscode.x",
      "https://code.visualstudio.com/docs",
      "https://www.visualstudio.com/",
      "https://my.visualstudio.com/",
      "https://dev.azure.com.evil.example/x",
      "https://evildev.azure.com/org",
      "https://-org.visualstudio.com/p/_git/r",
      "https://visualstudio.com/p/_git/r",
      "https://app.vssps.visualstudio.com/_apis/profile/profiles/me",
    ],
  },
  {
    name: "gitea (gitea.com)",
    config: { type: "gitea" },
    match: ["https://gitea.com/owner/repo.git", "git@gitea.com:owner/repo.git", "ssh://git@gitea.com:2222/owner/repo.git"],
    refuse: [...confusion("gitea.com"), "https://code.corp.example/o/r.git"],
  },
  {
    name: "gitea (self-hosted)",
    config: { type: "gitea", auth_url: "https://code.corp.example/login/oauth/authorize" },
    match: ["https://code.corp.example/o/r.git", "git@code.corp.example:o/r.git"],
    refuse: [...confusion("code.corp.example"), "https://gitea.com/o/r.git"],
  },
  {
    name: "jfrog",
    config: { type: "jfrog", auth_url: "https://acme.jfrog.io/ui/authorization" },
    match: ["https://acme.jfrog.io/artifactory/api/npm/npm/", "https://acme.jfrog.io/artifactory/git/repo.git"],
    refuse: [...confusion("acme.jfrog.io"), "https://other.jfrog.io/artifactory/"],
  },
];

describe("MatchProvider regexes: a table per provider", () => {
  for (const row of ROWS) {
    describe(row.name, () => {
      const re = provider(row.config).regex;
      it.each(row.match)("matches %s", (url) => {
        expect(re?.test(url)).toBe(true);
      });
      it.each(row.refuse)("refuses %s", (url) => {
        expect(re?.test(url)).toBe(false);
      });
    });
  }

  it("azure-devops-entra uses the same Azure Repos hosts as azure-devops", () => {
    expect(provider({ type: "azure-devops-entra" }).regex?.source).toBe(provider({ type: "azure-devops" }).regex?.source);
  });

  it("no regex where there is no forge host (slack, oauth2, oidc)", () => {
    expect(provider({ type: "slack", scopes: ["chat:write"] }).regex).toBeUndefined();
    expect(provider({ type: "oauth2", token_url: "https://idp.example/token" }).regex).toBeUndefined();
    expect(provider({ type: "oidc", issuer: "https://idp.example" }).regex).toBeUndefined();
  });

  it("a URL the regex accepts never names another host to the WHATWG parser", () => {
    for (const row of ROWS) {
      const re = provider(row.config).regex!;
      for (const url of [...row.match, ...row.refuse]) {
        if (!re.test(url) || !/^[a-z]+:\/\//i.test(url) || !URL.canParse(url)) continue;
        const host = new URL(url).hostname;
        expect(row.match.some((m) => URL.canParse(m) && new URL(m).hostname === host), `${url} → ${host}`).toBe(true);
      }
    }
  });
});

describe("hostRegex", () => {
  it("accepts the URL shapes git uses and refuses other schemes and userinfo tricks", () => {
    const re = new RegExp(hostRegex("git\\.example"), "i");
    for (const u of ["https://git.example/o/r", "http://git.example:3000/o/r", "git://git.example/o/r", "ssh://git@git.example:22/o/r", "git@git.example:o/r.git", "git.example/o/r", "https://git.example?x=1"]) {
      expect(re.test(u), u).toBe(true);
    }
    for (const u of ["https://git.example.evil/o", "https://xgit.example/o", "ftp://git.example/o", "https://git.example@evil.example/"]) {
      expect(re.test(u), u).toBe(false);
    }
  });

  it("groups an alternation, so every alternative stays anchored to the host position", () => {
    const re = new RegExp(hostRegex("a\\.example|b\\.example"), "i");
    expect(re.test("https://b.example/x")).toBe(true);
    expect(re.test("https://evil.example/?q=b.example")).toBe(false);
    expect(re.test("https://a.example.evil/x")).toBe(false);
  });
});
