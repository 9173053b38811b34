// The podnet executable: everything is in the podnet_cli library, so tests link the same code.

#include "cli/cli.hpp"
#include "nft/elements.hpp"
#include "nft/socket_release.hpp"

int main(int argc, char** argv) {
    int code = podnet::cli::run_main(argc, argv);
    // A command that deleted (sandbox rm, port rm, gc) would otherwise wait 10-15 ms at exit for
    // the kernel to free what it deleted (nft/socket_release.hpp).
    if (podnet::nft_deleted_anything()) podnet::leave_socket_close_to_a_child();
    return code;
}
