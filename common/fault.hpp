#pragma once
// Crash points for tests: with PODNET_FAULT=<name> in the environment, the process SIGKILLs
// itself when it reaches fault_point(<name>). Tests use it to prove that `podnet gc` repairs
// whatever a crash at that step leaves behind. Without the variable it costs one getenv.

namespace podnet {

void fault_point(const char* name);

}  // namespace podnet
