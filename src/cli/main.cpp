#include "cli/app.hpp"

int main(int argc, char** argv) {
    return lcloud::cli::run(argc, argv);
}
