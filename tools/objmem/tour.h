/*
 * tour.h — the chapters of `objmem tour` and the helpers they share.
 *
 * Each chapter is one idea, shown on the live allocator through the public
 * API only.  A chapter starts from a clean heap (tour_reset_heap), says what
 * it will do, does it, prints what it measured (text or JSON through out.h)
 * and frees everything it allocated.  The order follows the layers upward:
 * blocks and size classes, pools, arenas, the OS, objects, the cycle
 * collector, the diagnostics (tracing), then the whole report.
 *
 * Allocation failure or a live block that om_block_describe does not know
 * ends the tour with a message on stderr (exit 1): neither can be explained
 * to a learner, and the second is a library bug.
 */
#ifndef OBJMEM_CLI_TOUR_H
#define OBJMEM_CLI_TOUR_H

#include "cli.h"
#include "out.h"

/* tour_pools.c: blocks and pools */
void tour_size_classes(out *o);
void tour_pool_life(out *o);

/* tour_arenas.c: arenas and the OS */
void tour_arena_order(out *o);
void tour_arena_release(out *o);
void tour_pool_purge(out *o);
void tour_large(out *o);

/* tour_objects.c: objects (reference counts, free lists, weak references) */
void tour_objects(out *o);

/* tour_gc.c: the cycle collector (cycles, generations, finalizers) */
void tour_gc(out *o);

/* tour_trace.c: tracing on the live heap; debug and hardened modes */
void tour_trace(out *o);

/* tour.c: helpers */
void *tour_alloc(size_t size);                          /* never NULL */
void tour_describe(const void *p, om_block_info *bi);   /* p must be live */
const char *tour_kind_name(om_block_kind kind);
const char *tour_state_name(om_pool_state state);
void tour_reset_heap(void);                             /* om_trim(1) */
/* Object chapters: exit with CLI_FAIL, naming what failed, on NULL / rc. */
om_object *tour_need(om_object *o, const char *what);
void tour_need_ok(int rc, const char *what);
out_val tour_rss(void);                                 /* bytes, or n/a */
int64_t tour_rss_bytes(void);                           /* -1 if unknown */
size_t tour_pool_size(const om_block_info *bi);         /* from the geometry */
/* With --heapmap: a snapshot of the heap now into the chapter's page
 * (call it where the chapter has built what it shows, before freeing). */
void tour_heapmap_point(void);

#endif /* OBJMEM_CLI_TOUR_H */
