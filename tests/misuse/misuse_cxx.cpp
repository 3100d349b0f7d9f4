// misuse_cxx.cpp — C++'s allocation families mixed up, one mismatch per
// run, with the same interface and markers as misuse.c:
//
//   misuse_cxx CASE SIZE    SIZE 8, 4096 or 262144
//   misuse_cxx --list
//
//   new_free            new T, then free
//   newarr_free         new char[n], then free
//   newarr_delete       new char[n], then delete
//   new_deletearr       new T, then delete[]
//   malloc_delete       malloc, then delete
//   newarr_dtor_delete  new D[k] of a type with a destructor (new[] puts the
//                       element count before the array), then delete: the
//                       pointer freed is 8 bytes into the block
//
// T is SIZE bytes; D is 8 bytes, k = SIZE / 8.  The pointers go through a
// volatile variable so the compiler sees neither the mismatch nor the type
// behind it (the mismatch warnings are off for this file).
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <unistd.h>

namespace {

void *volatile sink;
volatile int destroyed;

void say(const char *s) {
    ssize_t w = write(2, s, std::strlen(s));
    (void)w;
}
void start() { say("misuse-start\n"); }

template <typename T> __attribute__((noinline)) T *launder(T *p) {
    sink = p;
    return static_cast<T *>(sink);
}

template <std::size_t N> struct Blob {
    char bytes[N];
};

struct D {
    char bytes[8];
    ~D() { destroyed = destroyed + 1; }
};

template <std::size_t N> void new_free() {
    Blob<N> *p = launder(new Blob<N>);
    start();
    std::free(p);
}
template <std::size_t N> void newarr_free() {
    char *p = launder(new char[N]);
    start();
    std::free(p);
}
template <std::size_t N> void newarr_delete() {
    char *p = launder(new char[N]);
    start();
    delete p;
}
template <std::size_t N> void new_deletearr() {
    Blob<N> *p = launder(new Blob<N>);
    start();
    delete[] p;
}
template <std::size_t N> void malloc_delete() {
    Blob<N> *p = launder(static_cast<Blob<N> *>(std::malloc(N)));
    start();
    delete p;
}
template <std::size_t N> void newarr_dtor_delete() {
    D *p = launder(new D[N / sizeof(D)]);
    start();
    delete p;
}

typedef void (*case_fn)();
struct Case {
    const char *name;
    case_fn fn[3];
};

#define SIZES(f) {f<8>, f<4096>, f<262144>}
const Case cases[] = {
    {"new_free", SIZES(new_free)},
    {"newarr_free", SIZES(newarr_free)},
    {"newarr_delete", SIZES(newarr_delete)},
    {"new_deletearr", SIZES(new_deletearr)},
    {"malloc_delete", SIZES(malloc_delete)},
    {"newarr_dtor_delete", SIZES(newarr_dtor_delete)},
};
const char *const size_names[] = {"8", "4096", "262144"};

} // namespace

int main(int argc, char **argv) {
    if (argc == 2 && std::strcmp(argv[1], "--list") == 0) {
        for (const Case &c : cases)
            for (const char *s : size_names)
                std::printf("%s %s\n", c.name, s);
        return 0;
    }
    if (argc != 3) {
        std::fprintf(stderr, "usage: misuse_cxx CASE SIZE | --list\n");
        return 2;
    }
    for (const Case &c : cases) {
        if (std::strcmp(argv[1], c.name) != 0)
            continue;
        for (int s = 0; s < 3; s++) {
            if (std::strcmp(argv[2], size_names[s]) == 0) {
                c.fn[s]();
                say("misuse-end\n");
                return 0;
            }
        }
        std::fprintf(stderr, "misuse_cxx: %s does not take size %s\n", argv[1], argv[2]);
        return 2;
    }
    std::fprintf(stderr, "misuse_cxx: unknown case %s\n", argv[1]);
    return 2;
}
