// The podnet executable: everything is in the podnet_cli library, so tests link the same code.

#include "cli/cli.hpp"

int main(int argc, char** argv) {
    return podnet::cli::run_main(argc, argv);
}
