import { expect, test } from "bun:test";
import { resolvConf } from "../../../core/runtime/etc.ts";

test("resolv.conf: the host's, without loopback resolvers the container cannot reach", () => {
  expect(resolvConf("none", [], "search lan\nnameserver 127.0.0.53\nnameserver 192.0.2.53\nnameserver ::1\noptions edns0\n"))
    .toBe("search lan\nnameserver 192.0.2.53\noptions edns0\n");
});

test("resolv.conf: only loopback resolvers on the host are replaced by docker's public fallback", () => {
  expect(resolvConf("none", [], "nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch .\n"))
    .toBe("options edns0 trust-ad\nsearch .\nnameserver 8.8.8.8\nnameserver 8.8.4.4\n");
  expect(resolvConf("none", [], "")).toBe("nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
});

test("resolv.conf: --dns replaces the nameservers; --network host keeps the host's file as it is", () => {
  expect(resolvConf("none", ["192.0.2.1", "2001:db8::53"], "nameserver 127.0.0.53\nsearch lan\n")).toBe("search lan\nnameserver 192.0.2.1\nnameserver 2001:db8::53\n");
  expect(resolvConf("host", [], "nameserver 127.0.0.53\n")).toBe("nameserver 127.0.0.53\n");
});
