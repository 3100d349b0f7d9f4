// cxx_program.cpp — C++ containers on the drop-in: std::map of strings,
// arrays from new[] held by unique_ptr, built and cleared 50 times, so that
// operator new, new[], delete and delete[] reach objmem's fast paths (the
// hardened build's too) millions of times.  Prints the total string
// length, which does not depend on the allocator.
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

int main() {
    std::map<int, std::string> m;
    std::vector<std::unique_ptr<int[]>> arrays;
    unsigned long sum = 0;
    for (int round = 0; round < 50; round++) {
        for (int i = 0; i < 20000; i++) {
            m[i] = std::string(static_cast<size_t>(i % 97 + 1), static_cast<char>('a' + i % 26));
            if (i % 7 == 0) {
                arrays.emplace_back(new int[static_cast<size_t>(i % 50 + 1)]);
                arrays.back()[0] = i;
            }
        }
        for (const auto &kv : m)
            sum += kv.second.size();
        for (const auto &a : arrays)
            sum += static_cast<unsigned long>(a[0] % 2);
        m.clear();
        arrays.clear();
    }
    std::printf("total %lu\n", sum);
    return 0;
}
