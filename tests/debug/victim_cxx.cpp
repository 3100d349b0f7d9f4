// victim_cxx.cpp — C++'s families for debug mode (check_debug.cmake):
//   clean            new/delete, new[]/delete[], aligned and nothrow forms, containers
//   newarray-free    new[] then free: a family mismatch
//   new-deletearray  new then delete[]: a family mismatch
#include <cstdint>
#include <cstring>
#include <map>
#include <new>
#include <string>
#include <vector>

#include "victim.h"

struct alignas(128) Wide {
    char bytes[200];
};

static int *volatile keep;

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "clean";
    victim_start(0);
    int fails = 0;
    if (std::strcmp(mode, "clean") == 0) {
        std::map<std::string, std::vector<int>> m;
        for (int i = 0; i < 2000; i++)
            m[std::to_string(i) + " a string too long for the small-string buffer"].assign(i % 50, i);
        Wide *w = new Wide;
        fails += (reinterpret_cast<std::uintptr_t>(w) & 127) != 0;
        delete w;
        Wide *wa = new Wide[3];
        fails += (reinterpret_cast<std::uintptr_t>(wa) & 127) != 0;
        delete[] wa;
        int *n = new (std::nothrow) int(5);
        fails += *n != 5;
        delete n;
        char *a = new char[77];
        delete[] a;
        std::printf("clean: %zu keys, %d failed\n", m.size(), fails);
    } else if (std::strcmp(mode, "newarray-free") == 0) {
        keep = new int[4]; victim_site(__FILE__, __LINE__);
        victim_block(keep, 16);
        std::free(keep);
    } else if (std::strcmp(mode, "new-deletearray") == 0) {
        keep = new int; victim_site(__FILE__, __LINE__);
        victim_block(keep, sizeof(int));
        delete[] keep;
    } else {
        std::fprintf(stderr, "victim_cxx: unknown mode %s\n", mode);
        return 2;
    }
    victim_end();
    return fails ? 1 : 0;
}
