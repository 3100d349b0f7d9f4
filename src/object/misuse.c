/*
 * misuse.c — reports of the object layer's misuse (reference counts,
 * dead objects, the runtime lock), naming the object's type, through the
 * allocator's one error handler (alloc/error.c): the report says what the
 * block is, where the allocator can tell, and which object it holds.
 */
#include <stdio.h>

#include "object/object.h"

void omi_report_object(om_error_code code, const char *op, const void *obj, const char *type_name,
                       const char *detail) {
    om_error_info info;
    om_block_info bi;
    char msg[400];
    omi_error_start(&info, &bi, code, op, obj);
    info.type_name = type_name;
    if (!obj || omi_describe(obj, &bi) != 0)
        bi.kind = OM_BLOCK_FOREIGN;
    if (type_name)
        snprintf(msg, sizeof msg, "%s: %s: '%s' object %p: %s", op, om_error_name(code), type_name, obj, detail);
    else
        snprintf(msg, sizeof msg, "%s: %s: object %p: %s", op, om_error_name(code), obj, detail);
    omi_error_deliver(&info, msg);
}
