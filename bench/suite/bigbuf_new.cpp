// bigbuf_new.cpp — the C++ part of w_bigbuf --mode new: a value-initialised
// array new (`new char[n]()`, zero-filled by the compiler's code after
// operator new[] returns) and the matching delete[].  Under LD_PRELOAD,
// operator new[] reaches the preloaded allocator (libstdc++'s operator
// new calls malloc; mimalloc, jemalloc and tcmalloc also define
// operator new themselves).
#include <cstddef>
#include <new>

extern "C" void *bb_new_zeroed(std::size_t n);
extern "C" void bb_delete(void *p);

extern "C" void *bb_new_zeroed(std::size_t n)
{
    try {
        return new char[n]();
    } catch (const std::bad_alloc &) {
        return nullptr;
    }
}

extern "C" void bb_delete(void *p)
{
    delete[] static_cast<char *>(p);
}
