#pragma once
// Integration tests never touch the machine's own network or mount table. Their main() calls
// run_isolated(), which re-executes the binary as the child of a fresh PID-namespace init inside
// new network + mount namespaces, with a private tmpfs on /run (TMPDIR=/run/tmp) and a /proc of
// that PID namespace. The init reaps orphans (pause processes the CLI leaves behind, like a real
// init); when the test ends it exits, and the kernel kills anything still running in there. Nothing
// the test made is visible to, or survives in, the machine's own namespaces.

namespace podnet::test {

// Returns the exit code for main(). In the isolated child, runs `body` after checking that it
// is NOT in PID 1's network namespace (it refuses otherwise). Without root it skips (77).
int run_isolated(int argc, char** argv, int (*body)(int, char**));

}  // namespace podnet::test
