#include "common/fault.hpp"

#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace podnet {

void fault_point(const char* name) {
    static const char* wanted = std::getenv("PODNET_FAULT");
    if (wanted != nullptr && std::strcmp(wanted, name) == 0) ::kill(::getpid(), SIGKILL);
}

}  // namespace podnet
