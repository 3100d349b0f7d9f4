/*
 * override.h — what the drop-in malloc's files share (malloc.c: the C
 * library's malloc family and the report at exit; capture.c: heap
 * snapshots on a timer).  Built into libobjmem-malloc only.
 */
#ifndef OM_OVERRIDE_H
#define OM_OVERRIDE_H

#include <stddef.h>

#include "os/os.h"

/* pattern with each "%p" replaced by the process id (child processes
 * inherit the variables that name files); 0 if it does not fit in cap. */
OM_HIDDEN int omi_expand_pid(const char *pattern, char *out, size_t cap);
/* "objmem: cannot write WHAT to PATH: REASON" on stderr, without stdio
 * (which may be shut down when destructors run); error 0: the path was
 * too long once %p was expanded. */
OM_HIDDEN void omi_report_write_failure(const char *what, const char *path, int error);

/* OBJMEM_SNAPSHOT_FILE: the first snapshot and the timer thread (from
 * the drop-in's constructor), the last snapshot (its destructor). */
OM_HIDDEN void omi_capture_start(void);
OM_HIDDEN void omi_capture_end(void);

#endif /* OM_OVERRIDE_H */
