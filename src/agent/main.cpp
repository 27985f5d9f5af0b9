#include <cstdio>

int main() {
    std::fputs("lcloud-agent: not built yet\n", stderr);
    return 1;
}
