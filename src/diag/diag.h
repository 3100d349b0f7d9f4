/*
 * diag.h — the diagnostics layer's internal header: what its files
 * (report.c: the statistics report; snapshot.c: heap snapshots) share.
 * This layer sits on every other one and may use each.
 */
#ifndef OM_DIAG_H
#define OM_DIAG_H

#include <stddef.h>

#include "os/os.h"

/* ---- report.c: the allocator's counters, as the reports name them ----------- */
/* How many om_stats counters the reports show (the class table aside). */
OM_HIDDEN size_t omi_report_total_count(void);
/* The i-th counter's JSON key (the om_stats member's name) and its value in s. */
OM_HIDDEN const char *omi_report_total(size_t i, const om_stats *s, unsigned long long *value);

#endif /* OM_DIAG_H */
